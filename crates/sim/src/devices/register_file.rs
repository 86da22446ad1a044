//! A generic register chip: 256 8-bit registers behind an auto-incrementing pointer, the
//! way most sensors and PMICs look from the bus.

use super::{Device, memory};
use smbus_proxy_wire::Errno;

pub(crate) struct RegisterFile {
    regs: Vec<u8>,
    pointer: u8,
}

impl RegisterFile {
    pub(crate) fn new(registers: &[u8]) -> Self {
        RegisterFile { regs: memory(registers, 0, 256), pointer: 0 }
    }
}

impl Device for RegisterFile {
    /// The first byte moves the pointer; the rest are stored from there on. A write of the
    /// pointer alone is how a read is aimed (the first half of `read_byte_data`).
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let Some((&pointer, values)) = data.split_first() else { return Ok(()) };
        self.pointer = pointer;
        for &v in values {
            self.regs[usize::from(self.pointer)] = v;
            self.pointer = self.pointer.wrapping_add(1);
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for b in buf {
            *b = self.regs[usize::from(self.pointer)];
            self.pointer = self.pointer.wrapping_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_contents_then_zero() {
        let mut chip = RegisterFile::new(&[0x12, 0x34]);
        let mut buf = [0xAA; 3];
        chip.read(&mut buf).unwrap();
        assert_eq!(buf, [0x12, 0x34, 0x00]);
    }

    #[test]
    fn write_and_read_auto_increment_and_wrap() {
        let mut chip = RegisterFile::new(&[]);
        chip.write(&[0xFE, 1, 2, 3]).unwrap();
        chip.write(&[0xFE]).unwrap();
        let mut buf = [0; 4];
        chip.read(&mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 0]);
        // The pointer kept going from 0x02 and wraps the same way on reads.
        chip.write(&[0xFF]).unwrap();
        let mut buf = [0; 2];
        chip.read(&mut buf).unwrap();
        assert_eq!(buf, [2, 3]);
    }

    #[test]
    fn empty_write_changes_nothing() {
        let mut chip = RegisterFile::new(&[7, 8]);
        chip.write(&[1]).unwrap();
        chip.write(&[]).unwrap();
        let mut b = [0];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [8]);
    }
}
