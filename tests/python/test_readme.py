"""README.md, as a new user pastes it: every ```sh run block, in order, in one fresh shell.

Blocks marked `sh run` are the ones a reader pastes to try things on this machine; the others
name hosts that are not here (a Raspberry Pi) or commands that take minutes (cargo install,
scripts/test). The shell finds `smbus-proxy` where `cargo install` would put it (here, the
freshly built target/debug), and Python with the smbus_proxy package installed. The blocks
start their own server on the default address, so none may be running there already.

Blocks marked `python run` are Python a reader runs with `python3`; they go through it in the
same order. The Rust snippet cannot run on its own (it is the body of a program), so it is
`examples/tour.rs`, which a `sh run` block runs and this test keeps equal to the README's. The
recording a block makes is exported as the mock that `crates/client/tests/mock_export.rs`
runs the driver against, and must be the same, call for call.
"""

import os
import re
import signal
import socket
import subprocess
import sys

from conftest import BINARY, ROOT


def readme():
    return open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def runnable_blocks():
    """Each runnable block as shell: Python through python3, reading the block as its script."""
    blocks = re.findall(r"^```(sh|python) run\n(.*?)^```", readme(), flags=re.S | re.M)
    return [code if kind == "sh" else f"python3 - <<'EOF'\n{code}EOF\n" for kind, code in blocks]


def words(line):
    # rustfmt puts one space before a trailing comment, where the README lines them up.
    return " ".join(line.split())


def test_readme_has_runnable_blocks():
    assert len(runnable_blocks()) >= 6


def test_the_rust_snippet_is_the_tour_example():
    snippet = re.search(r"^```rust\n(.*?)^```", readme(), flags=re.S | re.M).group(1)
    example = open(os.path.join(ROOT, "crates/client/examples/tour.rs"), encoding="utf-8").read()
    body = re.search(r"// README: begin\n(.*?)\n *// README: end", example, flags=re.S).group(1)
    assert [words(line) for line in snippet.splitlines()] == [words(line) for line in body.splitlines()]


def test_every_runnable_readme_block_works_pasted_in_order(tmp_path):
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 50051)) != 0, "something already listens on 127.0.0.1:50051"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMBUS_PROXY_")}
    # `smbus-proxy` where `cargo install` would put it, and this venv's python3 first.
    env["PATH"] = os.pathsep.join([os.path.dirname(BINARY), os.path.dirname(sys.executable), env["PATH"]])
    env["NO_COLOR"] = "1"
    # After the blocks, the harness stops what they left in the background (the server), so
    # that its pipes close.
    script = "set -e\n" + "\n".join(runnable_blocks()) + "\njobs -p | xargs -r kill\nwait\n"
    shell = subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    made = [os.path.join(ROOT, name) for name in ("bme280.trace", "bme280_mock.rs")]
    try:
        out, err = shell.communicate(timeout=300)
        assert shell.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
        exported = open(made[1], encoding="utf-8").read()
    finally:
        for path in made:
            if os.path.exists(path):
                os.remove(path)
        # The server the blocks started in the background, and anything else they left.
        try:
            os.killpg(shell.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    # What each block shows: the tour, the Si4703 dump (from Rust, then Python), the EEPROM
    # driver, the BME280 driver (twice, then once more recorded), smbus2's snippet, Adafruit's
    # BME280 driver, the scan, the bus list, and each tool.
    lines = out.splitlines()
    assert lines.count("0x00 = 12 42") == 2, out
    assert lines.count("temperature 25.00 °C") == 3, out
    assert lines.count("pressure 101325.05 Pa") == 3, out
    assert lines.count("humidity 50.00 %") == 3, out
    assert any(re.fullmatch(r"id 0x[0-9a-f]{2}", line) for line in lines), out
    for line in [
        "24576",
        "24.9970703125 1013.2505378152721",  # Adafruit's floating-point compensation
        'wrote "hello, bus", read back "hello, bus"',
        "50: 50 -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- ",
        "i2c-1\ti2c       \tsmbus-proxy simulated bus 1     \tI2C adapter",
        "Value 0x60 written, readback matched",
        "0x6000",
        "0x68 0x65 0x6c 0x6c 0x6f 0x2c 0x20 0x62",
    ]:
        assert line in lines, f"{line!r} not in:\n{out}"

    # The recording, exported, is the mock the driver's unit test runs against.
    fixture = open(os.path.join(ROOT, "crates/client/tests/fixtures/bme280_mock.rs"), encoding="utf-8").read()
    assert exported == fixture
