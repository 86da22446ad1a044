//! `read_byte_data` COUNT times through the client library, one call after another: what one
//! call costs, to set beside the same loop through a node `smbus-proxy attach` made.
//!
//!     cargo run --example read_loop -- URL BUS CHIP COUNT

use smbus_proxy_client::blocking::Client;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, bus, chip, count] = &args[..] else {
        return Err("usage: read_loop URL BUS CHIP COUNT".into());
    };
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    let (chip, count) = (number(chip)? as u16, number(count)?);
    let client = Client::connect(url.as_str())?;
    let mut bus = client.bus(number(bus)?)?;
    let start = Instant::now();
    for _ in 0..count {
        bus.read_byte_data(chip, 0)?;
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(count);
    println!("{us:.1} us per read_byte_data through the client library ({count} calls)");
    Ok(())
}
