//! Pipelining against a reference model: random sequences of writes, failing writes, reads,
//! flushes, waits on the bus, delays, locks and unlocks, on a pipelined handle through a real
//! server, with the model saying after each call what the program must be told and what the
//! device must hold. Two promises are checked on every step: nothing queued after a failure
//! reaches the device until the program has been told of it, and each failure is told exactly
//! once, at the first call that waits for the pipeline, naming its position.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use smbus_proxy_client::{BusOptions, Error, Timed, blocking};
use smbus_proxy_testkit::{Loopback, lab};
use std::time::Duration;

const RF: u16 = 0x48;
const ABSENT: u16 = 0x33;
/// The registers the sequences use, all of them checked against the model.
const FIRST: u8 = 0x80;
const COUNT: u8 = 16;

/// xorshift64*: small, deterministic, and enough to wander over the sequences.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// What the program and the device must see.
#[derive(Default)]
struct Model {
    registers: [u8; COUNT as usize],
    /// Pipelined calls so far: what a failure's position counts.
    calls: u64,
    /// The first pipelined call that failed since the program was last told, if any: until it
    /// is told, nothing queued after it runs.
    failed: Option<u64>,
    /// Failures told, and failures there were.
    told: u32,
    failures: u32,
}

impl Model {
    /// A pipelined call that does `effect` to the device, or fails if `fails`.
    fn queue(&mut self, fails: bool, effect: impl FnOnce(&mut [u8; COUNT as usize])) {
        self.calls += 1;
        if self.failed.is_some() {
            return;
        }
        if fails {
            self.failed = Some(self.calls);
            self.failures += 1;
        } else {
            effect(&mut self.registers);
        }
    }

    /// A call that waits for the pipeline: what it must return, the failure told if there was
    /// one (and from then on, queued calls run again).
    fn wait_point(&mut self, got: Result<(), Error>) {
        match (self.failed.take(), got) {
            (None, Ok(())) => {}
            (Some(position), Err(Error::Pipelined { position: told, .. })) => {
                assert_eq!(told, position, "the failure told is the first since the last");
                self.told += 1;
            }
            (expected, got) => panic!("expected the failure of call {expected:?} to be told; got {got:?}"),
        }
    }
}

/// What the device holds, read by a session of its own.
fn device(checker: &mut blocking::Bus) -> Vec<u8> {
    checker.read_i2c_block_data(RF, FIRST, COUNT).unwrap().to_vec()
}

/// One random call on a pipelined bus handle, checked against the model.
fn step(rng: &mut Rng, bus: &mut blocking::Bus, model: &mut Model) {
    let reg = rng.below(u64::from(COUNT)) as u8;
    let value = rng.below(256) as u8;
    match rng.below(100) {
        0..40 => {
            bus.write_byte_data(RF, FIRST + reg, value).unwrap();
            model.queue(false, |r| r[usize::from(reg)] = value);
        }
        40..48 => {
            bus.write_byte_data(ABSENT, reg, value).unwrap();
            model.queue(true, |_| {});
        }
        48..53 => {
            // A batch of writes: one transaction, all or nothing.
            let mut batch = bus.batch();
            batch.write_byte_data(RF, FIRST + reg, value);
            batch.write_byte_data(RF, FIRST + (reg + 1) % COUNT, value ^ 0xFF);
            bus.run(batch).unwrap();
            model.queue(false, |r| {
                r[usize::from(reg)] = value;
                r[usize::from((reg + 1) % COUNT)] = value ^ 0xFF;
            });
        }
        53..58 => {
            bus.wait(Duration::from_micros(200)).unwrap();
            model.queue(false, |_| {});
        }
        58..60 => {
            // A wait the server refuses (past --max-bus-wait-ms): a rejection, told as a
            // pipelined failure like a NACK.
            bus.wait(Duration::from_secs(2)).unwrap();
            model.queue(true, |_| {});
        }
        60..85 => {
            let got = bus.read_byte_data(RF, FIRST + reg);
            let expected = model.registers[usize::from(reg)];
            match got {
                Ok(read) => {
                    model.wait_point(Ok(()));
                    assert_eq!(read, expected, "register {:#04x}", FIRST + reg);
                }
                Err(e) => model.wait_point(Err(e)),
            }
        }
        _ => model.wait_point(bus.flush()),
    }
}

fn pipelined(client: &blocking::Client, window: usize) -> blocking::Bus {
    client.bus_with(1, BusOptions { pipeline: window, ..BusOptions::default() }).unwrap()
}

#[test]
fn pipelining_keeps_to_the_model() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut checker = client.bus(1).unwrap();
    for (seed, window) in [(1, 1), (2, 4), (3, 64)] {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let mut bus = pipelined(&client, window);
        let mut model = Model { registers: device(&mut checker).try_into().unwrap(), ..Model::default() };
        for _ in 0..600 {
            if rng.below(40) == 0 {
                // Locked for a while: the lock waits for the pipeline, and so does letting go.
                match bus.lock(Duration::ZERO) {
                    Ok(mut guard) => {
                        model.wait_point(Ok(()));
                        for _ in 0..rng.below(20) {
                            step(&mut rng, &mut guard, &mut model);
                        }
                        model.wait_point(guard.unlock());
                    }
                    Err(e) => model.wait_point(Err(e)),
                }
            } else {
                step(&mut rng, &mut bus, &mut model);
            }
            // Once the pipeline has run, the device holds what the model says: no write queued
            // after a failure ran. (Before that, another session's read may come first.)
            if rng.below(10) == 0 {
                model.wait_point(bus.flush());
                assert_eq!(device(&mut checker), model.registers, "seed {seed}");
            }
        }
        model.wait_point(bus.flush());
        assert_eq!(device(&mut checker), model.registers, "seed {seed}");
        assert_eq!(model.told, model.failures, "each failure told once");
        assert!(model.failures > 20, "seed {seed}: only {} failures", model.failures);
    }
}

/// The same through an embedded-hal driver's view ([`Timed`]): writes and failing writes as
/// `I2c::write`, reads as `write_read`, and delays, short ones waits on the bus and long ones
/// slept after the pipeline has run. A delay tells nothing and drops nothing.
#[test]
fn a_drivers_delays_keep_to_the_model() {
    let server = lab().on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut checker = client.bus(1).unwrap();
    let mut model = Model { registers: device(&mut checker).try_into().unwrap(), ..Model::default() };
    let timed = Timed::new(pipelined(&client, 8));
    let (mut i2c, mut delay) = (timed.i2c(), timed.delay());
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..400 {
        let reg = rng.below(u64::from(COUNT)) as u8;
        let value = rng.below(256) as u8;
        match rng.below(100) {
            0..40 => {
                I2c::write(&mut i2c, RF as u8, &[FIRST + reg, value]).unwrap();
                model.queue(false, |r| r[usize::from(reg)] = value);
            }
            40..50 => {
                I2c::write(&mut i2c, ABSENT as u8, &[reg, value]).unwrap();
                model.queue(true, |_| {});
            }
            50..60 => {
                delay.delay_us(100);
                model.queue(false, |_| {});
            }
            // A start-up time: slept here once the pipeline has run, its failure kept.
            60..62 => delay.delay_ms(110),
            _ => {
                let mut read = [0];
                match I2c::write_read(&mut i2c, RF as u8, &[FIRST + reg], &mut read) {
                    Ok(()) => {
                        model.wait_point(Ok(()));
                        assert_eq!(read[0], model.registers[usize::from(reg)]);
                        // The read waited for the pipeline: the device holds what the model says.
                        if rng.below(4) == 0 {
                            assert_eq!(device(&mut checker), model.registers);
                        }
                    }
                    Err(e) => model.wait_point(Err(e)),
                }
            }
        }
    }
    let mut bus = timed.into_inner();
    model.wait_point(bus.flush());
    assert_eq!(device(&mut checker), model.registers);
    assert_eq!(model.told, model.failures, "each failure told once");
    assert!(model.failures > 10, "only {} failures", model.failures);
}
