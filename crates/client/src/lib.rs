//! The client of smbus-proxy: a Linux I2C/SMBus bus on another machine, used as if it were
//! local.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = smbus_proxy_server::Server::simulated(&smbus_proxy_sim::Config::demo())
//! #     .spawn("127.0.0.1:0".parse()?)?;
//! # let url = server.url();
//! use smbus_proxy_client::blocking::Client;
//!
//! // The server: the URL given, else $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051.
//! let client = Client::connect(url)?;
//! let mut bus = client.bus(1)?;
//!
//! // smbus2's methods, with its names and meanings.
//! bus.write_byte_data(0x48, 0x01, 0x60)?;
//! assert_eq!(bus.read_byte_data(0x48, 0x01)?, 0x60);
//!
//! // A NACK keeps the kernel's errno.
//! let err = bus.read_byte(0x33).unwrap_err();
//! assert_eq!(err.errno(), Some(smbus_proxy_client::Errno::ENXIO));
//!
//! // embedded-hal 1.0: any driver crate runs on top of the bus.
//! use smbus_proxy_client::embedded_hal::i2c::I2c;
//! let mut word = [0u8; 2];
//! bus.write_read(0x48u8, &[0x01], &mut word)?;
//! assert_eq!(word, [0x60, 0x00]);
//! # Ok(()) }
//! ```
//!
//! The layout:
//! - [`Client`]: the connection (async); [`Client::bus`] opens a session on one bus.
//! - [`Bus`]: the session, with smbus2's methods, combined transfers ([`Bus::i2c_rdwr`]),
//!   [`Batch`]es sent as one transaction in one round trip, and the exclusive lock as a
//!   guard ([`Bus::lock`]). It keeps its lease alive while it exists and reopens an expired
//!   session where that is safe.
//! - [`blocking`]: the same, for code that is not async.
//! - embedded-hal's `I2c` (7- and 10-bit), blocking on [`blocking::Bus`] and async on
//!   [`Bus`]; errors keep the kernel's errno and map it to `ErrorKind` ([`hal::kind`]). The
//!   crate re-exports [`embedded_hal`] and [`embedded_hal_async`], and [`Delay`] gives drivers
//!   that need one their `DelayNs`; [`Timed`] gives them one that waits on the bus.
//! - [`Line`]: a GPIO line of the server's (a chip's reset, interrupt or data-ready wire),
//!   held by a bus's session ([`Bus::line`]), with embedded-hal's `OutputPin`,
//!   `StatefulOutputPin` and `InputPin` on [`blocking::Line`] and the async `Wait` on
//!   [`Line`]; [`Batch`] puts line steps in one transaction with bus operations.
//! - Over a network: pipelined writes ([`BusOptions::pipeline`]), and waiting on the bus
//!   instead of across the network ([`Batch::wait`], [`Batch::poll_ack`], [`Step`]).
//!
//! - [`discover`]: servers on the local network, found by their DNS-SD announcements;
//!   `mdns://NAME` works wherever a URL does.
//! - What a watch ([`Client::watch`]) sees, kept: [`capture`] writes it as a pcapng capture
//!   Wireshark decodes, and [`mock`] turns a recording into `embedded-hal-mock` expectations.
//!
//! Inside, a call goes down one file per step: `bus` (the API; `methods` lists smbus2's methods
//! once for `Bus`, `Batch` and the blocking twin) → `link` (what is repeated when a session
//! expired or the connection broke) → `stream` (the `ExecuteStream` a bus's calls share) →
//! `grpc` (the stub, with the token). `session` opens sessions and keeps idle ones alive;
//! `client` makes the connection.
//!
//! This crate must not depend on anything Linux-only: it runs on Linux, macOS and Windows.

mod batch;
pub mod blocking;
mod bus;
pub mod capture;
mod client;
mod delay;
pub mod discover;
mod error;
mod grpc;
pub mod hal;
mod line;
mod link;
mod methods;
pub mod mock;
mod session;
mod stream;
mod timed;
mod watch;

pub use batch::{Batch, FromReply, Results, Slot};
pub use bus::{Bus, LockGuard};
pub use bytes::Bytes;
pub use client::{
    CA_ENV, CERT_ENV, Client, Credentials, DEFAULT_PORT, DEFAULT_SERVER, KEY_ENV, SERVER_ENV, TOKEN_ENV,
    UrlError, normalize_url, server_url, token,
};
pub use delay::Delay;
/// embedded-hal 1.0, as this crate implements it: name `I2c`, `ErrorKind` or `DelayNs` from
/// here, with no dependency of your own to keep in step.
pub use embedded_hal;
/// embedded-hal-async 1.0, for the async `I2c` of [`Bus`] and [`Delay`].
pub use embedded_hal_async;
pub use error::{Error, Lost, Report, Result, Transport};
pub use line::{LONGEST_LINE_WAIT, Line};
pub use session::{BusOptions, DEFAULT_RESUME_WINDOW, MAX_PIPELINE};
pub use smbus_proxy_wire::line::{Bias, Direction, Drive, Edge, Edges, EventClock, LineEvent, LineSettings};
pub use smbus_proxy_wire::op::msg_flags;
pub use smbus_proxy_wire::pb::{BusInfo, LineInfo};
pub use smbus_proxy_wire::step::MIN_POLL_INTERVAL;
pub use smbus_proxy_wire::{Command, Dir, Errno, Match, Msg, Op, Poll, Reply, Step, Target, funcs};
pub use timed::{LONGEST_BUS_WAIT, Timed, TimedDelay, TimedI2c};
/// The gRPC status code of an [`Error::Rejected`].
pub use tonic::Code;
pub use watch::{OpEvent, WatchEvent, Watcher};
