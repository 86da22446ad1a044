"""The switch for programs that import ``smbus`` or ``smbus2`` themselves.

A package that opens its own bus (``from smbus2 import SMBus`` and ``SMBus(1)`` inside it, or
``import smbus``) has no line a user can change. ``install()`` makes both imports give
smbus_proxy's ``SMBus`` for the rest of the process; ``python -m smbus_proxy`` runs a program
with the switch on. Nothing changes for a program that does not ask for it.
"""

import sys
import types
from typing import Optional

from . import I2C_SMBUS_BLOCK_MAX, I2cFunc, SMBus, i2c_msg

# The modules the switch stands in for: smbus2, its inner module, and python-smbus.
MODULES = ("smbus2", "smbus2.smbus2", "smbus")


def install(
    server: Optional[str] = None,
    *,
    token: Optional[str] = None,
    ca: Optional[str] = None,
    cert: Optional[str] = None,
    key: Optional[str] = None,
    timeout: Optional[float] = None,
) -> None:
    """From now on in this process, ``import smbus2`` and ``import smbus`` give smbus_proxy's
    ``SMBus``, ``i2c_msg`` and ``I2cFunc``, with these arguments as the defaults of every bus
    opened through them (each as for ``SMBus``; left out, the environment's). Call it before
    the package is imported: a module that already imported smbus2 keeps what it imported."""
    given = dict(server=server, token=token, ca=ca, cert=cert, key=key, timeout=timeout)
    defaults = {name: value for name, value in given.items() if value is not None}

    class RemoteSMBus(SMBus):
        __doc__ = SMBus.__doc__

        def __init__(self, bus=None, force=False, **kwargs):
            super().__init__(bus, force, **{**defaults, **kwargs})

    RemoteSMBus.__name__ = RemoteSMBus.__qualname__ = "SMBus"
    for name in MODULES:
        module = types.ModuleType(name, f"smbus_proxy, standing in for {name}.")
        module.SMBus = RemoteSMBus
        module.i2c_msg = i2c_msg
        module.I2cFunc = I2cFunc
        module.I2C_SMBUS_BLOCK_MAX = I2C_SMBUS_BLOCK_MAX
        sys.modules[name] = module
    sys.modules["smbus2"].smbus2 = sys.modules["smbus2.smbus2"]
