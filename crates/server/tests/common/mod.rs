//! A real server on a real loopback socket (the workspace's test fixture), and helpers to talk to
//! it with the generated client.
#![allow(dead_code)]

use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command, Op, encode};
use std::time::Duration;
use tonic::transport::Channel;

pub use smbus_proxy_testkit::{Here, lab};

/// A server on the shared lab with this lease, on the test's runtime.
pub async fn lab_here(lease: Duration) -> Here {
    Here::start(lab().lease(lease)).await
}

/// A generated gRPC client, connected to `server`.
pub async fn client(server: &Here) -> SmbusClient<Channel> {
    SmbusClient::connect(server.url()).await.expect("connect")
}

pub async fn open(client: &mut SmbusClient<Channel>, bus: u32) -> String {
    client
        .open(pb::OpenRequest { bus: bus.into(), ..Default::default() })
        .await
        .expect("open")
        .into_inner()
        .session
}

pub async fn execute(
    client: &mut SmbusClient<Channel>,
    session: &str,
    ops: &[Op],
) -> Result<pb::ExecuteResponse, tonic::Status> {
    let ops = ops.iter().map(encode::op).collect();
    client
        .execute(pb::ExecuteRequest {
            session: session.into(),
            ops,
            keep_going: false,
            fence: 0,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

/// Runs one op that must succeed and returns its reply.
pub async fn run1(client: &mut SmbusClient<Channel>, session: &str, op: Op) -> smbus_proxy_wire::Reply {
    let mut r =
        execute(client, session, std::slice::from_ref(&op)).await.unwrap_or_else(|s| panic!("{op:?}: {s}"));
    assert!(r.error.is_none(), "{op:?}: {:?}", r.error);
    assert_eq!(r.results.len(), 1);
    smbus_proxy_wire::decode::reply(r.results.pop().unwrap()).unwrap()
}

pub fn op(addr: u16, command: Command) -> Op {
    Op::smbus(addr, command)
}
