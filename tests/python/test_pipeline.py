"""Pipelined writes from Python: ``SMBus(pipeline=...)`` and ``busio.I2C(pipeline=...)``
against a real server. Writes return before they run, still run in order, and a failure is
raised at the next point that waits, with nothing written after it reaching the bus."""

import errno

import pytest
from conftest import logged_server

from smbus_proxy import SMBus, i2c_msg
from smbus_proxy.busio import I2C

RF, ABSENT = 0x48, 0x33


@pytest.fixture(scope="module")
def lab():
    with logged_server() as server:
        yield server


def raises_pipelined(call, position):
    with pytest.raises(OSError) as failed:
        call()
    assert failed.value.errno == errno.ENXIO
    assert f"pipelined call {position} failed: write_byte_data at 0x33 failed: ENXIO" in str(failed.value)


def test_writes_run_in_order_and_a_read_waits_for_them(lab):
    with SMBus(1, server=lab.url, pipeline=True) as bus:
        for i in range(200):
            bus.write_byte_data(RF, 0x20 + i % 4, i)
        bus.i2c_rdwr(i2c_msg.write(RF, [0x30, 7, 8]))
        assert bus.read_i2c_block_data(RF, 0x20, 4) == [196, 197, 198, 199]
        assert bus.read_i2c_block_data(RF, 0x30, 2) == [7, 8]


def test_a_failure_is_raised_at_the_next_read_and_stops_what_came_after(lab):
    with SMBus(1, server=lab.url, pipeline=8) as bus:
        bus.write_byte_data(RF, 0x40, 1)
        bus.write_byte_data(ABSENT, 0x00, 1)  # returns: the failure is not known yet
        bus.write_byte_data(RF, 0x41, 1)
        raises_pipelined(lambda: bus.read_byte_data(RF, 0x40), 2)
        with SMBus(1, server=lab.url) as check:
            assert check.read_i2c_block_data(RF, 0x40, 2) == [1, 0]
        # Told: the bus runs again.
        bus.write_byte_data(RF, 0x41, 2)
        assert bus.read_byte_data(RF, 0x41) == 2


def test_flush_close_and_the_end_of_a_with_block_raise_it(lab):
    bus = SMBus(1, server=lab.url, pipeline=True)
    bus.write_byte_data(ABSENT, 0, 0)
    raises_pipelined(bus.flush, 1)
    bus.flush()
    bus.write_byte_data(ABSENT, 0, 0)
    raises_pipelined(bus.close, 2)
    bus.close()

    def block():
        with SMBus(1, server=lab.url, pipeline=True) as bus:
            bus.write_byte_data(ABSENT, 0, 0)

    raises_pipelined(block, 1)
    # An exception already leaving the block stays the one raised.
    with pytest.raises(KeyError):
        with SMBus(1, server=lab.url, pipeline=True) as bus:
            bus.write_byte_data(ABSENT, 0, 0)
            raise KeyError("mine")


def test_probes_and_bad_windows(lab):
    with SMBus(1, server=lab.url, pipeline=True) as bus:
        with pytest.raises(OSError) as probe:
            bus.write_quick(ABSENT)
        assert probe.value.errno == errno.ENXIO
    with pytest.raises(ValueError, match=r"pipeline: 257 is out of range 0–256 \(True is 64\)"):
        SMBus(1, server=lab.url, pipeline=257)
    with pytest.raises(ValueError, match="pipeline: -1 is out of range"):
        SMBus(1, server=lab.url, pipeline=-1)
    with pytest.raises(TypeError, match="pipeline: expected True, False or a window size, not str"):
        SMBus(1, server=lab.url, pipeline="yes")


def test_busio_pipelines_writes_and_still_probes(lab):
    with I2C(1, server=lab.url, pipeline=True) as i2c:
        assert i2c.try_lock()
        assert RF in i2c.scan() and ABSENT not in i2c.scan()
        for i in range(50):
            i2c.writeto(RF, bytes([0x50, i]))
        got = bytearray(1)
        i2c.writeto_then_readfrom(RF, b"\x50", got)
        assert got == bytes([49])
        i2c.writeto(ABSENT, b"\x00\x01")
        with pytest.raises(OSError) as failed:
            i2c.flush()
        assert failed.value.errno == errno.ENXIO
        i2c.unlock()
