//! An unmodified embedded-hal 1.0 driver from crates.io, `eeprom24x`, driving the 24C02
//! EEPROM at 0x50 on the server's bus 1: drivers run on the laptop as they would on the board.
//!
//!     smbus-proxy serve --simulate &
//!     cargo run --example eeprom24x [-- http://pi.local:50051]

use eeprom24x::{Eeprom24x, SlaveAddr};
use smbus_proxy_client::embedded_hal::delay::DelayNs;
use smbus_proxy_client::{Delay, blocking::Client, server_url};

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
    let client = Client::connect(server_url(std::env::args().nth(1).as_deref()))?;
    let mut eeprom = Eeprom24x::new_24x02(client.bus(1)?, SlaveAddr::default());

    let message = b"hello, bus";
    // After each page the chip is busy writing it (t_WR, 5 ms at most) and answers nothing.
    for (at, page) in [(0x00, &message[..8]), (0x08, &message[8..])] {
        eeprom.write_page(at, page).map_err(|e| format!("{e:?}"))?;
        Delay.delay_ms(5);
    }
    let mut back = [0u8; 10];
    eeprom.read_data(0x00, &mut back).map_err(|e| format!("{e:?}"))?;
    println!("wrote {:?}, read back {:?}", String::from_utf8_lossy(message), String::from_utf8_lossy(&back));
    Ok(())
}
