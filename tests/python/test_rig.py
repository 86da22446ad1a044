"""smbus_proxy.SMBus against a real kernel: the QEMU rig's i2c-stub bus, behind the server
running in the guest. rig/test.sh runs this with SMBUS_PROXY_RIG set; elsewhere it is skipped.

i2c-stub keeps what is written to its chip at 0x1c, and at24 owns its chip at 0x50.
"""

import errno
import os
import sys

import adafruit_pct2075
import bme280
import pytest
from conftest import logged_server
from test_bme280 import ADC_H, ADC_P, ADC_T, CALIBRATION, bme280_registers
from test_replay import pct2075_program, recorded, replay_config, run

from smbus_proxy import I2cFunc, SMBus, list_buses
from smbus_proxy.busio import I2C

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


def test_an_adafruit_driver_on_a_real_kernel(stub):
    """adafruit-circuitpython-pct2075, unmodified, on smbus_proxy.busio against an i2c-stub
    chip holding a PCT2075's registers (test_adafruit.py has them). i2c-stub has no plain I2C,
    so the driver's write-then-read transfers run as their SMBus equivalents (read_word_data,
    read_byte_data) and its writes as write_word_data and write_byte_data."""
    # Big-endian 16-bit registers; i2c-stub's words are little-endian, as SMBus words are.
    swapped = {0x00: 0x00E7, 0x02: 0x004B, 0x03: 0x0050}  # -25 °C, 75 °C, 80 °C
    with SMBus(stub, server=RIG) as bus:
        for reg, word in swapped.items():
            bus.write_word_data(CHIP, reg, word)
        bus.write_byte_data(CHIP, 0x01, 0)
        bus.write_byte_data(CHIP, 0x04, 0)
    with I2C(stub, server=RIG) as i2c:
        sensor = adafruit_pct2075.PCT2075(i2c, address=CHIP)
        assert sensor.temperature == -25.0
        assert (sensor.high_temperature_threshold, sensor.temperature_hysteresis) == (80.0, 75.0)
        sensor.high_temperature_threshold = 30.5
        sensor.delay_between_measurements = 700
        assert sensor.high_temperature_threshold == 30.5
        assert sensor.delay_between_measurements == 700
    with SMBus(stub, server=RIG) as bus:
        # 30.5 °C is 61 << 7: 0x1E80 on the wire, high byte first.
        assert bus.read_word_data(CHIP, 0x03) == 0x801E
        assert bus.read_byte_data(CHIP, 0x04) == 7


def test_a_recording_on_the_real_kernel_replays_on_the_simulator(stub, tmp_path):
    """The Adafruit PCT2075 program recorded against the real kernel's i2c-stub (where its
    transfers run as SMBus commands; the trace keeps both), then played back strictly on a
    simulated bus that has nothing but the recording: the same output."""
    swapped = {0x00: 0x00E7, 0x02: 0x004B, 0x03: 0x0050}  # -25 °C, 75 °C, 80 °C, as above
    with SMBus(stub, server=RIG) as bus:
        for reg, word in swapped.items():
            bus.write_word_data(CHIP, reg, word)
        bus.write_byte_data(CHIP, 0x01, 0)
    program = pct2075_program(tmp_path)
    trace = tmp_path / "rig.trace"
    on_the_rig = recorded(RIG, trace, [sys.executable, str(program), RIG, str(stub), "30.5", "0x1c"], bus=stub)
    assert on_the_rig == "temperature -25.000\nhigh 80.0 hysteresis 75.0\nhigh now 30.5\n"
    assert "(ran as read_word_data 0x1c reg=0x03)" in trace.read_text()
    with logged_server(config=replay_config(tmp_path, trace, "strict", trace_bus=stub)) as replay:
        done = run([sys.executable, str(program), replay.url, "1", "30.5", "0x1c"])
        assert done.returncode == 0, done.stderr
        assert done.stdout == on_the_rig
