//! An unmodified driver from crates.io that needs a delay, `bme280`: it waits 2 ms after the
//! chip's reset and 40 ms for a measurement, with the client's `Delay`. Reads the BME280 at
//! 0x76 on the server's bus 1.
//!
//!     cargo run --example bme280 [-- http://pi.local:50051]

use bme280::i2c::BME280;
use smbus_proxy_client::{Delay, blocking::Client, server_url};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::connect(server_url(std::env::args().nth(1).as_deref()))?;
    let mut sensor = BME280::new_primary(client.bus(1)?);
    let mut delay = Delay;
    sensor.init(&mut delay).map_err(|e| format!("init: {e:?}"))?;
    let m = sensor.measure(&mut delay).map_err(|e| format!("measure: {e:?}"))?;
    println!("temperature {:.2} °C", m.temperature);
    println!("pressure {:.2} Pa", m.pressure);
    println!("humidity {:.2} %", m.humidity);
    Ok(())
}
