//! embedded-hal 1.0's `I2c`, blocking and async, for remote buses, and its digital pins for
//! remote lines: any driver crate written against them runs unchanged on the laptop against
//! the chip on the server's bus and lines.

use crate::error::{Error, Result};
use crate::{Bus, blocking};
use bytes::Bytes;
use embedded_hal::i2c::{self, ErrorKind, NoAcknowledgeSource, Operation, SevenBitAddress, TenBitAddress};
use smbus_proxy_wire::op::{MAX_MSG_LEN, msg_flags};
use smbus_proxy_wire::{Dir, Errno, Msg};

impl i2c::Error for Error {
    fn kind(&self) -> ErrorKind {
        self.errno().map_or(ErrorKind::Other, kind)
    }
}

/// What a kernel I2C fault code means to embedded-hal
/// (<https://docs.kernel.org/i2c/fault-codes.html>; the errno → kind table is
/// `smbus_proxy_wire::errno`).
pub fn kind(errno: Errno) -> ErrorKind {
    use smbus_proxy_wire::ErrorKind as K;
    match errno.kind() {
        K::NoAcknowledgeAddress => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address),
        K::NoAcknowledgeData => ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data),
        K::ArbitrationLoss => ErrorKind::ArbitrationLoss,
        K::Bus => ErrorKind::Bus,
        K::Other => ErrorKind::Other,
    }
}

/// embedded-hal's operations as I2C messages. Adjacent operations of one direction have no
/// repeated start between them, which on the wire is one message holding all their bytes,
/// so that is what they become: no adapter needs I2C_M_NOSTART for it.
fn messages(addr: u16, ten_bit: bool, ops: &[Operation<'_>]) -> Result<Vec<Msg>> {
    let flags = if ten_bit { msg_flags::TEN } else { 0 };
    let too_long = |len: usize| Error::Rejected {
        code: tonic::Code::InvalidArgument,
        message: format!(
            "{len} bytes without a repeated start are out of range 0–{MAX_MSG_LEN} for one I2C message"
        ),
    };
    let mut msgs: Vec<Msg> = Vec::with_capacity(ops.len());
    for op in ops {
        match (op, msgs.last_mut().map(|m| &mut m.dir)) {
            (Operation::Read(buf), Some(Dir::Read(n))) => {
                let len = usize::from(*n) + buf.len();
                *n = u16::try_from(len)
                    .ok()
                    .filter(|&n| usize::from(n) <= MAX_MSG_LEN)
                    .ok_or_else(|| too_long(len))?;
            }
            (Operation::Write(data), Some(Dir::Write(prev))) => {
                if prev.len() + data.len() > MAX_MSG_LEN {
                    return Err(too_long(prev.len() + data.len()));
                }
                *prev = [&prev[..], data].concat().into();
            }
            (Operation::Read(buf), _) => {
                let n = u16::try_from(buf.len()).ok().filter(|&n| usize::from(n) <= MAX_MSG_LEN);
                msgs.push(Msg { addr, flags, dir: Dir::Read(n.ok_or_else(|| too_long(buf.len()))?) });
            }
            (Operation::Write(data), _) => {
                if data.len() > MAX_MSG_LEN {
                    return Err(too_long(data.len()));
                }
                msgs.push(Msg { addr, flags, dir: Dir::Write(Bytes::copy_from_slice(data)) });
            }
        }
    }
    Ok(msgs)
}

/// Copies the bytes of the read messages back into the read operations' buffers.
fn scatter(reads: Vec<Bytes>, ops: &mut [Operation<'_>]) -> Result<()> {
    let mut reads = reads.into_iter();
    let mut current: Option<Bytes> = None;
    let mut previous_was_read = false;
    for op in ops {
        match op {
            Operation::Read(buf) => {
                if !previous_was_read {
                    current = reads.next();
                }
                let data =
                    current.as_mut().ok_or_else(|| Error::protocol("fewer reads than read messages"))?;
                if data.len() < buf.len() {
                    return Err(Error::protocol("a read shorter than asked"));
                }
                buf.copy_from_slice(&data.split_to(buf.len()));
                previous_was_read = true;
            }
            Operation::Write(_) => previous_was_read = false,
        }
    }
    Ok(())
}

async fn transaction(bus: &mut Bus, addr: u16, ten_bit: bool, ops: &mut [Operation<'_>]) -> Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let reads = bus.i2c_rdwr(messages(addr, ten_bit, ops)?).await?;
    scatter(reads, ops)
}

impl i2c::ErrorType for Bus {
    type Error = Error;
}

impl embedded_hal_async::i2c::I2c<SevenBitAddress> for Bus {
    async fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<()> {
        transaction(self, address.into(), false, operations).await
    }
}

impl embedded_hal_async::i2c::I2c<TenBitAddress> for Bus {
    async fn transaction(&mut self, address: u16, operations: &mut [Operation<'_>]) -> Result<()> {
        transaction(self, address, true, operations).await
    }
}

impl i2c::ErrorType for blocking::Bus {
    type Error = Error;
}

impl i2c::I2c<SevenBitAddress> for blocking::Bus {
    fn transaction(&mut self, address: u8, operations: &mut [Operation<'_>]) -> Result<()> {
        self.rt.block_on(transaction(&mut self.inner, address.into(), false, operations))
    }
}

impl i2c::I2c<TenBitAddress> for blocking::Bus {
    fn transaction(&mut self, address: u16, operations: &mut [Operation<'_>]) -> Result<()> {
        self.rt.block_on(transaction(&mut self.inner, address, true, operations))
    }
}

/// A line's errors are of no kind embedded-hal names: a line has no bus faults to tell.
impl embedded_hal::digital::Error for Error {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl embedded_hal::digital::ErrorType for blocking::Line {
    type Error = Error;
}

/// One round trip each, after the calls queued before it (pipelined, it returns once sent).
impl embedded_hal::digital::OutputPin for blocking::Line {
    fn set_low(&mut self) -> Result<()> {
        self.set(false)
    }

    fn set_high(&mut self) -> Result<()> {
        self.set(true)
    }
}

/// The level as last set, without a round trip.
impl embedded_hal::digital::StatefulOutputPin for blocking::Line {
    fn is_set_high(&mut self) -> Result<bool> {
        Ok(self.is_set())
    }

    fn is_set_low(&mut self) -> Result<bool> {
        Ok(!self.is_set())
    }
}

/// One round trip each.
impl embedded_hal::digital::InputPin for blocking::Line {
    fn is_high(&mut self) -> Result<bool> {
        self.get()
    }

    fn is_low(&mut self) -> Result<bool> {
        self.get().map(|v| !v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_operations_of_one_direction_become_one_message() {
        let (mut a, mut b) = ([0u8; 2], [0u8; 3]);
        let mut ops = [
            Operation::Write(&[1]),
            Operation::Write(&[2, 3]),
            Operation::Read(&mut a),
            Operation::Read(&mut b),
        ];
        let msgs = messages(0x50, false, &ops).unwrap();
        assert_eq!(msgs, [Msg::write(0x50, vec![1, 2, 3]), Msg::read(0x50, 5)]);
        scatter(vec![Bytes::from_static(&[9, 8, 7, 6, 5])], &mut ops).unwrap();
        assert_eq!((a, b), ([9, 8], [7, 6, 5]));
    }

    #[test]
    fn ten_bit_messages_carry_the_flag() {
        let msgs = messages(0x2A5, true, &[Operation::Write(&[0])]).unwrap();
        assert_eq!(msgs[0].flags, msg_flags::TEN);
    }

    #[test]
    fn merged_messages_never_wrap() {
        let (mut a, mut b) = (vec![0u8; 8000], vec![0u8; 8000]);
        let err = messages(0x50, false, &[Operation::Read(&mut a), Operation::Read(&mut b)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid argument: 16000 bytes without a repeated start are out of range 0–8192 for one I2C message"
        );
    }

    #[test]
    fn errno_kinds() {
        assert_eq!(kind(Errno::ENXIO), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        assert_eq!(kind(Errno::EREMOTEIO), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address));
        assert_eq!(kind(Errno::ENODEV), ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data));
        assert_eq!(kind(Errno::EAGAIN), ErrorKind::ArbitrationLoss);
        assert_eq!(kind(Errno::EIO), ErrorKind::Bus);
        assert_eq!(kind(Errno::EOPNOTSUPP), ErrorKind::Other);
    }
}
