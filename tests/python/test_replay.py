"""Record and replay: a program runs against the simulator while `smbus-proxy monitor --record`
writes its trace; the trace then stands in for the chips on a bus that has nothing else, and
the same program prints the same thing. Strict mode refuses a changed program, naming the
recorded operation it expected; register mode serves the registers the trace saw.

The programs are the Si4703 example (Rust) and an unmodified Adafruit driver, adafruit_pct2075,
run as separate processes as a user runs them.
"""

import os
import subprocess
import sys
import time

import pytest
from conftest import BINARY, logged_server
from test_adafruit import PCT2075_MAP
from test_examples import EXAMPLES, SI4703_DUMP

from smbus_proxy import SMBus

# A driver's whole life as a user writes it: read, configure, read back. Its arguments: the
# server, the bus, the high threshold to set, and optionally the chip's address.
PCT2075_PROGRAM = """
import sys
import adafruit_pct2075
from smbus_proxy.busio import I2C

url, bus, high = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with I2C(bus, server=url) as i2c:
    sensor = adafruit_pct2075.PCT2075(i2c, address=int(sys.argv[4], 0) if len(sys.argv) > 4 else 0x37)
    print(f"temperature {sensor.temperature:.3f}")
    print(f"high {sensor.high_temperature_threshold} hysteresis {sensor.temperature_hysteresis}")
    sensor.high_temperature_threshold = high
    print(f"high now {sensor.high_temperature_threshold}")
"""


def run(args, timeout=30):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def recorded(url, trace, program, bus=1):
    """Runs `program` (argv) while the monitor records `bus` into `trace`; returns its output."""
    monitor = subprocess.Popen(
        [BINARY, "monitor", "--server", url, "--record", str(trace), str(bus)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        # The header comes once the server counts the monitor as a watcher.
        assert monitor.stdout.readline().startswith("# smbus-proxy trace ")
        done = run(program)
        assert done.returncode == 0, done.stderr
        # The last events are on their way when the program ends: wait until the file rests.
        size, still = -1, 0
        while still < 3:
            time.sleep(0.1)
            now = os.path.getsize(trace)
            size, still = now, (still + 1 if now == size else 0)
        return done.stdout
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)


def replay_config(tmp_path, trace, mode, trace_bus=1):
    """A simulator whose bus 1 is the trace's bus `trace_bus`, played back in `mode`."""
    config = tmp_path / f"{mode}.toml"
    config.write_text(
        f'[[bus]]\nnumber = 1\n[bus.replay]\ntrace = "{trace.name}"\nmode = "{mode}"\ntrace_bus = {trace_bus}\n'
    )
    return config


def pct2075_program(tmp_path):
    program = tmp_path / "pct2075_program.py"
    program.write_text(PCT2075_PROGRAM)
    return program


@pytest.fixture(scope="module")
def si4703_trace(tmp_path_factory):
    trace = tmp_path_factory.mktemp("si4703") / "si4703.trace"
    with logged_server() as lab:
        out = recorded(lab.url, trace, [os.path.join(EXAMPLES, "si4703"), lab.url])
    assert out == SI4703_DUMP
    return trace


def test_si4703_replays_strictly_and_refuses_a_changed_program(si4703_trace):
    lines = si4703_trace.read_text().splitlines()
    assert lines[0] == "# smbus-proxy trace 1"
    ops = [line for line in lines if not line.startswith("#")]
    assert len(ops) == 1 and " i2c-1 read_i2c_block_data 0x10 reg=0x0a len=32 -> [00 00" in ops[0]

    with logged_server(config=replay_config(si4703_trace.parent, si4703_trace, "strict")) as replay:
        # A changed program: half the registers. The error says what the trace expected, and
        # the replay stays where it was.
        with SMBus(1, server=replay.url) as bus, pytest.raises(OSError) as failed:
            bus.read_i2c_block_data(0x10, 0x0A, 16)
        assert failed.value.errno == 71  # EPROTO
        assert (
            "si4703.trace expected `read_i2c_block_data 0x10 reg=0x0a len=32` (line 3), "
            "got `read_i2c_block_data 0x10 reg=0x0a len=16`"
        ) in str(failed.value)
        # The recorded program, started twice: each run is a session of its own, and the
        # replay starts again for each.
        for _ in range(2):
            done = run([os.path.join(EXAMPLES, "si4703"), replay.url])
            assert done.returncode == 0, done.stderr
            assert done.stdout == SI4703_DUMP
        # Past the end of the recording within one session: the client sees why.
        with SMBus(1, server=replay.url) as bus, pytest.raises(OSError) as past:
            for _ in range(2):
                bus.read_i2c_block_data(0x10, 0x0A, 32)
        assert past.value.errno == 71  # EPROTO
        assert "si4703.trace ended at line 3, then came `read_i2c_block_data 0x10 reg=0x0a len=32`" in str(
            past.value
        )


def test_si4703_replays_as_registers(si4703_trace):
    with logged_server(config=replay_config(si4703_trace.parent, si4703_trace, "register")) as replay:
        for _ in range(2):
            done = run([os.path.join(EXAMPLES, "si4703"), replay.url])
            assert done.returncode == 0, done.stderr
            assert done.stdout == SI4703_DUMP
        with SMBus(1, server=replay.url) as bus:
            # Fewer bytes from the same pointer are the trace's first ones: DEVICEID at 0x00.
            assert bus.read_i2c_block_data(0x10, 0x0A, 14)[12:] == [0x12, 0x42]
            with pytest.raises(OSError) as failed:
                bus.read_byte_data(0x10, 0x00)
            assert failed.value.errno == 121  # EREMOTEIO
            assert "the trace never read 1 bytes from pointer [00]" in str(failed.value)
            with pytest.raises(OSError) as absent:
                bus.read_byte(0x11)
            assert absent.value.errno == 6  # ENXIO: not in the trace, not on the bus


@pytest.fixture(scope="module")
def pct2075(tmp_path_factory):
    """The PCT2075 program's trace and output on the simulator's datasheet model."""
    tmp = tmp_path_factory.mktemp("pct2075")
    program = pct2075_program(tmp)
    config = tmp / "chips.toml"
    config.write_text(f"[[bus]]\nnumber = 1\n{PCT2075_MAP}")
    trace = tmp / "pct2075.trace"
    with logged_server(config=config) as lab:
        out = recorded(lab.url, trace, [sys.executable, str(program), lab.url, "1", "30.5"])
    assert out == "temperature -25.000\nhigh 80.0 hysteresis 75.0\nhigh now 30.5\n"
    return program, trace, out


def test_an_adafruit_driver_replays_strictly_and_refuses_a_changed_program(pct2075):
    program, trace, out = pct2075
    config = replay_config(trace.parent, trace, "strict")
    with logged_server(config=config) as replay:
        # Run again and again, as a test suite would: each run starts the replay over.
        for _ in range(2):
            done = run([sys.executable, str(program), replay.url, "1", "30.5"])
            assert done.returncode == 0, done.stderr
            assert done.stdout == out
        # The program changed to set another threshold.
        changed = run([sys.executable, str(program), replay.url, "1", "31.0"])
        assert changed.returncode != 0
        assert "EPROTO" in changed.stderr or "Protocol error" in changed.stderr, changed.stderr
        assert "expected `transfer w3@0x37 [03 1e 80]" in changed.stderr, changed.stderr
        assert "got `transfer w3@0x37 [03 1f 00]" in changed.stderr, changed.stderr


def test_an_adafruit_driver_replays_as_registers(pct2075):
    program, trace, out = pct2075
    with logged_server(config=replay_config(trace.parent, trace, "register")) as replay:
        done = run([sys.executable, str(program), replay.url, "1", "30.5"])
        assert done.returncode == 0, done.stderr
        assert done.stdout == out
        # A changed program works where the registers allow: the write is kept and read back.
        changed = run([sys.executable, str(program), replay.url, "1", "31.0"])
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout.endswith("high now 31.0\n")
