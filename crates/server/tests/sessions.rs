//! Sessions, leases, locks and concurrency through a real server over a real socket.

mod common;

use common::*;
use smbus_proxy_wire::pb;
use smbus_proxy_wire::{Command as C, Op, Reply, decode, encode, funcs};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tonic::Code;

const RF: u16 = 0x48;

#[tokio::test]
async fn lists_buses_with_names_and_funcs() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let buses = c.list_buses(pb::ListBusesRequest {}).await.unwrap().into_inner().buses;
    assert_eq!(buses.iter().map(|b| b.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(buses[0].funcs & funcs::I2C != 0);
    assert!(buses[0].funcs & funcs::SMBUS_READ_BLOCK_DATA != 0);
    assert_eq!(buses[3].funcs & funcs::I2C, 0, "bus 4 is an SMBus-only controller");
    assert!(buses.iter().all(|b| !b.name.is_empty()));
    server.stop().await;
}

#[tokio::test]
async fn unknown_bus_is_not_found() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let status = c.open(pb::OpenRequest { bus: 7, ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "bus: 7 does not exist; this server exposes bus 1, 2, 3, 4");
    server.stop().await;
}

#[tokio::test]
async fn unknown_malformed_and_closed_sessions() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let read = [op(RF, C::ReadByte)];

    let status = execute(&mut c, &"ab".repeat(16), &read).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains("unknown or expired"), "{}", status.message());

    for bad in ["", "xyz", "0123456789abcdef0123456789abcdeff", "0123456789abcdef0123456789abcdeg"] {
        let status = execute(&mut c, bad, &read).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}");
        assert!(status.message().starts_with("session: "), "{}", status.message());
    }

    let s = open(&mut c, 1).await;
    assert_eq!(s.len(), 32);
    c.close(pb::CloseRequest { session: s.clone() }).await.unwrap();
    assert_eq!(execute(&mut c, &s, &read).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(c.close(pb::CloseRequest { session: s }).await.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire_without_signs_of_life_and_keep_alive_renews() {
    let lease = Duration::from_millis(300);
    let server = TestServer::start(lease).await;
    let mut c = server.client().await;
    let opened = c.open(pb::OpenRequest { bus: 1, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(opened.lease_ms, 300);
    let idle = open(&mut c, 1).await;
    let kept = opened.session;
    // Keep one alive across three leases; leave the other idle.
    for _ in 0..9 {
        tokio::time::sleep(lease / 3).await;
        let r = c.keep_alive(pb::KeepAliveRequest { session: kept.clone() }).await.unwrap().into_inner();
        assert_eq!(r.lease_ms, 300);
    }
    let read = [op(RF, C::ReadByte)];
    assert!(execute(&mut c, &kept, &read).await.is_ok());
    let status = execute(&mut c, &idle, &read).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = c.keep_alive(pb::KeepAliveRequest { session: idle }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn exclusive_lock_keeps_others_out_until_unlocked() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let (mut a, mut b) = (server.client().await, server.client().await);
    let (sa, sb) = (open(&mut a, 1).await, open(&mut b, 1).await);
    let sb2 = open(&mut b, 2).await;
    a.lock(pb::LockRequest { session: sa.clone(), wait_ms: 0 }).await.unwrap();
    let read = [op(RF, C::ReadByte)];
    assert!(execute(&mut a, &sa, &read).await.is_ok());
    let status = execute(&mut b, &sb, &read).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(status.message().starts_with("bus 1 is locked by another session"), "{}", status.message());
    assert!(execute(&mut b, &sb2, &read).await.is_ok(), "other buses are not affected");
    let status = b.lock(pb::LockRequest { session: sb.clone(), wait_ms: 50 }).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let status = b.unlock(pb::UnlockRequest { session: sb.clone() }).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);

    // A waiting Lock gets the bus as soon as the holder lets go.
    let waiter = tokio::spawn({
        let (mut b, sb) = (b.clone(), sb.clone());
        async move { b.lock(pb::LockRequest { session: sb, wait_ms: 5000 }).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.unlock(pb::UnlockRequest { session: sa.clone() }).await.unwrap();
    waiter.await.unwrap().expect("lock handed over");
    assert_eq!(execute(&mut a, &sa, &read).await.unwrap_err().code(), Code::Aborted);
    // Closing frees it too.
    b.close(pb::CloseRequest { session: sb }).await.unwrap();
    assert!(execute(&mut a, &sa, &read).await.is_ok());
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_dies_holding_the_lock_frees_it_within_its_lease() {
    let lease = Duration::from_millis(500);
    let server = TestServer::start(lease).await;
    {
        // Its own connection, dropped without Close or Unlock: to the server, a vanished client.
        let mut doomed = server.client().await;
        let s = open(&mut doomed, 1).await;
        doomed.lock(pb::LockRequest { session: s.clone(), wait_ms: 0 }).await.unwrap();
        run1(&mut doomed, &s, op(RF, C::WriteByteData { reg: 1, value: 0xD1 })).await;
    }
    let died = Instant::now();
    let mut c = server.client().await;
    let s = open(&mut c, 1).await;
    assert_eq!(execute(&mut c, &s, &[op(RF, C::ReadByte)]).await.unwrap_err().code(), Code::Aborted);
    c.lock(pb::LockRequest { session: s.clone(), wait_ms: 5000 }).await.expect("lock freed");
    let waited = died.elapsed();
    assert!(waited <= lease + Duration::from_millis(250), "lock freed after {waited:?}, lease {lease:?}");
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByteData { reg: 1 })).await, Reply::Byte(0xD1));
    server.stop().await;
}

/// Each client writes its own mark to a register, then reads it back 31 times in the same
/// transaction. Had another client's transaction run in between, a read would see its mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_of_two_clients_never_interleave() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut tasks = Vec::new();
    for mark in [0x11u8, 0x22, 0x33] {
        let mut c = server.client().await;
        tasks.push(tokio::spawn(async move {
            let s = open(&mut c, 1).await;
            let mut ops = vec![op(RF, C::WriteByteData { reg: 0x7F, value: mark })];
            ops.extend(std::iter::repeat_n(op(RF, C::ReadByteData { reg: 0x7F }), 31));
            for _ in 0..200 {
                let r = execute(&mut c, &s, &ops).await.unwrap();
                assert!(r.error.is_none());
                for res in &r.results[1..] {
                    assert_eq!(decode::reply(res.clone()).unwrap(), Reply::Byte(mark), "interleaved");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn stream_answers_in_order_and_rejects_in_band() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let s = open(&mut c, 1).await;
    let req = |ops: &[Op], session: &str| pb::ExecuteRequest {
        session: session.into(),
        ops: ops.iter().map(encode::op).collect(),
        keep_going: false,
    };
    let requests = vec![
        req(&[op(RF, C::WriteByteData { reg: 3, value: 0x33 })], &s),
        req(&[op(RF, C::ReadByteData { reg: 3 })], &s),
        req(&[op(RF, C::ReadByteData { reg: 3 })], "nope"),
        req(&[op(0x33, C::ReadByte)], &s),
        req(&[op(RF, C::ReadWordData { reg: 3 })], &s),
    ];
    let mut replies = c.execute_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(r) = replies.next().await {
        got.push(r.unwrap().reply.unwrap());
    }
    use pb::stream_reply::Reply as R;
    let result = |r: &R| match r {
        R::Response(resp) => decode::reply(resp.results[0].clone()).unwrap(),
        R::Rejected(rej) => panic!("{rej:?}"),
    };
    assert_eq!(got.len(), 5);
    assert_eq!(result(&got[0]), Reply::Done);
    assert_eq!(result(&got[1]), Reply::Byte(0x33));
    match &got[2] {
        R::Rejected(rej) => {
            assert_eq!(rej.code, Code::InvalidArgument as i32);
            assert!(rej.message.starts_with("session: "), "{}", rej.message);
        }
        other => panic!("{other:?}"),
    }
    match &got[3] {
        R::Response(resp) => assert_eq!(resp.error.as_ref().unwrap().errno, 6),
        other => panic!("{other:?}"),
    }
    assert_eq!(result(&got[4]), Reply::Word(0x0033));
    server.stop().await;
}

#[tokio::test]
async fn health_service_reports_serving() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let r = health
        .check(tonic_health::pb::HealthCheckRequest { service: "smbus.v1.Smbus".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.status(), tonic_health::pb::health_check_response::ServingStatus::Serving);
    server.stop().await;
}

/// A slow transaction on one bus does not hold up another bus: bus 6 runs at 10 kHz, so ten
/// 32-byte reads keep it busy for about 300 ms, while bus 5 answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_buses_run_in_parallel() {
    let config = r#"
        [[bus]]
        number = 5
        [[bus.device]]
        model = "register-file"
        addr = 0x48

        [[bus]]
        number = 6
        speed_khz = 10
        [[bus.device]]
        model = "register-file"
        addr = 0x48
    "#;
    let server = TestServer::start_with(config, Duration::from_secs(5)).await;
    let (mut fast, mut slow) = (server.client().await, server.client().await);
    let (s5, s6) = (open(&mut fast, 5).await, open(&mut slow, 6).await);
    let long = tokio::spawn(async move {
        let ops = vec![op(RF, C::ReadI2cBlockData { reg: 0, len: 32 }); 10];
        execute(&mut slow, &s6, &ops).await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(run1(&mut fast, &s5, op(RF, C::ReadByte)).await, Reply::Byte(0));
    assert!(!long.is_finished(), "bus 5 answered while bus 6 was still busy");
    assert_eq!(long.await.unwrap().results.len(), 10);
    server.stop().await;
}
