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

use crate::error::{Error, Result};
use bytes::Bytes;
use smbus_proxy_wire::{Command, Msg, Op, Reply, Target};
use std::marker::PhantomData;

/// A value an operation returns.
pub trait FromReply: Sized {
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
    ops: Vec<Op>,
}

impl Batch {
    pub(crate) fn with_flags(flags: Target) -> Self {
        Batch { flags, ops: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub(crate) fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    fn push<T>(&mut self, op: Op) -> Slot<T> {
        self.ops.push(op);
        Slot { index: self.ops.len() - 1, kind: PhantomData }
    }

    fn smbus<T>(&mut self, addr: u16, command: Command) -> Slot<T> {
        self.push(Op::Smbus { target: Target { addr, ..self.flags }, command })
    }

    /// Any operation, as built by hand.
    pub fn op(&mut self, op: Op) -> usize {
        self.push::<()>(op).index
    }

    pub fn write_quick(&mut self, addr: u16) -> Slot<()> {
        self.smbus(addr, Command::WriteQuick { bit: 0 })
    }

    pub fn read_byte(&mut self, addr: u16) -> Slot<u8> {
        self.smbus(addr, Command::ReadByte)
    }

    pub fn write_byte(&mut self, addr: u16, value: u8) -> Slot<()> {
        self.smbus(addr, Command::WriteByte { value })
    }

    pub fn read_byte_data(&mut self, addr: u16, reg: u8) -> Slot<u8> {
        self.smbus(addr, Command::ReadByteData { reg })
    }

    pub fn write_byte_data(&mut self, addr: u16, reg: u8, value: u8) -> Slot<()> {
        self.smbus(addr, Command::WriteByteData { reg, value })
    }

    pub fn read_word_data(&mut self, addr: u16, reg: u8) -> Slot<u16> {
        self.smbus(addr, Command::ReadWordData { reg })
    }

    pub fn write_word_data(&mut self, addr: u16, reg: u8, value: u16) -> Slot<()> {
        self.smbus(addr, Command::WriteWordData { reg, value })
    }

    pub fn process_call(&mut self, addr: u16, reg: u8, value: u16) -> Slot<u16> {
        self.smbus(addr, Command::ProcessCall { reg, value })
    }

    pub fn read_block_data(&mut self, addr: u16, reg: u8) -> Slot<Bytes> {
        self.smbus(addr, Command::ReadBlockData { reg })
    }

    pub fn write_block_data(&mut self, addr: u16, reg: u8, data: &[u8]) -> Slot<()> {
        self.smbus(addr, Command::WriteBlockData { reg, data: Bytes::copy_from_slice(data) })
    }

    pub fn block_process_call(&mut self, addr: u16, reg: u8, data: &[u8]) -> Slot<Bytes> {
        self.smbus(addr, Command::BlockProcessCall { reg, data: Bytes::copy_from_slice(data) })
    }

    pub fn read_i2c_block_data(&mut self, addr: u16, reg: u8, len: u8) -> Slot<Bytes> {
        self.smbus(addr, Command::ReadI2cBlockData { reg, len })
    }

    pub fn write_i2c_block_data(&mut self, addr: u16, reg: u8, data: &[u8]) -> Slot<()> {
        self.smbus(addr, Command::WriteI2cBlockData { reg, data: Bytes::copy_from_slice(data) })
    }

    pub fn i2c_rdwr(&mut self, msgs: Vec<Msg>) -> Slot<Vec<Bytes>> {
        self.push(Op::Transfer(msgs))
    }
}

/// The results of a batch, one per operation.
#[derive(Clone, Debug)]
pub struct Results {
    replies: Vec<Reply>,
}

impl Results {
    /// Checks that each reply has the type its operation returns, so [`Results::get`] need not.
    pub(crate) fn new(ops: &[Op], replies: Vec<Reply>) -> Result<Results> {
        for (op, reply) in ops.iter().zip(&replies) {
            if std::mem::discriminant(reply) != std::mem::discriminant(&expected(op)) {
                return Err(Error::Protocol(format!("{} answered with {reply:?}", op.name())));
            }
        }
        Ok(Results { replies })
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

/// A reply of the type `op` returns (its value is irrelevant).
fn expected(op: &Op) -> Reply {
    match op {
        Op::Transfer(_) => Reply::Transfer(Vec::new()),
        Op::Smbus { command, .. } => match command {
            Command::ReadByte | Command::ReadByteData { .. } => Reply::Byte(0),
            Command::ReadWordData { .. } | Command::ProcessCall { .. } => Reply::Word(0),
            Command::ReadBlockData { .. }
            | Command::BlockProcessCall { .. }
            | Command::ReadI2cBlockData { .. } => Reply::Block(Bytes::new()),
            Command::WriteQuick { .. }
            | Command::WriteByte { .. }
            | Command::WriteByteData { .. }
            | Command::WriteWordData { .. }
            | Command::WriteBlockData { .. }
            | Command::WriteI2cBlockData { .. } => Reply::Done,
        },
    }
}
