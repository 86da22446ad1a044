//! smbus2's methods, listed once. [`crate::Bus`], [`crate::Batch`] and
//! [`crate::blocking::Bus`] each generate theirs from this list, and so does the Python
//! module's `SMBus`, so a command added here is there in all four, with one signature and one
//! doc. The arguments have smbus2's names (`register`, `length`), which Python callers pass
//! them by.
//!
//! Each entry reads `name(args) -> T = command`: the method takes the device address and
//! `args`, sends `command`, and gives back a `T`, the Rust type of the command's reply shape
//! ([`smbus_proxy_wire::Command::returns`]).

/// Calls `$then!` with the list. Exported for the Python module, which is another crate; not
/// a part of the client's API.
#[doc(hidden)]
#[macro_export]
macro_rules! smbus_methods {
    ($then:ident) => {
        $then! {
            /// Sends the address alone with R/W bit 0 (a quick write): is anybody there?
            write_quick() -> () = $crate::Command::WriteQuick { bit: 0 };
            /// Reads a byte with no register: the device's own current one.
            read_byte() -> u8 = $crate::Command::ReadByte;
            /// Writes a byte with no register, often a command to the device.
            write_byte(value: u8) -> () = $crate::Command::WriteByte { value };
            /// Reads the byte at `register`.
            read_byte_data(register: u8) -> u8 = $crate::Command::ReadByteData { reg: register };
            /// Writes `value` (0–0xFF) to `register`.
            write_byte_data(register: u8, value: u8) -> () =
                $crate::Command::WriteByteData { reg: register, value };
            /// Reads the 16-bit word at `register`, low byte first on the wire.
            read_word_data(register: u8) -> u16 = $crate::Command::ReadWordData { reg: register };
            /// Writes the 16-bit `value` (0–0xFFFF) to `register`, low byte first on the wire.
            write_word_data(register: u8, value: u16) -> () =
                $crate::Command::WriteWordData { reg: register, value };
            /// Writes the word `value` to `register` and reads the device's word answer (a process call).
            process_call(register: u8, value: u16) -> u16 =
                $crate::Command::ProcessCall { reg: register, value };
            /// An SMBus block read: the device says how many bytes (1–32) it sends.
            read_block_data(register: u8) -> $crate::Bytes = $crate::Command::ReadBlockData { reg: register };
            /// An SMBus block write of 1–32 bytes, preceded on the wire by their count.
            write_block_data(register: u8, data: &[u8]) -> () =
                $crate::Command::WriteBlockData { reg: register, data: $crate::Bytes::copy_from_slice(data) };
            /// Writes a block of 1–32 bytes and reads the device's block answer.
            block_process_call(register: u8, data: &[u8]) -> $crate::Bytes =
                $crate::Command::BlockProcessCall { reg: register, data: $crate::Bytes::copy_from_slice(data) };
            /// Reads `length` (1–32) bytes from `register` on.
            read_i2c_block_data(register: u8, length: u8) -> $crate::Bytes =
                $crate::Command::ReadI2cBlockData { reg: register, len: length };
            /// Writes 1–32 bytes of `data` from `register` on.
            write_i2c_block_data(register: u8, data: &[u8]) -> () =
                $crate::Command::WriteI2cBlockData { reg: register, data: $crate::Bytes::copy_from_slice(data) };
        }
    };
}

pub(crate) use crate::smbus_methods;
