//! An Si4703 FM tuner in 2-wire mode: sixteen 16-bit registers with no register pointer.
//!
//! The chip ignores the SMBus idea of a command byte. Every read message starts at register
//! 0x0A and runs 0x0A..=0x0F, 0x00..=0x09 and round again; every write message starts at
//! register 0x02 and runs 0x02..=0x07 and round again; both high byte first. So an SMBus
//! `read_i2c_block_data(0x0A, 32)` first writes 0x0A into register 0x02's high byte, which
//! real hardware shows too.
//!
//! Only the registers are modelled: no radio, so tuning and seeking never complete.

use super::Device;
use smbus_proxy_wire::Errno;

const READ_FIRST: usize = 0x0A;
const WRITE_FIRST: usize = 0x02;
/// Registers 0x02..=0x07, two bytes each.
const WRITE_CYCLE: usize = 12;
/// All sixteen registers, two bytes each.
const READ_CYCLE: usize = 32;

pub(crate) struct Si4703 {
    regs: [u16; 16],
    /// Byte offset from register 0x0A's high byte within the current read message.
    read_pos: usize,
}

impl Si4703 {
    pub(crate) fn new() -> Self {
        let mut regs = [0; 16];
        // DEVICEID, CHIPID and TEST1 as the original project's chip reported them after reset.
        regs[0x00] = 0x1242;
        regs[0x01] = 0x1200;
        regs[0x07] = 0x0100;
        Si4703 { regs, read_pos: 0 }
    }
}

/// Byte `pos` of a high-byte-first walk that starts at register `first`.
fn locate(first: usize, pos: usize) -> (usize, bool) {
    ((first + pos / 2) % 16, pos.is_multiple_of(2))
}

impl Device for Si4703 {
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        for (pos, &b) in data.iter().enumerate() {
            let (reg, high) = locate(WRITE_FIRST, pos % WRITE_CYCLE);
            let r = &mut self.regs[reg];
            *r = if high { (*r & 0x00FF) | (u16::from(b) << 8) } else { (*r & 0xFF00) | u16::from(b) };
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.read_pos = 0;
        self.read_more(buf)
    }

    fn read_more(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for b in buf {
            let (reg, high) = locate(READ_FIRST, self.read_pos);
            let [hi, lo] = self.regs[reg].to_be_bytes();
            *b = if high { hi } else { lo };
            self.read_pos = (self.read_pos + 1) % READ_CYCLE;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registers(chip: &mut Si4703) -> [u16; 16] {
        let mut buf = [0; READ_CYCLE];
        chip.read(&mut buf).unwrap();
        let mut regs = [0; 16];
        for (i, pair) in buf.chunks(2).enumerate() {
            regs[(READ_FIRST + i) % 16] = u16::from_be_bytes([pair[0], pair[1]]);
        }
        regs
    }

    #[test]
    fn reset_values() {
        let regs = registers(&mut Si4703::new());
        let mut expected = [0; 16];
        expected[0] = 0x1242;
        expected[1] = 0x1200;
        expected[7] = 0x0100;
        assert_eq!(regs, expected);
    }

    #[test]
    fn writes_start_at_02_and_wrap_after_07() {
        let mut chip = Si4703::new();
        let data: Vec<u8> = (1..=14).collect();
        chip.write(&data).unwrap();
        let regs = registers(&mut chip);
        // Bytes 13 and 14 wrapped round onto register 0x02.
        assert_eq!(regs[2..8], [0x0D0E, 0x0304, 0x0506, 0x0708, 0x090A, 0x0B0C]);
        assert_eq!(regs[8], 0);
        // A new message starts at 0x02 again, and a lone high byte leaves the low byte alone.
        chip.write(&[0xAB]).unwrap();
        assert_eq!(registers(&mut chip)[2], 0xAB0E);
    }

    #[test]
    fn each_read_message_restarts_at_0a_but_a_continued_read_goes_on() {
        let mut chip = Si4703::new();
        let mut a = [0; 12];
        chip.read(&mut a).unwrap();
        let mut b = [0; 2];
        chip.read_more(&mut b).unwrap();
        assert_eq!(b, [0x12, 0x42]);
        chip.read(&mut b).unwrap();
        assert_eq!(b, [0x00, 0x00]);
        // Past register 0x09 the walk comes back to 0x0A.
        let mut long = [0; READ_CYCLE + 2];
        chip.read(&mut long).unwrap();
        assert_eq!(long[..2], long[READ_CYCLE..]);
    }
}
