"""smbus2's ``SMBus`` for an I2C/SMBus bus on another machine, served by smbus-proxy.

Change one line of a program written for smbus2::

    from smbus_proxy import SMBus      # was: from smbus2 import SMBus

    with SMBus(1) as bus:               # bus 1 of the server: its /dev/i2c-1
        bus.write_byte_data(0x48, 0x01, 0x60)
        print(bus.read_word_data(0x48, 0x00))

The server is ``SMBus(..., server="http://raspberrypi.local:50051")`` (or ``"mdns://NAME"``, a
server that announces itself on the local network as NAME), else the environment
variable ``SMBUS_PROXY_SERVER``, else ``http://127.0.0.1:50051``; a token for a server that
requires one is ``token=...``, else ``SMBUS_PROXY_TOKEN``; for an ``https://`` server,
``ca=``, ``cert=`` and ``key=`` (else ``SMBUS_PROXY_CA``, ``_CERT``, ``_KEY``). ``list_buses()``
is ``i2cdetect -l`` for the server.

A package that imports smbus or smbus2 itself runs unchanged with ``smbus_proxy.install()``
called first, or started as ``python -m smbus_proxy [--server URL] program.py``.

The server's GPIO lines (a chip's reset, interrupt or data-ready wire) are ``Line``s;
``smbus_proxy.digitalio`` gives them CircuitPython's ``DigitalInOut`` for Adafruit's drivers, and
``smbus_proxy.gpiozero`` is a pin factory for gpiozero.

The client itself is the Rust one (``smbus_proxy._smbus_proxy``); this module adds smbus2's
constants and ``I2cFunc``.
"""

import os
from enum import IntFlag
from typing import List, NamedTuple, Optional, Union

from ._smbus_proxy import Line, LineEvent, SMBus, __version__, i2c_msg
from ._smbus_proxy import list_buses as _list_buses
from ._smbus_proxy import list_lines as _list_lines

__all__ = [
    "SMBus",
    "install",
    "i2c_msg",
    "list_buses",
    "BusInfo",
    "Line",
    "LineEvent",
    "LineInfo",
    "list_lines",
    "I2cFunc",
    "I2C_SMBUS_BLOCK_MAX",
    "I2C_M_RD",
    "I2C_M_TEN",
    "I2C_M_RECV_LEN",
    "I2C_M_NO_RD_ACK",
    "I2C_M_IGNORE_NAK",
    "I2C_M_REV_DIR_ADDR",
    "I2C_M_NOSTART",
    "I2C_M_STOP",
]

#: The most data bytes in an SMBus block.
I2C_SMBUS_BLOCK_MAX = 32

# i2c_msg flags, as in linux/i2c.h. The server refuses the ones the adapter cannot do.
I2C_M_RD = 0x0001
I2C_M_TEN = 0x0010
I2C_M_RECV_LEN = 0x0400
I2C_M_NO_RD_ACK = 0x0800
I2C_M_IGNORE_NAK = 0x1000
I2C_M_REV_DIR_ADDR = 0x2000
I2C_M_NOSTART = 0x4000
I2C_M_STOP = 0x8000


class I2cFunc(IntFlag):
    """What an adapter can do: the ``I2C_FUNCS`` bits of ``linux/i2c.h``, as ``SMBus.funcs``."""

    I2C = 0x00000001
    ADDR_10BIT = 0x00000002
    PROTOCOL_MANGLING = 0x00000004
    SMBUS_PEC = 0x00000008
    NOSTART = 0x00000010
    SLAVE = 0x00000020
    SMBUS_BLOCK_PROC_CALL = 0x00008000
    SMBUS_QUICK = 0x00010000
    SMBUS_READ_BYTE = 0x00020000
    SMBUS_WRITE_BYTE = 0x00040000
    SMBUS_READ_BYTE_DATA = 0x00080000
    SMBUS_WRITE_BYTE_DATA = 0x00100000
    SMBUS_READ_WORD_DATA = 0x00200000
    SMBUS_WRITE_WORD_DATA = 0x00400000
    SMBUS_PROC_CALL = 0x00800000
    SMBUS_READ_BLOCK_DATA = 0x01000000
    SMBUS_WRITE_BLOCK_DATA = 0x02000000
    SMBUS_READ_I2C_BLOCK = 0x04000000
    SMBUS_WRITE_I2C_BLOCK = 0x08000000
    SMBUS_HOST_NOTIFY = 0x10000000
    # Pairs, as linux/i2c.h defines them.
    SMBUS_BYTE = SMBUS_READ_BYTE | SMBUS_WRITE_BYTE
    SMBUS_BYTE_DATA = SMBUS_READ_BYTE_DATA | SMBUS_WRITE_BYTE_DATA
    SMBUS_WORD_DATA = SMBUS_READ_WORD_DATA | SMBUS_WRITE_WORD_DATA
    SMBUS_BLOCK_DATA = SMBUS_READ_BLOCK_DATA | SMBUS_WRITE_BLOCK_DATA
    SMBUS_I2C_BLOCK = SMBUS_READ_I2C_BLOCK | SMBUS_WRITE_I2C_BLOCK
    # What the kernel emulates on an adapter with plain I2C only.
    SMBUS_EMUL = (
        SMBUS_QUICK
        | SMBUS_BYTE
        | SMBUS_BYTE_DATA
        | SMBUS_WORD_DATA
        | SMBUS_PROC_CALL
        | SMBUS_WRITE_BLOCK_DATA
        | SMBUS_I2C_BLOCK
        | SMBUS_PEC
    )


class BusInfo(NamedTuple):
    """One bus of the server: the N of its ``/dev/i2c-N``, the adapter's name and what it can do."""

    number: int
    name: str
    funcs: I2cFunc


def list_buses(
    *,
    server: Optional[str] = None,
    token: Optional[str] = None,
    ca: Union[None, str, "os.PathLike[str]"] = None,
    cert: Union[None, str, "os.PathLike[str]"] = None,
    key: Union[None, str, "os.PathLike[str]"] = None,
) -> List[BusInfo]:
    """The buses the server exposes: ``i2cdetect -l`` for the remote machine. The arguments
    are ``SMBus``'s, with the same environment variables behind them."""
    buses = _list_buses(server=server, token=token, ca=ca, cert=cert, key=key)
    return [BusInfo(number, name, I2cFunc(funcs)) for number, name, funcs in buses]


class LineInfo(NamedTuple):
    """One GPIO line the server offers: its name, the chip and offset it is on, whether anyone
    holds it (and the consumer the kernel names), whether it is an output, and its value where a
    session of the server holds it."""

    name: str
    chip: str
    offset: int
    used: bool
    consumer: str
    output: bool
    value: Optional[bool]


def list_lines(
    *,
    server: Optional[str] = None,
    token: Optional[str] = None,
    ca: Union[None, str, "os.PathLike[str]"] = None,
    cert: Union[None, str, "os.PathLike[str]"] = None,
    key: Union[None, str, "os.PathLike[str]"] = None,
) -> List[LineInfo]:
    """The GPIO lines the server offers: ``gpioinfo`` for the remote machine. The arguments
    are ``SMBus``'s."""
    return [LineInfo(*line) for line in _list_lines(server=server, token=token, ca=ca, cert=cert, key=key)]


# Last: the switch builds on everything above.
from ._switch import install  # noqa: E402
