"""The Python Si4703 example against the real server binary, as a user runs it."""

import os
import subprocess
import sys

from conftest import ROOT
from test_examples import SI4703_DUMP

EXAMPLE = os.path.join(ROOT, "python", "examples", "si4703.py")


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, EXAMPLE, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_si4703_prints_the_originals_dump_with_the_url_from_the_environment(server):
    done = run(env={"SMBUS_PROXY_SERVER": f"http://{server}"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == SI4703_DUMP


def test_si4703_with_an_explicit_url(server):
    done = run(f"http://{server}", env={"SMBUS_PROXY_SERVER": "http://127.0.0.1:1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == SI4703_DUMP


def test_a_server_that_is_not_there_is_a_clear_error():
    done = run("http://127.0.0.1:1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot connect to http://127.0.0.1:1:")
    assert done.stdout == ""
