//! [`Timed`]: one blocking bus behind both an embedded-hal driver's `I2c` and its `DelayNs`,
//! so that the driver's delays are waits on the bus.
//!
//! A driver that writes a command, waits for the chip and reads the result costs two round
//! trips plus the delay with a local [`crate::Delay`]. On a pipelined bus
//! ([`crate::BusOptions::pipeline`]) with a `Timed` delay, the write and the wait are queued
//! and the read waits once: one round trip, and the delay is timed where the chip is. The
//! driver takes the two handles as it takes any `I2c` and `DelayNs`; it never uses both at
//! once, so they share the bus through a `RefCell`.

use crate::blocking::Bus;
use crate::error::Error;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::{self, Operation, SevenBitAddress, TenBitAddress};
use std::cell::RefCell;
use std::time::Duration;

/// The longest delay sent to the server as a wait; a longer one (a start-up time) is slept
/// here after the pipeline is flushed, since a round trip is small beside it and the server
/// limits a transaction's waiting (1 s by default).
pub const LONGEST_BUS_WAIT: Duration = Duration::from_millis(100);

/// A bus shared by a driver's `I2c` ([`Timed::i2c`]) and `DelayNs` ([`Timed::delay`]).
pub struct Timed {
    bus: RefCell<Bus>,
}

impl Timed {
    /// Shares `bus`; give it pipelining for the delays to cost no round trip of their own.
    pub fn new(bus: Bus) -> Timed {
        Timed { bus: RefCell::new(bus) }
    }

    /// The `I2c` to give the driver.
    pub fn i2c(&self) -> TimedI2c<'_> {
        TimedI2c { bus: &self.bus }
    }

    /// The `DelayNs` to give the driver: each delay is a wait on the bus.
    pub fn delay(&self) -> TimedDelay<'_> {
        TimedDelay { bus: &self.bus }
    }

    /// The bus back.
    pub fn into_inner(self) -> Bus {
        self.bus.into_inner()
    }
}

/// The shared bus as an embedded-hal `I2c`.
pub struct TimedI2c<'a> {
    bus: &'a RefCell<Bus>,
}

impl i2c::ErrorType for TimedI2c<'_> {
    type Error = Error;
}

impl i2c::I2c<SevenBitAddress> for TimedI2c<'_> {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<(), Error> {
        i2c::I2c::<SevenBitAddress>::transaction(&mut *self.bus.borrow_mut(), address, operations)
    }
}

impl i2c::I2c<TenBitAddress> for TimedI2c<'_> {
    fn transaction(&mut self, address: u16, operations: &mut [Operation<'_>]) -> Result<(), Error> {
        i2c::I2c::<TenBitAddress>::transaction(&mut *self.bus.borrow_mut(), address, operations)
    }
}

/// The shared bus as an embedded-hal `DelayNs` whose delays are waits on the bus.
pub struct TimedDelay<'a> {
    bus: &'a RefCell<Bus>,
}

impl DelayNs for TimedDelay<'_> {
    /// A wait on the bus. `DelayNs` cannot fail, so a wait the server refuses (or that fails
    /// on a pipelined bus, reported at the next read) is slept here instead: the driver's
    /// timing holds either way. A long delay is slept here once what is queued has run; a
    /// pipelined write that failed is kept for the driver's next call that waits, which
    /// reports it, and nothing queued after it runs until then.
    fn delay_ns(&mut self, ns: u32) {
        let time = Duration::from_nanos(ns.into());
        let mut bus = self.bus.borrow_mut();
        if time > LONGEST_BUS_WAIT || bus.wait(time).is_err() {
            bus.settle();
            std::thread::sleep(time);
        }
    }
}
