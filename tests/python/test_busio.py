"""`smbus_proxy.busio.I2C`, CircuitPython's busio.I2C on a remote bus, and an unmodified
Adafruit CircuitPython driver from PyPI on it."""

import array
import re

import adafruit_bme280.basic
import adafruit_pcf8574
import pytest
from adafruit_bus_device.i2c_device import I2CDevice
from conftest import logged_server
from test_bme280 import ADC_H, ADDRESS, humidity_by_the_datasheets_integer_formula

from smbus_proxy import SMBus
from smbus_proxy.busio import I2C

RF, EEPROM, BME280 = 0x48, 0x50, 0x76


@pytest.fixture(scope="module")
def lab():
    """The demo bus: Si4703 at 0x10, PCF8574 at 0x20, register file at 0x48, 24C02 at 0x50."""
    with logged_server("--log-ops", "info") as server:
        yield server


def test_writes_and_reads_with_start_and_end(lab):
    with I2C(1, server=lab.url) as i2c:
        assert i2c.try_lock()
        i2c.writeto(RF, bytearray([0xFF, 0x30, 0x0A, 0x0B, 0x0C, 0xFF]), start=1, end=5)
        i2c.writeto(RF, b"\x30")
        into = bytearray(5)
        i2c.readfrom_into(RF, into, start=1, end=4)
        assert into == bytearray([0, 0x0A, 0x0B, 0x0C, 0])
        words = array.array("B", [0] * 4)
        i2c.writeto_then_readfrom(RF, b"\x00\x31", words, out_start=1, in_end=2)
        assert list(words) == [0x0B, 0x0C, 0, 0]
        i2c.unlock()


def test_write_then_read_is_one_combined_transfer(lab):
    with I2C(1, server=lab.url) as i2c:
        i2c.writeto(RF, b"\x40\x77\x88")
        got = bytearray(2)
        i2c.writeto_then_readfrom(RF, b"\x40", got)
    assert got == b"\x77\x88"
    # One transfer with a repeated start, never a write and a separate read.
    lab.wait_for(r"transfer w1@0x48 \[40\] r2@0x48 → \[77 88\]")


def test_the_lock_is_one_drivers_at_a_time(lab):
    with I2C(1, server=lab.url) as i2c:
        assert i2c.try_lock()
        assert not i2c.try_lock()
        i2c.unlock()
        assert i2c.try_lock()
        i2c.unlock()


def test_scan_finds_the_demo_devices(lab):
    with I2C(1, server=lab.url) as i2c:
        assert i2c.try_lock()
        assert i2c.scan() == [0x10, 0x20, RF, EEPROM, BME280]
        i2c.unlock()


def test_errors_are_oserror_with_the_errno(lab):
    with I2C(1, server=lab.url) as i2c:
        with pytest.raises(OSError) as e:
            i2c.readfrom_into(0x33, bytearray(1))
        assert e.value.errno == 6


def test_adafruit_bus_device_probes_with_an_empty_write(lab):
    """adafruit_bus_device probes a device with a write of no bytes, and refuses an address
    where nothing answers."""
    with I2C(1, server=lab.url) as i2c:
        device = I2CDevice(i2c, RF)
        with device:
            device.write_then_readinto(b"\x40", got := bytearray(1))
        assert got == b"\x77"
        with pytest.raises(ValueError, match="No I2C device at address: 0x33"):
            I2CDevice(i2c, 0x33)
    assert any(re.search(r"transfer w0@0x48 \[\] → ", line) for line in lab.log())


def test_deinit_ends_the_session(lab):
    i2c = I2C(1, server=lab.url)
    i2c.deinit()
    lab.wait_for("client closed bus 1")


def test_an_adafruit_driver_from_pypi_reads_the_datasheets_values(tmp_path):
    """adafruit-circuitpython-bme280, unmodified, on the BME280 register map of test_bme280:
    the calculation example of Bosch's datasheet, 25.08 °C and 100653.27 Pa."""
    from test_bme280 import bme280_registers

    config = tmp_path / "bme280.toml"
    config.write_text(
        f'[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = "register-file"\naddr = {ADDRESS:#x}\n'
        f"registers = {bme280_registers()}\n"
    )
    with logged_server(config=config) as server, I2C(1, server=server.url) as i2c:
        sensor = adafruit_bme280.basic.Adafruit_BME280_I2C(i2c, address=ADDRESS)
        assert sensor.temperature == pytest.approx(25.08, abs=0.005)
        assert sensor.pressure == pytest.approx(1006.5327, abs=0.0005)  # hPa
        assert sensor.relative_humidity == pytest.approx(
            humidity_by_the_datasheets_integer_formula(ADC_H, 128422), abs=0.05
        )
        # The driver reset the chip: 0xB6 to its reset register.
        with SMBus(1, server=server.url) as bus:
            assert bus.read_byte_data(ADDRESS, 0xE0) == 0xB6


def test_an_adafruit_driver_on_the_demos_bme280_model(lab):
    """The README's example: adafruit-circuitpython-bme280 on the demo bus's BME280 (25 °C,
    1013.25 hPa, 50 %RH). In forced mode the driver starts each measurement and polls the
    status register's measuring bit until the model's conversion time has passed."""
    with I2C(1, server=lab.url) as i2c:
        sensor = adafruit_bme280.basic.Adafruit_BME280_I2C(i2c, address=BME280)
        assert sensor.temperature == pytest.approx(25.0, abs=0.01)
        assert sensor.pressure == pytest.approx(1013.25, abs=0.01)  # hPa
        assert sensor.relative_humidity == pytest.approx(50.0, abs=0.05)
        sensor.mode = adafruit_bme280.basic.MODE_FORCE
        assert sensor.temperature == pytest.approx(25.0, abs=0.01)
        with SMBus(1, server=lab.url) as bus:
            assert bus.read_byte_data(BME280, 0xF4) & 0b11 == 0b00, "asleep after a forced measurement"
            assert bus.read_byte_data(BME280, 0xE0) == 0x00, "the reset register reads zero"


def test_an_adafruit_driver_for_an_io_expander_sees_what_the_pins_see(tmp_path):
    """adafruit-circuitpython-pcf8574, unmodified, on the simulated PCF8574, whose outside
    circuit pulls pins 1 and 3 low: a quasi-bidirectional pin reads low when either the chip
    or the outside drives it low (the datasheet's I/O structure)."""
    config = tmp_path / "pcf8574.toml"
    config.write_text('[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = "pcf8574"\naddr = 0x20\ninputs = 0xF5\n')
    with logged_server(config=config) as server, I2C(1, server=server.url) as i2c:
        pcf = adafruit_pcf8574.PCF8574(i2c, address=0x20)
        assert pcf.read_gpio() == 0xF5  # every latch high at power-on; 1 and 3 pulled low outside
        pcf.write_gpio(0xFF)
        pcf.write_pin(7, False)
        assert pcf.read_gpio() == 0x75
        assert (pcf.get_pin(0).value, pcf.get_pin(1).value, pcf.get_pin(7).value) == (True, False, False)
        pcf.write_gpio(0x0F)
        assert pcf.read_gpio() == 0x05
