//! Exactly once and resuming, against a real server over a real socket with the generated
//! client: a numbered transaction sent again is answered from the session's record and not run
//! again; one whose call was dropped before the bus took it runs when sent again; a session
//! with a resume window outlives its lease while silent, and is taken up again only with its
//! key.

mod common;

use common::*;
use smbus_proxy_sim::ManualClock;
use smbus_proxy_testkit::{Here, lab, simulated_on};
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command as C, Op, Reply, Step, decode, encode};
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

const RF: u16 = 0x48;
const MS: Duration = Duration::from_millis(1);
const WINDOW_MS: u64 = 30_000;

/// A session on bus `bus` with a resume window: its id and its key.
async fn open_resumable(c: &mut SmbusClient<Channel>, bus: u64) -> (String, Vec<u8>) {
    let opened = c
        .open(pb::OpenRequest { bus, resume_window_ms: WINDOW_MS, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.resume_window_ms as u64, WINDOW_MS);
    assert_eq!(opened.resume_key.len(), 16);
    assert_eq!(opened.instance.len(), 32);
    (opened.session, opened.resume_key.to_vec())
}

fn numbered(session: &str, seq: u64, acked: u64, ops: &[Op]) -> pb::ExecuteRequest {
    pb::ExecuteRequest {
        session: session.into(),
        ops: ops.iter().map(encode::op).collect(),
        seq,
        acked,
        ..Default::default()
    }
}

fn write(reg: u8, value: u8) -> Op {
    op(RF, C::WriteByteData { reg, value })
}

fn read(reg: u8) -> Op {
    op(RF, C::ReadByteData { reg })
}

fn byte(response: pb::ExecuteResponse) -> u8 {
    assert!(response.error.is_none(), "{:?}", response.error);
    match decode::reply(response.results.into_iter().next().unwrap()).unwrap() {
        Reply::Byte(b) => b,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_transaction_sent_again_is_answered_from_the_record_and_not_run_again() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let (s, _) = open_resumable(&mut c, 1).await;
    let other = open(&mut c, 1).await;

    // Pipelined, as a client sends them: the second before the first's answer came.
    c.execute(numbered(&s, 1, 0, &[write(0x20, 0x11)])).await.unwrap();
    let first = byte(c.execute(numbered(&s, 2, 0, &[read(0x20)])).await.unwrap().into_inner());
    assert_eq!(first, 0x11);
    // Someone else changes the register; then both transactions arrive again, as after a
    // broken connection: the write is not done again, and the read answers what it read.
    run1(&mut c, &other, write(0x20, 0x22)).await;
    let again = c.execute(numbered(&s, 1, 0, &[write(0x20, 0x11)])).await.unwrap().into_inner();
    assert!(again.error.is_none() && again.results.len() == 1);
    assert_eq!(byte(c.execute(numbered(&s, 2, 0, &[read(0x20)])).await.unwrap().into_inner()), 0x11);
    assert_eq!(run1(&mut c, &other, read(0x20)).await, Reply::Byte(0x22), "the write ran once");

    // Acknowledged outcomes are forgotten; numbers come in order; unnumbered sessions refuse.
    let forgotten = c.execute(numbered(&s, 3, 2, &[read(0x20)])).await.unwrap();
    assert_eq!(byte(forgotten.into_inner()), 0x22);
    let status = c.execute(numbered(&s, 1, 3, &[write(0x20, 0x11)])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "seq: 1 was acknowledged (acked 3); its outcome is no longer kept");
    let status = c.execute(numbered(&s, 5, 3, &[read(0x20)])).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "seq: 5 skips 4: numbered transactions are sent in order, from 1");
    let status = c.execute(numbered(&other, 1, 0, &[read(0x20)])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("resume window"), "{}", status.message());
    server.stop().await;
}

#[tokio::test]
async fn refusals_and_failures_are_kept_too_and_the_fences_are_the_sessions() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let (s, _) = open_resumable(&mut c, 1).await;
    // A device that does not answer fails on the bus; a bad argument is refused before it.
    let nack = op(0x33, C::WriteByte { value: 1 });
    let failed = c.execute(numbered(&s, 1, 0, std::slice::from_ref(&nack))).await.unwrap().into_inner();
    assert_eq!(failed.error.as_ref().map(|e| e.errno), Some(6));
    let mut bad = numbered(&s, 2, 0, &[read(0)]);
    bad.ops[0].op = None;
    let refused = c.execute(bad.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    // Sent again, each gets the same answer.
    let failed_again = c.execute(numbered(&s, 1, 0, &[nack])).await.unwrap().into_inner();
    assert_eq!(failed_again, failed);
    let refused_again = c.execute(bad).await.unwrap_err();
    assert_eq!((refused_again.code(), refused_again.message()), (refused.code(), refused.message()));

    // A failure under a fence stops the later ones with it, on any connection.
    let fenced = |seq, reg| pb::ExecuteRequest { fence: 1, ..numbered(&s, seq, seq - 1, &[write(reg, 1)]) };
    let stopped =
        pb::ExecuteRequest { fence: 1, ..numbered(&s, 3, 2, &[op(0x33, C::WriteByte { value: 1 })]) };
    assert!(c.execute(stopped).await.unwrap().into_inner().error.is_some());
    let mut elsewhere = client(&server).await;
    let status = elsewhere.execute(fenced(4, 0x30)).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "not run: a transaction with fence 1 failed in this session before it");
    let other = open(&mut c, 1).await;
    assert_eq!(run1(&mut c, &other, read(0x30)).await, Reply::Byte(0), "the fenced write never ran");
    server.stop().await;
}

#[tokio::test]
async fn the_record_keeps_at_most_a_pipeline_of_unacknowledged_outcomes() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let (s, _) = open_resumable(&mut c, 1).await;
    let most = smbus_proxy_wire::op::MAX_PIPELINE as u64 + 1;
    for seq in 1..=most {
        c.execute(numbered(&s, seq, 0, &[read(0)])).await.unwrap();
    }
    let over = c.execute(numbered(&s, most + 1, 0, &[read(0)])).await.unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted);
    assert!(over.message().starts_with("seq: 257 transactions are unacknowledged"), "{}", over.message());
    // Acknowledging makes room; the refused number was never taken.
    c.execute(numbered(&s, most + 1, most, &[read(0)])).await.unwrap();

    // Large reads fill the bytes first (each 8 KiB, within 256 KiB).
    let (s, _) = open_resumable(&mut c, 1).await;
    let large = smbus_proxy_wire::Op::Transfer(vec![smbus_proxy_wire::Msg::read(0x50, 8192)]);
    let mut seq = 1;
    let over = loop {
        match c.execute(numbered(&s, seq, 0, std::slice::from_ref(&large))).await {
            Ok(_) => seq += 1,
            Err(status) => break status,
        }
    };
    assert_eq!((over.code(), seq), (Code::ResourceExhausted, 30), "{}", over.message());
    assert!(over.message().contains("this server keeps at most 262144 per session"), "{}", over.message());
    server.stop().await;
}

/// Whether the server notices the dropped call before the bus frees (the slot is then marked
/// not run, and the copy sent again runs) or after (the first copy runs, and the one sent
/// again is answered from it), the write is done once. Which of the two happened is not
/// visible from outside; `record.rs` tests each.
#[tokio::test]
async fn a_transaction_whose_call_was_dropped_while_it_waited_for_the_bus_runs_once() {
    // Bus 1 is held by a transaction waiting on a clock the test moves.
    let clock = ManualClock::new();
    let server = Here::start(simulated_on(smbus_proxy_testkit::LAB, &clock)).await;
    let mut c = client(&server).await;
    let (s, _) = open_resumable(&mut c, 1).await;
    let holder = open(&mut c, 1).await;
    let mut holding = client(&server).await;
    let hold = pb::ExecuteRequest {
        session: holder.clone(),
        ops: [Step::Wait(100 * MS), Step::Op(write(0x21, 0x5A))].iter().map(encode::step).collect(),
        ..Default::default()
    };
    let held = tokio::spawn(async move { holding.execute(hold).await });
    wait_for_sleepers(&clock).await;

    // Sent while the bus is busy, then dropped (the connection broke), and sent again.
    let mut dropped = client(&server).await;
    let call = tokio::spawn({
        let request = numbered(&s, 1, 0, &[op(RF, C::ReadByteData { reg: 0x21 }), write(0x21, 0x77)]);
        async move { dropped.execute(request).await }
    });
    tokio::time::sleep(20 * MS).await;
    call.abort();
    let _ = call.await;
    let again = tokio::spawn({
        let mut c = client(&server).await;
        let request = numbered(&s, 1, 0, &[op(RF, C::ReadByteData { reg: 0x21 }), write(0x21, 0x77)]);
        async move { c.execute(request).await }
    });
    clock.advance(100 * MS);
    held.await.unwrap().unwrap();
    let answer = again.await.unwrap().unwrap().into_inner();
    assert!(answer.error.is_none(), "{answer:?}");
    // It ran after the holder's write, once.
    assert_eq!(decode::reply(answer.results[0].clone()).unwrap(), Reply::Byte(0x5A));
    run1(&mut c, &holder, write(0x21, 0x03)).await;
    let third =
        c.execute(numbered(&s, 1, 0, &[op(RF, C::ReadByteData { reg: 0x21 }), write(0x21, 0x77)])).await;
    assert_eq!(third.unwrap().into_inner(), answer, "answered from the record");
    assert_eq!(run1(&mut c, &holder, read(0x21)).await, Reply::Byte(0x03), "and not run again");
    server.stop().await;
}

#[tokio::test]
async fn a_transaction_the_bus_took_completes_and_is_answered_when_sent_again() {
    let clock = ManualClock::new();
    let server = Here::start(simulated_on(smbus_proxy_testkit::LAB, &clock)).await;
    let mut c = client(&server).await;
    let (s, _) = open_resumable(&mut c, 1).await;
    let other = open(&mut c, 1).await;
    // The bus has taken it, and waits inside it, when its connection breaks.
    let steps = [Step::Op(write(0x22, 0x01)), Step::Wait(100 * MS), Step::Op(write(0x22, 0x02))];
    let request =
        pb::ExecuteRequest { ops: steps.iter().map(encode::step).collect(), ..numbered(&s, 1, 0, &[]) };
    let mut dropped = client(&server).await;
    let call = tokio::spawn({
        let request = request.clone();
        async move { dropped.execute(request).await }
    });
    wait_for_sleepers(&clock).await;
    call.abort();
    let _ = call.await;
    // Sent again while the first copy still runs: it waits for that run's outcome.
    let again = tokio::spawn({
        let mut c = client(&server).await;
        async move { c.execute(request).await }
    });
    tokio::time::sleep(50 * MS).await;
    assert!(!again.is_finished(), "answered before the run it stands for ended");
    clock.advance(100 * MS);
    let answer = again.await.unwrap().unwrap().into_inner();
    assert!(answer.error.is_none() && answer.results.len() == 3, "{answer:?}");
    run1(&mut c, &other, write(0x22, 0x03)).await;
    // A third copy is answered from the record: the transaction ran once.
    let steps = [Step::Op(write(0x22, 0x01)), Step::Wait(100 * MS), Step::Op(write(0x22, 0x02))];
    let third =
        pb::ExecuteRequest { ops: steps.iter().map(encode::step).collect(), ..numbered(&s, 1, 0, &[]) };
    assert!(c.execute(third).await.unwrap().into_inner().error.is_none());
    assert_eq!(run1(&mut c, &other, read(0x22)).await, Reply::Byte(0x03));
    server.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_session_lives_its_resume_window_and_resumes_only_with_its_key() {
    let server = Here::start(lab().lease(Duration::from_secs(5))).await;
    let mut c = client(&server).await;
    let (s, key) = open_resumable(&mut c, 1).await;
    let plain = open(&mut c, 1).await;
    c.lock(pb::LockRequest { session: s.clone(), wait_ms: 0 }).await.unwrap();
    c.execute(numbered(&s, 1, 0, &[write(0x23, 0x42)])).await.unwrap();

    // Silent past its lease: the plain session is gone, the resumable one and its lock live.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let status = c.keep_alive(pb::KeepAliveRequest { session: plain }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Resuming needs the key.
    let mut wrong = key.clone();
    wrong[0] ^= 1;
    let status =
        c.resume(pb::ResumeRequest { session: s.clone(), resume_key: wrong.into() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status =
        c.resume(pb::ResumeRequest { session: s.clone(), resume_key: Default::default() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let resumed = c
        .resume(pb::ResumeRequest { session: s.clone(), resume_key: key.clone().into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((resumed.locked, resumed.ran_through, resumed.resume_window_ms as u64), (true, 1, WINDOW_MS));

    // Silent past its window: gone, lock and all, and a resume says so.
    tokio::time::sleep(Duration::from_millis(WINDOW_MS + 1000)).await;
    let status =
        c.resume(pb::ResumeRequest { session: s.clone(), resume_key: key.into() }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().contains("its resume window ran out, or the server restarted"),
        "{}",
        status.message()
    );
    let other = open(&mut c, 1).await;
    c.lock(pb::LockRequest { session: other, wait_ms: 0 }).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_session_without_a_window_cannot_be_resumed_and_the_window_is_the_servers_at_most() {
    let server =
        Here::start(lab().limits(smbus_proxy_server::Limits {
            resume_window: Duration::from_secs(10),
            ..Default::default()
        }))
        .await;
    let mut c = client(&server).await;
    let plain = open(&mut c, 1).await;
    let status =
        c.resume(pb::ResumeRequest { session: plain, resume_key: vec![0; 16].into() }).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    // Asked for more than the server keeps: granted its most, and told so.
    let opened = c
        .open(pb::OpenRequest { bus: 1, resume_window_ms: 3_600_000, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.resume_window_ms, 10_000);
    let listed = c.list_buses(pb::ListBusesRequest {}).await.unwrap().into_inner();
    assert_eq!(listed.instance, opened.instance, "one run of the server");
    server.stop().await;
}

/// Waits (in real time, briefly) until a transaction sleeps on the clock.
async fn wait_for_sleepers(clock: &std::sync::Arc<ManualClock>) {
    let clock = clock.clone();
    tokio::task::spawn_blocking(move || clock.wait_for_sleepers(1)).await.unwrap();
}

#[tokio::test]
async fn resuming_needs_the_servers_credentials_too() {
    let server = Here::start(lab().token(Some("sesame".into()))).await;
    let mut c = client(&server).await;
    fn with_token<T>(request: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert("authorization", "Bearer sesame".parse().unwrap());
        request
    }
    let opened = c
        .open(with_token(pb::OpenRequest { bus: 1, resume_window_ms: WINDOW_MS, ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    let resume = pb::ResumeRequest { session: opened.session, resume_key: opened.resume_key };
    let status = c.resume(resume.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    c.resume(with_token(resume)).await.unwrap();
    server.stop().await;
}
