//! Watching a server's buses (`Smbus/Watch`) against a real server on a real socket: every
//! client's operations as they complete, the buses asked for, the policy, and a watcher that
//! stalls without slowing anyone.

use smbus_proxy_client::{Code, Errno, Error, Msg, Op, OpEvent, Reply, WatchEvent, blocking};
use smbus_proxy_server::Policy;
use smbus_proxy_testkit::{Loopback, lab};
use smbus_proxy_wire::Command;
use std::time::{Duration, Instant, SystemTime};

const RF: u16 = 0x48;

/// The next operation the watcher sees.
fn next_op(watcher: &mut blocking::Watcher) -> OpEvent {
    match watcher.next().expect("the watch goes on").unwrap() {
        WatchEvent::Op(event) => *event,
        WatchEvent::Lost(n) => panic!("{n} events lost"),
    }
}

#[test]
fn a_watcher_sees_every_clients_operations_as_they_complete() {
    let server = lab().on_loopback();
    let watching = blocking::Client::connect(server.url()).unwrap();
    let mut watcher = watching.watch(&[1, 4]).unwrap();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let before = SystemTime::now();
    bus.write_byte_data(RF, 0x10, 0x5A).unwrap();
    assert_eq!(bus.read_byte_data(0x33, 0).unwrap_err().errno(), Some(Errno::ENXIO));
    client.bus(2).unwrap().read_byte_data(RF, 0).unwrap(); // not watched
    // On an SMBus-only adapter a transfer runs as its SMBus equivalent, and says so.
    let mut smbus_only = client.bus(4).unwrap();
    smbus_only.i2c_rdwr(vec![Msg::write(RF, vec![0x10]), Msg::read(RF, 1)]).unwrap();

    let write = next_op(&mut watcher);
    assert_eq!(
        (write.bus, &write.op, &write.result),
        (1, &Op::smbus(RF, Command::WriteByteData { reg: 0x10, value: 0x5A }), &Ok(Reply::Done))
    );
    assert!(write.time >= before && write.time <= SystemTime::now());
    assert!(write.took < Duration::from_secs(1));
    assert!(write.peer.as_deref().is_some_and(|p| p.starts_with("127.0.0.1:")), "{:?}", write.peer);
    let nack = next_op(&mut watcher);
    assert_eq!((nack.session.as_str(), nack.result.clone()), (write.session.as_str(), Err(Errno::ENXIO)));
    let transfer = next_op(&mut watcher);
    assert_eq!(transfer.bus, 4, "bus 2 is not watched");
    assert_eq!(transfer.op, Op::Transfer(vec![Msg::write(RF, vec![0x10]), Msg::read(RF, 1)]));
    assert_eq!(transfer.ran_as, Some(Op::smbus(RF, Command::ReadByteData { reg: 0x10 })));
    assert_ne!(transfer.session, write.session);
}

#[test]
fn a_stalled_watcher_loses_events_and_slows_nobody() {
    let server = lab().on_loopback();
    let watching = blocking::Client::connect(server.url()).unwrap();
    let mut stalled = watching.watch(&[]).unwrap();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let batch: Vec<Op> =
        (0..1000).map(|i| Op::smbus(RF, Command::WriteByteData { reg: 0x20, value: i as u8 })).collect();
    // 100,000 events: more than the watch keeps and HTTP/2 buffers for a reader that does
    // not read.
    let start = Instant::now();
    for _ in 0..100 {
        bus.execute(&batch).unwrap();
    }
    assert!(start.elapsed() < Duration::from_secs(20), "took {:?}", start.elapsed());
    // Meanwhile the watcher read nothing; when it reads, it learns what it missed.
    let mut lost = 0;
    let mut seen = 0;
    while lost == 0 {
        match stalled.next().unwrap().unwrap() {
            WatchEvent::Lost(n) => lost = n,
            WatchEvent::Op(_) => seen += 1,
        }
    }
    assert!(lost > 0 && seen + lost <= 100_000, "saw {seen}, lost {lost}");
}

#[test]
fn what_may_be_watched() {
    let policy = Policy::parse("[bus.2]\nwatch = false\n").unwrap();
    let server = lab().policy(policy).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let refused = |buses: &[u32]| match client.watch(buses) {
        Err(Error::Rejected { code, message }) => (code, message),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("watching {buses:?} was allowed"),
    };
    assert_eq!(
        refused(&[1, 2]),
        (Code::PermissionDenied, "policy: bus 2 has watch = false; its operations cannot be watched".into())
    );
    assert_eq!(refused(&[9]), (Code::NotFound, "buses: bus 9 does not exist".into()));
    // Every bus, then, is every bus but 2.
    let mut watcher = client.watch(&[]).unwrap();
    client.bus(2).unwrap().read_byte_data(RF, 0).unwrap();
    client.bus(3).unwrap().read_byte_data(RF, 0).unwrap();
    assert_eq!(next_op(&mut watcher).bus, 3);
}

#[test]
fn watching_needs_the_same_credentials_as_operating() {
    let server = lab().token(Some("sesame".into())).on_loopback();
    let stranger = blocking::Client::connect_with_token(server.url(), None).unwrap();
    match stranger.watch(&[]) {
        Err(Error::Rejected { code, .. }) => assert_eq!(code, Code::Unauthenticated),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("watched without the token"),
    }
    let friend = blocking::Client::connect_with_token(server.url(), Some("sesame".into())).unwrap();
    let mut watcher = friend.watch(&[1]).unwrap();
    friend.bus(1).unwrap().read_byte_data(RF, 0).unwrap();
    assert_eq!(next_op(&mut watcher).bus, 1);
}
