//! smbus2's methods, listed once. [`crate::Bus`], [`crate::Batch`] and
//! [`crate::blocking::Bus`] each generate theirs from this list, so a command added here is
//! there in all three, with one signature and one doc.
//!
//! Each entry reads `name(args) -> T = command`: the method takes the device address and
//! `args`, sends `command`, and gives back a `T`, the Rust type of the command's reply shape
//! ([`smbus_proxy_wire::Command::returns`]).

/// Calls `$then!` with the list.
macro_rules! smbus_methods {
    ($then:ident) => {
        $then! {
            /// Sends the address alone with R/W bit 0 (a quick write): is anybody there?
            write_quick() -> () = $crate::Command::WriteQuick { bit: 0 };
            /// Reads a byte with no register: the device's own current one.
            read_byte() -> u8 = $crate::Command::ReadByte;
            /// Writes a byte with no register, often a command to the device.
            write_byte(value: u8) -> () = $crate::Command::WriteByte { value };
            /// Reads the byte at `reg`.
            read_byte_data(reg: u8) -> u8 = $crate::Command::ReadByteData { reg };
            /// Writes `value` to `reg`.
            write_byte_data(reg: u8, value: u8) -> () = $crate::Command::WriteByteData { reg, value };
            /// Reads the 16-bit word at `reg`, low byte first on the wire.
            read_word_data(reg: u8) -> u16 = $crate::Command::ReadWordData { reg };
            /// Writes a 16-bit word to `reg`, low byte first on the wire.
            write_word_data(reg: u8, value: u16) -> () = $crate::Command::WriteWordData { reg, value };
            /// Writes a word to `reg` and reads the device's word answer.
            process_call(reg: u8, value: u16) -> u16 = $crate::Command::ProcessCall { reg, value };
            /// An SMBus block read: the device says how many bytes (1–32) it sends.
            read_block_data(reg: u8) -> $crate::Bytes = $crate::Command::ReadBlockData { reg };
            /// An SMBus block write of 1–32 bytes, preceded on the wire by their count.
            write_block_data(reg: u8, data: &[u8]) -> () =
                $crate::Command::WriteBlockData { reg, data: $crate::Bytes::copy_from_slice(data) };
            /// Writes a block of 1–32 bytes and reads the device's block answer.
            block_process_call(reg: u8, data: &[u8]) -> $crate::Bytes =
                $crate::Command::BlockProcessCall { reg, data: $crate::Bytes::copy_from_slice(data) };
            /// Reads `len` (1–32) bytes from `reg` on.
            read_i2c_block_data(reg: u8, len: u8) -> $crate::Bytes =
                $crate::Command::ReadI2cBlockData { reg, len };
            /// Writes 1–32 bytes from `reg` on.
            write_i2c_block_data(reg: u8, data: &[u8]) -> () =
                $crate::Command::WriteI2cBlockData { reg, data: $crate::Bytes::copy_from_slice(data) };
        }
    };
}

pub(crate) use smbus_methods;
