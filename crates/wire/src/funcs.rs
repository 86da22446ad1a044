//! Adapter functionality bits: the `I2C_FUNCS` ioctl's mask, `I2C_FUNC_*` in `linux/i2c.h`.

pub const I2C: u64 = 0x0000_0001;
pub const TEN_BIT_ADDR: u64 = 0x0000_0002;
pub const PROTOCOL_MANGLING: u64 = 0x0000_0004;
pub const SMBUS_PEC: u64 = 0x0000_0008;
pub const NOSTART: u64 = 0x0000_0010;
pub const SLAVE: u64 = 0x0000_0020;
pub const SMBUS_BLOCK_PROC_CALL: u64 = 0x0000_8000;
pub const SMBUS_QUICK: u64 = 0x0001_0000;
pub const SMBUS_READ_BYTE: u64 = 0x0002_0000;
pub const SMBUS_WRITE_BYTE: u64 = 0x0004_0000;
pub const SMBUS_READ_BYTE_DATA: u64 = 0x0008_0000;
pub const SMBUS_WRITE_BYTE_DATA: u64 = 0x0010_0000;
pub const SMBUS_READ_WORD_DATA: u64 = 0x0020_0000;
pub const SMBUS_WRITE_WORD_DATA: u64 = 0x0040_0000;
pub const SMBUS_PROC_CALL: u64 = 0x0080_0000;
pub const SMBUS_READ_BLOCK_DATA: u64 = 0x0100_0000;
pub const SMBUS_WRITE_BLOCK_DATA: u64 = 0x0200_0000;
pub const SMBUS_READ_I2C_BLOCK: u64 = 0x0400_0000;
pub const SMBUS_WRITE_I2C_BLOCK: u64 = 0x0800_0000;
pub const SMBUS_HOST_NOTIFY: u64 = 0x1000_0000;

pub const SMBUS_BYTE: u64 = SMBUS_READ_BYTE | SMBUS_WRITE_BYTE;
pub const SMBUS_BYTE_DATA: u64 = SMBUS_READ_BYTE_DATA | SMBUS_WRITE_BYTE_DATA;
pub const SMBUS_WORD_DATA: u64 = SMBUS_READ_WORD_DATA | SMBUS_WRITE_WORD_DATA;
pub const SMBUS_BLOCK_DATA: u64 = SMBUS_READ_BLOCK_DATA | SMBUS_WRITE_BLOCK_DATA;
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
