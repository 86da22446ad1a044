"""The Python half of tests/network.sh: the Rust example `exactly_once`'s driver loop, through
``smbus_proxy.SMBus``. For SECONDS it writes a counter, two bytes a write, to the write-log
device at 0x60, reading the register file at 0x48 after every fourth write (every sixteenth
when pipelined), then reads the log back and checks that it holds every write once, in order.

    python3 driver.py URL BUS SECONDS [--pipeline] [--expect-lost]

With --expect-lost the outage outlasts the resume window: the loop must end with the
ConnectionError that says so."""

import sys
import time

from smbus_proxy import SMBus, i2c_msg

LOG = 0x60
RF = 0x48


class Timings:
    def __init__(self):
        self.calls = []
        self.last = None
        self.longest_pause = 0.0

    def time(self, call, *args):
        start = time.monotonic()
        answer = call(*args)
        end = time.monotonic()
        self.calls.append(end - start)
        if self.last is not None:
            self.longest_pause = max(self.longest_pause, end - self.last)
        self.last = end
        return answer

    def __str__(self):
        calls = sorted(self.calls)
        ms = lambda q: calls[round((len(calls) - 1) * q)] * 1e3 if calls else 0.0  # noqa: E731
        return "%d calls: p50 %.2f ms, p99 %.2f ms; longest pause between answers %.3f s" % (
            len(calls), ms(0.5), ms(0.99), self.longest_pause)


def logged(bus, length):
    bus.write_quick(LOG)
    out = []
    while len(out) < length:
        read = i2c_msg.read(LOG, min(length - len(out), 4096))
        bus.i2c_rdwr(read)
        out += list(read)
    return out


def run(url, number, seconds, pipeline, timings):
    with SMBus(number, server=url, pipeline=pipeline) as bus:
        read_every = 16 if pipeline else 4
        start = time.monotonic()
        writes = 0
        while time.monotonic() - start < seconds:
            timings.time(bus.write_byte_data, LOG, writes >> 8 & 0xFF, writes & 0xFF)
            writes += 1
            if writes % read_every == 0:
                timings.time(bus.read_byte_data, RF, 0)
        bus.flush()
        expected = [b for i in range(writes) for b in (i >> 8 & 0xFF, i & 0xFF)]
        got = logged(bus, len(expected) + 1)
        if got != expected + [0xFF]:
            at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), len(expected))
            raise SystemExit("the write log differs from what was written at byte %d" % at)
        return writes


def main():
    url, number, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    pipeline = "--pipeline" in sys.argv
    expect_lost = "--expect-lost" in sys.argv
    name = "python pipelined" if pipeline else "python sync"
    timings = Timings()
    try:
        writes = run(url, number, seconds, pipeline, timings)
    except ConnectionError as e:
        if expect_lost and ("has been down for" in str(e) or "are gone" in str(e)):
            print("%s: ended as expected after %d calls: %s" % (name, len(timings.calls), e))
            return
        sys.exit("%s: FAILED after %d calls: %s" % (name, len(timings.calls), e))
    except OSError as e:
        sys.exit("%s: FAILED after %d calls: %r" % (name, len(timings.calls), e))
    if expect_lost:
        sys.exit("%s: FAILED: %d writes went through an outage meant to end the session" % (name, writes))
    print("%s: %d writes, each once, in order; %s" % (name, writes, timings))


main()
