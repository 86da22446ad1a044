//! A real server on a real loopback socket, and helpers to talk to it with the generated client.
#![allow(dead_code)]

use smbus_proxy_server::Server;
use smbus_proxy_sim::Config;
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command, Op, encode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// Two full-featured buses and a few with faults, so each test can pick what it needs.
pub const CONFIG: &str = r#"
[[bus]]
number = 1

[[bus.device]]
model = "si4703"
addr = 0x10

[[bus.device]]
model = "pcf8574"
addr = 0x20

[[bus.device]]
model = "register-file"
addr = 0x48

[[bus.device]]
model = "eeprom-24c02"
addr = 0x50

[[bus.device]]
model = "register-file"
addr = 0x1A5
ten_bit = true

[[bus.device]]
model = "register-file"
addr = 0x36
busy = true

[[bus]]
number = 2

[[bus.device]]
model = "register-file"
addr = 0x48

[[bus]]
number = 3
fail_every = 3
fail_errno = "EIO"

[[bus.device]]
model = "register-file"
addr = 0x48

[[bus]]
number = 4
funcs = "i801"

[[bus.device]]
model = "register-file"
addr = 0x48
"#;

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(lease: Duration) -> TestServer {
        Self::start_with(CONFIG, lease).await
    }

    pub async fn start_with(config: &str, lease: Duration) -> TestServer {
        let config = Config::parse(config).expect("test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::simulated(&config).lease(lease);
        let task = tokio::spawn(async move {
            server
                .serve(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("server failed");
        });
        TestServer { addr, stop: Some(stop), task: Some(task) }
    }

    pub async fn client(&self) -> SmbusClient<Channel> {
        SmbusClient::connect(format!("http://{}", self.addr)).await.expect("connect")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
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
        .execute(pb::ExecuteRequest { session: session.into(), ops, keep_going: false })
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
