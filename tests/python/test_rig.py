"""smbus_proxy.SMBus against a real kernel: the QEMU rig's i2c-stub bus, behind the server
running in the guest. rig/test.sh runs this with SMBUS_PROXY_RIG set; elsewhere it is skipped.

i2c-stub keeps what is written to its chip at 0x1c, and at24 owns its chip at 0x50.
"""

import errno
import os

import bme280
import pytest
from test_bme280 import ADC_H, ADC_P, ADC_T, CALIBRATION, bme280_registers

from smbus_proxy import I2cFunc, SMBus, list_buses

RIG = os.environ.get("SMBUS_PROXY_RIG")
pytestmark = pytest.mark.skipif(not RIG, reason="needs the QEMU rig: rig/test.sh")
CHIP, OWNED, EMPTY = 0x1C, 0x50, 0x33


@pytest.fixture(scope="module")
def stub():
    """The number of the i2c-stub bus."""
    (number,) = [b.number for b in list_buses(server=RIG) if b.name == "SMBus stub driver"]
    return number


def test_smbus2s_methods_on_a_real_kernel(stub):
    with SMBus(stub, server=RIG) as bus:
        assert I2cFunc.I2C not in bus.funcs and I2cFunc.SMBUS_BYTE_DATA in bus.funcs
        bus.write_byte_data(CHIP, 0x10, 0x5A)
        assert bus.read_byte_data(CHIP, 0x10) == 0x5A
        bus.write_word_data(CHIP, 0x20, 0xBEEF)
        assert bus.read_word_data(CHIP, 0x20) == 0xBEEF
        bus.write_i2c_block_data(CHIP, 0x30, [1, 2, 3, 4])
        assert bus.read_i2c_block_data(CHIP, 0x30, 4) == [1, 2, 3, 4]


def test_the_kernels_errno_arrives_untouched(stub):
    with SMBus(stub, server=RIG) as bus:
        # i2c-stub answers an address without a chip with ENODEV; real adapters say ENXIO.
        with pytest.raises(OSError) as raised:
            bus.read_byte_data(EMPTY, 0)
        assert raised.value.errno == errno.ENODEV
        # at24 owns 0x50: EBUSY, unless forced, as with smbus2 on the board itself.
        with pytest.raises(OSError) as raised:
            bus.read_byte_data(OWNED, 0)
        assert raised.value.errno == errno.EBUSY
        bus.read_byte_data(OWNED, 0, force=True)


def test_the_pypi_bme280_driver_on_a_real_kernel(stub):
    """RPi.bme280, unmodified, on an i2c-stub chip filled with a BME280's registers."""
    regs = bme280_registers() + [0]
    with SMBus(stub, server=RIG) as bus:
        # i2c-stub keeps a 16-bit word per register: byte accesses use its low byte, word
        # accesses all of it. With register r holding regs[r] | regs[r + 1] << 8, both read
        # as a real chip's little-endian registers do.
        for r in range(0x80, 0x100):
            bus.write_word_data(CHIP, r, regs[r] | regs[r + 1] << 8)
        calibration = bme280.load_calibration_params(bus, CHIP)
        assert dict(calibration) == CALIBRATION
        data = bme280.sample(bus, CHIP, calibration)
    assert (data.uncompensated.temperature, data.uncompensated.pressure) == (ADC_T, ADC_P)
    assert data.uncompensated.humidity == ADC_H
    assert data.temperature == pytest.approx(25.08, abs=0.005)
    assert data.pressure == pytest.approx(1006.5327, abs=0.0005)
