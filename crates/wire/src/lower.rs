//! An operation as the I2C messages it puts on the wire: the one place that knows which
//! messages each SMBus command is, for the simulator that runs them and the capture that
//! shows them.
//!
//! The messages are those of the kernel's `i2c_smbus_xfer_emulated` (drivers/i2c/i2c-core-smbus.c),
//! which is what an adapter without native SMBus sends, and what one with it sends too: a
//! write of the command byte and the data, then, for a command that answers, a read after a
//! repeated start. PEC is left out: it is a byte computed over the others, which
//! [`pec`] computes and only a capture needs.

use crate::op::{Command, Dir, Msg, Op, Reply, Target, msg_flags};
use bytes::Bytes;
use std::borrow::Cow;

impl Op {
    /// The I2C messages this operation is on the wire, in order: a transfer's own, or those
    /// of an SMBus command.
    pub fn messages(&self) -> Cow<'_, [Msg]> {
        match self {
            Op::Smbus { target, command } => Cow::Owned(command.messages(target)),
            Op::Transfer(msgs) => Cow::Borrowed(msgs),
        }
    }

    /// The bytes each read message of [`Op::messages`] returned, given the reply: the
    /// inverse of [`Command::reply_from`]. `None` if the reply is not this operation's.
    pub fn reads(&self, reply: &Reply) -> Option<Vec<Bytes>> {
        if !reply.fits(self.returns()) {
            return None;
        }
        let Op::Smbus { command, .. } = self else {
            let Reply::Transfer(reads) = reply else { return None };
            return Some(reads.clone());
        };
        let one = |b: &[u8]| vec![Bytes::copy_from_slice(b)];
        Some(match reply {
            Reply::Done if matches!(command, Command::WriteQuick { bit: 1 }) => vec![Bytes::new()],
            Reply::Done | Reply::Transfer(_) | Reply::Level(_) | Reply::Edge(_) => Vec::new(),
            Reply::Byte(b) => one(&[*b]),
            Reply::Word(w) => one(&w.to_le_bytes()),
            // A counted read starts with its count; block lengths are 1–32, so it fits its byte.
            Reply::Block(data)
                if matches!(command, Command::ReadBlockData { .. } | Command::BlockProcessCall { .. }) =>
            {
                one(&[&[data.len() as u8][..], data].concat())
            }
            Reply::Block(data) => vec![data.clone()],
        })
    }
}

impl Command {
    /// The messages `i2c_smbus_xfer_emulated` sends for this command to `target`.
    pub fn messages(&self, target: &Target) -> Vec<Msg> {
        let flags = if target.ten_bit { msg_flags::TEN } else { 0 };
        let write = |data: Vec<u8>| Msg { addr: target.addr, flags, dir: Dir::Write(data.into()) };
        let read = |len: u16| Msg { addr: target.addr, flags, dir: Dir::Read(len) };
        let counted = Msg { addr: target.addr, flags: flags | msg_flags::RECV_LEN, dir: Dir::Read(0) };
        // Block lengths are 1–32, checked when the command was made.
        let block = |reg: u8, data: &[u8]| [&[reg, data.len() as u8][..], data].concat();
        let word = |reg: u8, value: u16| {
            let [lo, hi] = value.to_le_bytes();
            vec![reg, lo, hi]
        };
        match self {
            // The address alone: the acknowledge is the whole answer.
            Command::WriteQuick { bit: 0 } => vec![write(Vec::new())],
            Command::WriteQuick { .. } => vec![read(0)],
            Command::ReadByte => vec![read(1)],
            Command::WriteByte { value } => vec![write(vec![*value])],
            Command::ReadByteData { reg } => vec![write(vec![*reg]), read(1)],
            Command::WriteByteData { reg, value } => vec![write(vec![*reg, *value])],
            Command::ReadWordData { reg } => vec![write(vec![*reg]), read(2)],
            Command::WriteWordData { reg, value } => vec![write(word(*reg, *value))],
            Command::ProcessCall { reg, value } => vec![write(word(*reg, *value)), read(2)],
            Command::ReadBlockData { reg } => vec![write(vec![*reg]), counted],
            Command::WriteBlockData { reg, data } => vec![write(block(*reg, data))],
            Command::BlockProcessCall { reg, data } => vec![write(block(*reg, data)), counted],
            Command::ReadI2cBlockData { reg, len } => vec![write(vec![*reg]), read(u16::from(*len))],
            Command::WriteI2cBlockData { reg, data } => vec![write([&[*reg][..], data].concat())],
        }
    }

    /// The command's reply from what its read message returned (see [`Command::messages`]):
    /// a counted read's first byte is the count, which the reply leaves out. `None` if
    /// `reads` do not fit the messages.
    pub fn reply_from(&self, reads: &[Bytes]) -> Option<Reply> {
        let read = match reads {
            [] => return (self.returns() == crate::Returns::Done).then_some(Reply::Done),
            [read] => read,
            _ => return None,
        };
        match self {
            Command::WriteQuick { bit: 1 } if read.is_empty() => Some(Reply::Done),
            Command::ReadByte | Command::ReadByteData { .. } => match read[..] {
                [b] => Some(Reply::Byte(b)),
                _ => None,
            },
            Command::ReadWordData { .. } | Command::ProcessCall { .. } => match read[..] {
                [lo, hi] => Some(Reply::Word(u16::from_le_bytes([lo, hi]))),
                _ => None,
            },
            Command::ReadBlockData { .. } | Command::BlockProcessCall { .. } => {
                (read.first().map(|&n| usize::from(n) + 1) == Some(read.len()))
                    .then(|| Reply::Block(read.slice(1..)))
            }
            Command::ReadI2cBlockData { len, .. } => {
                (read.len() == usize::from(*len)).then(|| Reply::Block(read.clone()))
            }
            _ => None,
        }
    }
}

/// Whether the kernel adds a PEC byte to this command: every one but the quick command and
/// the I2C block commands, which have no PEC in the SMBus specification.
pub fn has_pec(command: &Command) -> bool {
    !matches!(
        command,
        Command::WriteQuick { .. } | Command::ReadI2cBlockData { .. } | Command::WriteI2cBlockData { .. }
    )
}

/// SMBus Packet Error Code: CRC-8 with polynomial x⁸ + x² + x + 1 over every byte of the
/// transaction, address bytes (with their R/W bit) included (SMBus 3.0 §6.4).
pub fn pec(bytes: impl IntoIterator<Item = u8>) -> u8 {
    bytes.into_iter().fold(0, |crc, byte| {
        (0..8).fold(crc ^ byte, |c, _| if c & 0x80 != 0 { (c << 1) ^ 0x07 } else { c << 1 })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_command() -> Vec<(Command, Reply)> {
        let data = Bytes::from_static(&[1, 2, 3]);
        vec![
            (Command::WriteQuick { bit: 0 }, Reply::Done),
            (Command::WriteQuick { bit: 1 }, Reply::Done),
            (Command::ReadByte, Reply::Byte(7)),
            (Command::WriteByte { value: 7 }, Reply::Done),
            (Command::ReadByteData { reg: 1 }, Reply::Byte(7)),
            (Command::WriteByteData { reg: 1, value: 7 }, Reply::Done),
            (Command::ReadWordData { reg: 1 }, Reply::Word(0x1234)),
            (Command::WriteWordData { reg: 1, value: 0x1234 }, Reply::Done),
            (Command::ProcessCall { reg: 1, value: 0x1234 }, Reply::Word(0x5678)),
            (Command::ReadBlockData { reg: 1 }, Reply::Block(data.clone())),
            (Command::WriteBlockData { reg: 1, data: data.clone() }, Reply::Done),
            (Command::BlockProcessCall { reg: 1, data: data.clone() }, Reply::Block(data.clone())),
            (Command::ReadI2cBlockData { reg: 1, len: 3 }, Reply::Block(data.clone())),
            (Command::WriteI2cBlockData { reg: 1, data }, Reply::Done),
        ]
    }

    #[test]
    fn reads_and_replies_are_inverse_for_every_command() {
        for (command, reply) in every_command() {
            let op = Op::smbus(0x48, command.clone());
            let reads = op.reads(&reply).unwrap_or_else(|| panic!("{op}: {reply}"));
            let read_msgs = op.messages().iter().filter(|m| matches!(m.dir, Dir::Read(_))).count();
            assert_eq!(reads.len(), read_msgs, "{op}");
            assert_eq!(command.reply_from(&reads), Some(reply), "{op}");
        }
    }

    #[test]
    fn messages_as_the_kernel_sends_them() {
        let t = Target { addr: 0x50, ten_bit: true, ..Target::default() };
        let msgs = Command::ProcessCall { reg: 2, value: 0xBEEF }.messages(&t);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].dir, Dir::Write(Bytes::from_static(&[2, 0xEF, 0xBE])));
        assert_eq!((msgs[1].dir.clone(), msgs[1].flags), (Dir::Read(2), msg_flags::TEN));
        let block = Command::WriteBlockData { reg: 9, data: Bytes::from_static(&[5, 6]) };
        assert_eq!(block.messages(&Target::new(0x50))[0].dir, Dir::Write(Bytes::from_static(&[9, 2, 5, 6])));
        assert!(Command::ReadBlockData { reg: 0 }.messages(&Target::new(0x50))[1].counted());
    }

    #[test]
    fn replies_that_do_not_fit_are_refused() {
        assert_eq!(Command::ReadByte.reply_from(&[Bytes::from_static(&[1, 2])]), None);
        assert_eq!(Command::ReadBlockData { reg: 0 }.reply_from(&[Bytes::from_static(&[3, 1])]), None);
        assert_eq!(Op::smbus(0x48, Command::ReadByte).reads(&Reply::Word(1)), None);
    }

    #[test]
    fn pec_matches_the_smbus_check_value() {
        // CRC-8/SMBUS's check value over the ASCII digits 1–9.
        assert_eq!(pec(*b"123456789"), 0xF4);
        assert_eq!(pec([]), 0);
    }
}
