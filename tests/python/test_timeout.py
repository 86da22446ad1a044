"""SMBus(timeout=...): a call that gets no answer in time raises TimeoutError."""

import math
import time

import pytest
from conftest import logged_server

from smbus_proxy import SMBus

# At 1 kHz a 32-byte block read holds the bus for about 0.35 s.
SLOW = '[[bus]]\nnumber = 1\nspeed_khz = 1\n[[bus.device]]\nmodel = "register-file"\naddr = 0x48\n'


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    config = tmp_path_factory.mktemp("slow") / "slow.toml"
    config.write_text(SLOW)
    with logged_server(config=config) as server:
        yield server


def test_a_slow_call_raises_timeout_error_and_the_bus_goes_on(slow):
    with SMBus(1, server=slow.url, timeout=0.1) as bus:
        started = time.monotonic()
        with pytest.raises(TimeoutError) as raised:
            bus.read_i2c_block_data(0x48, 0, 32)
        assert time.monotonic() - started < 0.3
        assert "read_i2c_block_data got no answer within 100ms" in str(raised.value)
        time.sleep(0.4)
        assert bus.read_byte_data(0x48, 0) == 0


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf])
def test_a_timeout_must_be_seconds_above_zero(slow, timeout):
    with pytest.raises(ValueError, match="timeout: .* is not a number of seconds above 0"):
        SMBus(1, server=slow.url, timeout=timeout)
