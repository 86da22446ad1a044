//! Reads the registers of an Si4703 FM tuner at 0x10 and prints them as the original
//! smbus-proxy did on a Raspberry Pi: one 32-byte block read, which an Si4703 always starts
//! at register 0x0A, 16-bit registers high byte first.
//!
//!     smbus-proxy serve --simulate &
//!     cargo run --example si4703 [-- http://pi.local:50051]
//!
//! The server is the URL given, else $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051.

use smbus_proxy_client::{blocking::Client, server_url};

const SI4703: u16 = 0x10;

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
    let url = server_url(std::env::args().nth(1).as_deref());
    let client = Client::connect(url)?;
    let mut bus = client.bus(1)?;
    let regs = bus.read_i2c_block_data(SI4703, 0x0A, 32)?;
    for (i, reg) in regs.chunks(2).enumerate() {
        println!("0x{:02X} = {:02x} {:02x}", (0x0A + i) % 16, reg[0], reg[1]);
    }
    Ok(())
}
