"""Unmodified Adafruit CircuitPython drivers from PyPI on `smbus_proxy.busio.I2C`, against the
simulator's datasheet models: a 16-bit-register temperature sensor (PCT2075 as a register
map), a current and power monitor (INA219), a command-based humidity sensor (SHT3x) and a
16-bit-address EEPROM (24C32).

Each check is a value the datasheet or the configured registers imply, not just "it did not
raise"; each also shows the part refusing what the real one refuses.
"""

import errno

import time

import adafruit_24lc32
import adafruit_ina219
import adafruit_pct2075
import adafruit_sht31d
import pytest
from conftest import logged_server

from smbus_proxy import SMBus, i2c_msg
from smbus_proxy.busio import I2C

PCT2075, INA219, SHT3X, EEPROM = 0x37, 0x40, 0x44, 0x50

# The PCT2075's registers at power-on (NXP PCT2075 datasheet, Table 5 and §7.4): Temp
# (read-only, 11 bits left-justified), Conf, Thyst and Tos (9 bits used; 75 and 80 °C) and
# Tidle. Temp holds -25.000 °C: the datasheet's Table 9 gives 0x738 for it, shifted left 5.
PCT2075_MAP = """
[[bus.device]]
model = "register-map"
addr = 0x37
[[bus.device.register]]
at = 0x00
width = 16
value = 0xE700
read_only = true
[[bus.device.register]]
at = 0x01
write_mask = 0x1F
[[bus.device.register]]
at = 0x02
width = 16
value = 0x4B00
write_mask = 0xFF80
[[bus.device.register]]
at = 0x03
width = 16
value = 0x5000
write_mask = 0xFF80
[[bus.device.register]]
at = 0x04
write_mask = 0x1F
"""

CHIPS = f"""
[[bus]]
number = 1
{PCT2075_MAP}
[[bus.device]]
model = "ina219"
addr = 0x40
bus_volts = 12.0
current_amps = 0.25
shunt_ohms = 0.1

[[bus.device]]
model = "sht3x"
addr = 0x44
temperature = 23.5
humidity = 41.25
serial = 0x0BADCAFE

[[bus.device]]
model = "eeprom-24c32"
addr = 0x50
contents = [0x41, 0x42]
"""


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    config = tmp_path_factory.mktemp("adafruit") / "chips.toml"
    config.write_text(CHIPS)
    with logged_server("--log-ops", "info", config=config) as server:
        yield server


def sht3x_reading(value, scale, offset):
    """What the sensor reports for `value`: the datasheet's conversion formula applied to the
    16-bit word nearest it (T = -45 + 175·S/65535, RH = 100·S/65535)."""
    word = round((value - offset) * 65535 / scale)
    return offset + scale * word / 65535


def test_pct2075_reads_the_datasheets_temperature_and_keeps_9_bit_limits(chips):
    with I2C(1, server=chips.url) as i2c:
        sensor = adafruit_pct2075.PCT2075(i2c, address=PCT2075)
        assert sensor.temperature == -25.0
        assert (sensor.high_temperature_threshold, sensor.temperature_hysteresis) == (80.0, 75.0)
        sensor.high_temperature_threshold = 30.5
        sensor.temperature_hysteresis = 25.0
        assert (sensor.high_temperature_threshold, sensor.temperature_hysteresis) == (30.5, 25.0)
        sensor.delay_between_measurements = 700
        sensor.faults_to_alert = adafruit_pct2075.FaultCount.FAULT_4
        assert sensor.delay_between_measurements == 700
        assert sensor.faults_to_alert == adafruit_pct2075.FaultCount.FAULT_4
        with SMBus(1, server=chips.url) as bus:
            # The registers as the driver left them: Tos 30.5 °C is 61 << 7, high byte first.
            assert bus.read_i2c_block_data(PCT2075, 0x03, 2) == [0x1E, 0x80]
            assert bus.read_byte_data(PCT2075, 0x04) == 7
            assert bus.read_byte_data(PCT2075, 0x01) == 0x10  # fault queue: bits 4:3 = 2
            # Tos uses 9 bits: the 7 below them stay 0 whatever is written.
            bus.write_i2c_block_data(PCT2075, 0x03, [0x20, 0xFF])
            assert bus.read_i2c_block_data(PCT2075, 0x03, 2) == [0x20, 0x80]
            # Temp is read-only: the write is acknowledged and changes nothing.
            bus.write_i2c_block_data(PCT2075, 0x00, [0x12, 0x34])
            # A pointer that names no register is not acknowledged.
            with pytest.raises(OSError) as refused:
                bus.write_byte(PCT2075, 0x05)
            assert refused.value.errno == errno.EREMOTEIO
        assert sensor.temperature == -25.0
        assert sensor.high_temperature_threshold == 32.5


def test_ina219_computes_current_and_power_from_the_calibration_the_driver_programs(chips):
    """12 V and 0.25 A through the 0.1 Ω shunt Adafruit's breakout has: 25 mV, 2500 in
    10 µV units. The driver's 32 V/2 A calibration (4096, 0.1 mA per bit) makes the current
    register 2500 × 4096 / 4096 and power 2500 × 3000 / 5000 at 2 mW per bit (the datasheet's
    equations 4 and 5). Its 16 V/400 mA setting narrows the shunt range to ±40 mV and the bus
    range to 16 V, both still wide enough."""
    with I2C(1, server=chips.url) as i2c:
        sensor = adafruit_ina219.INA219(i2c, addr=INA219)
        for _ in range(2):
            assert sensor.shunt_voltage == pytest.approx(0.025, abs=1e-12)
            assert sensor.bus_voltage == pytest.approx(12.0, abs=1e-12)
            assert sensor.current == pytest.approx(250.0, abs=1e-9)  # mA
            assert sensor.power == pytest.approx(3.0, abs=1e-12)  # W
            assert not sensor.overflow
            sensor.set_calibration_16V_400mA()
        assert (sensor.raw_current, sensor.raw_power, sensor.calibration) == (2500, 1500, 4096)
        assert (sensor.gain, sensor.bus_voltage_range) == (adafruit_ina219.Gain.DIV_1_40MV, 0)
        # A triggered conversion of 128 samples on each ADC takes 2 × 68.10 ms; CNVR says
        # when it is done, and reading the power register clears it.
        sensor.bus_adc_resolution = adafruit_ina219.ADCResolution.ADCRES_12BIT_128S
        sensor.shunt_adc_resolution = adafruit_ina219.ADCResolution.ADCRES_12BIT_128S
        sensor.mode = adafruit_ina219.Mode.SANDBVOLT_TRIGGERED
        assert not sensor.conversion_ready
        time.sleep(0.14)
        assert sensor.conversion_ready
        assert sensor.raw_power == 1500
        assert not sensor.conversion_ready
        # Bit 15 resets every register to its power-on value, calibration included.
        sensor.reset = 1
        with SMBus(1, server=chips.url) as bus:
            assert bus.read_i2c_block_data(INA219, 0x00, 2) == [0x39, 0x9F]
            assert bus.read_i2c_block_data(INA219, 0x05, 2) == [0, 0]
            assert bus.read_i2c_block_data(INA219, 0x04, 2) == [0, 0]


def test_sht31d_measures_what_the_config_sets_and_checks_its_crcs(chips):
    expected_t = sht3x_reading(23.5, 175, -45)
    expected_rh = sht3x_reading(41.25, 100, 0)
    with I2C(1, server=chips.url) as i2c:
        sensor = adafruit_sht31d.SHT31D(i2c, address=SHT3X)
        # The driver unpacks each word with its CRC-8 and raises on a mismatch.
        assert sensor.temperature == pytest.approx(expected_t, abs=1e-9)
        assert sensor.relative_humidity == pytest.approx(expected_rh, abs=1e-9)
        assert sensor.serial_number == 0x0BADCAFE
        # Its reset left the status at 0x8010 (alert pending, reset detected).
        assert sensor.status & 0x8010 == 0x8010
        assert not sensor.heater
        sensor.heater = True
        assert sensor.heater
        sensor.heater = False
        # With clock stretching the driver reads 1 ms after the command and the sensor
        # holds SCL until its measurement is done.
        sensor.clock_stretching = True
        for repeatability in (adafruit_sht31d.REP_LOW, adafruit_sht31d.REP_MED, adafruit_sht31d.REP_HIGH):
            sensor.repeatability = repeatability
            assert sensor.temperature == pytest.approx(expected_t, abs=1e-9)

        # A read during the measurement is not acknowledged, as on the real part.
        i2c.writeto(SHT3X, bytes([0x24, 0x00]))
        with pytest.raises(OSError) as busy:
            i2c.readfrom_into(SHT3X, bytearray(6))
        assert busy.value.errno == errno.ENXIO


def test_24lc32_writes_and_reads_at_16_bit_addresses(chips):
    with I2C(1, server=chips.url) as i2c:
        eeprom = adafruit_24lc32.EEPROM_I2C(i2c, address=EEPROM)
        assert len(eeprom) == 4096
        assert eeprom[0:3] == bytearray([0x41, 0x42, 0xFF])  # the configured contents, then erased
        # The driver writes a byte at a time and waits 5 ms, the datasheet's t_WR, after each.
        eeprom[0xFFE:0x1000] = b"hi"
        eeprom[0x123] = 0x42
        assert eeprom[0xFFE:0x1000] == bytearray(b"hi")
        assert eeprom[0x123] == bytearray([0x42])
        # Right after a write the part acknowledges nothing until its write cycle is over.
        i2c.writeto(EEPROM, bytes([0x01, 0x00, 0x99]))
        with pytest.raises(OSError) as busy:
            i2c.readfrom_into(EEPROM, bytearray(1))
        assert busy.value.errno == errno.ENXIO
    with SMBus(1, server=chips.url) as bus:
        # Two address bytes, high first; a sequential read rolls over from 0xFFF to 0.
        while True:
            try:
                write, read = i2c_msg.write(EEPROM, [0x0F, 0xFE]), i2c_msg.read(EEPROM, 4)
                bus.i2c_rdwr(write, read)
                break
            except OSError as e:  # ACK polling: still in the write cycle
                assert e.errno == errno.ENXIO
        assert list(read) == [ord("h"), ord("i"), 0x41, 0x42]
