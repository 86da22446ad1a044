//! A 24C02: a 256-byte EEPROM with one word-address pointer, 8-byte page writes and
//! sequential reads.
//!
//! The write cycle (a real part NACKs its address for ~5 ms after each write) is not
//! modelled: the simulated cells are ready at once.

use super::{Device, memory};
use smbus_proxy_wire::Errno;

const PAGE: u8 = 8;

pub(crate) struct Eeprom24c02 {
    cells: [u8; 256],
    pointer: u8,
}

impl Eeprom24c02 {
    pub(crate) fn new(contents: &[u8]) -> Self {
        // An erased EEPROM reads all ones.
        Eeprom24c02 { cells: memory(contents, 0xFF), pointer: 0 }
    }
}

impl Device for Eeprom24c02 {
    /// The first byte is the word address; the rest are a page write. The part only counts
    /// within the page's low bits, so a write that runs past the page end wraps to its start
    /// and overwrites what it wrote there, and the pointer is left just after the last byte
    /// within the page.
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let Some((&address, values)) = data.split_first() else { return Ok(()) };
        self.pointer = address;
        for &v in values {
            self.cells[usize::from(self.pointer)] = v;
            self.pointer = (self.pointer & !(PAGE - 1)) | (self.pointer.wrapping_add(1) & (PAGE - 1));
        }
        Ok(())
    }

    /// Sequential read: unlike writes, the counter runs through the whole array.
    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for b in buf {
            *b = self.cells[usize::from(self.pointer)];
            self.pointer = self.pointer.wrapping_add(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(chip: &mut Eeprom24c02, from: u8, n: usize) -> Vec<u8> {
        chip.write(&[from]).unwrap();
        let mut buf = vec![0; n];
        chip.read(&mut buf).unwrap();
        buf
    }

    #[test]
    fn erased_reads_ff_and_contents_load() {
        let mut chip = Eeprom24c02::new(&[1, 2]);
        assert_eq!(dump(&mut chip, 0, 3), [1, 2, 0xFF]);
    }

    #[test]
    fn page_write_wraps_within_the_page() {
        let mut chip = Eeprom24c02::new(&[]);
        chip.write(&[0x16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        // Bytes 0 and 1 went to 0x16 and 0x17, 2..=9 to 0x10..=0x17, overwriting 0 and 1.
        assert_eq!(dump(&mut chip, 0x10, 8), [2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(dump(&mut chip, 0x08, 8), [0xFF; 8]);
        assert_eq!(dump(&mut chip, 0x18, 8), [0xFF; 8]);
    }

    #[test]
    fn pointer_stays_where_the_write_ended() {
        let mut chip = Eeprom24c02::new(&[]);
        chip.write(&[0x06, 0xA, 0xB]).unwrap();
        // Wrote 0x06 and 0x07; the page counter rolled over to 0x00.
        let mut b = [0; 2];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0xFF, 0xFF]);
        chip.write(&[0x00, 0x11]).unwrap();
        chip.write(&[0x06]).unwrap();
        let mut b = [0; 3];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0xA, 0xB, 0xFF]);
    }

    #[test]
    fn sequential_read_crosses_pages_and_wraps_at_256() {
        let mut chip = Eeprom24c02::new(&[0x42]);
        chip.write(&[0xFE, 0x01]).unwrap();
        chip.write(&[0xFF, 0x02]).unwrap();
        assert_eq!(dump(&mut chip, 0xFE, 3), [0x01, 0x02, 0x42]);
    }
}
