//! The server's limits: past them, RESOURCE_EXHAUSTED with a message, and the server keeps serving.

mod common;

use common::execute;
use smbus_proxy_server::Limits;
use smbus_proxy_server::Server;
use smbus_proxy_sim::Config;
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command, Op};
use tonic::Code;

async fn opens(limits: Limits) -> (smbus_proxy_server::Running, SmbusClient<tonic::transport::Channel>) {
    let server =
        Server::simulated(&Config::demo()).limits(limits).spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = SmbusClient::connect(server.url()).await.unwrap();
    (server, client)
}

async fn open(c: &mut SmbusClient<tonic::transport::Channel>) -> Result<String, tonic::Status> {
    c.open(pb::OpenRequest { bus: 1, ..Default::default() }).await.map(|r| r.into_inner().session)
}

#[tokio::test]
async fn sessions_per_client_host() {
    let (_server, mut c) = opens(Limits { sessions: 10, sessions_per_peer: 2, ..Limits::default() }).await;
    let first = open(&mut c).await.unwrap();
    open(&mut c).await.unwrap();
    let status = open(&mut c).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "sessions: 2 are open from 127.0.0.1, the limit per client host; close one or let an idle one expire"
    );
    // Still serving, and a closed session makes room.
    let read = Op::smbus(0x48, Command::ReadByte);
    assert!(execute(&mut c, &first, &[read]).await.is_ok());
    c.close(pb::CloseRequest { session: first }).await.unwrap();
    open(&mut c).await.unwrap();
}

#[tokio::test]
async fn sessions_in_all() {
    let (_server, mut c) = opens(Limits { sessions: 3, sessions_per_peer: 10, ..Limits::default() }).await;
    for _ in 0..3 {
        open(&mut c).await.unwrap();
    }
    let status = open(&mut c).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "sessions: 3 are open, the server's limit; close one or let an idle one expire"
    );
}

/// The per-operation bus timeout is the adapter's timeout: a slow device fails its operation
/// with ETIMEDOUT once the limit has passed, and the bus serves the next one.
#[tokio::test]
async fn an_operation_holds_the_bus_no_longer_than_the_limit() {
    // At 1 kHz a 32-byte block read takes about 300 ms on the wire.
    let config = Config::parse(
        "[[bus]]\nnumber = 1\nspeed_khz = 1\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48",
    )
    .unwrap();
    let limits = Limits { op_timeout: Some(std::time::Duration::from_millis(100)), ..Limits::default() };
    let server = Server::simulated(&config).limits(limits).spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut c = SmbusClient::connect(server.url()).await.unwrap();
    let s = open(&mut c).await.unwrap();
    let started = std::time::Instant::now();
    let slow = Op::smbus(0x48, Command::ReadI2cBlockData { reg: 0, len: 32 });
    let reply = execute(&mut c, &s, &[slow]).await.unwrap();
    let error = reply.error.expect("the read timed out");
    assert_eq!((error.index, error.errno), (0, smbus_proxy_wire::Errno::ETIMEDOUT.0));
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_millis(250), "held the bus {took:?}");
    // A short operation still fits.
    assert!(execute(&mut c, &s, &[Op::smbus(0x48, Command::ReadByte)]).await.unwrap().error.is_none());
}
