//! An unmodified embedded-hal 1.0 driver from crates.io, `eeprom24x`, driving the 24C02
//! EEPROM at 0x50 on the server's bus 1: drivers run on the laptop as they would on the board.
//!
//!     smbus-proxy serve --simulate &
//!     cargo run --example eeprom24x [-- http://pi.local:50051]

use eeprom24x::{Eeprom24x, SlaveAddr};
use smbus_proxy_client::{blocking::Client, server_url};

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
    let mut eeprom = Eeprom24x::new_24x02(client.bus(1)?, SlaveAddr::default());

    let message = b"hello, bus";
    eeprom.write_page(0x00, &message[..8]).map_err(|e| format!("{e:?}"))?;
    eeprom.write_page(0x08, &message[8..]).map_err(|e| format!("{e:?}"))?;
    let mut back = [0u8; 10];
    eeprom.read_data(0x00, &mut back).map_err(|e| format!("{e:?}"))?;
    println!("wrote {:?}, read back {:?}", String::from_utf8_lossy(message), String::from_utf8_lossy(&back));
    Ok(())
}
