//! Device models: chips as the bus sees them, one I2C message at a time.
//!
//! A model sees what a real chip sees once it has acknowledged its address: the bytes of a
//! write message, or a request for the bytes of a read message. It never sees SMBus commands;
//! [`crate::SimBus`] lowers those into messages the way the kernel does, so a model that is
//! right for plain I2C is right for every SMBus command too.

mod eeprom;
mod pcf8574;
mod register_file;
mod si4703;

use crate::config::Model;
use smbus_proxy_wire::Errno;

/// A chip on the simulated bus.
pub trait Device: Send {
    /// A write message addressed to this device (address already acknowledged).
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
}

/// A freshly powered-up chip of this model.
pub(crate) fn build(model: &Model) -> Box<dyn Device> {
    match model {
        Model::RegisterFile { registers } => Box::new(register_file::RegisterFile::new(registers)),
        Model::Eeprom24c02 { contents } => Box::new(eeprom::Eeprom24c02::new(contents)),
        Model::Pcf8574 { inputs } => Box::new(pcf8574::Pcf8574::new(*inputs)),
        Model::Si4703 => Box::new(si4703::Si4703::new()),
    }
}

/// `initial` copied over `fill`; the config has already refused anything longer than 256.
fn memory(initial: &[u8], fill: u8) -> [u8; 256] {
    let mut mem = [fill; 256];
    for (m, &b) in mem.iter_mut().zip(initial) {
        *m = b;
    }
    mem
}
