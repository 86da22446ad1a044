"""Round-trip latency of smbus_proxy.SMBus calls against a running server.

    smbus-proxy serve --simulate &
    python3 python/benches/latency.py [--server URL] [--calls N]

Prints p50 and p99 per call for a few methods on the demo bus's register file (0x48); the
server is --server, else $SMBUS_PROXY_SERVER, else the local default.
"""

import argparse
import time

from smbus_proxy import SMBus, i2c_msg


def measure(call, n):
    times = []
    for _ in range(n):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    times.sort()
    return times[len(times) // 2] / 1000, times[len(times) * 99 // 100] / 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=None)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    with SMBus(1, server=args.server) as bus:
        cases = {
            "read_byte_data": lambda: bus.read_byte_data(0x48, 0),
            "write_byte_data": lambda: bus.write_byte_data(0x48, 0x10, 0x5A),
            "read_i2c_block_data(32)": lambda: bus.read_i2c_block_data(0x48, 0, 32),
            "i2c_rdwr write(1) + read(2)": lambda: bus.i2c_rdwr(i2c_msg.write(0x48, [0]), i2c_msg.read(0x48, 2)),
        }
        measure(cases["read_byte_data"], 2000)  # warm up the connection and the stream
        print(f"{'call':<30}{'p50 µs':>10}{'p99 µs':>10}")
        for name, call in cases.items():
            p50, p99 = measure(call, args.calls)
            print(f"{name:<30}{p50:>10.1f}{p99:>10.1f}")


if __name__ == "__main__":
    main()
