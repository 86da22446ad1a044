//! The numbers of the kernel's i2c-dev interface (`linux/i2c-dev.h`, `linux/i2c.h`): what the
//! server's Linux backend sends to `/dev/i2c-N`, and what `smbus-proxy attach` answers when it
//! is `/dev/i2c-N`. The message flags are [`crate::op::msg_flags`], the functionality bits
//! [`crate::funcs`].

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
pub const SMBUS_DATA_LEN: usize = crate::op::BLOCK_MAX + 2;
