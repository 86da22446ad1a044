//! The client against a real server on a real socket, on the simulator.

use embedded_hal::i2c::{Error as _, ErrorKind, NoAcknowledgeSource};
use smbus_proxy_client::{Batch, BusOptions, Bytes, Client, Errno, Error, Msg, blocking};
use smbus_proxy_server::{Running, Server, Stats};
use smbus_proxy_sim::Config;
use smbus_proxy_testkit::{Here, Loopback, lab};
use std::sync::Arc;
use std::time::Duration;

const RF: u16 = 0x48;

mod suite;

fn start(lease: Duration) -> (Running, Arc<Stats>) {
    let server = lab().lease(lease);
    let stats = server.stats();
    (server.on_loopback(), stats)
}

#[tokio::test]
async fn every_method_async() {
    let (server, _) = start(Duration::from_secs(5));
    let client = Client::connect(server.url()).await.unwrap();
    let buses = client.list_buses().await.unwrap();
    assert_eq!(buses.iter().map(|b| b.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let mut bus = client.bus(1).await.unwrap();
    assert_eq!(bus.number(), 1);
    assert!(bus.funcs() & smbus_proxy_client::funcs::I2C != 0);

    bus.write_quick(RF).await.unwrap();
    bus.write_byte_data(RF, 0x05, 0xA5).await.unwrap();
    assert_eq!(bus.read_byte_data(RF, 0x05).await.unwrap(), 0xA5);
    bus.write_byte(RF, 0x05).await.unwrap();
    assert_eq!(bus.read_byte(RF).await.unwrap(), 0xA5);
    bus.write_word_data(RF, 0x10, 0xBEEF).await.unwrap();
    assert_eq!(bus.read_word_data(RF, 0x10).await.unwrap(), 0xBEEF);
    bus.write_word_data(RF, 0x22, 0x1234).await.unwrap();
    assert_eq!(bus.process_call(RF, 0x20, 0xCAFE).await.unwrap(), 0x1234);
    bus.write_block_data(RF, 0x30, &[1, 2, 3]).await.unwrap();
    assert_eq!(bus.read_block_data(RF, 0x30).await.unwrap(), Bytes::from_static(&[1, 2, 3]));
    bus.write_i2c_block_data(RF, 0x43, &[2, 0xAA, 0xBB]).await.unwrap();
    assert_eq!(bus.block_process_call(RF, 0x40, &[9, 8]).await.unwrap(), Bytes::from_static(&[0xAA, 0xBB]));
    bus.write_i2c_block_data(RF, 0x60, &[7; 32]).await.unwrap();
    assert_eq!(bus.read_i2c_block_data(RF, 0x60, 32).await.unwrap(), Bytes::from(vec![7; 32]));
    let reads = bus.i2c_rdwr(vec![
        Msg::write(0x50, vec![0x08, 1, 2]),
        Msg::write(0x50, vec![0x08]),
        Msg::read(0x50, 2),
    ]);
    assert_eq!(reads.await.unwrap(), [Bytes::from_static(&[1, 2])]);

    bus.set_pec(true);
    assert_eq!(bus.read_byte_data(RF, 0x05).await.unwrap(), 0xA5);
    bus.set_pec(false);
    bus.set_ten_bit(true);
    bus.write_byte_data(0x1A5, 1, 0x77).await.unwrap();
    assert_eq!(bus.read_byte_data(0x1A5, 1).await.unwrap(), 0x77);
    bus.set_ten_bit(false);
    assert_eq!(bus.read_byte_data(0x36, 0).await.unwrap_err().errno(), Some(Errno::EBUSY));
    bus.set_force(true);
    assert_eq!(bus.read_byte_data(0x36, 0).await.unwrap(), 0);
    bus.close().await.unwrap();
}

#[test]
fn every_method_blocking_from_plain_code() {
    let (server, _) = start(Duration::from_secs(5));
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    bus.write_quick(RF).unwrap();
    bus.write_byte_data(RF, 0x05, 0x5A).unwrap();
    assert_eq!(bus.read_byte_data(RF, 0x05).unwrap(), 0x5A);
    bus.write_byte(RF, 0x05).unwrap();
    assert_eq!(bus.read_byte(RF).unwrap(), 0x5A);
    bus.write_word_data(RF, 0x10, 0x0102).unwrap();
    assert_eq!(bus.read_word_data(RF, 0x10).unwrap(), 0x0102);
    assert_eq!(bus.process_call(RF, 0x10, 0x0304).unwrap(), 0);
    bus.write_block_data(RF, 0x30, &[4, 5]).unwrap();
    assert_eq!(bus.read_block_data(RF, 0x30).unwrap(), Bytes::from_static(&[4, 5]));
    bus.write_i2c_block_data(RF, 0x42, &[1, 0xCC]).unwrap();
    assert_eq!(bus.block_process_call(RF, 0x40, &[1]).unwrap(), Bytes::from_static(&[0xCC]));
    bus.write_i2c_block_data(RF, 0x60, &[1, 2, 3]).unwrap();
    assert_eq!(bus.read_i2c_block_data(RF, 0x60, 3).unwrap(), Bytes::from_static(&[1, 2, 3]));
    assert_eq!(
        bus.i2c_rdwr(vec![Msg::write(RF, vec![0x60]), Msg::read(RF, 1)]).unwrap(),
        [Bytes::from_static(&[1])]
    );
    bus.close().unwrap();
}

#[test]
fn errors_keep_errno_and_kind() {
    let (server, _) = start(Duration::from_secs(5));
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();

    let nack = bus.read_byte(0x33).unwrap_err();
    assert_eq!(nack.errno(), Some(Errno::ENXIO));
    assert_eq!(nack.kind(), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
    assert_eq!(nack.to_string(), "read_byte at 0x33 failed: ENXIO (6): no device acknowledged the address");

    let bad = bus.read_i2c_block_data(RF, 0, 33).unwrap_err();
    assert!(matches!(&bad, Error::Rejected { code: tonic::Code::InvalidArgument, .. }), "{bad:?}");
    assert_eq!(
        bad.to_string(),
        "invalid argument: ops[0].smbus.read_i2c_block_data.len: 33 bytes is out of range 1–32"
    );
    assert_eq!(bad.kind(), ErrorKind::Other);

    let missing = client.bus(9).err().unwrap();
    assert!(missing.to_string().starts_with("not found: bus: 9 does not exist"), "{missing}");

    // Bus 2 is SMBus-only: what it lacks is refused before anything is sent, and a transfer
    // with no SMBus equivalent is refused by the server with EOPNOTSUPP.
    let mut smbus_only = client.bus(4).unwrap();
    let err = smbus_only.block_process_call(RF, 0, &[1]).unwrap_err();
    assert!(matches!(err, Error::NotSupported { op: "block_process_call", .. }), "{err:?}");
    assert!(err.to_string().starts_with("block_process_call is not supported by this adapter"), "{err}");
    let err = smbus_only.i2c_rdwr(vec![Msg::read(RF, 2)]).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EOPNOTSUPP));
    assert_eq!(err.to_string(), "transfer at 0x48 failed: EOPNOTSUPP (95): not supported by this adapter");
    // embedded-hal's write_read has an exact SMBus equivalent, so drivers work here too.
    use embedded_hal::i2c::I2c;
    smbus_only.write_byte_data(RF, 0x05, 0x55).unwrap();
    let mut byte = [0u8];
    smbus_only.write_read(0x48u8, &[0x05], &mut byte).unwrap();
    assert_eq!(byte, [0x55]);
}

#[test]
fn a_batch_of_32_ops_is_one_round_trip() {
    let (server, stats) = start(Duration::from_secs(5));
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut batch: Batch = bus.batch();
    let mut reads = Vec::new();
    for i in 0..8u8 {
        batch.write_byte_data(RF, i, i + 100);
        reads.push(batch.read_byte_data(RF, i));
        batch.write_word_data(RF, 0x80 + 2 * i, u16::from(i) << 8);
        batch.read_word_data(RF, 0x80 + 2 * i);
    }
    assert_eq!(batch.len(), 32);
    let (before_tx, before_ops) = (stats.transactions(), stats.operations());
    let results = bus.run(batch).unwrap();
    assert_eq!(stats.transactions() - before_tx, 1, "one round trip");
    assert_eq!(stats.operations() - before_ops, 32);
    for (i, slot) in reads.into_iter().enumerate() {
        assert_eq!(results.get(slot), i as u8 + 100);
    }
}

#[test]
fn the_lock_guard_releases_on_drop() {
    let (server, _) = start(Duration::from_secs(5));
    let client = blocking::Client::connect(server.url()).unwrap();
    let (mut a, mut b) = (client.bus(1).unwrap(), client.bus(1).unwrap());
    {
        let mut held = a.lock(Duration::ZERO).unwrap();
        held.write_byte_data(RF, 1, 1).unwrap();
        let err = b.read_byte(RF).unwrap_err();
        assert!(matches!(err, Error::Rejected { code: tonic::Code::Aborted, .. }), "{err:?}");
    }
    b.lock(Duration::ZERO).unwrap().unlock().unwrap();
    assert_eq!(a.read_byte_data(RF, 1).unwrap(), 1);
}

/// The runtime is blocked past the lease, so the keep-alive cannot run and a session without a
/// resume window expires; the next call reopens it and goes through, writes included.
#[tokio::test(start_paused = true)]
async fn an_expired_session_is_reopened_transparently() {
    let lease = Duration::from_millis(200);
    let server = lab().lease(lease);
    let stats = server.stats();
    let server = Here::start(server).await;
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus =
        client.bus_with(1, BusOptions { resume_window: None, ..BusOptions::DEFAULT }).await.unwrap();
    bus.write_byte_data(RF, 2, 0x22).await.unwrap();
    // The clock jumps past the lease before any task runs: the keep-alive wakes too late.
    tokio::time::advance(lease * 3).await;
    let before = stats.transactions();
    bus.write_byte_data(RF, 3, 0x33).await.unwrap();
    assert_eq!(stats.transactions() - before, 2, "refused once as expired, then sent again");
    assert_eq!(bus.read_word_data(RF, 2).await.unwrap(), 0x3322);

    // Holding the lock, an expiry is not papered over.
    let mut guard = bus.lock(Duration::ZERO).await.unwrap();
    tokio::time::advance(lease * 3).await;
    let err = guard.read_byte(RF).await.unwrap_err();
    assert!(matches!(err, Error::LockLost { bus: 1 }), "{err:?}");
    drop(guard);
    drop((bus, client));
    server.stop().await;
}

/// The keep-alive renews an idle session's lease, lock and all, for as long as the bus is open;
/// dropping the bus frees the lock at once.
#[tokio::test(start_paused = true)]
async fn the_keep_alive_holds_an_idle_session_and_its_lock_until_the_bus_is_dropped() {
    let lease = Duration::from_millis(200);
    let server = Here::start(lab().lease(lease)).await;
    let (holder, other) =
        (Client::connect(server.url()).await.unwrap(), Client::connect(server.url()).await.unwrap());
    let mut bus = holder.bus(1).await.unwrap();
    let guard = bus.lock(Duration::ZERO).await.unwrap();
    let mut theirs = other.bus(1).await.unwrap();
    tokio::time::sleep(lease * 10).await;
    let err = theirs.read_byte(RF).await.unwrap_err();
    assert!(matches!(err, Error::Rejected { code: tonic::Code::Aborted, .. }), "{err:?}");
    // Dropped, the bus says goodbye and the lock goes at once, with no lease to wait out.
    drop(guard);
    drop(bus);
    let dropped = tokio::time::Instant::now();
    theirs.lock(lease * 2).await.expect("the lock goes with the bus");
    assert!(dropped.elapsed() < lease, "freed {:?} after the bus was dropped", dropped.elapsed());
    drop((theirs, other));
    server.stop().await;
}

#[test]
fn the_blocking_keep_alive_thread_holds_an_idle_session_and_its_lock() {
    let lease = Duration::from_millis(200);
    let (server, _) = start(lease);
    let client = blocking::Client::connect(server.url()).unwrap();
    let other = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut guard = bus.lock(Duration::ZERO).unwrap();
    std::thread::sleep(lease * 4);
    guard.write_byte_data(RF, 9, 9).unwrap();
    let err = other.bus(1).unwrap().read_byte(RF).unwrap_err();
    assert!(matches!(err, Error::Rejected { code: tonic::Code::Aborted, .. }), "{err:?}");
}

#[tokio::test]
async fn embedded_hal_async_i2c() {
    use embedded_hal_async::i2c::I2c;
    let (server, _) = start(Duration::from_secs(5));
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client
        .bus_with(
            1,
            BusOptions {
                timeout: Some(Duration::from_millis(100)),
                retries: Some(2),
                ..BusOptions::default()
            },
        )
        .await
        .unwrap();
    bus.write(0x48u8, &[0x20, 0xDE, 0xAD]).await.unwrap();
    let mut buf = [0u8; 2];
    bus.write_read(0x48u8, &[0x20], &mut buf).await.unwrap();
    assert_eq!(buf, [0xDE, 0xAD]);
    // 10-bit
    bus.write(0x1A5u16, &[0x01, 0x42]).await.unwrap();
    bus.write_read(0x1A5u16, &[0x01], &mut buf[..1]).await.unwrap();
    assert_eq!(buf[0], 0x42);
    let err = bus.read(0x33u8, &mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
    assert_eq!(err.errno(), Some(Errno::ENXIO));
}

/// An unmodified driver from crates.io: eeprom24x against the simulated 24C02, which keeps
/// the datasheet's write cycle: after a write it acknowledges nothing for 5 ms.
#[test]
fn third_party_driver_eeprom24x_round_trip() {
    use eeprom24x::{Eeprom24x, SlaveAddr};
    use embedded_hal::delay::DelayNs;
    let server = smbus_proxy_testkit::simulated(
        "[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"eeprom-24c02\"\naddr = 0x50\n",
    )
    .on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut eeprom = Eeprom24x::new_24x02(client.bus(1).unwrap(), SlaveAddr::default());
    eeprom.write_page(0x10, b"smbus!").unwrap();
    match eeprom.read_byte(0x10) {
        Err(eeprom24x::Error::I2C(e)) => {
            assert_eq!(e.kind(), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        }
        other => panic!("a read during the write cycle answered {other:?}"),
    }
    // What the crate's own Storage does: wait out the write cycle.
    let mut delay = smbus_proxy_client::Delay;
    delay.delay_ms(5);
    eeprom.write_byte(0x42, 0x99).unwrap();
    delay.delay_ms(5);
    let mut data = [0u8; 6];
    eeprom.read_data(0x10, &mut data).unwrap();
    assert_eq!(&data, b"smbus!");
    assert_eq!(eeprom.read_byte(0x42).unwrap(), 0x99);
    assert_eq!(eeprom.read_current_address().unwrap(), 0xFF, "the pointer moved on to 0x43, erased");
}

/// The suite the real-kernel rig runs against i2c-stub, here against the simulator.
#[test]
fn shared_suite_on_the_simulator() {
    let (server, _) = start(Duration::from_secs(5));
    let client = blocking::Client::connect(server.url()).unwrap();
    let chips = suite::Chips { chip: RF, busy: 0x36, empty: 0x33, nack: Errno::ENXIO };
    suite::register_chip(&mut client.bus(1).unwrap(), &chips);
    suite::claims(&client, 1, &chips);
}

#[test]
fn a_token_opens_a_server_that_requires_one() {
    let server = lab().token(Some("s3cret".into())).spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    let client = blocking::Client::connect_with_token(server.url(), Some("s3cret".into())).unwrap();
    assert_eq!(client.bus(1).unwrap().read_byte_data(RF, 0).unwrap(), 0);
    let wrong = blocking::Client::connect_with_token(server.url(), Some("guess".into())).unwrap();
    let err = wrong.bus(1).err().unwrap();
    assert!(matches!(&err, Error::Rejected { code: tonic::Code::Unauthenticated, .. }), "{err:?}");
    assert_eq!(err.to_string(), "unauthenticated: authorization: wrong token");
    let none = blocking::Client::connect_with_token(server.url(), None).unwrap();
    assert!(
        none.list_buses().unwrap_err().to_string().starts_with("unauthenticated: authorization: missing")
    );
}

#[test]
fn replies_past_tonics_default_4_mib_come_back_when_the_server_allows_them() {
    let limits = smbus_proxy_server::Limits { message_bytes: 8 << 20, ..Default::default() };
    let server = Server::simulated(&Config::demo()).limits(limits).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    // 16 transfers of 42 reads of 8192 bytes: 5.5 MB of replies in one transaction.
    let mut batch = bus.batch();
    let slots: Vec<_> = (0..16).map(|_| batch.i2c_rdwr(vec![Msg::read(0x50, 8192); 42])).collect();
    let results = bus.run(batch).unwrap();
    let total: usize = slots.into_iter().map(|s| results.get(s).iter().map(Bytes::len).sum::<usize>()).sum();
    assert_eq!(total, 16 * 42 * 8192);
}
