//! The quick start: serves the built-in simulated bus on 127.0.0.1:50051, then talks to it over
//! that socket as any client would, and stops.
//!
//!     cargo run --example quickstart

use smbus_proxy_server::{Backend, Server};
use smbus_proxy_sim::Config;
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command, Errno, Op, Reply, decode, encode};
use std::io::IsTerminal;

const LISTEN: &str = "127.0.0.1:50051";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    // The server: what `smbus-proxy serve --simulate` runs.
    let backends = Config::demo().build().into_iter().map(|b| Box::new(b) as Box<dyn Backend>).collect();
    let listener =
        tokio::net::TcpListener::bind(LISTEN).await.map_err(|e| format!("cannot listen on {LISTEN}: {e}"))?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Server::new(backends).serve(listener, async {
        let _ = stopped.await;
    }));

    // A client, over the socket.
    let mut client = SmbusClient::connect(format!("http://{LISTEN}")).await?;
    for bus in client.list_buses(pb::ListBusesRequest {}).await?.into_inner().buses {
        println!("bus {}: {} (I2C_FUNCS {:#010x})", bus.number, bus.name, bus.funcs);
    }
    let session = client.open(pb::OpenRequest { bus: 1, ..Default::default() }).await?.into_inner().session;

    // The Si4703 FM tuner at 0x10: one 32-byte block read from 0x0A, as the original project did.
    let read = Op::smbus(0x10, Command::ReadI2cBlockData { reg: 0x0A, len: 32 });
    let mut replies = run(&mut client, &session, vec![read]).await?;
    if let Some(Reply::Block(regs)) = replies.pop() {
        println!("Si4703 registers:");
        for (i, word) in regs.chunks(2).enumerate() {
            println!("0x{:02X} = {:02x} {:02x}", (0x0A + i) % 16, word[0], word[1]);
        }
    }

    // A transaction: write a register of the chip at 0x48 and read it back, atomically.
    let ops = vec![
        Op::smbus(0x48, Command::WriteByteData { reg: 0x01, value: 0x5A }),
        Op::smbus(0x48, Command::ReadByteData { reg: 0x01 }),
    ];
    if let Reply::Byte(b) = run(&mut client, &session, ops).await?[1] {
        println!("chip 0x48: wrote 0x5a to register 0x01, read back {b:#04x}");
    }

    // Nobody at 0x33: the bus says so with the kernel's errno.
    let nack = Op::smbus(0x33, Command::ReadByte);
    if let Err(e) = run(&mut client, &session, vec![nack]).await {
        println!("read_byte at 0x33: {e}");
    }

    client.close(pb::CloseRequest { session }).await?;
    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Runs a transaction; a failed operation becomes an error naming it and its errno.
async fn run(
    client: &mut SmbusClient<tonic::transport::Channel>,
    session: &str,
    ops: Vec<Op>,
) -> Result<Vec<Reply>, Box<dyn std::error::Error>> {
    let request = pb::ExecuteRequest { session: session.into(), ops: ops.iter().map(encode::op).collect() };
    let response = client.execute(request).await?.into_inner();
    if let Some(e) = response.error {
        return Err(format!("operation {} failed: {}", e.index, Errno(e.errno)).into());
    }
    Ok(response.results.into_iter().map(decode::reply).collect::<Result<_, _>>()?)
}
