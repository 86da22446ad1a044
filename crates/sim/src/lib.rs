//! A simulated I2C bus for smbus-proxy: device models, fault injection and their TOML
//! configuration, so the server runs (and tests run) without hardware.
//!
//! This crate owns what a bus does with an [`Op`](smbus_proxy_wire::Op): which device answers,
//! what it answers, and which faults get in the way. It must not do networking, know about
//! sessions or gRPC, or depend on the server; the server drives a [`SimBus`] exactly as it
//! drives a Linux adapter, one operation at a time on the bus's own thread.
//!
//! The layout, from the outside in:
//! - [`config`]: the TOML file ([`Config::parse`], [`Config::load`]), its validation, the
//!   built-in [`Config::demo`], and the function presets; [`Config::build`] makes the buses.
//! - [`bus`]: [`SimBus`], which checks an operation against the adapter's functionality,
//!   injects faults, and lowers every SMBus command into the I2C messages the kernel's SMBus
//!   emulation would send, so devices only ever see plain messages, as real chips do.
//! - `timing`: the wire time of an operation at the configured clock, and the adapter timeout.
//! - [`clock`]: the time chips see and the bus sleeps on: the machine's, or a
//!   [`ManualClock`] a test moves.
//! - [`devices`]: the [`Device`] trait (one call per I2C message) and the models: a
//!   register-file chip, a register map of 8- and 16-bit registers, 24C02–24C512 EEPROMs,
//!   a PCF8574 port expander, an Si4703 FM tuner, an INA219 power monitor, an SHT3x
//!   humidity sensor and a BME280 pressure, temperature and humidity sensor; and a write log,
//!   which keeps what was written to it for tests of the proxy.
//! - [`lines`]: simulated GPIO lines, which clients request as a kernel's and the outside
//!   (a device model, a test) drives.
//! - [`replay`]: a recorded trace played back in place of a device or a whole bus, strictly
//!   (the recorded operations and nothing else) or as the registers it saw.
//! - [`file`]: reading the files a user names with a bound on their size (labs and traces
//!   here; the server's and tools' settings, policies, tokens and certificates too).

pub mod bus;
pub mod clock;
pub mod config;
pub mod devices;
pub mod file;
pub mod lines;
pub mod replay;
mod timing;

pub use bus::SimBus;
pub use clock::{Clock, ManualClock};
pub use config::{BusConfig, Config, ConfigError, DeviceConfig, LineConfig, Model};
pub use devices::Device;
pub use lines::{SimLine, SimLines};
pub use replay::{Replay, ReplayError, ReplayMode};
pub use smbus_proxy_wire::Errno;
