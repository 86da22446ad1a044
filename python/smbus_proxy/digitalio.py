"""CircuitPython's ``digitalio.DigitalInOut`` on a GPIO line of an smbus-proxy server, for
Adafruit's drivers that take a pin (a display's reset, a sensor's interrupt)::

    from smbus_proxy.busio import I2C
    from smbus_proxy.digitalio import DigitalInOut
    import adafruit_ssd1306

    i2c = I2C(1)
    reset = DigitalInOut("oled-reset")            # a line the server offers, by name
    display = adafruit_ssd1306.SSD1306_I2C(128, 32, i2c, reset=reset)

A pin is a line's name, or a ``Pin`` that also says which server holds it. Values are the
line's levels, as on a board: ``True`` is high. ``Direction``, ``Pull`` and ``DriveMode`` are
Blinka's own where Blinka is installed (drivers compare against those), else this module's.
"""

from typing import Optional, Union

from . import Line

try:  # Blinka's, so that a driver's ``digitalio.Direction.OUTPUT`` is the same object.
    from digitalio import Direction, DriveMode, Pull  # type: ignore[import-not-found]
except Exception:  # noqa: BLE001 -- no Blinka, or one that cannot load on this machine

    class _Named:
        def __init__(self, name: str) -> None:
            self._name = name

        def __repr__(self) -> str:
            return self._name

    class Direction:  # type: ignore[no-redef]
        """Which way a pin goes."""

        INPUT = _Named("digitalio.Direction.INPUT")
        OUTPUT = _Named("digitalio.Direction.OUTPUT")

    class Pull:  # type: ignore[no-redef]
        """An input's pull resistor."""

        UP = _Named("digitalio.Pull.UP")
        DOWN = _Named("digitalio.Pull.DOWN")

    class DriveMode:  # type: ignore[no-redef]
        """How an output drives its pin."""

        PUSH_PULL = _Named("digitalio.DriveMode.PUSH_PULL")
        OPEN_DRAIN = _Named("digitalio.DriveMode.OPEN_DRAIN")


__all__ = ["DigitalInOut", "Direction", "DriveMode", "Pin", "Pull"]


class Pin:
    """A line of a server, as a board's ``board.D5`` names a pin. ``server``, ``token``,
    ``ca``, ``cert`` and ``key`` are ``SMBus``'s (else the environment's); ``bus`` is the bus
    whose session holds the line (else the server's first)."""

    def __init__(
        self,
        name: str,
        *,
        server: Optional[str] = None,
        token: Optional[str] = None,
        ca: Optional[str] = None,
        cert: Optional[str] = None,
        key: Optional[str] = None,
        bus: Optional[int] = None,
    ) -> None:
        self.name = name
        self.remote = dict(server=server, token=token, ca=ca, cert=cert, key=key, bus=bus)

    def __repr__(self) -> str:
        return f"Pin({self.name!r})"


class DigitalInOut:
    """A GPIO line of the server with CircuitPython's ``digitalio.DigitalInOut`` interface. It
    starts as an input, as on CircuitPython; a line someone else holds raises ``OSError``
    (EBUSY)."""

    def __init__(self, pin: Union[str, Pin]) -> None:
        if isinstance(pin, str):
            pin = Pin(pin)
        self._pin = pin
        self._line: Optional[Line] = Line(pin.name, **pin.remote)
        self._direction = Direction.INPUT
        self._pull: Optional[object] = None
        self._drive_mode = DriveMode.PUSH_PULL

    def _held(self) -> Line:
        if self._line is None:
            raise ValueError("Object has been deinitialized and can no longer be used. Create a new object.")
        return self._line

    def __repr__(self) -> str:
        return f"DigitalInOut({self._pin!r})"

    def __enter__(self) -> "DigitalInOut":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.deinit()

    def deinit(self) -> None:
        """Gives the line back."""
        if self._line is not None:
            self._line.close()
            self._line = None

    def switch_to_output(self, value: bool = False, drive_mode: object = DriveMode.PUSH_PULL) -> None:
        """Makes the pin an output at ``value``."""
        drive = "open-drain" if drive_mode == DriveMode.OPEN_DRAIN else "push-pull"
        self._held().reconfigure(output=True, value=bool(value), drive=drive, bias="as-is")
        self._direction, self._drive_mode, self._pull = Direction.OUTPUT, drive_mode, None

    def switch_to_input(self, pull: Optional[object] = None) -> None:
        """Makes the pin an input, pulled up, down, or neither."""
        self._held().reconfigure(output=False, bias=_bias(pull))
        self._direction, self._pull = Direction.INPUT, pull

    @property
    def direction(self) -> object:
        """``Direction.INPUT`` or ``Direction.OUTPUT``; setting it switches the pin (an output
        starts low)."""
        return self._direction

    @direction.setter
    def direction(self, value: object) -> None:
        if value == Direction.OUTPUT:
            self.switch_to_output()
        elif value == Direction.INPUT:
            self.switch_to_input()
        else:
            raise ValueError(f"direction: {value!r} is not Direction.INPUT or Direction.OUTPUT")

    @property
    def value(self) -> bool:
        """The pin's level: an input's as it is now, an output's as set."""
        return self._held().value

    @value.setter
    def value(self, value: bool) -> None:
        if self._direction != Direction.OUTPUT:
            raise AttributeError("Cannot set value when direction is input.")
        self._held().value = bool(value)

    @property
    def pull(self) -> Optional[object]:
        """An input's ``Pull.UP``, ``Pull.DOWN`` or ``None``."""
        if self._direction != Direction.INPUT:
            raise AttributeError("Not an input")
        return self._pull

    @pull.setter
    def pull(self, pull: Optional[object]) -> None:
        if self._direction != Direction.INPUT:
            raise AttributeError("Not an input")
        self.switch_to_input(pull)

    @property
    def drive_mode(self) -> object:
        """An output's ``DriveMode.PUSH_PULL`` or ``DriveMode.OPEN_DRAIN``."""
        if self._direction != Direction.OUTPUT:
            raise AttributeError("Not an output")
        return self._drive_mode

    @drive_mode.setter
    def drive_mode(self, mode: object) -> None:
        if self._direction != Direction.OUTPUT:
            raise AttributeError("Not an output")
        self.switch_to_output(self._held().value, mode)


def _bias(pull: Optional[object]) -> str:
    if pull is None:
        return "disabled"
    if pull == Pull.UP:
        return "pull-up"
    if pull == Pull.DOWN:
        return "pull-down"
    raise ValueError(f"pull: {pull!r} is not Pull.UP, Pull.DOWN or None")
