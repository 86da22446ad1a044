"""An unmodified driver from PyPI written for smbus2, RPi.bme280, on smbus_proxy.SMBus.

The driver takes the bus object as its first argument (its documentation passes
`smbus2.SMBus(1)`), so it gets an `smbus_proxy.SMBus` instead. The BME280 is simulated as a
register-file chip at 0x76 preloaded with a BME280's registers: calibration constants and one
measurement. Temperature and pressure use the calculation example of Bosch's BMP280 datasheet
(whose temperature and pressure part the BME280 shares), so the expected readings are the
datasheet's: 25.08 °C and 100653.27 Pa.
"""

import os
import re
import subprocess

import bme280
import pytest
from conftest import BINARY, DEBUG, ROOT, logged_server

from smbus_proxy import SMBus

ADDRESS = 0x76

# Calibration ("trimming") constants; T and P from the datasheet's example.
CALIBRATION = {
    "dig_T1": 27504,
    "dig_T2": 26435,
    "dig_T3": -1000,
    "dig_P1": 36477,
    "dig_P2": -10685,
    "dig_P3": 3024,
    "dig_P4": 2855,
    "dig_P5": 140,
    "dig_P6": -7,
    "dig_P7": 15500,
    "dig_P8": -14600,
    "dig_P9": 6000,
    "dig_H1": 75,
    "dig_H2": 362,
    "dig_H3": 0,
    "dig_H4": 313,
    "dig_H5": 50,
    "dig_H6": 30,
}
# Raw ADC readings: 20-bit temperature and pressure (the datasheet's), 16-bit humidity.
ADC_T, ADC_P, ADC_H = 519888, 415148, 0x7000


def bme280_registers():
    """Registers 0x00–0xFF of a BME280 holding CALIBRATION and one measurement, laid out as
    the datasheet's memory map has them."""
    regs = [0] * 0x100
    c = CALIBRATION

    def word(reg, value):  # little-endian, signed or not
        regs[reg], regs[reg + 1] = value & 0xFF, (value >> 8) & 0xFF

    for i, name in enumerate(["T1", "T2", "T3", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"]):
        word(0x88 + 2 * i, c["dig_" + name])
    regs[0xA1] = c["dig_H1"]
    word(0xE1, c["dig_H2"])
    regs[0xE3] = c["dig_H3"]
    # H4 and H5 are 12 bits each, sharing the nibbles of 0xE5.
    regs[0xE4] = (c["dig_H4"] >> 4) & 0xFF
    regs[0xE5] = (c["dig_H4"] & 0x0F) | ((c["dig_H5"] & 0x0F) << 4)
    regs[0xE6] = (c["dig_H5"] >> 4) & 0xFF
    regs[0xE7] = c["dig_H6"] & 0xFF
    regs[0xD0] = 0x60  # chip id
    # press_msb, press_lsb, press_xlsb, temp_msb, temp_lsb, temp_xlsb, hum_msb, hum_lsb
    regs[0xF7:0xFF] = [
        ADC_P >> 12, (ADC_P >> 4) & 0xFF, (ADC_P & 0x0F) << 4,
        ADC_T >> 12, (ADC_T >> 4) & 0xFF, (ADC_T & 0x0F) << 4,
        ADC_H >> 8, ADC_H & 0xFF,
    ]  # fmt: skip
    return regs


def humidity_by_the_datasheets_integer_formula(adc_h, t_fine):
    """%RH by the BME280 datasheet's 32-bit integer compensation (a different formula from
    the driver's floating-point one, so an independent check of what the driver read)."""
    c = CALIBRATION
    v = t_fine - 76800
    v = ((((adc_h << 14) - (c["dig_H4"] << 20) - (c["dig_H5"] * v)) + 16384) >> 15) * (
        ((((((v * c["dig_H6"]) >> 10) * (((v * c["dig_H3"]) >> 11) + 32768)) >> 10) + 2097152) * c["dig_H2"] + 8192)
        >> 14
    )
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * c["dig_H1"]) >> 4)
    return (min(max(v, 0), 419430400) >> 12) / 1024


def bme280_config(path):
    path.write_text(
        "# A BME280 on bus 1 at its default address.\n"
        "[[bus]]\nnumber = 1\n"
        f'[[bus.device]]\nmodel = "register-file"\naddr = {ADDRESS:#x}\nregisters = {bme280_registers()}\n'
    )
    return path


@pytest.fixture(scope="module")
def bme280_server(tmp_path_factory):
    with logged_server(config=bme280_config(tmp_path_factory.mktemp("bme280") / "bme280.toml")) as server:
        yield server


def test_the_driver_reads_the_calibration(bme280_server):
    with SMBus(1, server=bme280_server.url) as bus:
        assert dict(bme280.load_calibration_params(bus, ADDRESS)) == CALIBRATION


def test_the_driver_samples_the_datasheets_values(bme280_server):
    with SMBus(1, server=bme280_server.url) as bus:
        calibration = bme280.load_calibration_params(bus, ADDRESS)
        data = bme280.sample(bus, ADDRESS, calibration)
        # The driver started a forced measurement with x1 oversampling everywhere.
        assert bus.read_byte_data(ADDRESS, 0xF2) == 0b001  # ctrl_hum: osrs_h x1
        assert bus.read_byte_data(ADDRESS, 0xF4) == 0b001_001_01  # ctrl_meas: osrs_t, osrs_p x1, forced
    assert data.uncompensated.temperature == ADC_T
    assert data.uncompensated.pressure == ADC_P
    assert data.uncompensated.humidity == ADC_H
    assert data.temperature == pytest.approx(25.08, abs=0.005)
    assert data.pressure == pytest.approx(1006.5327, abs=0.0005)  # hPa
    t_fine = 128422  # the datasheet's, for 25.08 °C
    assert data.humidity == pytest.approx(humidity_by_the_datasheets_integer_formula(ADC_H, t_fine), abs=0.01)
    assert 40 < data.humidity < 60


def run_the_rust_example(*args):
    done = subprocess.run(
        [os.path.join(DEBUG, "examples", "bme280"), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_rust_driver_with_delays_on_the_bus_reads_the_same(bme280_server):
    """The same crate with `--on-bus`: a pipelined bus, and the driver's delays are waits on
    the bus (`smbus_proxy_client::Timed`) rather than sleeps in the client: the readings are
    the same."""
    plain = run_the_rust_example(bme280_server.url)
    on_bus = run_the_rust_example("--on-bus", bme280_server.url)
    assert on_bus == plain
    assert "temperature 25.08" in on_bus


def test_the_rust_driver_from_crates_io_with_the_clients_delay(bme280_server):
    """The `bme280` crate, which waits 2 ms after the reset and 40 ms for the measurement,
    run by the client's `bme280` example with `smbus_proxy_client::Delay`."""
    done = run_the_rust_example(bme280_server.url)
    readings = dict(re.findall(r"^(\w+) ([\d.]+)", done, re.M))
    assert float(readings["temperature"]) == pytest.approx(25.08, abs=0.005)
    # The crate computes in f32: within 0.05 Pa of the datasheet's 100653.27.
    assert float(readings["pressure"]) == pytest.approx(100653.27, abs=0.05)
    t_fine = 128422
    assert float(readings["humidity"]) == pytest.approx(
        humidity_by_the_datasheets_integer_formula(ADC_H, t_fine), abs=0.05
    )
    with SMBus(1, server=bme280_server.url) as bus:
        # The driver reset the chip (0xB6 to the reset register) and started a forced measurement.
        assert bus.read_byte_data(ADDRESS, 0xE0) == 0xB6
        assert bus.read_byte_data(ADDRESS, 0xF4) & 0b11 == 0b01


def test_on_the_demos_model_both_drivers_read_what_it_measures():
    """The demo bus's BME280 model (25 °C, 1013.25 hPa, 50 %RH), which `serve --simulate`
    starts: the PyPI driver and the crates.io one read what it is set to measure."""
    with logged_server() as server:
        with SMBus(1, server=server.url) as bus:
            data = bme280.sample(bus, ADDRESS, bme280.load_calibration_params(bus, ADDRESS))
            assert bus.read_byte_data(ADDRESS, 0xF4) == 0b001_001_00, "the forced measurement ended"
        assert data.temperature == pytest.approx(25.0, abs=0.01)
        # The driver uses the datasheet's floating-point formula, 2 Pa from the integer one.
        assert data.pressure == pytest.approx(1013.25, abs=0.05)  # hPa
        assert data.humidity == pytest.approx(50.0, abs=0.01)
        plain = run_the_rust_example(server.url)
        readings = {name: float(value) for name, value in re.findall(r"^(\w+) ([\d.]+)", plain, re.M)}
        # The crate computes in f32: within 0.1 Pa.
        assert readings == pytest.approx({"temperature": 25.0, "pressure": 101325.0, "humidity": 50.0}, abs=0.1)
        assert run_the_rust_example("--on-bus", server.url) == plain


def test_a_recording_of_the_rust_driver_exports_as_the_committed_mock_test(tmp_path):
    """Record the crates.io driver live on the demo bus's BME280, just powered up, export the
    trace as embedded-hal-mock expectations: they are the ones
    `crates/client/tests/mock_export.rs` runs the driver against."""
    from test_replay import recorded

    trace = tmp_path / "bme280.trace"
    example = os.path.join(DEBUG, "examples", "bme280")
    with logged_server() as server:
        out = recorded(server.url, trace, [example, server.url])
    assert out.startswith("temperature 25.00 °C\n")
    exported = subprocess.run(
        [BINARY, "export-mock", str(trace)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    with open(os.path.join(ROOT, "crates", "client", "tests", "fixtures", "bme280_mock.rs")) as committed:
        assert exported == committed.read()
