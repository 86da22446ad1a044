//! An unmodified driver from crates.io that needs a delay, `bme280`: it waits 2 ms after the
//! chip's reset and 40 ms for a measurement, with the client's `Delay`. Reads the BME280 at
//! 0x76 on the server's bus 1.
//!
//! With `--on-bus`, the bus is pipelined and the delays are waits on the bus (`Timed`): the
//! driver's "write, wait, read" costs one round trip instead of two plus the wait.
//!
//!     cargo run --example bme280 [-- [--on-bus] http://pi.local:50051]

use bme280::i2c::BME280;
use smbus_proxy_client::{BusOptions, Delay, Timed, blocking::Client, server_url};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", smbus_proxy_client::Report(&*e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let on_bus = std::env::args().any(|a| a == "--on-bus");
    let url = std::env::args().skip(1).find(|a| a != "--on-bus");
    let client = Client::connect(server_url(url.as_deref()))?;
    let m = if on_bus {
        let timed = Timed::new(client.bus_with(1, BusOptions { pipeline: 16, ..BusOptions::default() })?);
        let mut sensor = BME280::new_primary(timed.i2c());
        sensor.init(&mut timed.delay()).map_err(|e| driver("init", e))?;
        sensor.measure(&mut timed.delay()).map_err(|e| driver("measure", e))?
    } else {
        let mut sensor = BME280::new_primary(client.bus(1)?);
        sensor.init(&mut Delay).map_err(|e| driver("init", e))?;
        sensor.measure(&mut Delay).map_err(|e| driver("measure", e))?
    };
    println!("temperature {:.2} °C", m.temperature);
    println!("pressure {:.2} Pa", m.pressure);
    println!("humidity {:.2} %", m.humidity);
    Ok(())
}

/// The driver's error in words: a bus error is the client's own (the errno and what it means);
/// the driver's other errors have no text of their own, only their names.
fn driver<E: std::fmt::Display + std::fmt::Debug>(step: &str, e: bme280::Error<E>) -> String {
    match e {
        bme280::Error::Bus(e) => format!("{step}: {e}"),
        other => format!("{step}: {other:?}"),
    }
}
