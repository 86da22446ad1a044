//! Serial EEPROMs of the 24C family, from the 24C02 (256 bytes, one address byte) to the
//! 24C512 (64 KiB, two address bytes).
//!
//! What the model follows, from Microchip's 24LC02B/24LC32A/24LC64/24LC128/24LC256/24LC512
//! datasheets (the other makers' 24Cxx parts behave alike):
//! - A write message starts with the word address, one byte on the 24C02 and two (high
//!   first) from the 24C32 up; address bits above the array size are "don't care".
//! - The data bytes after it are a page write: the address counter's low bits count within
//!   the page, so data that runs past the page end rolls over to the page's start and
//!   overwrites what was written there.
//! - The write cycle (t_WR, 5 ms at most) starts at the stop condition. Until it ends the
//!   part acknowledges nothing, which is what ACK polling waits for: "since the device will
//!   not acknowledge during a write cycle, this can be used to determine when the cycle is
//!   complete".
//! - A write of the address alone (a random read's dummy write) only sets the counter; no
//!   write cycle follows.
//! - Sequential reads run through the whole array and roll over from the last byte to 0.

use super::{Ack, Device, Rw, memory};
use smbus_proxy_wire::Errno;
use std::time::{Duration, Instant};

/// A member of the family: its size and page, as its datasheet gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EepromPart {
    /// 256 bytes, 8-byte pages, one address byte.
    C02,
    /// 4 KiB, 32-byte pages.
    C32,
    /// 8 KiB, 32-byte pages.
    C64,
    /// 16 KiB, 64-byte pages.
    C128,
    /// 32 KiB, 64-byte pages.
    C256,
    /// 64 KiB, 128-byte pages.
    C512,
}

impl EepromPart {
    /// Every part, smallest first.
    pub const ALL: [EepromPart; 6] = [Self::C02, Self::C32, Self::C64, Self::C128, Self::C256, Self::C512];

    /// The array size in bytes.
    pub fn size(self) -> usize {
        match self {
            Self::C02 => 256,
            Self::C32 => 4 << 10,
            Self::C64 => 8 << 10,
            Self::C128 => 16 << 10,
            Self::C256 => 32 << 10,
            Self::C512 => 64 << 10,
        }
    }

    /// The page write buffer in bytes.
    pub fn page(self) -> usize {
        match self {
            Self::C02 => 8,
            Self::C32 | Self::C64 => 32,
            Self::C128 | Self::C256 => 64,
            Self::C512 => 128,
        }
    }

    /// How many word-address bytes a write starts with.
    pub fn address_bytes(self) -> usize {
        if self == Self::C02 { 1 } else { 2 }
    }

    /// The model name in the config file.
    pub fn model_name(self) -> &'static str {
        match self {
            Self::C02 => "eeprom-24c02",
            Self::C32 => "eeprom-24c32",
            Self::C64 => "eeprom-24c64",
            Self::C128 => "eeprom-24c128",
            Self::C256 => "eeprom-24c256",
            Self::C512 => "eeprom-24c512",
        }
    }
}

/// The datasheets' maximum write cycle time, t_WR.
pub const WRITE_CYCLE: Duration = Duration::from_millis(5);

pub(crate) struct Eeprom {
    part: EepromPart,
    cells: Vec<u8>,
    /// The address counter, always below the array size.
    counter: usize,
    write_cycle: Duration,
    /// Data latched since the last stop: the stop starts a write cycle.
    written: bool,
    busy_until: Option<Instant>,
}

impl Eeprom {
    pub(crate) fn new(part: EepromPart, contents: &[u8], write_cycle: Duration) -> Self {
        // An erased EEPROM reads all ones.
        let cells = memory(contents, 0xFF, part.size());
        Eeprom { part, cells, counter: 0, write_cycle, written: false, busy_until: None }
    }
}

impl Device for Eeprom {
    fn address(&mut self, _rw: Rw, now: Instant) -> Ack {
        match self.busy_until {
            Some(until) if now < until => Ack::Nack,
            _ => Ack::Ack,
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let n = self.part.address_bytes();
        // A message shorter than the address (an empty probe, or one byte to a 24C32) sets
        // nothing: the part has not been told a whole address.
        if data.len() < n {
            return Ok(());
        }
        let (address, values) = data.split_at(n);
        let address = address.iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
        self.counter = address % self.part.size();
        let page = self.part.page();
        for &v in values {
            self.cells[self.counter] = v;
            self.counter = self.counter - self.counter % page + (self.counter + 1) % page;
        }
        self.written |= !values.is_empty();
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for b in buf {
            *b = self.cells[self.counter];
            self.counter = (self.counter + 1) % self.part.size();
        }
        Ok(())
    }

    fn stop(&mut self, now: Instant) {
        if std::mem::take(&mut self.written) && !self.write_cycle.is_zero() {
            self.busy_until = Some(now + self.write_cycle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A part whose write cycle has ended by the time of every access.
    fn instant(part: EepromPart, contents: &[u8]) -> Eeprom {
        Eeprom::new(part, contents, Duration::ZERO)
    }

    fn dump(chip: &mut Eeprom, from: usize, n: usize) -> Vec<u8> {
        let address = if chip.part.address_bytes() == 1 {
            vec![from as u8]
        } else {
            vec![(from >> 8) as u8, from as u8]
        };
        chip.write(&address).unwrap();
        let mut buf = vec![0; n];
        chip.read(&mut buf).unwrap();
        buf
    }

    #[test]
    fn the_family_as_its_datasheets_give_it() {
        let table: Vec<_> =
            EepromPart::ALL.iter().map(|p| (p.model_name(), p.size(), p.page(), p.address_bytes())).collect();
        assert_eq!(
            table,
            [
                ("eeprom-24c02", 256, 8, 1),
                ("eeprom-24c32", 4096, 32, 2),
                ("eeprom-24c64", 8192, 32, 2),
                ("eeprom-24c128", 16384, 64, 2),
                ("eeprom-24c256", 32768, 64, 2),
                ("eeprom-24c512", 65536, 128, 2),
            ]
        );
    }

    #[test]
    fn erased_reads_ff_and_contents_load() {
        let mut chip = instant(EepromPart::C02, &[1, 2]);
        assert_eq!(dump(&mut chip, 0, 3), [1, 2, 0xFF]);
        let mut big = instant(EepromPart::C512, &[7; 300]);
        assert_eq!(dump(&mut big, 298, 3), [7, 7, 0xFF]);
    }

    #[test]
    fn page_write_wraps_within_the_page() {
        let mut chip = instant(EepromPart::C02, &[]);
        chip.write(&[0x16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        // Bytes 0 and 1 went to 0x16 and 0x17, 2..=9 to 0x10..=0x17, overwriting 0 and 1.
        assert_eq!(dump(&mut chip, 0x10, 8), [2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(dump(&mut chip, 0x08, 8), [0xFF; 8]);
        assert_eq!(dump(&mut chip, 0x18, 8), [0xFF; 8]);
    }

    #[test]
    fn two_address_bytes_and_32_byte_pages_on_a_24c32() {
        let mut chip = instant(EepromPart::C32, &[]);
        // Address 0x0FE: the last two bytes of the page 0x0E0–0x0FF, then its start.
        chip.write(&[0x00, 0xFE, 0xA, 0xB, 0xC]).unwrap();
        assert_eq!(dump(&mut chip, 0x0FE, 3), [0xA, 0xB, 0xFF], "0x100 is another page");
        assert_eq!(dump(&mut chip, 0x0E0, 1), [0xC]);
        // A full 32-byte page in one write lands where it was aimed.
        let page: Vec<u8> = (0..32).collect();
        chip.write(&[&[0x01, 0x20][..], &page].concat()).unwrap();
        assert_eq!(dump(&mut chip, 0x120, 32), page);
    }

    #[test]
    fn address_bits_above_the_size_are_dont_care() {
        let mut chip = instant(EepromPart::C32, &[]);
        chip.write(&[0xF1, 0x23, 0x42]).unwrap();
        assert_eq!(dump(&mut chip, 0x123, 1), [0x42]);
    }

    #[test]
    fn a_read_past_the_end_rolls_over_to_zero() {
        let mut chip = instant(EepromPart::C32, &[0x11, 0x22]);
        chip.write(&[0x0F, 0xFF, 0x99]).unwrap();
        assert_eq!(dump(&mut chip, 0xFFF, 3), [0x99, 0x11, 0x22]);
    }

    #[test]
    fn half_an_address_sets_nothing() {
        let mut chip = instant(EepromPart::C32, &[0x11, 0x22, 0x33]);
        chip.write(&[0x00, 0x02]).unwrap();
        chip.write(&[0x00]).unwrap();
        chip.write(&[]).unwrap();
        let mut b = [0];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0x33]);
    }

    #[test]
    fn pointer_stays_where_the_write_ended() {
        let mut chip = instant(EepromPart::C02, &[]);
        chip.write(&[0x06, 0xA, 0xB]).unwrap();
        // Wrote 0x06 and 0x07; the page counter rolled over to 0x00.
        let mut b = [0; 2];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0xFF, 0xFF]);
    }

    #[test]
    fn the_write_cycle_nacks_everything_until_it_ends() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut chip = Eeprom::new(EepromPart::C32, &[], WRITE_CYCLE);
        assert_eq!(chip.address(Rw::Write, t0), Ack::Ack);
        chip.write(&[0x00, 0x10, 0x55]).unwrap();
        chip.stop(ms(1));
        for (at, rw) in [(1, Rw::Write), (3, Rw::Read), (5, Rw::Write)] {
            assert_eq!(chip.address(rw, ms(at)), Ack::Nack, "{at} ms after the stop");
        }
        assert_eq!(chip.address(Rw::Write, ms(6)), Ack::Ack, "5 ms after the stop");
        assert_eq!(dump(&mut chip, 0x010, 1), [0x55]);
    }

    #[test]
    fn a_dummy_write_starts_no_write_cycle() {
        let t0 = Instant::now();
        let mut chip = Eeprom::new(EepromPart::C32, &[], WRITE_CYCLE);
        chip.write(&[0x00, 0x10]).unwrap();
        chip.stop(t0);
        assert_eq!(chip.address(Rw::Read, t0), Ack::Ack);
        chip.write(&[]).unwrap();
        chip.stop(t0);
        assert_eq!(chip.address(Rw::Write, t0), Ack::Ack, "an empty write (a probe) is no write");
    }
}
