//! SMBus commands as `I2C_SMBUS` takes them, both ways: a [`Command`] as the arguments and data
//! union the kernel is called with, and what the union holds afterwards as its [`Reply`]; and,
//! for a `/dev/i2c-N` in user space, a program's arguments and union as the [`Command`] they
//! ask for, and a [`Reply`] as the union the program reads back.
//!
//! The kernel's rules (drivers/i2c/i2c-dev.c, `i2cdev_ioctl_smbus`): a quick command and a
//! send byte pass no union; a word is in the host's byte order; a block is its length byte and
//! then the bytes; the I2C block read takes its length from the length byte, and the old
//! "broken" one always reads 32.

use crate::abi::{SMBUS_DATA_LEN, SMBUS_READ, SMBUS_WRITE, SmbusArgs, SmbusData, size};
use bytes::Bytes;
use smbus_proxy_wire::op::BLOCK_MAX;
use smbus_proxy_wire::{Command, Errno, Reply, Returns};

/// An SMBus command as the kernel is called with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// [`SMBUS_READ`] or [`SMBUS_WRITE`].
    pub read_write: u8,
    /// The command byte.
    pub command: u8,
    /// One of [`size`].
    pub size: u32,
    /// The union, filled in for what the call sends; the kernel writes what it reads here.
    pub data: SmbusData,
}

impl Call {
    /// The call that runs `command`. A block longer than the kernel's is EINVAL, never cut:
    /// decoding lets none through, and one built inside the process is refused here.
    pub fn new(command: &Command) -> Result<Call, Errno> {
        use Command as C;
        const R: u8 = SMBUS_READ;
        const W: u8 = SMBUS_WRITE;
        if command.block_len().is_some_and(|len| len > BLOCK_MAX) {
            return Err(Errno::EINVAL);
        }
        let mut data = [0; SMBUS_DATA_LEN];
        let mut block = |bytes: &[u8]| {
            data[0] = bytes.len() as u8;
            data[1..=bytes.len()].copy_from_slice(bytes);
        };
        let (read_write, command, size) = match *command {
            C::WriteQuick { bit } => (bit, 0, size::QUICK),
            C::ReadByte => (R, 0, size::BYTE),
            // A send byte carries its byte as the command.
            C::WriteByte { value } => (W, value, size::BYTE),
            C::ReadByteData { reg } => (R, reg, size::BYTE_DATA),
            C::WriteByteData { reg, value } => {
                data[0] = value;
                (W, reg, size::BYTE_DATA)
            }
            C::ReadWordData { reg } => (R, reg, size::WORD_DATA),
            C::WriteWordData { reg, value } => {
                data[..2].copy_from_slice(&value.to_ne_bytes());
                (W, reg, size::WORD_DATA)
            }
            C::ProcessCall { reg, value } => {
                data[..2].copy_from_slice(&value.to_ne_bytes());
                (W, reg, size::PROC_CALL)
            }
            C::ReadBlockData { reg } => (R, reg, size::BLOCK_DATA),
            C::WriteBlockData { reg, ref data } => {
                block(data);
                (W, reg, size::BLOCK_DATA)
            }
            C::BlockProcessCall { reg, ref data } => {
                block(data);
                (W, reg, size::BLOCK_PROC_CALL)
            }
            C::ReadI2cBlockData { reg, len } => {
                // The length wanted goes in the length byte.
                data[0] = len;
                (R, reg, size::I2C_BLOCK_DATA)
            }
            C::WriteI2cBlockData { reg, ref data } => {
                block(data);
                (W, reg, size::I2C_BLOCK_DATA)
            }
        };
        Ok(Call { read_write, command, size, data })
    }

    /// Whether the call passes the union (all but the quick command).
    pub fn passes_data(&self) -> bool {
        self.size != size::QUICK
    }

    /// What the call answered for `command`, read from the union. A block length outside
    /// 1–32 is the adapter's mistake: EPROTO, rather than bytes that were never read.
    pub fn reply(&self, command: &Command) -> Result<Reply, Errno> {
        Ok(match command.returns() {
            // A command never returns a line's value or edge.
            Returns::Done | Returns::Reads(_) | Returns::Level | Returns::Edge(_) => Reply::Done,
            Returns::Byte => Reply::Byte(self.data[0]),
            Returns::Word => Reply::Word(u16::from_ne_bytes([self.data[0], self.data[1]])),
            Returns::Block(_) => {
                let n = usize::from(self.data[0]);
                if !(1..=BLOCK_MAX).contains(&n) {
                    return Err(Errno::EPROTO);
                }
                Reply::Block(Bytes::copy_from_slice(&self.data[1..=n]))
            }
        })
    }
}

/// How a program's `I2C_SMBUS` uses its data union.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Union {
    /// The bytes of it the kernel copies: 1, 2, or the whole union.
    pub len: usize,
    /// Whether the kernel copies it in before the call.
    pub copies_in: bool,
    /// Whether it copies it back out after.
    pub copies_out: bool,
}

/// The union a program's `I2C_SMBUS` uses, if any: none for a quick command and a send byte.
/// A size or direction the kernel does not know is EINVAL.
pub fn union(args: &SmbusArgs) -> Result<Option<Union>, Errno> {
    if args.size > size::I2C_BLOCK_DATA || args.read_write > 1 {
        return Err(Errno::EINVAL);
    }
    let read = args.read_write == SMBUS_READ;
    if args.size == size::QUICK || (args.size == size::BYTE && !read) {
        return Ok(None);
    }
    let len = match args.size {
        size::BYTE | size::BYTE_DATA => 1,
        size::WORD_DATA | size::PROC_CALL => 2,
        _ => SMBUS_DATA_LEN,
    };
    let calls = matches!(args.size, size::PROC_CALL | size::BLOCK_PROC_CALL);
    Ok(Some(Union {
        len,
        copies_in: calls || args.size == size::I2C_BLOCK_DATA || !read,
        copies_out: calls || read,
    }))
}

/// The command a program's `I2C_SMBUS` asks for, given what it copied in of its union (empty
/// where it copies none). What the kernel refuses is EINVAL: an unknown size or direction, a
/// block of 0 or more than 32 bytes, or one longer than the bytes given.
pub fn requested(args: &SmbusArgs, union: &[u8]) -> Result<Command, Errno> {
    use Command as C;
    self::union(args)?;
    let (reg, read) = (args.command, args.read_write == SMBUS_READ);
    let byte = || union.first().copied().unwrap_or(0);
    let word = || u16::from_ne_bytes([byte(), union.get(1).copied().unwrap_or(0)]);
    let block = || {
        let n = usize::from(byte());
        union.get(1..1 + n).map(Bytes::copy_from_slice).ok_or(Errno::EINVAL)
    };
    let command = match (args.size, read) {
        (size::QUICK, _) => C::WriteQuick { bit: args.read_write },
        (size::BYTE, true) => C::ReadByte,
        (size::BYTE, false) => C::WriteByte { value: reg },
        (size::BYTE_DATA, true) => C::ReadByteData { reg },
        (size::BYTE_DATA, false) => C::WriteByteData { reg, value: byte() },
        (size::WORD_DATA, true) => C::ReadWordData { reg },
        (size::WORD_DATA, false) => C::WriteWordData { reg, value: word() },
        (size::PROC_CALL, _) => C::ProcessCall { reg, value: word() },
        (size::BLOCK_DATA, true) => C::ReadBlockData { reg },
        (size::BLOCK_DATA, false) => C::WriteBlockData { reg, data: block()? },
        (size::BLOCK_PROC_CALL, _) => C::BlockProcessCall { reg, data: block()? },
        // The broken variant reads 32 bytes, whatever the length byte says.
        (size::I2C_BLOCK_BROKEN, true) => C::ReadI2cBlockData { reg, len: BLOCK_MAX as u8 },
        (size::I2C_BLOCK_DATA, true) => C::ReadI2cBlockData { reg, len: byte() },
        (_, false) => C::WriteI2cBlockData { reg, data: block()? },
        _ => return Err(Errno::EINVAL),
    };
    // Lengths the remote bus would refuse are EINVAL, as the kernel answers more than 32.
    if command.block_len().is_some_and(|n| n == 0 || n > BLOCK_MAX) {
        return Err(Errno::EINVAL);
    }
    Ok(command)
}

/// `reply` as the `len` bytes of union the program reads back.
pub fn answer(reply: &Reply, len: usize) -> Vec<u8> {
    let mut union = vec![0; len];
    match reply {
        Reply::Byte(b) => union[0] = *b,
        Reply::Word(w) => union[..2].copy_from_slice(&w.to_ne_bytes()),
        Reply::Block(data) => {
            union[0] = data.len() as u8;
            union[1..1 + data.len()].copy_from_slice(data);
        }
        Reply::Done | Reply::Transfer(_) | Reply::Level(_) | Reply::Edge(_) => {}
    }
    union
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_command() -> Vec<Command> {
        use Command as C;
        let block = Bytes::from_static(&[1, 2, 3]);
        vec![
            C::WriteQuick { bit: 0 },
            C::WriteQuick { bit: 1 },
            C::ReadByte,
            C::WriteByte { value: 0x5a },
            C::ReadByteData { reg: 0x10 },
            C::WriteByteData { reg: 0x10, value: 0xa5 },
            C::ReadWordData { reg: 0x20 },
            C::WriteWordData { reg: 0x20, value: 0x1234 },
            C::ProcessCall { reg: 0x30, value: 0xbeef },
            C::ReadBlockData { reg: 0x40 },
            C::WriteBlockData { reg: 0x40, data: block.clone() },
            C::BlockProcessCall { reg: 0x50, data: block.clone() },
            C::ReadI2cBlockData { reg: 0x60, len: 7 },
            C::WriteI2cBlockData { reg: 0x60, data: block },
        ]
    }

    /// What the backend calls the kernel with is what the emulation reads back as the same
    /// command: the two directions agree for every command.
    #[test]
    fn every_command_goes_there_and_back() {
        for command in every_command() {
            let call = Call::new(&command).unwrap();
            let args =
                SmbusArgs { read_write: call.read_write, command: call.command, size: call.size, data: 1 };
            let union = match super::union(&args).unwrap() {
                Some(u) if u.copies_in => &call.data[..u.len],
                _ => &[][..],
            };
            assert_eq!(requested(&args, union), Ok(command.clone()), "{command:?}");
            assert_eq!(call.passes_data(), !matches!(command, Command::WriteQuick { .. }));
        }
    }

    /// A reply the emulation writes into a union reads back, from the backend's side, as
    /// that reply.
    #[test]
    fn replies_go_there_and_back() {
        let cases = [
            (Command::ReadByteData { reg: 0 }, Reply::Byte(0x42)),
            (Command::ProcessCall { reg: 0, value: 1 }, Reply::Word(0xa55a)),
            (Command::ReadBlockData { reg: 0 }, Reply::Block(Bytes::from_static(&[9; 32]))),
            (Command::WriteByteData { reg: 0, value: 1 }, Reply::Done),
        ];
        for (command, reply) in cases {
            let mut call = Call::new(&command).unwrap();
            let bytes = answer(&reply, SMBUS_DATA_LEN);
            call.data.copy_from_slice(&bytes);
            assert_eq!(call.reply(&command), Ok(reply));
        }
    }

    #[test]
    fn what_the_kernel_refuses() {
        let too_long = Command::WriteBlockData { reg: 0, data: Bytes::from_static(&[0; 33]) };
        assert_eq!(Call::new(&too_long), Err(Errno::EINVAL));
        let mut empty = Call::new(&Command::ReadBlockData { reg: 0 }).unwrap();
        empty.data[0] = 0;
        assert_eq!(empty.reply(&Command::ReadBlockData { reg: 0 }), Err(Errno::EPROTO));
        let args = |read_write, size| SmbusArgs { read_write, command: 0, size, data: 1 };
        assert_eq!(union(&args(2, size::BYTE)), Err(Errno::EINVAL));
        assert_eq!(union(&args(0, 9)), Err(Errno::EINVAL));
        // A block of none, of 33, or longer than what was copied in.
        assert_eq!(requested(&args(0, size::BLOCK_DATA), &[0; 34]), Err(Errno::EINVAL));
        assert_eq!(requested(&args(0, size::BLOCK_DATA), &[33; 34]), Err(Errno::EINVAL));
        assert_eq!(requested(&args(0, size::BLOCK_DATA), &[4, 1, 2]), Err(Errno::EINVAL));
        // The broken I2C block read is 32 bytes whatever the length byte says.
        assert_eq!(
            requested(&args(1, size::I2C_BLOCK_BROKEN), &[]),
            Ok(Command::ReadI2cBlockData { reg: 0, len: 32 })
        );
        assert_eq!(union(&args(1, size::QUICK)), Ok(None));
        assert_eq!(union(&args(0, size::BYTE)), Ok(None));
        assert_eq!(
            union(&args(1, size::I2C_BLOCK_DATA)),
            Ok(Some(Union { len: SMBUS_DATA_LEN, copies_in: true, copies_out: true }))
        );
    }
}
