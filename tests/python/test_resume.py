"""Surviving a broken connection from Python: a relay on loopback between ``smbus_proxy.SMBus``
and the real server resets every connection through it every 100 ms while a driver loop writes
and reads back, sync and pipelined. The program sees no exception, and the simulator's write
log holds each write once, in order."""

import socket
import threading
import time

import pytest
from conftest import logged_server

from smbus_proxy import SMBus, i2c_msg

RF = 0x48
# A write log for each test: what one wrote is all its own log holds.
LOGS = {False: 0x60, True: 0x61}

LAB = """
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
[[bus.device]]
model = "write-log"
addr = 0x60
[[bus.device]]
model = "write-log"
addr = 0x61
"""


class Relay:
    """Forwards connections to `target`; `reset()` breaks every one open through it with a
    TCP reset, as a Wi-Fi drop or a sleeping laptop does."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = []
        self.resets = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                # As the client and server do: small messages go at once, not after Nagle's wait.
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass

    def reset(self):
        with self.lock:
            sockets, self.open = self.open, []
            self.resets += 1
        for s in sockets:
            # Linger 0: close with RST, not FIN. The shutdown wakes the pump thread blocked on
            # it, which otherwise keeps the socket open, silent, after close.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    config = tmp_path_factory.mktemp("resume") / "lab.toml"
    config.write_text(LAB)
    with logged_server(config=config) as server:
        yield server


def resetting(relay, stop):
    def run():
        while not stop.wait(0.1):
            relay.reset()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def logged(bus, log, length):
    """What the write log holds, from the start."""
    bus.write_quick(log)
    read = i2c_msg.read(log, length)
    bus.i2c_rdwr(read)
    return list(read)


@pytest.mark.parametrize("pipeline", [False, True])
def test_a_driver_loop_survives_resets_and_each_write_runs_once(lab, pipeline):
    relay = Relay(lab.addr)
    stop = threading.Event()
    log = LOGS[pipeline]
    with SMBus(1, server=relay.url, pipeline=pipeline) as bus:
        thread = resetting(relay, stop)
        for i in range(1000):
            bus.write_byte_data(log, i >> 8, i & 0xFF)
            bus.write_byte_data(RF, 0x10, i & 0xFF)
            assert bus.read_byte_data(RF, 0x10) == i & 0xFF
        stop.set()
        thread.join()
        assert relay.resets > 3
        expected = [b for i in range(1000) for b in (i >> 8, i & 0xFF)]
        assert logged(bus, log, 2001) == expected + [0xFF], "each write once, in order"


def test_a_program_sets_how_long_a_call_waits_for_the_network(lab):
    relay = Relay(lab.addr)
    with SMBus(1, server=relay.url, outage_wait=0.3) as bus:
        bus.write_byte_data(RF, 0x11, 1)
        # The relay goes: nothing listens where the client connects. (The shutdown wakes the
        # thread blocked in accept, which would otherwise still take connections.)
        relay.listener.shutdown(socket.SHUT_RDWR)
        relay.listener.close()
        relay.reset()
        with pytest.raises(ConnectionError, match=r"has been down for 0\.[3-9] s; write_byte_data may or may not have run"):
            bus.write_byte_data(RF, 0x11, 2)


def test_without_a_resume_window_a_write_over_a_broken_connection_is_not_repeated(lab):
    relay = Relay(lab.addr)
    with SMBus(1, server=relay.url, resume_window=0) as bus:
        bus.write_byte_data(RF, 0x11, 1)
        relay.reset()
        time.sleep(0.1)
        with pytest.raises(ConnectionError, match="during write_byte_data; it may or may not have run"):
            bus.write_byte_data(RF, 0x11, 2)
        # A read is safe to repeat: it goes through on a new connection.
        assert bus.read_byte_data(RF, 0x11) in (1, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resume_window": -1}, "resume_window: -1 is not a number of seconds 0 or more"),
        ({"outage_wait": float("nan")}, "outage_wait: NaN is not a number of seconds 0 or more"),
    ],
)
def test_the_windows_refuse_what_is_not_a_time(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SMBus(**kwargs)
