"""README.md, as a new user pastes it: every ```sh run block, in order, in one fresh shell.

Blocks marked `sh run` are the ones a reader pastes to try things on this machine; the others
name hosts that are not here (a Raspberry Pi) or commands that take minutes (cargo install,
scripts/test). The shell finds `smbus-proxy` where `cargo install` would put it (here, the
freshly built target/debug), and Python with the smbus_proxy package installed. The blocks
start their own server on the default address, so none may be running there already.
"""

import os
import re
import signal
import socket
import subprocess
import sys

from conftest import BINARY, ROOT


def runnable_blocks():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"^```sh run\n(.*?)^```", readme, flags=re.S | re.M)


def test_readme_has_runnable_blocks():
    assert len(runnable_blocks()) >= 3


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
    try:
        out, err = shell.communicate(timeout=300)
    finally:
        # The server the blocks started in the background, and anything else they left.
        try:
            os.killpg(shell.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    assert shell.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    # What each block shows: the Si4703 dump (from Rust, then Python), the EEPROM driver, the
    # scan, the bus list, and each tool.
    lines = out.splitlines()
    assert lines.count("0x00 = 12 42") == 2, out
    for line in [
        'wrote "hello, bus", read back "hello, bus"',
        "50: 50 -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- ",
        "i2c-1\ti2c       \tsmbus-proxy simulated bus 1     \tI2C adapter",
        "Value 0x60 written, readback matched",
        "0x6000",
        "0x68 0x65 0x6c 0x6c 0x6f 0x2c 0x20 0x62",
    ]:
        assert line in lines, f"{line!r} not in:\n{out}"
