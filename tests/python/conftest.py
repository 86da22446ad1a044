"""Starts the real `smbus-proxy` binary on the simulated bus, on a free loopback port."""

import contextlib
import os
import re
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where cargo put the debug build: the binary and the client's examples.
DEBUG = os.path.join(ROOT, os.environ.get("CARGO_TARGET_DIR", "target"), "debug")
BINARY = os.environ.get("SMBUS_PROXY_BIN", os.path.join(DEBUG, "smbus-proxy"))


@contextlib.contextmanager
def running_server(*args):
    """Yields the address ("127.0.0.1:PORT") of `smbus-proxy serve --simulate ARGS`."""
    with logged_server(*args) as server:
        yield server.addr


@pytest.fixture(scope="session")
def server():
    with running_server() as addr:
        yield addr


class LoggedServer:
    """A running `smbus-proxy serve --simulate` whose log is read as it goes."""

    def __init__(self, addr, lines, tls=False):
        self.addr = addr
        self.url = f"{'https' if tls else 'http'}://{addr}"
        self._lines = lines

    def log(self):
        """The log lines so far."""
        return list(self._lines)

    def wait_for(self, pattern, timeout=5.0):
        """The first log line that matches `pattern`, waiting for it to be logged."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log():
                if re.search(pattern, line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing matching {pattern!r} in the log:\n" + "".join(self.log()))
            time.sleep(0.01)


@contextlib.contextmanager
def logged_server(*args, config=None):
    """Like `running_server`, but keeps draining the server's log, so a server that logs every
    operation (`--log-ops info`) never blocks on a full pipe, and a test can read what it did.
    `config` is a simulator configuration file instead of the built-in demo bus."""
    simulate = ["--simulate"] if config is None else ["--simulate", str(config)]
    proc = subprocess.Popen(
        [BINARY, "serve", *simulate, "--listen", "127.0.0.1:0", *args],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "info", "NO_COLOR": "1"},
    )
    lines = []
    addr = None
    for line in proc.stderr:
        lines.append(line)
        m = re.search(r"server started.*addr=(\S+)", line)
        if m:
            addr = m.group(1)
            break
    if addr is None:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(lines))

    def drain():
        for line in proc.stderr:
            lines.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield LoggedServer(addr, lines, tls="--tls-cert" in args)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0, "the server exits cleanly on SIGTERM"
        reader.join(timeout=10)
