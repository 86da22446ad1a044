//! Linux's i2c-dev interface (<https://docs.kernel.org/i2c/dev-interface.html>), written once
//! for both sides of it: the server's Linux backend, which calls `/dev/i2c-N`, and
//! `smbus-proxy attach`, which is a `/dev/i2c-N` and answers programs that call it.
//!
//! - [`abi`]: the kernel's numbers and structures (`linux/i2c-dev.h`, `linux/i2c.h`) as
//!   `#[repr(C)]` types in the host's byte order, and the same structures as the bytes a
//!   program of either pointer width hands the kernel (what a character device in user space
//!   is given to read).
//! - [`smbus`]: an SMBus [`Command`](smbus_proxy_wire::Command) as `I2C_SMBUS`'s arguments and
//!   its answer, and the other way, what a program's `I2C_SMBUS` asks for and how its answer
//!   fills the data union.
//! - [`cuse`]: the part of the FUSE protocol a character device in user space speaks over
//!   `/dev/cuse`, with typed opcodes; [`device`]: `/dev/i2c-N` as i2c-dev behaves, on top of
//!   any [`device::Remote`] that runs the operations (`smbus-proxy attach` gives it a server's
//!   bus). Neither does I/O: the command reads and writes `/dev/cuse` and hands them the bytes.
//!
//! The message flags are [`smbus_proxy_wire::op::msg_flags`] and the functionality bits
//! [`smbus_proxy_wire::funcs`]: they are the protocol's as well as the kernel's.

pub mod abi;
pub mod cuse;
pub mod device;
pub mod smbus;
