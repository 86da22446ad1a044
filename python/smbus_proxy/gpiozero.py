"""A gpiozero pin factory for the GPIO lines of an smbus-proxy server, so that gpiozero's
devices (``Button``, ``LED``, ``DigitalInputDevice``, ``LineSensor``, ...) run against a
remote board, a Raspberry Pi 5 included::

    from gpiozero import Button, Device
    from smbus_proxy.gpiozero import RemoteFactory

    Device.pin_factory = RemoteFactory("http://raspberrypi.local:50051")
    button = Button("GPIO17")           # a line the server offers (--line GPIO17), by name
    button.when_pressed = lambda: print("pressed")

or, with gpiozero's own switch and no change to the program:
``GPIOZERO_PIN_FACTORY=smbus-proxy SMBUS_PROXY_SERVER=http://raspberrypi.local:50051 python
program.py``. A pin is a line's name; a line named ``GPIOn`` is also ``n``, ``"BCMn"`` and
``"GPIOn"``, as gpiozero numbers a Pi's pins. Edges reach ``when_changed`` (and so
``when_pressed`` and the rest) from the server's event stream, on a thread of the pin's own.
PWM and SPI need the pins themselves, so they are not offered.
"""

import re
import threading
import time
from typing import Any, Callable, Dict, Optional
from weakref import WeakMethod, ref

from gpiozero import BoardInfo, Factory, HeaderInfo, Pin, PinInfo
from gpiozero.exc import PinInvalidFunction, PinInvalidPull, PinInvalidState, PinSetInput

from . import Line, list_lines

__all__ = ["RemoteFactory", "RemotePin"]

# gpiozero's words for a pull, and the line's.
_BIAS = {"up": "pull-up", "down": "pull-down", "floating": "disabled"}


class RemoteFactory(Factory):
    """Pins that are the GPIO lines of the server at ``server`` (else ``SMBUS_PROXY_SERVER``);
    ``token``, ``ca``, ``cert`` and ``key`` as for ``SMBus``. Each pin holds its line by a
    session of its own while a device uses it."""

    def __init__(
        self,
        server: Optional[str] = None,
        *,
        token: Optional[str] = None,
        ca: Optional[str] = None,
        cert: Optional[str] = None,
        key: Optional[str] = None,
    ) -> None:
        super().__init__()
        self._remote = dict(server=server, token=token, ca=ca, cert=cert, key=key)
        lines = list_lines(**self._remote)
        pins = {}
        for number, line in enumerate(lines, start=1):
            names = {line.name}
            gpio = re.fullmatch(r"GPIO(\d+)", line.name)
            if gpio:
                n = int(gpio[1])
                names |= {n, str(n), f"BCM{n}", f"GPIO{n}"}
            pins[number] = PinInfo(
                number=number,
                name=line.name,
                names=frozenset(names),
                pull="",
                row=number,
                col=1,
                interfaces=frozenset({"gpio"}),
            )
        header = HeaderInfo(name="lines", rows=max(len(pins), 1), columns=1, pins=pins)
        self._board = BoardInfo(
            revision="remote",
            model="smbus-proxy server",
            pcb_revision="",
            released="",
            soc="",
            manufacturer="",
            memory=0,
            storage="",
            usb=0,
            usb3=0,
            ethernet=0,
            eth_speed=0,
            wifi=False,
            bluetooth=False,
            csi=0,
            dsi=0,
            headers={"lines": header},
            board="",
        )
        self._pins: Dict[str, "RemotePin"] = {}
        self._pins_lock = threading.Lock()

    def close(self) -> None:
        with self._pins_lock:
            pins, self._pins = list(self._pins.values()), {}
        for pin in pins:
            pin.close()

    def pin(self, name: Any) -> "RemotePin":
        line = self.board_info.to_gpio(name)
        with self._pins_lock:
            pin = self._pins.get(line)
            if pin is None:
                pin = self._pins[line] = RemotePin(self, line)
            return pin

    def ticks(self) -> float:
        return time.monotonic()

    def ticks_diff(self, later: float, earlier: float) -> float:
        return later - earlier

    def _get_board_info(self) -> BoardInfo:
        return self._board


class RemotePin(Pin):
    """One line of the server as a gpiozero pin. It requests its line when a device first
    uses it, and gives it back when closed."""

    def __init__(self, factory: RemoteFactory, name: str) -> None:
        super().__init__()
        self._factory = factory
        self._name = name
        self._line: Optional[Line] = None
        self._function = "input"
        self._pull = "floating"
        self._bounce: Optional[float] = None
        self._edges = "both"
        self._when_changed: Optional[Callable[[], Any]] = None
        self._lock = threading.RLock()
        self._events: Optional[threading.Thread] = None

    def __repr__(self) -> str:
        return self._name

    def _held(self) -> Line:
        with self._lock:
            if self._line is None:
                self._line = Line(
                    self._name,
                    bias=_BIAS[self._pull],
                    edges=self._edges,
                    debounce=self._bounce or 0.0,
                    **self._factory._remote,
                )
            return self._line

    def close(self) -> None:
        with self._lock:
            line, self._line = self._line, None
            self._when_changed = None
        if line is not None:
            line.close()
        if self._events is not None:
            self._events.join(timeout=5)
            self._events = None

    def _get_info(self) -> PinInfo:
        for _header, info in self._factory.board_info.find_pin(self._name):
            return info
        raise RuntimeError(f"{self._name} is not among the server's lines")

    def _get_function(self) -> str:
        return self._function

    def _set_function(self, value: str) -> None:
        if value not in ("input", "output"):
            raise PinInvalidFunction(f"invalid function {value} for pin {self!r}")
        with self._lock:
            if value == "output":
                self._held().reconfigure(output=True, value=False, bias="as-is")
            else:
                self._held().reconfigure(output=False, bias=_BIAS[self._pull], edges=self._edges)
            self._function = value

    def output_with_state(self, state: Any) -> None:
        with self._lock:
            self._held().reconfigure(output=True, value=_level(state, self), bias="as-is")
            self._function = "output"

    def input_with_pull(self, pull: str) -> None:
        if pull not in _BIAS:
            raise PinInvalidPull(f"invalid pull {pull} for pin {self!r}")
        with self._lock:
            self._pull = pull
            self._held().reconfigure(output=False, bias=_BIAS[pull], edges=self._edges)
            self._function = "input"

    def _get_state(self) -> int:
        return int(self._held().value)

    def _set_state(self, value: Any) -> None:
        if self._function == "input":
            raise PinSetInput(f"cannot set state of pin {self!r}")
        self._held().value = _level(value, self)

    def _get_pull(self) -> str:
        return self._pull

    def _set_pull(self, value: str) -> None:
        if self._function != "input":
            raise PinInvalidPull(f"cannot set pull on non-input pin {self!r}")
        self.input_with_pull(value)

    def _get_bounce(self) -> Optional[float]:
        return self._bounce

    def _set_bounce(self, value: Optional[float]) -> None:
        with self._lock:
            self._bounce = value
            if self._function == "input":
                self._held().reconfigure(debounce=value or 0.0)

    def _get_edges(self) -> str:
        return self._edges

    def _set_edges(self, value: str) -> None:
        with self._lock:
            self._edges = value
            if self._function == "input":
                self._held().reconfigure(edges=value)

    def _get_when_changed(self) -> Optional[Callable[[], Any]]:
        return None if self._when_changed is None else self._when_changed()

    def _set_when_changed(self, value: Optional[Callable[..., Any]]) -> None:
        with self._lock:
            if value is None:
                self._when_changed = None
                return
            # Weak, as gpiozero's own pins hold it: a device that goes away takes its handler.
            self._when_changed = WeakMethod(value) if hasattr(value, "__self__") else ref(value)
            if self._events is None:
                events = self._held().events()
                self._events = threading.Thread(
                    target=self._dispatch, args=(events,), name=f"smbus-proxy {self._name}", daemon=True
                )
                self._events.start()

    def _dispatch(self, events: Any) -> None:
        # Until the line is given back, which ends the stream.
        for event in events:
            handler = self._when_changed() if self._when_changed is not None else None
            if handler is not None:
                handler(self._factory.ticks(), int(event.edge == "rising"))


def _level(state: Any, pin: RemotePin) -> bool:
    if state in (0, 1, False, True):
        return bool(state)
    raise PinInvalidState(f"invalid state {state} for pin {pin!r}")
