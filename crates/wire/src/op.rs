//! The operation model: what a client can ask of a bus, and what comes back.
//!
//! These types are the validated form of the wire messages: holding an [`Op`] means every
//! argument is in range, so backends never check arguments again. The limits are the kernel's.

use crate::funcs;
use bytes::Bytes;

/// Most data bytes in an SMBus block (`I2C_SMBUS_BLOCK_MAX`).
pub const BLOCK_MAX: usize = 32;
/// Most messages in one I2C_RDWR transfer (`I2C_RDWR_IOCTL_MAX_MSGS`).
pub const MAX_MSGS: usize = 42;
/// Most bytes in one I2C_RDWR message (i2c-dev's limit).
pub const MAX_MSG_LEN: usize = 8192;
/// Most operations in one transaction.
pub const MAX_OPS: usize = 1024;
/// The largest pipelining window, transactions a client sends before it waits for the first
/// answer: the answers of that many of the largest transactions of writes stay well within
/// what HTTP/2 buffers while the client is still sending. A server keeps the outcomes of that
/// many of a session's numbered transactions.
pub const MAX_PIPELINE: usize = 256;
/// The largest message a server may be configured to accept and send (its default is 4 MiB).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Highest 7-bit address.
pub const MAX_ADDR_7: u16 = 0x7F;
/// Highest 10-bit address.
pub const MAX_ADDR_10: u16 = 0x3FF;

/// The device an SMBus operation talks to, and how.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Target {
    /// The device's address: 7-bit, or 10-bit with `ten_bit`.
    pub addr: u16,
    /// 10-bit addressing (`I2C_TENBIT`).
    pub ten_bit: bool,
    /// Packet error checking (`I2C_PEC`).
    pub pec: bool,
    /// Claim the address even if a kernel driver owns it (`I2C_SLAVE_FORCE`).
    pub force: bool,
}

impl Target {
    /// The device at `addr`, 7-bit, without PEC or force.
    pub fn new(addr: u16) -> Self {
        Target { addr, ..Target::default() }
    }
}

/// One SMBus command, named as in smbus2 and the kernel's `i2c_smbus_*` helpers. `reg` is the
/// command byte the device reads as a register number; blocks are 1–32 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The address alone, with the R/W bit `bit` (0 = write, 1 = read).
    WriteQuick {
        /// The R/W bit: 0 or 1.
        bit: u8,
    },
    /// A byte from the device, with no register.
    ReadByte,
    /// A byte to the device, with no register.
    WriteByte {
        /// The byte.
        value: u8,
    },
    /// The byte at a register.
    ReadByteData {
        /// The register.
        reg: u8,
    },
    /// A byte to a register.
    WriteByteData {
        /// The register.
        reg: u8,
        /// The byte.
        value: u8,
    },
    /// The 16-bit word at a register, low byte first on the wire.
    ReadWordData {
        /// The register.
        reg: u8,
    },
    /// A 16-bit word to a register, low byte first on the wire.
    WriteWordData {
        /// The register.
        reg: u8,
        /// The word.
        value: u16,
    },
    /// A word to a register, and the device's word in answer.
    ProcessCall {
        /// The register.
        reg: u8,
        /// The word sent.
        value: u16,
    },
    /// The device sends the byte count (1–32).
    ReadBlockData {
        /// The register.
        reg: u8,
    },
    /// A block to a register, its byte count first.
    WriteBlockData {
        /// The register.
        reg: u8,
        /// The block.
        data: Bytes,
    },
    /// A block to a register, and the device's block in answer.
    BlockProcessCall {
        /// The register.
        reg: u8,
        /// The block sent.
        data: Bytes,
    },
    /// `len` bytes from a register on, with no byte count on the wire.
    ReadI2cBlockData {
        /// The first register.
        reg: u8,
        /// How many bytes, 1–32.
        len: u8,
    },
    /// Bytes from a register on, with no byte count on the wire.
    WriteI2cBlockData {
        /// The first register.
        reg: u8,
        /// The bytes.
        data: Bytes,
    },
}

impl Command {
    /// The functionality bit (`I2C_FUNC_*`) an adapter needs for this command.
    pub fn required_func(&self) -> u64 {
        match self {
            Command::WriteQuick { .. } => funcs::SMBUS_QUICK,
            Command::ReadByte => funcs::SMBUS_READ_BYTE,
            Command::WriteByte { .. } => funcs::SMBUS_WRITE_BYTE,
            Command::ReadByteData { .. } => funcs::SMBUS_READ_BYTE_DATA,
            Command::WriteByteData { .. } => funcs::SMBUS_WRITE_BYTE_DATA,
            Command::ReadWordData { .. } => funcs::SMBUS_READ_WORD_DATA,
            Command::WriteWordData { .. } => funcs::SMBUS_WRITE_WORD_DATA,
            Command::ProcessCall { .. } => funcs::SMBUS_PROC_CALL,
            Command::ReadBlockData { .. } => funcs::SMBUS_READ_BLOCK_DATA,
            Command::WriteBlockData { .. } => funcs::SMBUS_WRITE_BLOCK_DATA,
            Command::BlockProcessCall { .. } => funcs::SMBUS_BLOCK_PROC_CALL,
            Command::ReadI2cBlockData { .. } => funcs::SMBUS_READ_I2C_BLOCK,
            Command::WriteI2cBlockData { .. } => funcs::SMBUS_WRITE_I2C_BLOCK,
        }
    }

    /// What this command returns: its one reply shape.
    pub fn returns(&self) -> Returns<'_> {
        match self {
            Command::ReadByte | Command::ReadByteData { .. } => Returns::Byte,
            Command::ReadWordData { .. } | Command::ProcessCall { .. } => Returns::Word,
            Command::ReadBlockData { .. } | Command::BlockProcessCall { .. } => Returns::Block(BLOCK_MAX),
            Command::ReadI2cBlockData { len, .. } => Returns::Block(usize::from(*len)),
            Command::WriteQuick { .. }
            | Command::WriteByte { .. }
            | Command::WriteByteData { .. }
            | Command::WriteWordData { .. }
            | Command::WriteBlockData { .. }
            | Command::WriteI2cBlockData { .. } => Returns::Done,
        }
    }

    /// The length of the block this command writes or asks for, which must be at most
    /// [`BLOCK_MAX`]; `None` for the commands without one.
    pub fn block_len(&self) -> Option<usize> {
        match self {
            Command::WriteBlockData { data, .. }
            | Command::BlockProcessCall { data, .. }
            | Command::WriteI2cBlockData { data, .. } => Some(data.len()),
            Command::ReadI2cBlockData { len, .. } => Some(usize::from(*len)),
            Command::WriteQuick { .. }
            | Command::ReadByte
            | Command::WriteByte { .. }
            | Command::ReadByteData { .. }
            | Command::WriteByteData { .. }
            | Command::ReadWordData { .. }
            | Command::WriteWordData { .. }
            | Command::ProcessCall { .. }
            | Command::ReadBlockData { .. } => None,
        }
    }

    /// The smbus2 name of this command, for logs and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Command::WriteQuick { .. } => "write_quick",
            Command::ReadByte => "read_byte",
            Command::WriteByte { .. } => "write_byte",
            Command::ReadByteData { .. } => "read_byte_data",
            Command::WriteByteData { .. } => "write_byte_data",
            Command::ReadWordData { .. } => "read_word_data",
            Command::WriteWordData { .. } => "write_word_data",
            Command::ProcessCall { .. } => "process_call",
            Command::ReadBlockData { .. } => "read_block_data",
            Command::WriteBlockData { .. } => "write_block_data",
            Command::BlockProcessCall { .. } => "block_process_call",
            Command::ReadI2cBlockData { .. } => "read_i2c_block_data",
            Command::WriteI2cBlockData { .. } => "write_i2c_block_data",
        }
    }
}

/// `I2C_M_*` message flags from `linux/i2c.h`.
pub mod msg_flags {
    /// A read; set from [`super::Dir`], never by hand.
    pub const RD: u16 = 0x0001;
    /// A 10-bit address.
    pub const TEN: u16 = 0x0010;
    /// The device sends the length first (an SMBus block read).
    pub const RECV_LEN: u16 = 0x0400;
    /// Do not acknowledge the bytes read.
    pub const NO_RD_ACK: u16 = 0x0800;
    /// Go on when the device does not acknowledge.
    pub const IGNORE_NAK: u16 = 0x1000;
    /// Send the R/W bit inverted.
    pub const REV_DIR_ADDR: u16 = 0x2000;
    /// No (repeated) start before this message: it continues the one before.
    pub const NOSTART: u16 = 0x4000;
    /// A stop after this message.
    pub const STOP: u16 = 0x8000;
    /// The modifiers a client may set; the direction comes from [`super::Dir`]. RECV_LEN
    /// only on a read of length 0: the device gives the length.
    pub const ALLOWED: u16 = TEN | RECV_LEN | NO_RD_ACK | IGNORE_NAK | REV_DIR_ADDR | NOSTART | STOP;
}

/// The direction and payload of one I2C message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Read this many bytes; with [`msg_flags::RECV_LEN`], 0, and the device's first byte
    /// gives the count of bytes that follow (1–32): an SMBus block read inside a transfer.
    Read(u16),
    /// Write these bytes.
    Write(Bytes),
}

/// One message of a combined I2C transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The device's address, 7-bit, or 10-bit with [`msg_flags::TEN`].
    pub addr: u16,
    /// `I2C_M_*` modifiers from [`msg_flags::ALLOWED`]; never `I2C_M_RD`.
    pub flags: u16,
    /// Read or write, and what.
    pub dir: Dir,
}

impl Msg {
    /// A read of `len` bytes from `addr`.
    pub fn read(addr: u16, len: u16) -> Self {
        Msg { addr, flags: 0, dir: Dir::Read(len) }
    }

    /// A write of `data` to `addr`.
    pub fn write(addr: u16, data: impl Into<Bytes>) -> Self {
        Msg { addr, flags: 0, dir: Dir::Write(data.into()) }
    }

    /// A read whose length the device sends first (`I2C_M_RECV_LEN`); it returns that count
    /// byte and the bytes after it.
    pub fn read_counted(addr: u16) -> Self {
        Msg { addr, flags: msg_flags::RECV_LEN, dir: Dir::Read(0) }
    }

    /// Whether the address is 10-bit ([`msg_flags::TEN`]).
    pub fn ten_bit(&self) -> bool {
        self.flags & msg_flags::TEN != 0
    }

    /// Whether the device gives this read's length (`I2C_M_RECV_LEN`).
    pub fn counted(&self) -> bool {
        self.flags & msg_flags::RECV_LEN != 0
    }
}

/// What an operation sends to a device besides addresses, from least to most; see
/// [`Op::sends`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sends {
    /// Addresses only: a quick read, a bare-byte read, plain I2C reads.
    Nothing,
    /// A register number (one or two bytes), then a read from that register.
    Register,
    /// Bytes the device may act on or store.
    Data,
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// One SMBus command.
    Smbus {
        /// The device, and how to address it.
        target: Target,
        /// The command.
        command: Command,
    },
    /// A combined transfer (I2C_RDWR): messages joined by repeated starts.
    Transfer(Vec<Msg>),
}

impl Op {
    /// `command` to the 7-bit `addr`, without PEC or force.
    pub fn smbus(addr: u16, command: Command) -> Self {
        Op::Smbus { target: Target::new(addr), command }
    }

    /// The functionality an adapter needs to run this operation as it stands.
    pub fn required_func(&self) -> u64 {
        match self {
            Op::Smbus { target, command } => {
                let mut f = command.required_func();
                if target.pec {
                    f |= funcs::SMBUS_PEC;
                }
                if target.ten_bit {
                    f |= funcs::TEN_BIT_ADDR;
                }
                f
            }
            Op::Transfer(msgs) => {
                let mut f = funcs::I2C;
                for m in msgs {
                    if m.ten_bit() {
                        f |= funcs::TEN_BIT_ADDR;
                    }
                    if m.flags & msg_flags::NOSTART != 0 {
                        f |= funcs::NOSTART;
                    }
                    // Adapters that can take the length from the device say so with the
                    // SMBus block read bit, which the kernel emulates with RECV_LEN.
                    if m.counted() {
                        f |= funcs::SMBUS_READ_BLOCK_DATA;
                    }
                    if m.flags & (msg_flags::NO_RD_ACK | msg_flags::IGNORE_NAK | msg_flags::REV_DIR_ADDR) != 0
                    {
                        f |= funcs::PROTOCOL_MANGLING;
                    }
                }
                f
            }
        }
    }

    /// What this operation sends to a device beyond addresses: what a read-only policy must
    /// judge. An SMBus "read" with a command byte still writes that byte, and some devices
    /// act on a command byte alone, so only the address-only and bare-byte reads send nothing.
    pub fn sends(&self) -> Sends {
        match self {
            Op::Smbus { command, .. } => match command {
                // Every command by name: a new one must say what it sends before it compiles.
                Command::ReadByte => Sends::Nothing,
                // The R/W bit is all a quick command sends: 1 reads, 0 writes.
                Command::WriteQuick { bit } => {
                    if *bit == 1 {
                        Sends::Nothing
                    } else {
                        Sends::Data
                    }
                }
                Command::ReadByteData { .. }
                | Command::ReadWordData { .. }
                | Command::ReadBlockData { .. }
                | Command::ReadI2cBlockData { .. } => Sends::Register,
                Command::WriteByte { .. }
                | Command::WriteByteData { .. }
                | Command::WriteWordData { .. }
                | Command::ProcessCall { .. }
                | Command::WriteBlockData { .. }
                | Command::BlockProcessCall { .. }
                | Command::WriteI2cBlockData { .. } => Sends::Data,
            },
            Op::Transfer(msgs) => {
                let mut sends = Sends::Nothing;
                for (i, m) in msgs.iter().enumerate() {
                    let Dir::Write(data) = &m.dir else { continue };
                    // A register pointer: one or two bytes, then a read of the same device
                    // after a repeated start. Anything else stays written.
                    let pointer = data.len() <= 2
                        && msgs.get(i + 1).is_some_and(|next| {
                            matches!(next.dir, Dir::Read(_))
                                && next.addr == m.addr
                                && next.ten_bit() == m.ten_bit()
                        });
                    sends = sends.max(if pointer { Sends::Register } else { Sends::Data });
                }
                sends
            }
        }
    }

    /// What this operation returns: its one reply shape.
    pub fn returns(&self) -> Returns<'_> {
        match self {
            Op::Smbus { command, .. } => command.returns(),
            Op::Transfer(msgs) => Returns::Reads(msgs),
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Smbus { command, .. } => command.name(),
            Op::Transfer(_) => "transfer",
        }
    }

    /// The devices it talks to, as (address, 10-bit): the target, or each message's in order
    /// (a transfer may name a device more than once). What the policy checks, the monitor
    /// filters by, and a replay answers for.
    pub fn addresses(&self) -> impl Iterator<Item = (u16, bool)> + '_ {
        let (one, many) = match self {
            Op::Smbus { target, .. } => (Some((target.addr, target.ten_bit)), None),
            Op::Transfer(msgs) => (None, Some(msgs.iter().map(|m| (m.addr, m.ten_bit())))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// The device it is for, as messages name it: the first of its [`Op::addresses`] (none for
    /// a transfer of no messages, which no server runs).
    pub fn device(&self) -> Option<u16> {
        self.addresses().next().map(|(addr, _)| addr)
    }
}

/// The shape of an operation's [`Reply`], from [`Op::returns`]: the one description of what
/// each command answers, which the server's bound on a reply's size and a client's check of
/// the reply it got both use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns<'a> {
    /// [`Reply::Done`].
    Done,
    /// [`Reply::Byte`].
    Byte,
    /// [`Reply::Word`].
    Word,
    /// [`Reply::Block`] of at most this many bytes.
    Block(usize),
    /// [`Reply::Transfer`]: the bytes of each read message among these, in order.
    Reads(&'a [Msg]),
    /// [`Reply::Level`].
    Level,
    /// [`Reply::Edge`], on a line whose name has this many bytes.
    Edge(usize),
}

impl Msg {
    /// The most bytes this message reads, and so returns: none for a write, the count byte and
    /// up to [`BLOCK_MAX`] after it for a counted read.
    pub fn reads_at_most(&self) -> Option<usize> {
        match self.dir {
            Dir::Read(_) if self.counted() => Some(1 + BLOCK_MAX),
            Dir::Read(n) => Some(usize::from(n)),
            Dir::Write(_) => None,
        }
    }
}

impl Reply {
    /// Whether this reply has the shape `returns`, within its lengths: what a client checks
    /// before it hands a reply on.
    pub fn fits(&self, returns: Returns<'_>) -> bool {
        match (self, returns) {
            (Reply::Done, Returns::Done)
            | (Reply::Byte(_), Returns::Byte)
            | (Reply::Word(_), Returns::Word)
            | (Reply::Level(_), Returns::Level) => true,
            (Reply::Edge(event), Returns::Edge(name)) => event.line.len() <= name,
            (Reply::Block(data), Returns::Block(max)) => data.len() <= max,
            (Reply::Transfer(reads), Returns::Reads(msgs)) => {
                let mut wanted = msgs.iter().filter_map(Msg::reads_at_most);
                reads.iter().all(|r| wanted.next().is_some_and(|max| r.len() <= max))
                    && wanted.next().is_none()
            }
            _ => false,
        }
    }
}

/// What an operation returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A write completed.
    Done,
    /// A byte read.
    Byte(u8),
    /// A word read.
    Word(u16),
    /// A block read.
    Block(Bytes),
    /// The bytes of each read message of a transfer, in order.
    Transfer(Vec<Bytes>),
    /// A GPIO line's logical value.
    Level(bool),
    /// The edge a wait for one ended with.
    Edge(Box<crate::line::LineEvent>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_fit_their_shapes() {
        let block = |n: usize| Reply::Block(Bytes::from(vec![0; n]));
        let read = |len| Op::smbus(0x48, Command::ReadI2cBlockData { reg: 0, len });
        assert!(block(4).fits(read(4).returns()));
        assert!(!block(5).fits(read(4).returns()), "longer than asked");
        assert!(!Reply::Byte(1).fits(read(1).returns()), "another shape");
        assert!(Reply::Word(1).fits(Op::smbus(0x48, Command::ProcessCall { reg: 0, value: 1 }).returns()));
        assert!(Reply::Done.fits(Op::smbus(0x48, Command::WriteQuick { bit: 0 }).returns()));
        let t = Op::Transfer(vec![Msg::write(0x50, vec![0]), Msg::read(0x50, 2), Msg::read_counted(0x50)]);
        let reads = |lens: &[usize]| Reply::Transfer(lens.iter().map(|&n| Bytes::from(vec![0; n])).collect());
        assert!(reads(&[2, 1 + BLOCK_MAX]).fits(t.returns()));
        assert!(!reads(&[2]).fits(t.returns()), "a read missing");
        assert!(!reads(&[2, 3, 1]).fits(t.returns()), "a read too many");
        assert!(!reads(&[3, 3]).fits(t.returns()), "a read longer than its message");
    }

    #[test]
    fn what_ops_send() {
        use Sends::*;
        let smbus = |c| Op::smbus(0x48, c).sends();
        assert_eq!(smbus(Command::ReadByte), Nothing);
        assert_eq!(smbus(Command::WriteQuick { bit: 1 }), Nothing);
        assert_eq!(smbus(Command::WriteQuick { bit: 0 }), Data);
        assert_eq!(smbus(Command::ReadByteData { reg: 1 }), Register);
        assert_eq!(smbus(Command::ReadI2cBlockData { reg: 1, len: 4 }), Register);
        assert_eq!(smbus(Command::WriteByte { value: 6 }), Data);
        assert_eq!(smbus(Command::ProcessCall { reg: 1, value: 2 }), Data);
        let transfer = |msgs: &[Msg]| Op::Transfer(msgs.to_vec()).sends();
        assert_eq!(transfer(&[Msg::read(0x50, 4)]), Nothing);
        assert_eq!(transfer(&[Msg::write(0x50, vec![0, 0x10]), Msg::read(0x50, 4)]), Register);
        // Three bytes before a read, a read of another device, or no read at all: data.
        assert_eq!(transfer(&[Msg::write(0x50, vec![0, 1, 2]), Msg::read(0x50, 4)]), Data);
        assert_eq!(transfer(&[Msg::write(0x50, vec![0]), Msg::read(0x51, 4)]), Data);
        assert_eq!(transfer(&[Msg::read(0x50, 1), Msg::write(0x50, vec![0])]), Data);
    }
}
