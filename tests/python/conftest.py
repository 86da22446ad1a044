"""Starts the real `smbus-proxy` binary on the simulated bus, on a free loopback port."""

import contextlib
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SMBUS_PROXY_BIN", os.path.join(ROOT, "target", "debug", "smbus-proxy"))


@contextlib.contextmanager
def running_server(*args):
    """Yields the address ("127.0.0.1:PORT") of `smbus-proxy serve --simulate ARGS`."""
    proc = subprocess.Popen(
        [BINARY, "serve", "--simulate", "--listen", "127.0.0.1:0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"},
    )
    addr = None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        m = re.search(r"server started.*addr=(\S+)", line)
        if m:
            addr = m.group(1)
            break
    if addr is None:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(seen))
    try:
        yield addr
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0, "the server exits cleanly on SIGTERM"


@pytest.fixture(scope="session")
def server():
    with running_server() as addr:
        yield addr
