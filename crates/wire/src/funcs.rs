//! Adapter functionality bits: the `I2C_FUNCS` ioctl's mask, `I2C_FUNC_*` in `linux/i2c.h`.

/// Plain I2C transfers (`I2C_RDWR`).
pub const I2C: u64 = 0x0000_0001;
/// 10-bit addresses.
pub const TEN_BIT_ADDR: u64 = 0x0000_0002;
/// The `I2C_M_IGNORE_NAK`, `I2C_M_REV_DIR_ADDR` and `I2C_M_NO_RD_ACK` message flags.
pub const PROTOCOL_MANGLING: u64 = 0x0000_0004;
/// SMBus packet error checking.
pub const SMBUS_PEC: u64 = 0x0000_0008;
/// Messages without a (repeated) start (`I2C_M_NOSTART`).
pub const NOSTART: u64 = 0x0000_0010;
/// Acting as a target device itself.
pub const SLAVE: u64 = 0x0000_0020;
/// SMBus block process call.
pub const SMBUS_BLOCK_PROC_CALL: u64 = 0x0000_8000;
/// SMBus quick command.
pub const SMBUS_QUICK: u64 = 0x0001_0000;
/// SMBus receive byte.
pub const SMBUS_READ_BYTE: u64 = 0x0002_0000;
/// SMBus send byte.
pub const SMBUS_WRITE_BYTE: u64 = 0x0004_0000;
/// SMBus read byte.
pub const SMBUS_READ_BYTE_DATA: u64 = 0x0008_0000;
/// SMBus write byte.
pub const SMBUS_WRITE_BYTE_DATA: u64 = 0x0010_0000;
/// SMBus read word.
pub const SMBUS_READ_WORD_DATA: u64 = 0x0020_0000;
/// SMBus write word.
pub const SMBUS_WRITE_WORD_DATA: u64 = 0x0040_0000;
/// SMBus process call.
pub const SMBUS_PROC_CALL: u64 = 0x0080_0000;
/// SMBus block read, the device giving the length.
pub const SMBUS_READ_BLOCK_DATA: u64 = 0x0100_0000;
/// SMBus block write.
pub const SMBUS_WRITE_BLOCK_DATA: u64 = 0x0200_0000;
/// I2C block read of a given length, after a register byte.
pub const SMBUS_READ_I2C_BLOCK: u64 = 0x0400_0000;
/// I2C block write, after a register byte.
pub const SMBUS_WRITE_I2C_BLOCK: u64 = 0x0800_0000;
/// SMBus host notify.
pub const SMBUS_HOST_NOTIFY: u64 = 0x1000_0000;

/// Both byte commands without a register.
pub const SMBUS_BYTE: u64 = SMBUS_READ_BYTE | SMBUS_WRITE_BYTE;
/// Both byte commands with a register.
pub const SMBUS_BYTE_DATA: u64 = SMBUS_READ_BYTE_DATA | SMBUS_WRITE_BYTE_DATA;
/// Both word commands.
pub const SMBUS_WORD_DATA: u64 = SMBUS_READ_WORD_DATA | SMBUS_WRITE_WORD_DATA;
/// Both SMBus block commands.
pub const SMBUS_BLOCK_DATA: u64 = SMBUS_READ_BLOCK_DATA | SMBUS_WRITE_BLOCK_DATA;
/// Both I2C block commands.
pub const SMBUS_I2C_BLOCK: u64 = SMBUS_READ_I2C_BLOCK | SMBUS_WRITE_I2C_BLOCK;

/// What the kernel can emulate over plain I2C (`I2C_FUNC_SMBUS_EMUL`): everything but the
/// block reads whose length the device decides.
pub const SMBUS_EMUL: u64 = SMBUS_QUICK
    | SMBUS_BYTE
    | SMBUS_BYTE_DATA
    | SMBUS_WORD_DATA
    | SMBUS_PROC_CALL
    | SMBUS_WRITE_BLOCK_DATA
    | SMBUS_I2C_BLOCK
    | SMBUS_PEC;

/// `I2C_FUNC_SMBUS_EMUL_ALL`: the emulated set plus the device-sized block reads.
pub const SMBUS_EMUL_ALL: u64 = SMBUS_EMUL | SMBUS_READ_BLOCK_DATA | SMBUS_BLOCK_PROC_CALL;
