"""CircuitPython's ``busio.I2C`` on a bus of an smbus-proxy server, for Adafruit's drivers.

Adafruit's ``adafruit-circuitpython-*`` drivers take an ``I2C`` object; give them this one::

    from smbus_proxy.busio import I2C
    import adafruit_bme280.basic

    i2c = I2C(1)                                  # bus 1 of the server: its /dev/i2c-1
    sensor = adafruit_bme280.basic.Adafruit_BME280_I2C(i2c)
    print(sensor.temperature)

The drivers import ``micropython`` (and some ``busio`` or ``digitalio``), which Adafruit's
Blinka package supplies: ``pip install adafruit-circuitpython-<driver>`` brings it along.
"""

import threading
from typing import List, Optional, Union

from . import SMBus, i2c_msg

# The addresses a scan probes, and those it reads rather than quick-writes, as i2cdetect does:
# a quick write can lock up some EEPROMs (0x50–0x5F) and corrupt some chips at 0x30–0x37.
SCAN = range(0x08, 0x78)
READ_TO_PROBE = set(range(0x30, 0x38)) | set(range(0x50, 0x60))


class I2C:
    """A bus of an smbus-proxy server with CircuitPython's ``busio.I2C`` interface.

    ``bus`` is the N of the server's ``/dev/i2c-N``. ``server``, ``token``, ``ca``, ``cert``,
    ``key``, ``timeout`` and ``pipeline`` are ``SMBus``'s, with the same environment variables
    behind them. With ``pipeline``, ``writeto`` returns once the write is on its way; a failed
    write is raised by the next read, ``flush()`` or ``deinit()``, and nothing written after it
    reaches the bus. Failed transfers raise ``OSError`` with the errno of the server's kernel
    (errno 6, ENXIO, when no device answers), as drivers expect.
    """

    def __init__(
        self,
        bus: int = 1,
        *,
        server: Optional[str] = None,
        token: Optional[str] = None,
        ca: Optional[str] = None,
        cert: Optional[str] = None,
        key: Optional[str] = None,
        timeout: Optional[float] = None,
        pipeline: Union[bool, int] = False,
    ) -> None:
        self._bus = SMBus(
            bus, server=server, token=token, ca=ca, cert=cert, key=key, timeout=timeout, pipeline=pipeline
        )
        self._lock = threading.Lock()

    def try_lock(self) -> bool:
        """Takes the bus for this thread's driver if nobody has it; whether it did."""
        return self._lock.acquire(blocking=False)

    def unlock(self) -> None:
        """Lets go of the bus."""
        if self._lock.locked():
            self._lock.release()

    def scan(self) -> List[int]:
        """The 7-bit addresses (0x08–0x77) where a device answers."""
        found = []
        for address in SCAN:
            try:
                if address in READ_TO_PROBE:
                    self._bus.read_byte(address)
                else:
                    self._bus.write_quick(address)
            except OSError:
                continue
            found.append(address)
        return found

    def writeto(self, address: int, buffer, *, start: int = 0, end: Optional[int] = None) -> None:
        """Writes ``buffer[start:end]`` to the device, then a stop. An empty write sends the
        address alone: a probe."""
        self._bus.i2c_rdwr(i2c_msg.write(address, bytes(memoryview(buffer)[start:end])))

    def readfrom_into(self, address: int, buffer, *, start: int = 0, end: Optional[int] = None) -> None:
        """Reads from the device into ``buffer[start:end]``, as many bytes as that holds."""
        into = memoryview(buffer)[start:end]
        msg = i2c_msg.read(address, len(into))
        self._bus.i2c_rdwr(msg)
        into[:] = bytes(msg)

    def writeto_then_readfrom(
        self,
        address: int,
        buffer_out,
        buffer_in,
        *,
        out_start: int = 0,
        out_end: Optional[int] = None,
        in_start: int = 0,
        in_end: Optional[int] = None,
    ) -> None:
        """Writes ``buffer_out[out_start:out_end]``, then after a repeated start (no stop in
        between: one combined transfer) reads into ``buffer_in[in_start:in_end]``."""
        into = memoryview(buffer_in)[in_start:in_end]
        write = i2c_msg.write(address, bytes(memoryview(buffer_out)[out_start:out_end]))
        read = i2c_msg.read(address, len(into))
        self._bus.i2c_rdwr(write, read)
        into[:] = bytes(read)

    def flush(self) -> None:
        """Waits until every pipelined write has run; raises the first that failed."""
        self._bus.flush()

    def deinit(self) -> None:
        """Closes the bus, once pipelined writes have run: its session on the server ends."""
        self._bus.close()

    def __enter__(self) -> "I2C":
        return self

    def __exit__(self, *_exc) -> None:
        self.deinit()
