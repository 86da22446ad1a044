//! A chip described by its register map: 8- and 16-bit registers behind a pointer, each
//! with its power-on value, read-only or writable through a mask. This is how temperature
//! sensors of the LM75 family (PCT2075, TMP102, MCP9808), current monitors (INA219) and ADCs
//! (ADS1115) look from the bus, and, with auto-increment, most 8-bit sensors.
//!
//! What the model follows, from the datasheets of those parts:
//! - The first byte of a write message is the pointer; the bytes after it are written to
//!   the register it names, high byte first for big-endian registers (the LM75 family,
//!   INA219, ADS1115) or low byte first for little-endian ones (SMBus words).
//! - A read message sends the pointed register's bytes in the same order. Without
//!   auto-increment the pointer stays, so reading on repeats the same register (which is
//!   why LM75-family drivers can read the temperature again without rewriting the pointer);
//!   with it, the pointer moves to the next register after each whole one, and wraps from
//!   0xFF to 0x00.
//! - A register changes only when all of its bytes arrived; a 16-bit register written with
//!   one byte keeps its value.
//! - Bits outside a register's write mask keep their value (reserved bits, the LSBs an
//!   LM75-family limit register ignores).
//! - The parts mark measurement registers read-only and define no error for writing them: the
//!   bytes are acknowledged and change nothing.
//!
//! Where parts differ, the model picks the strict answer: a pointer naming no register is
//! not acknowledged (EREMOTEIO), so a driver aiming at a register the config does not list
//! fails at once instead of reading made-up values; a read of such an address (reached by
//! auto-increment) sees the released bus, 0xFF.

use super::Device;
use smbus_proxy_wire::Errno;

/// The order of a 16-bit register's bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOrder {
    /// High byte first, as I2C sensors send them.
    Big,
    /// Low byte first, as SMBus words go.
    Little,
}

/// One register of a [`Model::RegisterMap`](crate::Model::RegisterMap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Register {
    /// Its pointer value.
    pub at: u8,
    /// Whether it holds 16 bits rather than 8.
    pub wide: bool,
    /// Its power-on value.
    pub value: u16,
    /// Whether writes leave it unchanged.
    pub read_only: bool,
    /// The bits a write changes.
    pub write_mask: u16,
}

impl Register {
    fn len(&self) -> usize {
        if self.wide { 2 } else { 1 }
    }
}

pub(crate) struct RegisterMap {
    order: ByteOrder,
    auto_increment: bool,
    regs: Box<[Option<Register>; 256]>,
    pointer: u8,
    /// Bytes of the pointed register already sent in the current read message.
    sent: usize,
}

impl RegisterMap {
    pub(crate) fn new(order: ByteOrder, auto_increment: bool, registers: &[Register]) -> Self {
        let mut regs = Box::new([None; 256]);
        for r in registers {
            regs[usize::from(r.at)] = Some(*r);
        }
        RegisterMap { order, auto_increment, regs, pointer: 0, sent: 0 }
    }

    /// The `i`th byte of a register on the wire.
    fn byte(&self, r: &Register, i: usize) -> u8 {
        let bytes = match (r.wide, self.order) {
            (false, _) => return r.value as u8,
            (true, ByteOrder::Big) => r.value.to_be_bytes(),
            (true, ByteOrder::Little) => r.value.to_le_bytes(),
        };
        bytes[i]
    }

    fn value_of(&self, r: &Register, bytes: &[u8]) -> u16 {
        match (r.wide, self.order) {
            (false, _) => u16::from(bytes[0]),
            (true, ByteOrder::Big) => u16::from_be_bytes([bytes[0], bytes[1]]),
            (true, ByteOrder::Little) => u16::from_le_bytes([bytes[0], bytes[1]]),
        }
    }

    fn next(&mut self) {
        if self.auto_increment {
            self.pointer = self.pointer.wrapping_add(1);
        }
    }
}

impl Device for RegisterMap {
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let Some((&pointer, mut values)) = data.split_first() else { return Ok(()) };
        if self.regs[usize::from(pointer)].is_none() {
            return Err(Errno::EREMOTEIO);
        }
        self.pointer = pointer;
        while !values.is_empty() {
            let at = usize::from(self.pointer);
            let Some(r) = self.regs[at] else {
                // Auto-increment ran off the map: the next byte is not acknowledged.
                return Err(Errno::EREMOTEIO);
            };
            if values.len() < r.len() {
                break;
            }
            let (bytes, rest) = values.split_at(r.len());
            if !r.read_only {
                let value = (r.value & !r.write_mask) | (self.value_of(&r, bytes) & r.write_mask);
                self.regs[at] = Some(Register { value, ..r });
            }
            values = rest;
            self.next();
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.sent = 0;
        self.read_more(buf)
    }

    fn read_more(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for b in buf {
            match self.regs[usize::from(self.pointer)] {
                None => {
                    *b = 0xFF;
                    self.next();
                }
                Some(r) => {
                    *b = self.byte(&r, self.sent);
                    self.sent += 1;
                    if self.sent == r.len() {
                        self.sent = 0;
                        self.next();
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(at: u8, wide: bool, value: u16) -> Register {
        Register { at, wide, value, read_only: false, write_mask: if wide { 0xFFFF } else { 0xFF } }
    }

    /// A PCT2075 at power-on, as its datasheet's register table gives it: Temp (read-only,
    /// 11 bits used), Conf, Thyst and Tos (9 bits used; 75 and 80 °C), Tidle (5 bits).
    fn pct2075() -> RegisterMap {
        RegisterMap::new(
            ByteOrder::Big,
            false,
            &[
                Register { read_only: true, ..reg(0x00, true, 0x1900) },
                Register { write_mask: 0x1F, ..reg(0x01, false, 0x00) },
                Register { write_mask: 0xFF80, ..reg(0x02, true, 0x4B00) },
                Register { write_mask: 0xFF80, ..reg(0x03, true, 0x5000) },
                Register { write_mask: 0x1F, ..reg(0x04, false, 0x00) },
            ],
        )
    }

    fn read(chip: &mut RegisterMap, pointer: u8, n: usize) -> Vec<u8> {
        chip.write(&[pointer]).unwrap();
        let mut buf = vec![0; n];
        chip.read(&mut buf).unwrap();
        buf
    }

    #[test]
    fn sixteen_bit_registers_big_endian_and_the_pointer_stays() {
        let mut chip = pct2075();
        assert_eq!(read(&mut chip, 0x00, 2), [0x19, 0x00]);
        // 0x02 and 0x03 are two registers, not overlapping bytes.
        assert_eq!(read(&mut chip, 0x02, 2), [0x4B, 0x00]);
        assert_eq!(read(&mut chip, 0x03, 2), [0x50, 0x00]);
        // Reading on repeats the register; a new read message starts it again.
        assert_eq!(read(&mut chip, 0x03, 5), [0x50, 0x00, 0x50, 0x00, 0x50]);
        let mut again = [0; 2];
        chip.read(&mut again).unwrap();
        assert_eq!(again, [0x50, 0x00]);
        // An 8-bit register next to them is one byte.
        assert_eq!(read(&mut chip, 0x01, 3), [0x00; 3]);
    }

    #[test]
    fn write_masks_keep_the_bits_a_part_ignores() {
        let mut chip = pct2075();
        chip.write(&[0x03, 0x55, 0xFF]).unwrap();
        assert_eq!(read(&mut chip, 0x03, 2), [0x55, 0x80], "Tos keeps its 9 MSBs");
        chip.write(&[0x04, 0xFF]).unwrap();
        assert_eq!(read(&mut chip, 0x04, 1), [0x1F]);
    }

    #[test]
    fn a_write_to_a_read_only_register_is_acknowledged_and_ignored() {
        let mut chip = pct2075();
        assert_eq!(chip.write(&[0x00, 0x12, 0x34]), Ok(()));
        assert_eq!(read(&mut chip, 0x00, 2), [0x19, 0x00]);
    }

    #[test]
    fn half_a_register_changes_nothing() {
        let mut chip = pct2075();
        chip.write(&[0x02, 0x60]).unwrap();
        assert_eq!(read(&mut chip, 0x02, 2), [0x4B, 0x00]);
        // Without auto-increment, more bytes write the same register again.
        chip.write(&[0x02, 0x10, 0x00, 0x20, 0x00, 0x30]).unwrap();
        assert_eq!(read(&mut chip, 0x02, 2), [0x20, 0x00]);
    }

    #[test]
    fn a_pointer_to_no_register_is_not_acknowledged() {
        let mut chip = pct2075();
        chip.write(&[0x03]).unwrap();
        assert_eq!(chip.write(&[0x05]), Err(Errno::EREMOTEIO));
        assert_eq!(chip.write(&[0xFF, 0x00]), Err(Errno::EREMOTEIO));
        // The pointer stayed where it was.
        let mut buf = [0; 2];
        chip.read(&mut buf).unwrap();
        assert_eq!(buf, [0x50, 0x00]);
    }

    #[test]
    fn little_endian_auto_increment_runs_off_the_map() {
        let mut chip =
            RegisterMap::new(ByteOrder::Little, true, &[reg(0x10, true, 0x1234), reg(0x11, false, 0x56)]);
        assert_eq!(read(&mut chip, 0x10, 5), [0x34, 0x12, 0x56, 0xFF, 0xFF]);
        // Writes move on the same way; the byte that would go past the map is NACKed.
        assert_eq!(chip.write(&[0x10, 0xCD, 0xAB, 0x78, 0x00]), Err(Errno::EREMOTEIO));
        assert_eq!(read(&mut chip, 0x10, 3), [0xCD, 0xAB, 0x78]);
    }

    #[test]
    fn a_counted_read_continues_inside_a_register() {
        let mut chip =
            RegisterMap::new(ByteOrder::Big, true, &[reg(0x00, true, 0x0302), reg(0x01, true, 0xAABB)]);
        chip.write(&[0x00]).unwrap();
        let mut count = [0];
        chip.read(&mut count).unwrap();
        let mut rest = [0; 3];
        chip.read_more(&mut rest).unwrap();
        assert_eq!((count, rest), ([0x03], [0x02, 0xAA, 0xBB]));
    }
}
