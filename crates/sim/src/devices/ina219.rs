//! A TI INA219 current and power monitor: it measures the voltage across a shunt resistor and
//! the bus voltage, and computes current and power from a calibration the driver programs.
//!
//! What the model follows, from TI's INA219 datasheet (SBOS448G):
//! - Six 16-bit registers, high byte first, behind a pointer that stays where it was set
//!   (Table 4): configuration (R/W, 0x399F at power-on), shunt voltage, bus voltage, power,
//!   current (read-only) and calibration (R/W, 0).
//! - Configuration bit 15 (RST) resets every register and clears itself; bit 14 is unused
//!   and reads 0; PG (bits 12:11) sets the shunt range to ±40·2^PG mV; BRNG (bit 13) the bus
//!   range to 16 or 32 V; BADC and SADC (bits 10:7, 6:3) the conversion time of each ADC
//!   (84 µs at 9 bits to 68.10 ms for 128 samples); MODE (bits 2:0) which ADCs run,
//!   triggered or continuous, or power-down (0) and ADC off (4).
//! - Shunt voltage: LSB 10 µV, signed; bus voltage: bits 15:3, LSB 4 mV, then CNVR (bit 1)
//!   and OVF (bit 0).
//! - Current = shunt voltage × calibration / 4096 and power = current × bus voltage / 5000
//!   (equations 4 and 5), in register units; both read 0 until calibration is programmed.
//!   Calibration bit 0 is void and reads 0.
//! - CNVR is set when a conversion has completed, and cleared by writing a mode other than
//!   power-down or ADC off (which starts a conversion) and by reading the power register.
//!   OVF is set when current or power is out of range; the model then saturates the register.
//!
//! The model's own answers where the datasheet says nothing: a shunt voltage beyond the PGA
//! range reads as the range's end, as does a bus voltage beyond its range; power is the
//! magnitude of the product; a pointer past register 5 is not acknowledged (EREMOTEIO), and
//! writes to read-only registers are acknowledged and ignored. The measured quantities come
//! from the config and do not change, so every conversion gives the same values.

use super::{Ack, Device, Rw};
use smbus_proxy_wire::Errno;
use std::time::{Duration, Instant};

const CONFIG: u8 = 0x00;
const SHUNT: u8 = 0x01;
const BUS: u8 = 0x02;
const POWER: u8 = 0x03;
const CURRENT: u8 = 0x04;
const CALIBRATION: u8 = 0x05;

const CONFIG_RESET: u16 = 0x399F;
const RST: u16 = 1 << 15;
const UNUSED: u16 = 1 << 14;

/// One ADC's conversion time for its 4-bit BADC or SADC setting (the datasheet's Table 5).
fn adc_time(setting: u16) -> Duration {
    let us = match setting & 0xF {
        0b0000 | 0b0100 => 84,
        0b0001 | 0b0101 => 148,
        0b0010 | 0b0110 => 276,
        0b0011 | 0b0111 | 0b1000 => 532,
        0b1001 => 1_060,
        0b1010 => 2_130,
        0b1011 => 4_260,
        0b1100 => 8_510,
        0b1101 => 17_020,
        0b1110 => 34_050,
        _ => 68_100,
    };
    Duration::from_micros(us)
}

pub(crate) struct Ina219 {
    /// The shunt voltage in 10 µV units and the bus voltage in 4 mV units, before the
    /// ranges the configuration sets.
    shunt: i64,
    bus: i64,
    config: u16,
    calibration: u16,
    pointer: u8,
    /// Bytes of the pointed register already sent in this read message.
    sent: usize,
    /// When CNVR is (or will be) set; `None`: clear, with no conversion running.
    ready: Option<Instant>,
    now: Instant,
}

impl Ina219 {
    pub(crate) fn new(bus_volts: f64, current_amps: f64, shunt_ohms: f64, now: Instant) -> Self {
        let mut chip = Ina219 {
            shunt: (current_amps * shunt_ohms / 10e-6).round() as i64,
            bus: (bus_volts / 4e-3).round() as i64,
            config: CONFIG_RESET,
            calibration: 0,
            pointer: 0,
            sent: 0,
            ready: None,
            now,
        };
        chip.start_conversion();
        chip
    }

    fn mode(&self) -> u16 {
        self.config & 0b111
    }

    /// The time one conversion of the ADCs the mode runs takes.
    fn conversion_time(&self) -> Duration {
        let mode = self.mode();
        let shunt = if mode & 0b001 != 0 { adc_time(self.config >> 3) } else { Duration::ZERO };
        let bus = if mode & 0b010 != 0 { adc_time(self.config >> 7) } else { Duration::ZERO };
        shunt + bus
    }

    /// A mode that measures starts a conversion; power-down and ADC off leave CNVR alone.
    fn start_conversion(&mut self) {
        if !matches!(self.mode(), 0 | 4) {
            self.ready = Some(self.now + self.conversion_time());
        }
    }

    fn shunt_register(&self) -> i64 {
        let range = 4000 << ((self.config >> 11) & 0b11);
        self.shunt.clamp(-range, range)
    }

    fn bus_register(&self) -> i64 {
        let range = if self.config & (1 << 13) != 0 { 8000 } else { 4000 };
        self.bus.clamp(0, range)
    }

    /// The current and power registers, and whether either overflowed.
    fn computed(&self) -> (i16, u16, bool) {
        let current = self.shunt_register() * i64::from(self.calibration) / 4096;
        let power = current.abs() * self.bus_register() / 5000;
        let (c, p) = (current.clamp(i16::MIN.into(), i16::MAX.into()), power.min(u16::MAX.into()));
        (c as i16, p as u16, c != current || p != power)
    }

    fn register(&self, at: u8) -> u16 {
        match at {
            CONFIG => self.config,
            SHUNT => self.shunt_register() as i16 as u16,
            BUS => {
                let cnvr = self.ready.is_some_and(|at| self.now >= at);
                let overflow = self.computed().2;
                (self.bus_register() as u16) << 3 | u16::from(cnvr) << 1 | u16::from(overflow)
            }
            POWER => self.computed().1,
            CURRENT => self.computed().0 as u16,
            _ => self.calibration,
        }
    }

    fn store(&mut self, at: u8, value: u16) {
        match at {
            CONFIG if value & RST != 0 => {
                self.config = CONFIG_RESET;
                self.calibration = 0;
                self.start_conversion();
            }
            CONFIG => {
                self.config = value & !UNUSED;
                self.start_conversion();
            }
            CALIBRATION => self.calibration = value & !1,
            _ => {}
        }
    }
}

impl Device for Ina219 {
    fn address(&mut self, _rw: Rw, now: Instant) -> Ack {
        self.now = now;
        Ack::Ack
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let Some((&pointer, values)) = data.split_first() else { return Ok(()) };
        if pointer > CALIBRATION {
            return Err(Errno::EREMOTEIO);
        }
        self.pointer = pointer;
        // A register changes only when both of its bytes arrived; more pairs write it again.
        for pair in values.chunks_exact(2) {
            self.store(pointer, u16::from_be_bytes([pair[0], pair[1]]));
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.sent = 0;
        self.read_more(buf)
    }

    fn read_more(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        let bytes = self.register(self.pointer).to_be_bytes();
        for b in buf {
            *b = bytes[self.sent % 2];
            self.sent += 1;
        }
        if self.pointer == POWER {
            // Reading the power register clears CNVR; a continuous mode converts again.
            self.ready = None;
            if self.mode() >= 5 {
                self.start_conversion();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 12 V, 0.25 A through 0.1 Ω: 25 mV across the shunt.
    fn chip() -> Ina219 {
        Ina219::new(12.0, 0.25, 0.1, Instant::now())
    }

    fn read(chip: &mut Ina219, at: u8, now: Instant) -> u16 {
        chip.address(Rw::Write, now);
        chip.write(&[at]).unwrap();
        chip.address(Rw::Read, now);
        let mut buf = [0; 2];
        chip.read(&mut buf).unwrap();
        u16::from_be_bytes(buf)
    }

    fn write(chip: &mut Ina219, at: u8, value: u16, now: Instant) {
        chip.address(Rw::Write, now);
        let [hi, lo] = value.to_be_bytes();
        chip.write(&[at, hi, lo]).unwrap();
    }

    #[test]
    fn power_on_values_and_no_current_before_calibration() {
        let mut c = chip();
        let t = c.now;
        assert_eq!(read(&mut c, CONFIG, t), 0x399F);
        assert_eq!(read(&mut c, SHUNT, t), 2500, "25 mV in 10 µV");
        assert_eq!(read(&mut c, BUS, t) >> 3, 3000, "12 V in 4 mV");
        assert_eq!((read(&mut c, CURRENT, t), read(&mut c, POWER, t)), (0, 0));
    }

    #[test]
    fn current_and_power_by_the_datasheets_equations() {
        let mut c = chip();
        let t = c.now;
        write(&mut c, CALIBRATION, 4096, t);
        assert_eq!(read(&mut c, CURRENT, t), 2500, "2500 × 4096 / 4096");
        assert_eq!(read(&mut c, POWER, t), 1500, "2500 × 3000 / 5000");
        write(&mut c, CALIBRATION, 8193, t);
        assert_eq!(read(&mut c, CALIBRATION, t), 8192, "bit 0 is void");
        assert_eq!(read(&mut c, CURRENT, t), 5000);
    }

    #[test]
    fn ranges_negative_current_and_overflow() {
        let mut c = Ina219::new(20.0, -0.5, 0.1, Instant::now());
        let t = c.now;
        assert_eq!(read(&mut c, SHUNT, t) as i16, -5000);
        // PGA ÷1: ±40 mV; BRNG 16 V.
        write(&mut c, CONFIG, 0x019F, t);
        assert_eq!(read(&mut c, SHUNT, t) as i16, -4000);
        assert_eq!(read(&mut c, BUS, t) >> 3, 4000);
        write(&mut c, CALIBRATION, 0xFFFE, t);
        assert_eq!(read(&mut c, CURRENT, t) as i16, i16::MIN, "saturated");
        assert_eq!(read(&mut c, BUS, t) & 1, 1, "OVF");
    }

    #[test]
    fn cnvr_sets_after_the_conversion_time_and_clears_on_a_power_read() {
        let mut c = chip();
        let t0 = c.now;
        let us = |n| t0 + Duration::from_micros(n);
        // Triggered shunt and bus at 12 bits: 532 + 532 µs.
        write(&mut c, CONFIG, 0x399B, t0);
        assert_eq!(read(&mut c, BUS, us(1063)) & 2, 0);
        assert_eq!(read(&mut c, BUS, us(1064)) & 2, 2);
        read(&mut c, POWER, us(1100));
        assert_eq!(read(&mut c, BUS, us(5000)) & 2, 0, "triggered: one conversion only");
        // Continuous, 128 samples on the bus ADC only: 68.10 ms, and again after a power read.
        write(&mut c, CONFIG, 0x3F9E, us(5000));
        assert_eq!(read(&mut c, BUS, us(73_099)) & 2, 0);
        assert_eq!(read(&mut c, BUS, us(73_100)) & 2, 2);
        read(&mut c, POWER, us(80_000));
        assert_eq!(read(&mut c, BUS, us(148_099)) & 2, 0);
        assert_eq!(read(&mut c, BUS, us(148_100)) & 2, 2);
    }

    #[test]
    fn reset_read_only_registers_and_bad_pointers() {
        let mut c = chip();
        let t = c.now;
        write(&mut c, CALIBRATION, 4096, t);
        write(&mut c, CONFIG, 0x7FFF, t);
        assert_eq!(read(&mut c, CONFIG, t), 0x3FFF, "bit 14 is unused");
        write(&mut c, SHUNT, 0x1234, t);
        assert_eq!(read(&mut c, SHUNT, t), 2500, "read-only: acknowledged, unchanged");
        write(&mut c, CONFIG, RST, t);
        assert_eq!((read(&mut c, CONFIG, t), read(&mut c, CALIBRATION, t)), (0x399F, 0));
        assert_eq!(c.write(&[0x06]), Err(Errno::EREMOTEIO));
        // Half a register changes nothing; reading on repeats the register.
        c.write(&[CALIBRATION, 0x10]).unwrap();
        let mut buf = [0; 4];
        c.read(&mut buf).unwrap();
        assert_eq!(buf, [0, 0, 0, 0]);
    }
}
