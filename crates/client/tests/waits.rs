//! Waiting on the bus instead of across the network: `wait` and `poll` steps against a real
//! server on a real socket, on simulated chips that keep time (an INA219's conversion, a
//! 24C32's write cycle).

use smbus_proxy_client::{BusOptions, Command, Errno, Error, Match, Msg, Op, Poll, Step, blocking};
use smbus_proxy_sim::ManualClock;
use smbus_proxy_testkit::{Loopback, simulated, simulated_on};
use std::time::{Duration, Instant};

const SENSOR: u16 = 0x40;
const EEPROM: u16 = 0x50;
const RF: u16 = 0x48;

const CHIPS: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "ina219"
addr = 0x40
bus_volts = 12.0
current_amps = 0.25
[[bus.device]]
model = "eeprom-24c32"
addr = 0x50
[[bus.device]]
model = "register-file"
addr = 0x48

[[bus]]
number = 2
[[bus.device]]
model = "register-file"
addr = 0x48
"#;

const MS: Duration = Duration::from_millis(1);

/// The INA219's bus voltage register as an SMBus word: its conversion-ready bit (bit 1 of
/// the low byte, which comes second on the wire) is bit 9.
const CNVR: Match = Match { mask: 0x0200, value: 0x0200 };

fn trigger() -> Op {
    // Shunt and bus voltage, triggered, 128 samples each: 2 × 68.10 ms.
    Op::Transfer(vec![Msg::write(SENSOR, vec![0x00, 0x3F, 0xFB])])
}

fn bus_voltage() -> Op {
    Op::smbus(SENSOR, Command::ReadWordData { reg: 0x02 })
}

#[test]
fn a_poll_waits_for_the_conversion_on_the_bus_in_one_round_trip() {
    let server = simulated(CHIPS).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut batch = bus.batch();
    batch.op(trigger());
    let ready = batch.poll(Poll { op: bus_voltage(), interval: MS, timeout: 500 * MS, until: Some(CNVR) });
    let shunt = batch.read_i2c_block_data(SENSOR, 0x01, 2);
    let start = Instant::now();
    let results = bus.run(batch).unwrap();
    assert!(start.elapsed() >= 136 * MS, "returned after {:?}", start.elapsed());
    // 12 V is 3000 × 4 mV in bits 15:3, byte-swapped as an SMBus word; CNVR set.
    let ready = results.replies()[ready].clone();
    assert_eq!(ready, smbus_proxy_client::Reply::Word(u16::from_be_bytes([0x5D, 0xC2]).swap_bytes()));
    assert_eq!(&results.get(shunt)[..], [0x09, 0xC4], "25 mV across the shunt");
}

#[test]
fn ack_polling_through_an_eeprom_write_cycle() {
    let server = simulated(CHIPS).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    for page in 0..4u8 {
        let mut batch = bus.batch();
        batch.i2c_rdwr(vec![Msg::write(EEPROM, [&[0x01, page * 32][..], &[page; 32]].concat())]);
        batch.poll_ack(EEPROM, smbus_proxy_client::MIN_POLL_INTERVAL, 20 * MS);
        bus.run(batch).unwrap();
    }
    // Without the poll, the next access would meet the write cycle.
    let reads = bus.i2c_rdwr(vec![Msg::write(EEPROM, vec![0x01, 0x00]), Msg::read(EEPROM, 128)]).unwrap();
    assert_eq!(reads[0][..], (0..4u8).flat_map(|p| [p; 32]).collect::<Vec<_>>()[..]);
}

/// On a clock that jumps to the end of each pause, so the count of tries is exact: at 0, 5,
/// …, 25 ms, and no seventh, which could not start within 30 ms.
#[test]
fn a_poll_that_runs_out_of_time_says_after_how_many_tries() {
    let server = simulated_on(CHIPS, &ManualClock::advancing()).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let never = Match { mask: 0xFF, value: 0x5A };
    let mut batch = bus.batch();
    batch.write_byte_data(RF, 0x10, 1);
    batch.poll_byte_data(RF, 0x10, never, 5 * MS, 30 * MS);
    batch.write_byte_data(RF, 0x11, 1);
    let e = bus.run(batch).unwrap_err();
    let Error::Bus { errno, op, index, detail, .. } = &e else { panic!("{e}") };
    assert_eq!((*errno, *op, *index), (Errno::ETIMEDOUT, "poll", 1));
    assert_eq!(detail.as_deref(), Some(" after 6 tries; the last did not match"));
    assert_eq!(
        e.to_string(),
        "poll at 0x48 failed: ETIMEDOUT (110): bus operation timed out after 6 tries; the last did not match"
    );
    // The transaction stopped at the poll.
    assert_eq!(bus.read_byte_data(RF, 0x11).unwrap(), 0);
    // A device that never answers: the last try's errno is said.
    let mut batch = bus.batch();
    batch.poll_ack(0x33, MS, 5 * MS);
    let e = bus.run(batch).unwrap_err().to_string();
    assert!(e.ends_with(" after 5 tries; the last failed with ENXIO"), "{e}");
}

/// On a clock the test moves, so what is shown is an order of events, not how fast a busy
/// machine runs: bus 2 answers while bus 1's wait has not ended, and bus 1's wait ends when
/// its time on the clock has passed, not before.
#[test]
fn a_wait_holds_the_bus_but_not_the_server() {
    let clock = ManualClock::new();
    let server = simulated_on(CHIPS, &clock).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let waiting = std::thread::spawn({
        let url = server.url();
        move || {
            let client = blocking::Client::connect(url).unwrap();
            let mut bus = client.bus(1).unwrap();
            let mut batch = bus.batch();
            batch.write_byte_data(RF, 0x20, 1);
            batch.wait(300 * MS);
            batch.write_byte_data(RF, 0x21, 1);
            bus.run(batch).unwrap();
        }
    });
    clock.wait_for_sleepers(1);
    // Another bus answers while bus 1 waits: the wait holds bus 1, not the server.
    let mut other = client.bus(2).unwrap();
    other.read_byte_data(RF, 0).unwrap();
    assert_eq!(clock.sleepers(), 1, "bus 1 still waits");
    // Bus 1 itself waits its turn, as for any transaction: a read of it runs after the wait.
    let reader = std::thread::spawn({
        let url = server.url();
        move || blocking::Client::connect(url).unwrap().bus(1).unwrap().read_byte_data(RF, 0x21).unwrap()
    });
    clock.advance(299 * MS);
    assert_eq!(clock.sleepers(), 1, "a millisecond short of its time, the wait goes on");
    clock.advance(MS);
    waiting.join().unwrap();
    assert_eq!(reader.join().unwrap(), 1, "the read ran after the write that follows the wait");
}

/// On a clock the test moves: the write and the wait return while the wait cannot have ended
/// (the clock has not moved), so they were queued, not waited for; the read after them runs
/// once the wait has.
#[test]
fn pipelined_command_wait_read_is_one_round_trip_of_waiting() {
    let clock = ManualClock::new();
    let server = simulated_on(CHIPS, &clock).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let options = BusOptions { pipeline: 16, ..BusOptions::default() };
    let mut bus = client.bus_with(1, options).unwrap();
    let start = clock.now();
    bus.execute(&[trigger()]).unwrap();
    bus.wait(140 * MS).unwrap();
    assert_eq!(clock.now(), start, "returned with the wait still to end");
    let advance = |by| {
        let clock = clock.clone();
        std::thread::spawn(move || {
            clock.wait_for_sleepers(1);
            clock.advance(by);
        })
    };
    let waited = advance(140 * MS);
    let word = bus.read_word_data(SENSOR, 0x02).unwrap();
    waited.join().unwrap();
    assert_eq!(word & 0x0200, 0x0200, "the conversion (136.2 ms) was done when the read ran");
    // Steps by hand, as the batch builds them.
    let steps = [Step::Op(trigger()), Step::Wait(140 * MS), Step::Op(bus_voltage())];
    let waited = advance(140 * MS);
    let replies = bus.execute_steps(&steps).unwrap();
    waited.join().unwrap();
    assert_eq!(replies[2], smbus_proxy_client::Reply::Word(word));
    assert_eq!(clock.now() - start, 280 * MS);
}
