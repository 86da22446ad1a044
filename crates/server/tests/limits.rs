//! The server's limits: past them, RESOURCE_EXHAUSTED with a message, and the server keeps serving.

mod common;

use common::execute;
use smbus_proxy_server::Limits;
use smbus_proxy_server::Server;
use smbus_proxy_sim::Config;
use smbus_proxy_testkit::Loopback;
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command, Op};
use tonic::Code;

async fn opens(limits: Limits) -> (smbus_proxy_server::Running, SmbusClient<tonic::transport::Channel>) {
    let server = Server::simulated(&Config::demo()).limits(limits).on_loopback();
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
    let message = status.message();
    assert!(message.starts_with("sessions: 2 are open from this connection (127.0.0.1:"), "{message}");
    assert!(
        message.ends_with("), the limit per client host; close one or let an idle one expire"),
        "{message}"
    );
    // Still serving, and a closed session makes room.
    let read = Op::smbus(0x48, Command::ReadByte);
    assert!(execute(&mut c, &first, &[read]).await.is_ok());
    c.close(pb::CloseRequest { session: first }).await.unwrap();
    open(&mut c).await.unwrap();
}

/// Behind an SSH tunnel every client comes from loopback: a burst of Opens over one connection
/// takes that connection's share, and another local client still gets its sessions.
#[tokio::test]
async fn on_loopback_each_connection_is_a_client_host() {
    let (server, mut greedy) =
        opens(Limits { sessions: 100, sessions_per_peer: 8, ..Limits::default() }).await;
    let mut refused = 0;
    for _ in 0..1000 {
        if let Err(status) = open(&mut greedy).await {
            assert_eq!(status.code(), Code::ResourceExhausted);
            refused += 1;
        }
    }
    assert_eq!(refused, 1000 - 8);
    let mut other = SmbusClient::connect(server.url()).await.unwrap();
    let s = open(&mut other).await.expect("another local client is not locked out");
    assert!(execute(&mut other, &s, &[Op::smbus(0x48, Command::ReadByte)]).await.is_ok());
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
    let server = Server::simulated(&config).limits(limits).on_loopback();
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

/// The replies of a transaction are bounded before it runs, framing included: at the limit it
/// runs and its reply fits a client that takes no more than the limit (gRPC's default 4 MiB),
/// one byte past the limit it is refused.
#[tokio::test]
async fn a_reply_never_exceeds_the_message_limit() {
    use smbus_proxy_wire::{Msg, Step};
    // The bound of a transaction of these operations.
    let response_bound = |ops: &[Op], keep_going| {
        smbus_proxy_wire::encode::response_bound(
            &ops.iter().cloned().map(Step::Op).collect::<Vec<_>>(),
            keep_going,
        )
    };
    let config =
        Config::parse("[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48").unwrap();
    let limit = Limits::default().message_bytes;
    assert_eq!(limit, 4 << 20);
    let server = Server::simulated(&config).on_loopback();
    // tonic's own default decoding limit is gRPC's 4 MiB: what most clients accept.
    let mut c = SmbusClient::connect(server.url()).await.unwrap();
    let s = open(&mut c).await.unwrap();
    let read = |n| Msg::read(0x48, n);

    // What an adversarial run sent: it passed the old estimate at exactly 4 MiB and answered
    // 4,268,522 bytes.
    let mut old = vec![Op::Transfer(vec![read(8192); 42]); 12];
    old.push(Op::Transfer(vec![read(8192); 6]));
    old.extend(vec![Op::Transfer(vec![read(0); 42]); 1011]);
    let status = execute(&mut c, &s, &old).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().starts_with("ops: the replies would take up to"), "{}", status.message());

    // A transaction whose bound is the limit exactly: whole transfers, then single reads sized
    // to land on it.
    let mut ops = Vec::new();
    while response_bound(&[ops.clone(), vec![Op::Transfer(vec![read(8192); 42])]].concat(), false) <= limit {
        ops.push(Op::Transfer(vec![read(8192); 42]));
    }
    while response_bound(&ops, false) < limit {
        let fits =
            |n| response_bound(&[ops.clone(), vec![Op::Transfer(vec![read(n)])]].concat(), false) <= limit;
        let n = (0..=8192u16).rev().find(|&n| fits(n)).expect("a read of 0 bytes fits");
        ops.push(Op::Transfer(vec![read(n)]));
    }
    assert_eq!(response_bound(&ops, false), limit);
    let reply = execute(&mut c, &s, &ops).await.expect("a reply at the limit reaches the client");
    assert!(reply.error.is_none());
    assert_eq!(reply.results.len(), ops.len());

    // One byte more is refused before it runs.
    let Some(Op::Transfer(last)) = ops.last_mut() else { unreachable!() };
    last.push(read(0));
    assert!(response_bound(&ops, false) > limit);
    let status = execute(&mut c, &s, &ops).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        format!(
            "ops: the replies would take up to {} bytes; this server sends at most {limit} in one message",
            response_bound(&ops, false)
        )
    );
}

/// Calls in flight hold memory while they last: past the limit per client host a call is
/// refused at once, and once calls end there is room again.
#[tokio::test]
async fn calls_in_flight_per_client_host() {
    let (_server, mut a) = opens(Limits { calls_per_peer: 3, ..Limits::default() }).await;
    let holder = open(&mut a).await.unwrap();
    a.lock(pb::LockRequest { session: holder.clone(), wait_ms: 0 }).await.unwrap();
    // Three waiting Locks are three calls in flight.
    let mut waiters = Vec::new();
    for _ in 0..3 {
        let mut c = a.clone();
        let s = open(&mut c).await.unwrap();
        waiters
            .push(tokio::spawn(async move { c.lock(pb::LockRequest { session: s, wait_ms: 5000 }).await }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let status = a.list_buses(pb::ListBusesRequest {}).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.message(),
        "calls: 3 are in flight from 127.0.0.1, the limit per client host; try again when one has ended"
    );
    for w in &waiters {
        w.abort();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(a.list_buses(pb::ListBusesRequest {}).await.is_ok(), "room once the calls ended");
}

/// A failure's detail counts in the reply's bound: a strict replay quoting every transfer it
/// did not expect (8 KiB each) used to build a reply of megabytes from a request the bound
/// had passed, larger than the client could read.
#[tokio::test]
async fn failure_details_fit_the_reply_bound() {
    let dir = tempfile::tempdir().unwrap();
    let line = "2026-12-02T03:12:02.123456Z i2c-1 read_byte 0x50 -> 0x01 (10 us) - 1a2b3c4d";
    std::fs::write(dir.path().join("one.trace"), format!("{}\n{line}\n", smbus_proxy_wire::trace::HEADER))
        .unwrap();
    let lab = format!(
        "[[bus]]\nnumber = 1\n[bus.replay]\ntrace = {:?}\nmode = \"strict\"\n",
        dir.path().join("one.trace")
    );
    let server = Server::simulated(&Config::parse(&lab).unwrap()).on_loopback();
    let mut c = SmbusClient::connect(server.url()).await.unwrap();
    let s = open(&mut c).await.unwrap();
    let write = Op::Transfer(vec![smbus_proxy_wire::Msg::write(0x50, vec![0xA5; 8192])]);
    let ops: Vec<_> = std::iter::repeat_n(&write, 400).map(smbus_proxy_wire::encode::op).collect();
    let request = pb::ExecuteRequest { session: s, ops, keep_going: true, fence: 0, ..Default::default() };
    let response = c.execute(request).await.expect("the reply fits what the client reads").into_inner();
    assert_eq!(response.results.len(), 400);
    for result in response.results {
        let Some(pb::op_result::Result::Failed(e)) = result.result else { panic!("{result:?}") };
        assert!(e.message.starts_with("EPROTO"), "{}", e.message);
        assert!(e.message.len() <= 128 + smbus_proxy_wire::Failure::MAX_DETAIL, "{} bytes", e.message.len());
    }
}
