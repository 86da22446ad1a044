//! Pipelined writes ([`BusOptions::pipeline`]) against a real server on a real socket: order,
//! a failure that stops everything queued after it, and the points that report it.

use smbus_proxy_client::{BusOptions, Command, Errno, Error, Msg, Op, Report, blocking};
use smbus_proxy_testkit::{Loopback, lab};
use std::time::Duration;

const RF: u16 = 0x48;
const ABSENT: u16 = 0x33;

fn pipelined(client: &blocking::Client, window: usize) -> blocking::Bus {
    client.bus_with(1, BusOptions { pipeline: window, ..BusOptions::default() }).unwrap()
}

/// The error of a pipelined call that failed on the bus: its position, operation and errno.
fn failed(e: Error) -> (u64, &'static str, usize, Errno) {
    match e {
        Error::Pipelined { position, source } => match *source {
            Error::Bus { errno, op, index, .. } => (position, op, index, errno),
            other => panic!("pipelined call {position} failed otherwise: {other}"),
        },
        other => panic!("not a pipelined failure: {other}"),
    }
}

#[test]
fn writes_run_in_order_behind_a_small_window() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = pipelined(&client, 4);
    for i in 0..100u8 {
        bus.write_byte_data(RF, 0x40 + i % 8, i).unwrap();
        bus.write_word_data(RF, 0x50, u16::from(i)).unwrap();
    }
    bus.i2c_rdwr(vec![Msg::write(RF, vec![0x60, 1, 2, 3])]).unwrap();
    // The read waits for every write before it, and sees the last of each.
    assert_eq!(bus.read_i2c_block_data(RF, 0x40, 8).unwrap()[..], [96, 97, 98, 99, 92, 93, 94, 95]);
    assert_eq!(bus.read_word_data(RF, 0x50).unwrap(), 99);
    assert_eq!(bus.read_i2c_block_data(RF, 0x60, 3).unwrap()[..], [1, 2, 3]);
    bus.flush().unwrap();
}

#[test]
fn a_failure_stops_every_later_write_and_names_the_failing_operation() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = pipelined(&client, 16);
    bus.write_byte_data(RF, 0x70, 1).unwrap();
    // Returns at once: whether it worked is not known yet.
    bus.write_byte_data(ABSENT, 0x00, 2).unwrap();
    bus.write_byte_data(RF, 0x71, 3).unwrap();
    bus.execute(&[Op::smbus(RF, Command::WriteByteData { reg: 0x72, value: 4 })]).unwrap();
    let e = bus.read_byte_data(RF, 0x70).unwrap_err();
    // Which call failed, then how: each once (the failure is the cause, not part of the text).
    assert_eq!(e.to_string(), "pipelined call 2 failed");
    assert_eq!(
        Report(&e).to_string(),
        "pipelined call 2 failed: write_byte_data at 0x33 failed: ENXIO (6): no device acknowledged the address"
    );
    assert_eq!(e.errno(), Some(Errno::ENXIO));
    assert_eq!(failed(e), (2, "write_byte_data", 0, Errno::ENXIO));
    // What was queued after the failure never reached the device; the program has been told,
    // so the handle runs again.
    let mut check = client.bus(1).unwrap();
    assert_eq!(check.read_i2c_block_data(RF, 0x70, 3).unwrap()[..], [1, 0, 0]);
    bus.write_byte_data(RF, 0x71, 5).unwrap();
    assert_eq!(bus.read_byte_data(RF, 0x71).unwrap(), 5);
}

#[test]
fn a_batch_of_writes_is_pipelined_and_its_failure_names_the_operation_in_it() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = pipelined(&client, 8);
    let mut batch = bus.batch();
    batch.write_byte_data(RF, 0x74, 1);
    batch.write_byte(ABSENT, 1);
    batch.write_byte_data(RF, 0x75, 1);
    bus.run(batch).unwrap();
    bus.write_byte_data(RF, 0x76, 1).unwrap();
    assert_eq!(failed(bus.flush().unwrap_err()), (1, "write_byte", 1, Errno::ENXIO));
    bus.flush().unwrap();
    // One transaction: its first write ran, the rest of it and the next call did not.
    assert_eq!(bus.read_i2c_block_data(RF, 0x74, 3).unwrap()[..], [1, 0, 0]);
}

#[test]
fn every_flush_point_reports_the_failure_once() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = pipelined(&client, 8);
    let fail = |bus: &mut blocking::Bus| bus.write_byte_data(ABSENT, 0, 0).unwrap();

    fail(&mut bus);
    assert_eq!(failed(bus.flush().unwrap_err()).3, Errno::ENXIO);
    assert!(bus.flush().is_ok(), "reported once");

    fail(&mut bus);
    assert!(matches!(bus.lock(Duration::from_secs(1)), Err(Error::Pipelined { .. })));
    let guard = bus.lock(Duration::from_secs(1)).unwrap();
    drop(guard);

    let mut guard = bus.lock(Duration::from_secs(1)).unwrap();
    fail(&mut guard);
    assert!(matches!(guard.unlock(), Err(Error::Pipelined { .. })), "unlocks, and reports");

    fail(&mut bus);
    assert!(matches!(bus.execute_each(&[Op::smbus(RF, Command::ReadByte)]), Err(Error::Pipelined { .. })));

    fail(&mut bus);
    assert!(matches!(bus.close(), Err(Error::Pipelined { .. })));
}

#[test]
fn without_pipelining_a_write_fails_where_it_is_made() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    assert!(matches!(bus.write_byte_data(ABSENT, 0, 0), Err(Error::Bus { errno: Errno::ENXIO, .. })));
    assert!(bus.flush().is_ok());
}

#[test]
fn the_window_is_bounded() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let too_wide = BusOptions { pipeline: smbus_proxy_client::MAX_PIPELINE + 1, ..BusOptions::default() };
    let e = client.bus_with(1, too_wide).err().unwrap();
    assert_eq!(e.to_string(), "invalid argument: pipeline: 257 is out of range 0–256");
    let mut widest = pipelined(&client, smbus_proxy_client::MAX_PIPELINE);
    let writes: Vec<Op> =
        (0..1024).map(|i| Op::smbus(RF, Command::WriteByteData { reg: 0x80, value: i as u8 })).collect();
    for _ in 0..300 {
        widest.execute(&writes).unwrap();
    }
    assert_eq!(widest.read_byte_data(RF, 0x80).unwrap(), 0xFF);
}

#[test]
fn probes_are_answered_at_once() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = pipelined(&client, 8);
    bus.write_byte_data(RF, 0x78, 1).unwrap();
    assert!(matches!(bus.write_quick(ABSENT), Err(Error::Bus { errno: Errno::ENXIO, .. })));
    assert!(matches!(
        bus.i2c_rdwr(vec![Msg::write(ABSENT, vec![])]),
        Err(Error::Bus { errno: Errno::ENXIO, .. })
    ));
    bus.write_quick(RF).unwrap();
    bus.flush().unwrap();
}

/// Dropping an async bus handle lets what it queued run before its session closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_async_handle_still_runs_what_it_queued() {
    let server = lab().on_loopback();
    let client = smbus_proxy_client::Client::connect(server.url()).await.unwrap();
    let options = BusOptions { pipeline: 64, ..BusOptions::default() };
    let mut bus = client.bus_with(1, options).await.unwrap();
    for i in 0..64u8 {
        bus.write_byte_data(RF, 0x7A, i).await.unwrap();
    }
    drop(bus);
    let mut check = client.bus(1).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while check.read_byte_data(RF, 0x7A).await.unwrap() != 63 {
        assert!(std::time::Instant::now() < deadline, "the queued writes did not all run");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A driver on [`smbus_proxy_client::Timed`] whose pipelined write fails, then waits longer
/// than is sent as a wait on the bus (a start-up time). The delay used to flush the pipeline
/// and drop what it reported, so the writes queued after the failure ran and the driver never
/// heard of it. Now the failure waits for the driver's next call that waits, and nothing
/// queued after it reaches the device.
#[test]
fn a_long_delay_keeps_a_pipelined_failure_for_the_driver() {
    use embedded_hal::delay::DelayNs;
    use embedded_hal::i2c::I2c;
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let timed = smbus_proxy_client::Timed::new(pipelined(&client, 16));
    let (mut i2c, mut delay) = (timed.i2c(), timed.delay());
    I2c::write(&mut i2c, ABSENT as u8, &[0x00, 1]).unwrap();
    let long = smbus_proxy_client::LONGEST_BUS_WAIT + Duration::from_millis(10);
    delay.delay_ns(long.as_nanos() as u32);
    I2c::write(&mut i2c, RF as u8, &[0x74, 7]).unwrap();
    // A short delay, sent as a wait on the bus, must not lose it either.
    delay.delay_us(100);
    I2c::write(&mut i2c, RF as u8, &[0x75, 8]).unwrap();
    let mut byte = [0];
    let e = I2c::write_read(&mut i2c, RF as u8, &[0x74], &mut byte).unwrap_err();
    assert_eq!(failed(e), (1, "transfer", 0, Errno::ENXIO));
    let mut check = client.bus(1).unwrap();
    assert_eq!(check.read_i2c_block_data(RF, 0x74, 2).unwrap()[..], [0, 0], "nothing after the failure ran");
}
