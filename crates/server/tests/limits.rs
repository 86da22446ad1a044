//! Session limits: past them, RESOURCE_EXHAUSTED with a message, and the server keeps serving.

mod common;

use common::execute;
use smbus_proxy_server::Server;
use smbus_proxy_server::session::Limits;
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
    let (_server, mut c) = opens(Limits { sessions: 10, sessions_per_peer: 2 }).await;
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
    let (_server, mut c) = opens(Limits { sessions: 3, sessions_per_peer: 10 }).await;
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
