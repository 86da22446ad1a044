//! Sessions, leases, locks and concurrency through a real server over a real socket.

mod common;

use common::*;
use smbus_proxy_testkit::{Loopback, simulated};
use smbus_proxy_wire::pb;
use smbus_proxy_wire::{Command as C, Op, Reply, decode, encode, funcs};
use std::time::Duration;
use tokio::time::Instant;
use tokio_stream::StreamExt;
use tonic::Code;

const RF: u16 = 0x48;
const MS: Duration = Duration::from_millis(1);

#[tokio::test]
async fn lists_buses_with_names_and_funcs() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
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
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let status = c.open(pb::OpenRequest { bus: 7, ..Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "bus: 7 does not exist; this server exposes bus 1, 2, 3, 4");
    server.stop().await;
}

#[tokio::test]
async fn unknown_malformed_and_closed_sessions() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
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

#[tokio::test(start_paused = true)]
async fn sessions_expire_without_signs_of_life_and_keep_alive_renews() {
    let lease = Duration::from_millis(300);
    let server = lab_here(lease).await;
    let mut c = client(&server).await;
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

/// A session is alive until one lease after its last sign of life, and dead from then on.
#[tokio::test(start_paused = true)]
async fn a_lease_runs_out_one_lease_after_the_last_sign_of_life() {
    let lease = Duration::from_millis(300);
    let server = lab_here(lease).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let read = [op(RF, C::ReadByte)];
    // Tokio's timers have a resolution of a millisecond; two on either side clear it.
    tokio::time::sleep(lease - 2 * MS).await;
    c.keep_alive(pb::KeepAliveRequest { session: s.clone() })
        .await
        .expect("alive just before its lease ends");
    tokio::time::sleep(lease - 2 * MS).await;
    assert!(execute(&mut c, &s, &read).await.is_ok(), "renewed by the keep-alive");
    tokio::time::sleep(lease + 2 * MS).await;
    assert_eq!(execute(&mut c, &s, &read).await.unwrap_err().code(), Code::NotFound, "dead just after");
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn exclusive_lock_keeps_others_out_until_unlocked() {
    let server = lab_here(Duration::from_secs(5)).await;
    let (mut a, mut b) = (client(&server).await, client(&server).await);
    let (sa, sb) = (open(&mut a, 1).await, open(&mut b, 1).await);
    let sb2 = open(&mut b, 2).await;
    a.lock(pb::LockRequest { session: sa.clone(), wait_ms: 0 }).await.unwrap();
    let read = [op(RF, C::ReadByte)];
    assert!(execute(&mut a, &sa, &read).await.is_ok());
    let status = execute(&mut b, &sb, &read).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert!(status.message().starts_with("bus 1 is locked by another session"), "{}", status.message());
    assert!(execute(&mut b, &sb2, &read).await.is_ok(), "other buses are not affected");
    let asked = Instant::now();
    let status = b.lock(pb::LockRequest { session: sb.clone(), wait_ms: 50 }).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let waited = asked.elapsed();
    assert!(waited >= 50 * MS && waited <= 51 * MS, "a 50 ms wait gave up after {waited:?}");
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

#[tokio::test(start_paused = true)]
async fn a_client_that_dies_holding_the_lock_frees_it_within_its_lease() {
    let lease = Duration::from_millis(500);
    let server = lab_here(lease).await;
    {
        // Its own connection, dropped without Close or Unlock: to the server, a vanished client.
        let mut doomed = client(&server).await;
        let s = open(&mut doomed, 1).await;
        doomed.lock(pb::LockRequest { session: s.clone(), wait_ms: 0 }).await.unwrap();
        run1(&mut doomed, &s, op(RF, C::WriteByteData { reg: 1, value: 0xD1 })).await;
    }
    let died = Instant::now();
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    assert_eq!(execute(&mut c, &s, &[op(RF, C::ReadByte)]).await.unwrap_err().code(), Code::Aborted);
    c.lock(pb::LockRequest { session: s.clone(), wait_ms: 5000 }).await.expect("lock freed");
    // Freed when the lease ran out, to the millisecond of tokio's timers: the clock is paused,
    // so nothing else takes time.
    let waited = died.elapsed();
    assert!(waited >= lease && waited <= lease + MS, "lock freed after {waited:?}, lease {lease:?}");
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByteData { reg: 1 })).await, Reply::Byte(0xD1));
    server.stop().await;
}

/// Shows signs of life for these sessions, a KeepAlive every fifth of a lease, until `until`.
async fn keep_alive_until<const N: usize>(
    until: Instant,
    lease: Duration,
    mut sessions: [(&mut pb::smbus_client::SmbusClient<tonic::transport::Channel>, &String); N],
) {
    while Instant::now() < until {
        tokio::time::sleep(lease / 5).await;
        for (client, session) in &mut sessions {
            client.keep_alive(pb::KeepAliveRequest { session: session.to_string() }).await.unwrap();
        }
    }
}

/// A `Lock` that waits is a sign of life: the waiter outlives its lease while it waits, gets the
/// bus when the holder lets go, and can use it.
#[tokio::test(start_paused = true)]
async fn a_waiting_lock_keeps_its_session_alive() {
    let lease = Duration::from_millis(500);
    let server = lab_here(lease).await;
    let (mut a, mut b, mut c) = (client(&server).await, client(&server).await, client(&server).await);
    let (sa, sb, sc) = (open(&mut a, 1).await, open(&mut b, 1).await, open(&mut c, 1).await);
    a.lock(pb::LockRequest { session: sa.clone(), wait_ms: 0 }).await.unwrap();
    let started = Instant::now();
    let waiter = tokio::spawn({
        let (mut b, sb) = (b.clone(), sb.clone());
        async move { b.lock(pb::LockRequest { session: sb, wait_ms: 3000 }).await }
    });
    // A holds on for three leases, showing signs of life; B sends nothing but its Lock.
    keep_alive_until(started + 3 * lease, lease, [(&mut a, &sa), (&mut c, &sc)]).await;
    a.unlock(pb::UnlockRequest { session: sa.clone() }).await.unwrap();
    waiter.await.unwrap().expect("the lock goes to the waiter, alive all along");
    // B holds the bus and can use it; C is kept out because B holds it, and gets it when B
    // lets go.
    run1(&mut b, &sb, op(RF, C::WriteByteData { reg: 2, value: 0xB2 })).await;
    assert_eq!(execute(&mut c, &sc, &[op(RF, C::ReadByte)]).await.unwrap_err().code(), Code::Aborted);
    b.unlock(pb::UnlockRequest { session: sb }).await.unwrap();
    c.lock(pb::LockRequest { session: sc.clone(), wait_ms: 0 }).await.unwrap();
    assert_eq!(run1(&mut c, &sc, op(RF, C::ReadByteData { reg: 2 })).await, Reply::Byte(0xB2));
    server.stop().await;
}

/// A waiter whose client vanishes mid-wait stops being a sign of life: its session expires one
/// lease later and the bus is never handed to it.
#[tokio::test(start_paused = true)]
async fn a_waiter_that_vanished_is_never_handed_the_lock() {
    let lease = Duration::from_millis(500);
    let server = lab_here(lease).await;
    let (mut a, mut c) = (client(&server).await, client(&server).await);
    let (sa, sc) = (open(&mut a, 1).await, open(&mut c, 1).await);
    a.lock(pb::LockRequest { session: sa.clone(), wait_ms: 0 }).await.unwrap();
    // B: a connection of its own that waits for the lock and then vanishes.
    let mut b = client(&server).await;
    let sb = open(&mut b, 1).await;
    let waiter = tokio::spawn(async move { b.lock(pb::LockRequest { session: sb, wait_ms: 5000 }).await });
    tokio::time::sleep(lease / 2).await;
    waiter.abort();
    let _ = waiter.await;
    let vanished = Instant::now();
    keep_alive_until(vanished + 2 * lease, lease, [(&mut a, &sa), (&mut c, &sc)]).await;
    a.unlock(pb::UnlockRequest { session: sa }).await.unwrap();
    // Nobody holds the bus now: C takes it at once.
    c.lock(pb::LockRequest { session: sc.clone(), wait_ms: 0 }).await.expect("the bus is free");
    assert!(execute(&mut c, &sc, &[op(RF, C::ReadByte)]).await.is_ok());
    server.stop().await;
}

/// A session closed while its own Lock waits is not handed the bus.
#[tokio::test(start_paused = true)]
async fn a_session_closed_while_its_lock_waits_is_not_handed_the_bus() {
    let server = lab_here(Duration::from_secs(5)).await;
    let (mut a, mut b) = (client(&server).await, client(&server).await);
    let (sa, sb) = (open(&mut a, 1).await, open(&mut b, 1).await);
    a.lock(pb::LockRequest { session: sa.clone(), wait_ms: 0 }).await.unwrap();
    let waiter = tokio::spawn({
        let (mut b, sb) = (b.clone(), sb.clone());
        async move { b.lock(pb::LockRequest { session: sb, wait_ms: 5000 }).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    b.close(pb::CloseRequest { session: sb }).await.unwrap();
    a.unlock(pb::UnlockRequest { session: sa.clone() }).await.unwrap();
    let status = waiter.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().ends_with("closed while it waited for bus 1"), "{}", status.message());
    a.lock(pb::LockRequest { session: sa, wait_ms: 0 }).await.expect("the bus is free");
    server.stop().await;
}

/// Each client writes its own mark to a register, then reads it back 31 times in the same
/// transaction. Had another client's transaction run in between, a read would see its mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_of_two_clients_never_interleave() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut tasks = Vec::new();
    for mark in [0x11u8, 0x22, 0x33] {
        let mut c = client(&server).await;
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
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let req = |ops: &[Op], session: &str| pb::ExecuteRequest {
        session: session.into(),
        ops: ops.iter().map(encode::op).collect(),
        keep_going: false,
        fence: 0,
        ..Default::default()
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

/// Pipelining: after a transaction fails, the stream runs none with the same fence, and
/// runs the next fence's again.
#[tokio::test]
async fn a_failed_fence_stops_the_rest_of_it_from_reaching_the_bus() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let write = |reg, fence| pb::ExecuteRequest {
        session: s.clone(),
        ops: vec![encode::op(&op(RF, C::WriteByteData { reg, value: 0xF0 | reg }))],
        keep_going: false,
        fence,
        ..Default::default()
    };
    let absent = pb::ExecuteRequest { fence: 7, ..write(0, 0) };
    let absent = pb::ExecuteRequest { ops: vec![encode::op(&op(0x33, C::WriteByte { value: 1 }))], ..absent };
    let bad_session = pb::ExecuteRequest { session: "nope".into(), ..write(0x25, 9) };
    let requests = vec![
        write(0x20, 7),
        absent,
        write(0x21, 7),
        write(0x22, 0),
        write(0x23, 7),
        write(0x24, 8),
        bad_session,
        write(0x26, 9),
        write(0x27, 10),
    ];
    let mut replies = c.execute_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(r) = replies.next().await {
        got.push(match r.unwrap().reply.unwrap() {
            pb::stream_reply::Reply::Response(r) => {
                r.error.map_or("ran".to_owned(), |e| format!("errno {}", e.errno))
            }
            pb::stream_reply::Reply::Rejected(r) => format!("{:?}: {}", Code::from_i32(r.code), r.message),
        });
    }
    let skipped =
        |fence| format!("Aborted: not run: a transaction with fence {fence} failed on this stream before it");
    assert_eq!(got[..3], ["ran".to_owned(), "errno 6".into(), skipped(7)]);
    assert_eq!(got[3], "ran", "fence 0 is no fence");
    assert_eq!(got[4..6], [skipped(7), "ran".into()]);
    assert!(got[6].starts_with("InvalidArgument: session: "), "{}", got[6]);
    assert_eq!(got[7..], [skipped(9), "ran".into()], "a rejection fails its fence too");
    // On the device: what ran, and nothing of what was skipped.
    let mut reads = Vec::new();
    for reg in 0x20..=0x27 {
        let r = c
            .execute(pb::ExecuteRequest {
                session: s.clone(),
                ops: vec![encode::op(&op(RF, C::ReadByteData { reg }))],
                keep_going: false,
                fence: 0,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        reads.push(decode::reply(r.results[0].clone()).unwrap());
    }
    let byte = |b| Reply::Byte(b);
    assert_eq!(reads, [byte(0xF0), byte(0), byte(0xF2), byte(0), byte(0xF4), byte(0), byte(0), byte(0xF7)]);
    server.stop().await;
}

/// Fences out of order: `[NACK, fence 1]`, `[NACK, fence 2]`, `[write, fence 1]`. The
/// server used to remember only the last failed fence, so the write ran; a fence at or below
/// one that failed is stale, and stays down.
#[tokio::test]
async fn interleaved_fences_never_let_a_write_past_a_failure() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let req = |o: Op, fence| pb::ExecuteRequest {
        session: s.clone(),
        ops: vec![encode::op(&o)],
        keep_going: false,
        fence,
        ..Default::default()
    };
    let nack = || op(0x33, C::WriteByte { value: 1 });
    let write = |reg| op(RF, C::WriteByteData { reg, value: 0xA0 | reg });
    let requests =
        vec![req(nack(), 1), req(nack(), 2), req(write(0x30), 1), req(write(0x31), 2), req(write(0x32), 3)];
    let mut replies = c.execute_stream(tokio_stream::iter(requests)).await.unwrap().into_inner();
    let mut got = Vec::new();
    while let Some(r) = replies.next().await {
        got.push(match r.unwrap().reply.unwrap() {
            pb::stream_reply::Reply::Response(r) => {
                r.error.map_or("ran".to_owned(), |e| format!("errno {}", e.errno))
            }
            pb::stream_reply::Reply::Rejected(r) => format!("{:?}", Code::from_i32(r.code)),
        });
    }
    assert_eq!(got, ["errno 6", "errno 6", "Aborted", "Aborted", "ran"]);
    let mut reads = Vec::new();
    for reg in 0x30..=0x32 {
        let r = c.execute(req(op(RF, C::ReadByteData { reg }), 0)).await.unwrap().into_inner();
        reads.push(decode::reply(r.results[0].clone()).unwrap());
    }
    assert_eq!(reads, [Reply::Byte(0), Reply::Byte(0), Reply::Byte(0xB2)], "only fence 3's write ran");
    server.stop().await;
}

#[tokio::test]
async fn health_service_reports_serving() {
    let server = lab_here(Duration::from_secs(5)).await;
    let channel = tonic::transport::Channel::from_shared(server.url()).unwrap().connect().await.unwrap();
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
    let server = Here::start(simulated(config).lease(Duration::from_secs(5))).await;
    let (mut fast, mut slow) = (client(&server).await, client(&server).await);
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

/// A backend that says when it is dropped: the Linux backend closes `/dev/i2c-N` then.
struct Probe {
    bus: smbus_proxy_sim::SimBus,
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.dropped.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl smbus_proxy_server::Backend for Probe {
    fn number(&self) -> u32 {
        self.bus.number()
    }
    fn name(&self) -> &str {
        self.bus.name()
    }
    fn funcs(&self) -> u64 {
        self.bus.funcs()
    }
    fn set_timeout(&mut self, _: Duration) -> Result<(), smbus_proxy_wire::Errno> {
        Ok(())
    }
    fn set_retries(&mut self, _: u32) -> Result<(), smbus_proxy_wire::Errno> {
        Ok(())
    }
    fn execute(&mut self, op: &Op) -> Result<Reply, smbus_proxy_wire::Failure> {
        self.bus.execute(op)
    }
}

/// Stopping a server closes its devices, even one locked by a session whose client is still
/// there and alive.
#[tokio::test]
async fn a_stopped_server_closes_a_locked_bus() {
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bus = smbus_proxy_sim::Config::demo().build().remove(0);
    let probe = Probe { bus, dropped: dropped.clone() };
    let server = smbus_proxy_server::Server::new(vec![Box::new(probe)]).on_loopback();
    let mut c = pb::smbus_client::SmbusClient::connect(server.url()).await.unwrap();
    let s = open(&mut c, 1).await;
    c.lock(pb::LockRequest { session: s.clone(), wait_ms: 0 }).await.unwrap();
    tokio::task::spawn_blocking(move || server.stop()).await.unwrap().unwrap();
    let stopped = Instant::now();
    while !dropped.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(stopped.elapsed() < Duration::from_secs(2), "the bus is still open after the server stopped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(c);
}
