//! A recording becomes a unit test: the `bme280` crate's driver was recorded against the
//! simulator (`fixtures/bme280.trace`), `smbus-proxy export-mock` turned the trace into
//! embedded-hal-mock expectations (`fixtures/bme280_mock.rs`, which the CLI's tests keep equal
//! to a fresh export), and here the unmodified driver runs against them with no bus at all.

use bme280::i2c::BME280;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::Mock;

include!("fixtures/bme280_mock.rs");

#[test]
fn the_recorded_driver_passes_against_its_exported_expectations() {
    let mut i2c = Mock::new(&expectations());
    let mut sensor = BME280::new_primary(i2c.clone());
    sensor.init(&mut NoopDelay).unwrap();
    let m = sensor.measure(&mut NoopDelay).unwrap();
    // What the example printed when it was recorded.
    assert_eq!(format!("{:.2} {:.2} {:.2}", m.temperature, m.pressure, m.humidity), "25.00 101325.05 50.00");
    // Every recorded call was made, in order.
    i2c.done();
}

#[test]
#[should_panic(expected = "i2c::write_read address mismatch")]
fn a_driver_that_does_otherwise_fails_its_test() {
    // The same driver at the other address the chip can have.
    let mut i2c = Mock::new(&expectations());
    let mut sensor = BME280::new_secondary(i2c.clone());
    let _ = sensor.init(&mut NoopDelay);
    i2c.done();
}
