//! The kernel's side of i2c-dev: ioctl numbers, `I2C_SMBUS` sizes, and the structures the
//! ioctls point at, from `linux/i2c-dev.h` and `linux/i2c.h`.
//!
//! Two forms of each structure: a `#[repr(C)]` type to hand the kernel from this process, and
//! a parsed form of the bytes another program handed the kernel, which `attach` receives
//! through CUSE. Those bytes are in the host's byte order and laid out for the caller's
//! pointer width: a 32-bit program on a 64-bit kernel passes 4-byte pointers.

use smbus_proxy_wire::op::BLOCK_MAX;

/// The ioctl commands. They encode no argument size, so the kernel copies nothing for them.
pub mod ioctl {
    /// Retries on arbitration loss, for the adapter.
    pub const RETRIES: u32 = 0x0701;
    /// The adapter timeout, in units of 10 ms.
    pub const TIMEOUT: u32 = 0x0702;
    /// The file's address; EBUSY if a kernel driver owns it.
    pub const SLAVE: u32 = 0x0703;
    /// 10-bit addresses from now on (non-zero) or 7-bit.
    pub const TENBIT: u32 = 0x0704;
    /// The adapter's functionality, into an `unsigned long`.
    pub const FUNCS: u32 = 0x0705;
    /// The file's address, even if a kernel driver owns it.
    pub const SLAVE_FORCE: u32 = 0x0706;
    /// A combined transfer: `struct i2c_rdwr_ioctl_data`.
    pub const RDWR: u32 = 0x0707;
    /// Packet error checking from now on (non-zero) or not.
    pub const PEC: u32 = 0x0708;
    /// One SMBus transaction: `struct i2c_smbus_ioctl_data`.
    pub const SMBUS: u32 = 0x0720;
}

/// `i2c_smbus_ioctl_data.read_write`: the device sends.
pub const SMBUS_READ: u8 = 1;
/// `i2c_smbus_ioctl_data.read_write`: the device receives.
pub const SMBUS_WRITE: u8 = 0;

/// `i2c_smbus_ioctl_data.size`: which SMBus transaction.
pub mod size {
    /// The address and the R/W bit alone.
    pub const QUICK: u32 = 0;
    /// A byte with no command (receive byte; a send byte carries it as the command).
    pub const BYTE: u32 = 1;
    /// A byte at a command.
    pub const BYTE_DATA: u32 = 2;
    /// A word at a command.
    pub const WORD_DATA: u32 = 3;
    /// A word sent, a word received.
    pub const PROC_CALL: u32 = 4;
    /// A block with its count on the wire.
    pub const BLOCK_DATA: u32 = 5;
    /// The old I2C block read, always of 32 bytes.
    pub const I2C_BLOCK_BROKEN: u32 = 6;
    /// A block sent, a block received.
    pub const BLOCK_PROC_CALL: u32 = 7;
    /// A block with no count on the wire.
    pub const I2C_BLOCK_DATA: u32 = 8;
}

/// `union i2c_smbus_data`: a length byte, 32 data bytes, and one spare for a PEC byte.
pub const SMBUS_DATA_LEN: usize = BLOCK_MAX + 2;

/// `union i2c_smbus_data` as the bytes it is: a byte (at 0), a word (at 0, in the host's byte
/// order), or a block of a length byte, 32 data bytes and one spare for PEC. The kernel copies
/// it in and out whole, so plain bytes need no unsafe views.
pub type SmbusData = [u8; SMBUS_DATA_LEN];

/// `struct i2c_smbus_ioctl_data`, the argument of [`ioctl::SMBUS`].
#[repr(C)]
#[derive(Debug)]
pub struct SmbusIoctlData {
    /// [`SMBUS_READ`] or [`SMBUS_WRITE`].
    pub read_write: u8,
    /// The command (register) byte.
    pub command: u8,
    /// One of [`size`].
    pub size: u32,
    /// The data union, in and out; null for a quick command.
    pub data: *mut SmbusData,
}

/// `struct i2c_msg`: one message of a combined transfer.
#[repr(C)]
#[derive(Debug)]
pub struct I2cMsg {
    /// The device's address.
    pub addr: u16,
    /// `I2C_M_*`, [`smbus_proxy_wire::op::msg_flags`].
    pub flags: u16,
    /// The buffer's length.
    pub len: u16,
    /// What a write sends, or where a read's bytes go.
    pub buf: *mut u8,
}

/// `struct i2c_rdwr_ioctl_data`, the argument of [`ioctl::RDWR`].
#[repr(C)]
#[derive(Debug)]
pub struct RdwrIoctlData {
    /// The messages.
    pub msgs: *mut I2cMsg,
    /// How many.
    pub nmsgs: u32,
}

/// A pointer's width in the calling program, which sets where each field is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// A 32-bit program (on a 64-bit kernel, the compat layout).
    Bits32,
    /// A 64-bit program.
    Bits64,
}

impl Width {
    /// A pointer's bytes.
    pub fn pointer(self) -> usize {
        match self {
            Width::Bits32 => 4,
            Width::Bits64 => 8,
        }
    }

    /// A pointer read from its bytes (zero-extended from 32 bits).
    fn read_pointer(self, bytes: &[u8]) -> u64 {
        match self {
            Width::Bits32 => u64::from(u32::from_ne_bytes(bytes[..4].try_into().expect("4 bytes"))),
            Width::Bits64 => u64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes")),
        }
    }
}

/// An `unsigned long` as a program of `width` reads it, such as `I2C_FUNCS`' answer.
pub fn unsigned_long(value: u64, width: Width) -> Vec<u8> {
    match width {
        Width::Bits32 => (value as u32).to_ne_bytes().to_vec(),
        Width::Bits64 => value.to_ne_bytes().to_vec(),
    }
}

/// `struct i2c_smbus_ioctl_data` as another program passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmbusArgs {
    /// [`SMBUS_READ`] or [`SMBUS_WRITE`] (or anything else the program wrote).
    pub read_write: u8,
    /// The command byte.
    pub command: u8,
    /// The transaction, one of [`size`] if the program is right.
    pub size: u32,
    /// Where the data union is in the program's memory (0: none).
    pub data: u64,
}

impl SmbusArgs {
    /// Its bytes for a program of `width`: two bytes, two of padding, the size, the pointer.
    pub fn len(width: Width) -> usize {
        8 + width.pointer()
    }

    /// Reads it from the start of `bytes`; `None` if they are too few.
    pub fn parse(bytes: &[u8], width: Width) -> Option<SmbusArgs> {
        let bytes = bytes.get(..Self::len(width))?;
        Some(SmbusArgs {
            read_write: bytes[0],
            command: bytes[1],
            size: u32::from_ne_bytes(bytes[4..8].try_into().expect("4 bytes")),
            data: width.read_pointer(&bytes[8..]),
        })
    }
}

/// `struct i2c_rdwr_ioctl_data` as another program passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RdwrArgs {
    /// Where the messages are in the program's memory.
    pub msgs: u64,
    /// How many there are, as the program says.
    pub nmsgs: u32,
}

impl RdwrArgs {
    /// Its bytes for a program of `width`: the pointer, the count, and padding to a pointer.
    pub fn len(width: Width) -> usize {
        2 * width.pointer()
    }

    /// Reads it from the start of `bytes`; `None` if they are too few.
    pub fn parse(bytes: &[u8], width: Width) -> Option<RdwrArgs> {
        let bytes = bytes.get(..Self::len(width))?;
        let at = width.pointer();
        Some(RdwrArgs {
            msgs: width.read_pointer(bytes),
            nmsgs: u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes")),
        })
    }
}

/// `struct i2c_msg` as another program passed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsgArgs {
    /// The device's address.
    pub addr: u16,
    /// `I2C_M_*`.
    pub flags: u16,
    /// The buffer's length.
    pub len: u16,
    /// Where the buffer is in the program's memory.
    pub buf: u64,
}

impl MsgArgs {
    /// Its bytes for a program of `width`: three `u16`s, padding, the pointer.
    pub fn len(width: Width) -> usize {
        8 + width.pointer()
    }

    /// Each message of a table of them, or `None` if `bytes` is not whole messages.
    pub fn parse_all(bytes: &[u8], width: Width) -> Option<Vec<MsgArgs>> {
        let len = Self::len(width);
        if !bytes.len().is_multiple_of(len) {
            return None;
        }
        let u16_at = |m: &[u8], i: usize| u16::from_ne_bytes([m[i], m[i + 1]]);
        Some(
            bytes
                .chunks_exact(len)
                .map(|m| MsgArgs {
                    addr: u16_at(m, 0),
                    flags: u16_at(m, 2),
                    len: u16_at(m, 4),
                    buf: width.read_pointer(&m[8..]),
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parsed forms read what the kernel's own structures hold, for this host's width.
    #[test]
    fn the_raw_layouts_are_the_structures() {
        let width = if size_of::<usize>() == 8 { Width::Bits64 } else { Width::Bits32 };
        assert_eq!(size_of::<SmbusIoctlData>(), SmbusArgs::len(width));
        assert_eq!(size_of::<RdwrIoctlData>(), RdwrArgs::len(width));
        assert_eq!(size_of::<I2cMsg>(), MsgArgs::len(width));

        let mut data: SmbusData = [0; SMBUS_DATA_LEN];
        let args =
            SmbusIoctlData { read_write: SMBUS_READ, command: 0x42, size: size::WORD_DATA, data: &mut data };
        // SAFETY: reading a plain repr(C) value's bytes, padding included (zeroed by nothing,
        // so only the fields are compared).
        let bytes = unsafe {
            std::slice::from_raw_parts((&raw const args).cast::<u8>(), size_of::<SmbusIoctlData>())
        };
        let parsed = SmbusArgs::parse(bytes, width).unwrap();
        assert_eq!(
            (parsed.read_write, parsed.command, parsed.size, parsed.data),
            (SMBUS_READ, 0x42, size::WORD_DATA, args.data as u64)
        );

        let mut buf = [0u8; 4];
        let mut msgs = [
            I2cMsg { addr: 0x50, flags: 0, len: 1, buf: buf.as_mut_ptr() },
            I2cMsg { addr: 0x3ff, flags: 0x11, len: 4, buf: buf.as_mut_ptr() },
        ];
        let rdwr = RdwrIoctlData { msgs: msgs.as_mut_ptr(), nmsgs: 2 };
        // SAFETY: as above.
        let bytes =
            unsafe { std::slice::from_raw_parts((&raw const rdwr).cast::<u8>(), size_of::<RdwrIoctlData>()) };
        assert_eq!(RdwrArgs::parse(bytes, width), Some(RdwrArgs { msgs: rdwr.msgs as u64, nmsgs: 2 }));
        // SAFETY: as above.
        let bytes = unsafe { std::slice::from_raw_parts(msgs.as_ptr().cast::<u8>(), size_of_val(&msgs)) };
        let parsed = MsgArgs::parse_all(bytes, width).unwrap();
        assert_eq!(
            parsed,
            [
                MsgArgs { addr: 0x50, flags: 0, len: 1, buf: buf.as_ptr() as u64 },
                MsgArgs { addr: 0x3ff, flags: 0x11, len: 4, buf: buf.as_ptr() as u64 },
            ]
        );
        assert_eq!(MsgArgs::parse_all(&bytes[1..], width), None);
    }

    /// A 32-bit program's layouts, as a 64-bit kernel's compat code reads them.
    #[test]
    fn a_32_bit_program_s_layouts() {
        let mut smbus = vec![1, 0x10, 0, 0];
        smbus.extend(5u32.to_ne_bytes());
        smbus.extend(0x1234_5678u32.to_ne_bytes());
        assert_eq!(
            SmbusArgs::parse(&smbus, Width::Bits32),
            Some(SmbusArgs { read_write: 1, command: 0x10, size: 5, data: 0x1234_5678 })
        );
        assert_eq!(SmbusArgs::parse(&smbus[..11], Width::Bits32), None);
        let mut rdwr = 0xdead_beefu32.to_ne_bytes().to_vec();
        rdwr.extend(3u32.to_ne_bytes());
        assert_eq!(RdwrArgs::parse(&rdwr, Width::Bits32), Some(RdwrArgs { msgs: 0xdead_beef, nmsgs: 3 }));
        assert_eq!(unsigned_long(0x0eff_0009, Width::Bits32), 0x0eff_0009u32.to_ne_bytes());
    }
}
