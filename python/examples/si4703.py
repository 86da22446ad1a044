"""Reads the registers of an Si4703 FM tuner at 0x10 on bus 1 and prints them as the original
smbus-proxy did on a Raspberry Pi: one 32-byte block read, which an Si4703 always starts at
register 0x0A, 16-bit registers high byte first.

    smbus-proxy serve --simulate &
    python python/examples/si4703.py [http://pi.local:50051]

The server is the URL given, else $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051. Apart
from the import and the optional URL, this is a plain smbus2 program.
"""

import sys

from smbus_proxy import SMBus

SI4703 = 0x10


def main():
    server = sys.argv[1] if len(sys.argv) > 1 else None
    try:
        with SMBus(1, server=server) as bus:
            regs = bus.read_i2c_block_data(SI4703, 0x0A, 32)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for i in range(16):
        high, low = regs[2 * i], regs[2 * i + 1]
        print(f"0x{(0x0A + i) % 16:02X} = {high:02x} {low:02x}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
