"""``python -m smbus_proxy [--server URL] PROGRAM.py [ARGS...]``, or ``-m MODULE``: runs a
program that imports ``smbus`` or ``smbus2`` itself with those imports giving smbus_proxy's
``SMBus`` (see ``smbus_proxy.install``), as if it had been started with ``python``."""

import argparse
import runpy
import sys

from ._switch import install


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m smbus_proxy",
        description="Run a program that imports smbus or smbus2 itself against a bus of an "
        "smbus-proxy server.",
    )
    parser.add_argument("--server", help="the server: http://HOST:PORT, https://HOST:PORT or mdns://NAME (default: $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051)")
    parser.add_argument("--token", help="its token (default: $SMBUS_PROXY_TOKEN)")
    parser.add_argument("-m", dest="module", help="run this module, as python -m does")
    parser.add_argument("program", nargs="?", help="the program's file")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    options = parser.parse_args()
    if (options.module is None) == (options.program is None):
        parser.error("give a program's file, or -m and a module")
    install(server=options.server, token=options.token)
    if options.module is not None:
        rest = [options.program] if options.program is not None else []
        sys.argv = [options.module, *rest, *options.args]
        runpy.run_module(options.module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [options.program, *options.args]
        runpy.run_path(options.program, run_name="__main__")


main()
