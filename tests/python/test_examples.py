"""The Rust client's examples against the real server binary, as a user runs them."""

import os
import subprocess

from conftest import DEBUG

EXAMPLES = os.path.join(DEBUG, "examples")

# The dump the original smbus-proxy printed from a real Si4703 on a Raspberry Pi.
SI4703_DUMP = """\
0x0A = 00 00
0x0B = 00 00
0x0C = 00 00
0x0D = 00 00
0x0E = 00 00
0x0F = 00 00
0x00 = 12 42
0x01 = 12 00
0x02 = 0a 00
0x03 = 00 00
0x04 = 00 00
0x05 = 00 00
0x06 = 00 00
0x07 = 01 00
0x08 = 00 00
0x09 = 00 00
"""


def run(example, *args, env=None):
    return subprocess.run(
        [os.path.join(EXAMPLES, example), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_si4703_prints_the_originals_dump_with_the_url_from_the_environment(server):
    done = run("si4703", env={"SMBUS_PROXY_SERVER": f"http://{server}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == SI4703_DUMP


def test_si4703_with_an_explicit_url(server):
    done = run("si4703", f"http://{server}", env={"SMBUS_PROXY_SERVER": "http://127.0.0.1:1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == SI4703_DUMP


def test_a_server_that_is_not_there_is_a_clear_error():
    done = run("si4703", "http://127.0.0.1:1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot connect to http://127.0.0.1:1:")


def test_an_unmodified_crates_io_driver(server):
    done = run("eeprom24x", f"http://{server}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == 'wrote "hello, bus", read back "hello, bus"\n'
