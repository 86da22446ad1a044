//! A client whose deadline runs out while its transaction waits for a slow bus gets
//! DEADLINE_EXCEEDED, and its transaction never reaches the bus: nothing is done late.

mod common;

use common::*;
use smbus_proxy_testkit::simulated;
use smbus_proxy_wire::{Command as C, Reply, encode, pb};
use std::time::{Duration, Instant};
use tonic::{Code, Request};

/// 10 kHz: a 32-byte block read keeps the bus busy for about 30 ms.
const SLOW: &str = r#"
[[bus]]
number = 1
speed_khz = 10
[[bus.device]]
model = "register-file"
addr = 0x48
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_past_its_deadline_never_runs() {
    let server = Here::start(simulated(SLOW).lease(Duration::from_secs(5))).await;
    let (mut a, mut b) = (client(&server).await, client(&server).await);
    let (sa, sb) = (open(&mut a, 1).await, open(&mut b, 1).await);

    // A keeps the bus busy for about 600 ms.
    let busy = tokio::spawn(async move {
        let ops = vec![op(0x48, C::ReadI2cBlockData { reg: 0, len: 32 }); 20];
        execute(&mut a, &sa, &ops).await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    // B's write waits behind it, with 100 ms to live.
    let write = op(0x48, C::WriteByteData { reg: 0x77, value: 0xEE });
    let mut req = Request::new(pb::ExecuteRequest {
        session: sb.clone(),
        ops: vec![encode::op(&write)],
        keep_going: false,
        fence: 0,
        ..Default::default()
    });
    req.set_timeout(Duration::from_millis(100));
    let started = Instant::now();
    let status = b.execute(req).await.unwrap_err();
    // tonic's channel enforces the deadline on its side too and says so as CANCELLED
    // ("Timeout expired"); whichever side notices first, the call is over.
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    assert!(started.elapsed() < Duration::from_millis(400), "answered after {:?}", started.elapsed());

    assert_eq!(busy.await.unwrap().results.len(), 20);
    // The bus is free again, and B's late write was dropped, not done.
    assert_eq!(run1(&mut b, &sb, op(0x48, C::ReadByteData { reg: 0x77 })).await, Reply::Byte(0));
    server.stop().await;
}
