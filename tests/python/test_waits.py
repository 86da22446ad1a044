"""Waiting on the bus from Python: ``SMBus.wait`` and the ``poll_*`` methods against a real
server, on simulated chips that keep time (an INA219's conversion, a 24C32's write cycle)."""

import time

import pytest
from conftest import logged_server

from smbus_proxy import SMBus, i2c_msg

SENSOR, EEPROM, RF = 0x40, 0x50, 0x48

CHIPS = """
[[bus]]
number = 1
[[bus.device]]
model = "ina219"
addr = 0x40
bus_volts = 12.0
current_amps = 0.25
[[bus.device]]
model = "eeprom-24c32"
addr = 0x50
[[bus.device]]
model = "register-file"
addr = 0x48
"""


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    config = tmp_path_factory.mktemp("waits") / "chips.toml"
    config.write_text(CHIPS)
    with logged_server(config=config) as server:
        yield server


def trigger(bus):
    """A triggered conversion of 128 samples on each ADC: 2 × 68.10 ms."""
    bus.write_i2c_block_data(SENSOR, 0x00, [0x3F, 0xFB])


def test_a_poll_waits_for_the_conversion_ready_bit_on_the_bus(chips):
    with SMBus(1, server=chips.url) as bus:
        trigger(bus)
        start = time.monotonic()
        # As an SMBus word the register's bytes swap: the ready bit is bit 9.
        word = bus.poll_word_data(SENSOR, 0x02, 0x0200, 0x0200, timeout=0.5, interval=0.001)
        assert time.monotonic() - start >= 0.12
        assert word == 0xC25D  # 12 V in bits 15:3, ready, byte-swapped


def test_ack_polling_through_an_eeprom_write_cycle(chips):
    with SMBus(1, server=chips.url, pipeline=True) as bus:
        for page in range(4):
            bus.i2c_rdwr(i2c_msg.write(EEPROM, [0x02, page * 32] + [page] * 32))
            bus.poll_ack(EEPROM, timeout=0.02)
        write, read = i2c_msg.write(EEPROM, [0x02, 0x00]), i2c_msg.read(EEPROM, 128)
        bus.i2c_rdwr(write, read)
        assert list(read) == [p for p in range(4) for _ in range(32)]


def test_a_wait_holds_the_bus_and_pipelined_costs_no_round_trip(chips):
    with SMBus(1, server=chips.url, pipeline=True) as bus:
        start = time.monotonic()
        trigger(bus)
        bus.wait(0.14)
        assert time.monotonic() - start < 0.1, "queued, not waited for"
        assert bus.read_word_data(SENSOR, 0x02) & 0x0200
        assert time.monotonic() - start >= 0.14


def test_a_poll_that_runs_out_of_time_raises_timeout_error(chips):
    with SMBus(1, server=chips.url) as bus:
        bus.write_byte_data(RF, 0x10, 0x00)
        with pytest.raises(TimeoutError) as late:
            bus.poll_byte_data(RF, 0x10, 0xFF, 0x5A, timeout=0.02, interval=0.005)
        assert " tries; the last did not match" in str(late.value)
        with pytest.raises(TimeoutError, match="the last failed with ENXIO"):
            bus.poll_ack(0x33, timeout=0.005)


def test_bad_times_and_limits(chips):
    with SMBus(1, server=chips.url) as bus:
        with pytest.raises(ValueError, match="seconds: 0 is not a number of seconds above 0"):
            bus.wait(0.0)
        with pytest.raises(ValueError, match="interval: -1 is not a number of seconds 0 or more"):
            bus.poll_ack(EEPROM, timeout=0.01, interval=-1.0)
        with pytest.raises(TypeError, match="timeout: expected a number of seconds"):
            bus.poll_ack(EEPROM, timeout="soon")
        with pytest.raises(ValueError, match=r"ops\[0\].wait.micros: 120000000 µs is out of range 1–60000000"):
            bus.wait(120)
        with pytest.raises(OSError, match="this server holds the bus for at most 1000000 µs of waiting"):
            bus.wait(2)
        with pytest.raises(ValueError, match=r"ops\[0\].poll.until.value: 0x6 has bits outside the mask 0x2"):
            bus.poll_byte_data(RF, 0x10, 0x02, 0x06, timeout=0.01)
        with pytest.raises(ValueError, match="mask: 0x100 is out of range 0–0xff"):
            bus.poll_byte_data(RF, 0x10, 0x100, 0, timeout=0.01)
