//! The quick start: serves the built-in simulated bus on 127.0.0.1:50051, then uses it over
//! that socket through the client library, as a driver on another machine would, and stops.
//!
//!     cargo run --example quickstart

use smbus_proxy_client::blocking::Client;
use smbus_proxy_server::Server;
use smbus_proxy_sim::Config;
use std::io::IsTerminal;

const LISTEN: &str = "127.0.0.1:50051";

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", smbus_proxy_client::Report(&*e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // The server: what `smbus-proxy serve --simulate` runs, here on a thread of its own.
    let server = Server::simulated(&Config::demo())
        .spawn(LISTEN.parse()?)
        .map_err(|e| format!("cannot listen on {LISTEN}: {e}"))?;

    // A client, over the socket.
    let client = Client::connect(server.url())?;
    for bus in client.list_buses()? {
        println!("bus {}: {} (I2C_FUNCS {:#010x})", bus.number, bus.name, bus.funcs);
    }
    let mut bus = client.bus(1)?;

    // The Si4703 FM tuner at 0x10: one 32-byte block read from 0x0A, as the original project did.
    println!("Si4703 registers:");
    let regs = bus.read_i2c_block_data(0x10, 0x0A, 32)?;
    for (i, reg) in regs.chunks(2).enumerate() {
        println!("0x{:02X} = {:02x} {:02x}", (0x0A + i) % 16, reg[0], reg[1]);
    }

    // A transaction: write a register of the chip at 0x48 and read it back, in one round trip.
    let mut batch = bus.batch();
    batch.write_byte_data(0x48, 0x01, 0x5A);
    let back = batch.read_byte_data(0x48, 0x01);
    let results = bus.run(batch)?;
    println!("chip 0x48: wrote 0x5a to register 0x01, read back {:#04x}", results.get(back));

    // Nobody at 0x33: the bus says so with the kernel's errno.
    if let Err(e) = bus.read_byte(0x33) {
        println!("{e}");
    }

    bus.close()?;
    drop(client);
    server.stop()?;
    Ok(())
}
