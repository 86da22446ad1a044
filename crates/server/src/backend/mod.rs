//! The seam between the server and a bus: everything the server needs from an adapter.
//!
//! A backend is driven from one thread at a time (its bus's executor), so it takes `&mut self`
//! and may block: a Linux adapter sleeps in the kernel for the whole transfer.

#[cfg(target_os = "linux")]
pub mod linux;

use smbus_proxy_sim::SimBus;
use smbus_proxy_wire::{Errno, Failure, Op, Reply};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Addresses kernel drivers own on a bus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claimed {
    /// 7-bit addresses.
    pub seven_bit: Vec<u16>,
    /// 10-bit addresses.
    pub ten_bit: Vec<u16>,
}

/// A lookup of [`Claimed`], which the server makes whenever a client asks about its buses.
pub type Claims = Arc<dyn Fn() -> Claimed + Send + Sync>;

/// One adapter the server runs operations on: a Linux `/dev/i2c-N`, a simulated bus, or
/// whatever an embedder brings.
pub trait Backend: Send + 'static {
    /// The N of /dev/i2c-N.
    fn number(&self) -> u32;
    /// The adapter's name.
    fn name(&self) -> &str;
    /// The adapter's functionality (`I2C_FUNCS`).
    fn funcs(&self) -> u64;
    /// The adapter timeout (`I2C_TIMEOUT`); the kernel keeps it per adapter, not per caller.
    fn set_timeout(&mut self, timeout: Duration) -> Result<(), Errno>;
    /// Retries on arbitration loss (`I2C_RETRIES`), also per adapter.
    fn set_retries(&mut self, retries: u32) -> Result<(), Errno>;
    /// Runs one validated operation, returning the kernel's errno on failure (and what else
    /// the backend knows about it).
    fn execute(&mut self, op: &Op) -> Result<Reply, Failure>;
    /// A transaction of `session` begins: for a backend whose answers depend on who asks (a
    /// strict replay starts over for each session). Nothing, by default.
    fn begin(&mut self, session: u128) {
        let _ = session;
    }
    /// How to learn, at any moment and from any thread, which addresses kernel drivers own on
    /// the bus (7-bit, then 10-bit); none by default.
    fn claims(&self) -> Claims {
        Arc::new(Claimed::default)
    }
    /// Holds the bus for `time`: a transaction's wait, or the pause between a poll's tries.
    /// The machine's clock, by default.
    fn wait(&mut self, time: Duration) {
        std::thread::sleep(time);
    }
    /// Now, on the clock [`Backend::wait`] keeps.
    fn now(&self) -> Instant {
        Instant::now()
    }
    /// Whether an operation may block the calling thread (in the kernel, or asleep for
    /// simulated wire time). Such a bus gets a thread of its own; one that never blocks runs
    /// on the server's own thread, which spares two thread switches per transaction.
    fn blocks(&self) -> bool {
        true
    }
}

impl Backend for SimBus {
    fn number(&self) -> u32 {
        SimBus::number(self)
    }

    fn name(&self) -> &str {
        SimBus::name(self)
    }

    fn funcs(&self) -> u64 {
        SimBus::funcs(self)
    }

    fn set_timeout(&mut self, timeout: Duration) -> Result<(), Errno> {
        SimBus::set_timeout(self, timeout);
        Ok(())
    }

    fn set_retries(&mut self, retries: u32) -> Result<(), Errno> {
        SimBus::set_retries(self, retries);
        Ok(())
    }

    fn execute(&mut self, op: &Op) -> Result<Reply, Failure> {
        SimBus::execute(self, op)
    }

    fn begin(&mut self, session: u128) {
        SimBus::begin(self, session);
    }

    fn wait(&mut self, time: Duration) {
        SimBus::wait(self, time);
    }

    fn now(&self) -> Instant {
        SimBus::now(self)
    }

    fn blocks(&self) -> bool {
        self.sleeps()
    }

    fn claims(&self) -> Claims {
        // The simulator's busy devices are fixed by its configuration.
        let (ten_bit, seven_bit): (Vec<_>, Vec<_>) = self.busy().into_iter().partition(|&(_, ten)| ten);
        let claimed = Claimed {
            seven_bit: seven_bit.into_iter().map(|(a, _)| a).collect(),
            ten_bit: ten_bit.into_iter().map(|(a, _)| a).collect(),
        };
        Arc::new(move || claimed.clone())
    }
}
