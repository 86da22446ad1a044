//! Batches: several operations sent as one transaction, in one round trip, with typed results.
//!
//! ```no_run
//! # async fn f(bus: &mut smbus_proxy_client::Bus) -> smbus_proxy_client::Result<()> {
//! let mut batch = bus.batch();
//! let id = batch.read_byte_data(0x48, 0x00);
//! batch.write_byte_data(0x48, 0x01, 0x80);
//! let temp = batch.read_word_data(0x48, 0x02);
//! let results = bus.run(batch).await?;
//! println!("id {:#04x}, temperature {:#06x}", results.get(id), results.get(temp));
//! # Ok(()) }
//! ```

use crate::methods::smbus_methods;
use bytes::Bytes;
use smbus_proxy_wire::line::{Edges, LineEvent, LineStep};
use smbus_proxy_wire::{Command, Match, Msg, Op, Poll, Reply, Step, Target};
use std::marker::PhantomData;
use std::time::Duration;

/// A value an operation returns.
pub trait FromReply: Sized {
    /// The value in `reply`, if it is of this type.
    fn from_reply(reply: Reply) -> Option<Self>;
}

impl FromReply for () {
    fn from_reply(reply: Reply) -> Option<Self> {
        matches!(reply, Reply::Done).then_some(())
    }
}

impl FromReply for u8 {
    fn from_reply(reply: Reply) -> Option<Self> {
        if let Reply::Byte(b) = reply { Some(b) } else { None }
    }
}

impl FromReply for u16 {
    fn from_reply(reply: Reply) -> Option<Self> {
        if let Reply::Word(w) = reply { Some(w) } else { None }
    }
}

impl FromReply for Bytes {
    fn from_reply(reply: Reply) -> Option<Self> {
        if let Reply::Block(b) = reply { Some(b) } else { None }
    }
}

impl FromReply for Vec<Bytes> {
    fn from_reply(reply: Reply) -> Option<Self> {
        if let Reply::Transfer(reads) = reply { Some(reads) } else { None }
    }
}

impl FromReply for bool {
    fn from_reply(reply: Reply) -> Option<Self> {
        if let Reply::Level(v) = reply { Some(v) } else { None }
    }
}

impl FromReply for LineEvent {
    fn from_reply(reply: Reply) -> Option<Self> {
        if let Reply::Edge(e) = reply { Some(*e) } else { None }
    }
}

/// Where an operation's result will be in the [`Results`], and of which type.
#[derive(Debug)]
pub struct Slot<T> {
    index: usize,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Slot<T> {}

impl<T> Slot<T> {
    /// The operation's index in the transaction.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Operations to send as one transaction. Build it with [`crate::Bus::batch`] so its SMBus
/// operations carry the bus's PEC, force and 10-bit settings.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    flags: Target,
    steps: Vec<Step>,
}

impl Batch {
    pub(crate) fn with_flags(flags: Target) -> Self {
        Batch { flags, steps: Vec::new() }
    }

    /// How many steps (operations, waits, polls) the batch holds.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether the batch holds nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub(crate) fn into_steps(self) -> Vec<Step> {
        self.steps
    }

    fn push<T>(&mut self, step: Step) -> Slot<T> {
        self.steps.push(step);
        Slot { index: self.steps.len() - 1, kind: PhantomData }
    }

    fn smbus<T>(&mut self, addr: u16, command: Command) -> Slot<T> {
        self.push(Step::Op(Op::Smbus { target: Target { addr, ..self.flags }, command }))
    }

    /// Any operation, as built by hand.
    pub fn op(&mut self, op: Op) -> usize {
        self.push::<()>(Step::Op(op)).index
    }

    /// A combined I2C transfer (I2C_RDWR); its result is the bytes of each read message.
    pub fn i2c_rdwr(&mut self, msgs: Vec<Msg>) -> Slot<Vec<Bytes>> {
        self.push(Step::Op(Op::Transfer(msgs)))
    }

    /// Holds the bus for `time` before the next step: a conversion time, timed on the bus
    /// instead of across the network. The server limits a transaction's waiting (1 s unless
    /// it says otherwise).
    pub fn wait(&mut self, time: Duration) -> Slot<()> {
        self.push(Step::Wait(time))
    }

    /// Drives a GPIO line the session holds ([`crate::Bus::line`]) to the logical `value`.
    pub fn set_line(&mut self, line: &str, value: bool) -> Slot<()> {
        self.push(Step::Line(LineStep::Set { line: line.to_owned(), value }))
    }

    /// Reads a line the session holds: its logical value.
    pub fn get_line(&mut self, line: &str) -> Slot<bool> {
        self.push(Step::Line(LineStep::Get { line: line.to_owned() }))
    }

    /// Waits for an edge among `edge` on a line the session holds with edge detection, for
    /// at most `timeout`; the result is the edge. A transaction with bus operations holds the
    /// bus while it waits, and its waits count towards the server's limit (1 s unless it says
    /// otherwise); one of line steps alone waits without the bus, up to 60 s.
    pub fn wait_edge(&mut self, line: &str, edge: Edges, timeout: Duration) -> Slot<LineEvent> {
        self.push(Step::Line(LineStep::WaitEdge { line: line.to_owned(), edge, timeout }))
    }

    /// Waits until a line the session holds with edge detection has the logical `value`: at
    /// once if it has it now.
    pub fn wait_level(&mut self, line: &str, value: bool, timeout: Duration) -> Slot<bool> {
        self.push(Step::Line(LineStep::WaitLevel { line: line.to_owned(), value, timeout }))
    }

    /// ACK polling: an empty write to `addr`, `interval` apart, until the device
    /// acknowledges (an EEPROM whose write cycle is over), for at most `timeout`; past it, the
    /// transaction fails with ETIMEDOUT.
    pub fn poll_ack(&mut self, addr: u16, interval: Duration, timeout: Duration) -> Slot<()> {
        let op = Op::Smbus { target: Target { addr, ..self.flags }, command: Command::WriteQuick { bit: 0 } };
        self.push(Step::Poll(Poll { op, interval, timeout, until: None }))
    }

    /// `read_byte_data(addr, reg)`, `interval` apart, until `byte & mask == value` (a status
    /// bit), for at most `timeout`; the result is the byte that matched.
    pub fn poll_byte_data(
        &mut self,
        addr: u16,
        reg: u8,
        until: Match,
        interval: Duration,
        timeout: Duration,
    ) -> Slot<u8> {
        self.poll_until(addr, Command::ReadByteData { reg }, until, interval, timeout)
    }

    /// `read_word_data(addr, reg)`, `interval` apart, until `word & mask == value`, for at
    /// most `timeout`; the result is the word that matched.
    pub fn poll_word_data(
        &mut self,
        addr: u16,
        reg: u8,
        until: Match,
        interval: Duration,
        timeout: Duration,
    ) -> Slot<u16> {
        self.poll_until(addr, Command::ReadWordData { reg }, until, interval, timeout)
    }

    fn poll_until<T>(
        &mut self,
        addr: u16,
        command: Command,
        until: Match,
        interval: Duration,
        timeout: Duration,
    ) -> Slot<T> {
        let op = Op::Smbus { target: Target { addr, ..self.flags }, command };
        self.push(Step::Poll(Poll { op, interval, timeout, until: Some(until) }))
    }

    /// Any operation polled, as built by hand: its result is the last try's.
    pub fn poll(&mut self, poll: Poll) -> usize {
        self.push::<()>(Step::Poll(poll)).index
    }
}

/// Generates the batch's methods from [`smbus_methods`]: each queues its command and returns
/// the slot of its result.
macro_rules! batch_methods {
    ($( $(#[doc = $doc:literal])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $command:expr; )*) => {
        impl Batch {
            $(
                $(#[doc = $doc])*
                pub fn $name(&mut self, addr: u16 $(, $arg: $ty)*) -> Slot<$ret> {
                    self.smbus(addr, $command)
                }
            )*
        }
    };
}

smbus_methods!(batch_methods);

/// The results of a batch, one per operation.
#[derive(Clone, Debug)]
pub struct Results {
    replies: Vec<Reply>,
}

impl Results {
    /// The replies, which [`crate::Bus::execute`] checked against their operations' shapes, so
    /// [`Results::get`] need not.
    pub(crate) fn new(replies: Vec<Reply>) -> Results {
        Results { replies }
    }

    /// The result in `slot`.
    ///
    /// # Panics
    /// If `slot` came from another batch and does not fit this one.
    pub fn get<T: FromReply>(&self, slot: Slot<T>) -> T {
        self.replies
            .get(slot.index)
            .cloned()
            .and_then(T::from_reply)
            .unwrap_or_else(|| panic!("slot {} belongs to another batch", slot.index))
    }

    /// Every reply, in order.
    pub fn replies(&self) -> &[Reply] {
        &self.replies
    }
}
