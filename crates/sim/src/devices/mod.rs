//! Device models: chips as the bus sees them, one I2C message at a time.
//!
//! A model sees what a real chip sees: a start and its address (which it may decline to
//! acknowledge, as a busy chip does), then the bytes of a write message or a request for the
//! bytes of a read message, and the stop that ends the transfer. It never sees SMBus
//! commands; [`crate::SimBus`] lowers those into messages the way the kernel does, so a model
//! that is right for plain I2C is right for every SMBus command too.
//!
//! Chips that keep time (an EEPROM's write cycle, a sensor's measurement) are told the bus
//! time of each start and stop: the moment the operation began plus the wire time clocked so
//! far, so a busy chip answers as it would at that point of the transfer.

mod adxl345;
mod bme280;
mod eeprom;
mod ina219;
mod mcp23017;
mod pcf8574;
mod register_file;
mod register_map;
mod sht3x;
mod si4703;
mod ssd1306;
mod timer;
mod write_log;

use crate::config::Model;
use smbus_proxy_wire::Errno;
use std::time::{Duration, Instant};

pub use eeprom::{EepromPart, WRITE_CYCLE};
pub use register_map::{ByteOrder, Register};
pub use write_log::CAPACITY as WRITE_LOG_CAPACITY;

/// Which way a message goes, as the R/W bit after the address says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rw {
    /// The controller sends.
    Write,
    /// The device sends.
    Read,
}

/// How a device answers its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// It acknowledges: the message goes on.
    Ack,
    /// It stays silent, as a chip in an EEPROM write cycle or a measurement does; the
    /// adapter reports ENXIO.
    Nack,
    /// It acknowledges, then holds SCL low this long before its first byte (clock
    /// stretching); the wait counts as wire time and against the adapter timeout.
    Stretch(Duration),
}

/// A chip on the simulated bus.
pub trait Device: Send {
    /// A start and this device's address, at bus time `now`: whether it acknowledges.
    /// Chips that are never busy acknowledge always, the default.
    fn address(&mut self, _rw: Rw, _now: Instant) -> Ack {
        Ack::Ack
    }

    /// A write message addressed to this device (address already acknowledged). A data
    /// byte the chip refuses is a NACK the adapter reports as EREMOTEIO.
    fn write(&mut self, data: &[u8]) -> Result<(), Errno>;

    /// A read message: fill `buf` completely.
    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno>;

    /// More bytes of the read message the last [`read`](Device::read) began.
    ///
    /// An SMBus block read learns its length from its first byte, so the bus clocks that one
    /// read message as `read` of the count byte and then `read_more` of the data. Only a chip
    /// whose read position restarts with each new message (the Si4703) needs to tell the two
    /// apart; for everyone else the default is right.
    fn read_more(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.read(buf)
    }

    /// The stop that ends a transfer this device took part in, at bus time `now`. An EEPROM
    /// starts its write cycle here.
    fn stop(&mut self, _now: Instant) {}
}

/// A chip of this model powered up at `now`; a replay is no chip, and the bus plays it.
pub(crate) fn build(model: &Model, now: Instant, lines: &crate::lines::SimLines) -> Option<Box<dyn Device>> {
    Some(match model {
        Model::RegisterFile { registers } => Box::new(register_file::RegisterFile::new(registers)),
        Model::RegisterMap { byte_order, auto_increment, registers } => {
            Box::new(register_map::RegisterMap::new(*byte_order, *auto_increment, registers))
        }
        Model::Eeprom { part, contents, write_cycle } => {
            Box::new(eeprom::Eeprom::new(*part, contents, *write_cycle))
        }
        Model::Pcf8574 { inputs, int, pins } => {
            let int = int.as_deref().and_then(|name| lines.line(name)).cloned();
            let pins =
                pins.iter().filter_map(|(pin, name)| Some((*pin, lines.line(name)?.clone()))).collect();
            Box::new(pcf8574::Pcf8574::wired(*inputs, int, pins))
        }
        Model::Mcp23017 { inputs, inta, intb, pins } => {
            let line = |name: &Option<String>| name.as_deref().and_then(|name| lines.line(name)).cloned();
            let pins =
                pins.iter().filter_map(|(pin, name)| Some((*pin, lines.line(name)?.clone()))).collect();
            Box::new(mcp23017::Mcp23017::wired(*inputs, [line(inta), line(intb)], pins))
        }
        Model::Si4703 => Box::new(si4703::Si4703::new()),
        Model::Ina219 { bus_volts, current_amps, shunt_ohms } => {
            Box::new(ina219::Ina219::new(*bus_volts, *current_amps, *shunt_ohms, now))
        }
        Model::Sht3x { temperature, humidity, serial, alert } => {
            let alert = alert.as_deref().and_then(|name| lines.line(name)).cloned();
            Box::new(sht3x::Sht3xChip::wired(sht3x::Sht3x::new(*temperature, *humidity, *serial, now), alert))
        }
        Model::Bme280 { temperature, pressure, humidity } => {
            Box::new(bme280::Bme280::new(*temperature, *pressure, *humidity, now))
        }
        Model::Adxl345 { acceleration, int1, int2 } => {
            let line = |name: &Option<String>| name.as_deref().and_then(|name| lines.line(name)).cloned();
            Box::new(adxl345::Adxl345::wired(*acceleration, [line(int1), line(int2)], now))
        }
        Model::Ssd1306 { panel } => Box::new(ssd1306::Ssd1306::new(panel.clone())),
        Model::WriteLog => Box::new(write_log::WriteLog::new()),
        Model::Replay(_) => return None,
    })
}

/// `initial` copied over `len` bytes of `fill`; the config has already refused anything
/// longer.
fn memory(initial: &[u8], fill: u8, len: usize) -> Vec<u8> {
    let mut mem = vec![fill; len];
    mem[..initial.len()].copy_from_slice(initial);
    mem
}
