//! A PCF8574: an 8-bit quasi-bidirectional port with no registers at all.
//!
//! Each pin has a weak pull-up when its latch bit is 1 and a strong pull-down when it is 0,
//! so a pin reads low if either the chip or the outside world pulls it low: the port reads
//! `latch & inputs`, where `inputs` is what the external circuit drives (1 = left floating
//! or driven high).

use super::Device;
use smbus_proxy_wire::Errno;

pub(crate) struct Pcf8574 {
    latch: u8,
    inputs: u8,
}

impl Pcf8574 {
    pub(crate) fn new(inputs: u8) -> Self {
        // Power-on state: every pin high, i.e. usable as an input.
        Pcf8574 { latch: 0xFF, inputs }
    }
}

impl Device for Pcf8574 {
    /// Every byte is latched onto the pins as it arrives, so the last one stays.
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        if let Some(&last) = data.last() {
            self.latch = last;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        buf.fill(self.latch & self.inputs);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_latch_and_inputs() {
        let mut chip = Pcf8574::new(0b1111_0101);
        let mut b = [0; 2];
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0b1111_0101; 2]);
        chip.write(&[0x00, 0x3C]).unwrap();
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0x3C & 0b1111_0101; 2]);
        chip.write(&[]).unwrap();
        chip.read(&mut b[..1]).unwrap();
        assert_eq!(b[0], 0x34);
    }
}
