//! The README's "Use it from Rust" snippet, as it runs: the README test checks that the
//! snippet is this file's, line for line, and runs it against the demo bus.
//!
//!     smbus-proxy serve --simulate &
//!     cargo run --example tour

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", smbus_proxy_client::Report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), smbus_proxy_client::Error> {
    // README: begin
    use smbus_proxy_client::{Msg, blocking::Client}; // or smbus_proxy_client::Client, async

    let client = Client::connect("http://127.0.0.1:50051")?; // a Pi: "http://raspberrypi.local:50051"
    let mut bus = client.bus(1)?; // a session on /dev/i2c-1
    bus.write_byte_data(0x48, 0x01, 0x60)?; // smbus2's names and meanings
    let temp = bus.read_word_data(0x48, 0x00)?;

    let mut batch = bus.batch(); // one transaction, one round trip
    let id = batch.read_byte_data(0x48, 0x0F);
    batch.write_i2c_block_data(0x50, 0x00, b"hello");
    let results = bus.run(batch)?;
    println!("id {:#04x}", results.get(id));

    let mut held = bus.lock(std::time::Duration::from_secs(1))?; // exclusive until dropped
    held.i2c_rdwr(vec![Msg::write(0x50, vec![0x00]), Msg::read(0x50, 16)])?;
    // README: end
    println!("temp {temp:#06x}");
    Ok(())
}
