//! A Bosch BME280 pressure, temperature and humidity sensor: trimming constants in NVM,
//! oversampling, forced and normal mode, and a measurement that takes time.
//!
//! What the model follows, from Bosch's "BME280 Data sheet" (BST-BME280-DS002, revision 1.6):
//! - The memory map (§5.3): trimming constants at 0x88–0xA1 and 0xE1–0xE7, `id` 0xD0 = 0x60,
//!   `reset` 0xE0 (writing 0xB6 resets the chip as at power-on, and it reads 0x00),
//!   `ctrl_hum` 0xF2, `status` 0xF3 (bit 3 `measuring`, bit 0 `im_update`), `ctrl_meas` 0xF4
//!   (`osrs_t`, `osrs_p`, `mode`), `config` 0xF5 (`t_sb`, `filter`, `spi3w_en`), and the
//!   results at 0xF7–0xFE: pressure and temperature 20 bits each (msb, lsb, xlsb bits 7:4),
//!   humidity 16 bits.
//! - I2C (§6.2): a write is pairs of register address and data (no auto-increment); a read
//!   starts at the address last written and increments.
//! - A change to `ctrl_hum` takes effect only after a write to `ctrl_meas` (§5.4.3).
//! - Forced mode runs one measurement and returns to sleep; normal mode measures, then waits
//!   `t_standby`, again and again (§3.3). `status.measuring` is set while a conversion runs,
//!   and the result registers change only when it ends. A measurement skipped (oversampling
//!   0) reads 0x80000 (0x8000 for humidity), as do the registers after a reset (§5.4).
//! - The measurement time is the typical one of §9.1: 1 ms, plus 2 ms per temperature
//!   sample, plus 2 ms per pressure or humidity sample and 0.5 ms, for the parts measured.
//! - `im_update` is set for the 2 ms start-up time after a reset, while the trimming
//!   constants are copied (§5.4.4, Table 1).
//! - Resolution (§3.4): 16 bits plus one per doubling of oversampling, 20 with the IIR filter.
//!
//! The measured values are fixed by the configuration, so the IIR filter (whose output for a
//! constant input is that input) only sets the resolution. The trimming constants are one
//! chip's: temperature and pressure those of the datasheet's calculation example (Bosch's
//! BMP280 data sheet, §3.12, which the BME280 shares), humidity a real chip's. The raw values
//! the chip sends are found by inverting the datasheet's compensation formulas (§4.2.3), so a
//! driver that applies them reads the configured values to within the resolution.

use super::{Ack, Device, Rw};
use smbus_proxy_wire::Errno;
use std::time::{Duration, Instant};

const ID: u8 = 0x60;
const REG_ID: u8 = 0xD0;
const REG_RESET: u8 = 0xE0;
const REG_CTRL_HUM: u8 = 0xF2;
const REG_STATUS: u8 = 0xF3;
const REG_CTRL_MEAS: u8 = 0xF4;
const REG_CONFIG: u8 = 0xF5;
const REG_DATA: u8 = 0xF7;
const RESET_COMMAND: u8 = 0xB6;
const STATUS_MEASURING: u8 = 1 << 3;
const STATUS_IM_UPDATE: u8 = 1 << 0;
/// From a reset until the trimming constants are in place (Table 1, t_startup).
const STARTUP: Duration = Duration::from_millis(2);
/// What a result register holds when its measurement was skipped, or before the first.
const SKIPPED_20: u32 = 0x8_0000;
const SKIPPED_16: u32 = 0x8000;

/// Trimming constants, named as the datasheet names them (Table 16).
#[derive(Clone, Copy)]
struct Trimming {
    t1: u16,
    t2: i16,
    t3: i16,
    p: [i64; 9],
    h1: u8,
    h2: i16,
    h3: u8,
    h4: i16,
    h5: i16,
    h6: i8,
}

const TRIMMING: Trimming = Trimming {
    t1: 27504,
    t2: 26435,
    t3: -1000,
    p: [36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000],
    h1: 75,
    h2: 362,
    h3: 0,
    h4: 313,
    h5: 50,
    h6: 30,
};

impl Trimming {
    /// Registers 0x88–0xA1 and 0xE1–0xE7 as the chip's memory map lays them out: 16-bit
    /// values little-endian, H4 and H5 12 bits each sharing 0xE5.
    fn write_to(&self, regs: &mut [u8; 256]) {
        let p = self.p.map(|v| v as u16);
        let words = [self.t1, self.t2 as u16, self.t3 as u16].into_iter().chain(p);
        for (i, word) in words.enumerate() {
            regs[0x88 + 2 * i..0x8A + 2 * i].copy_from_slice(&word.to_le_bytes());
        }
        regs[0xA1] = self.h1;
        regs[0xE1..0xE3].copy_from_slice(&self.h2.to_le_bytes());
        regs[0xE3] = self.h3;
        regs[0xE4] = (self.h4 >> 4) as u8;
        regs[0xE5] = (self.h4 & 0x0F) as u8 | ((self.h5 & 0x0F) << 4) as u8;
        regs[0xE6] = (self.h5 >> 4) as u8;
        regs[0xE7] = self.h6 as u8;
    }

    /// `t_fine` and the temperature in 0.01 °C, from a raw temperature (§4.2.3).
    fn temperature(&self, adc: i64) -> (i64, i64) {
        let (t1, t2, t3) = (i64::from(self.t1), i64::from(self.t2), i64::from(self.t3));
        let var1 = (((adc >> 3) - (t1 << 1)) * t2) >> 11;
        let var2 = (((((adc >> 4) - t1) * ((adc >> 4) - t1)) >> 12) * t3) >> 14;
        let t_fine = var1 + var2;
        (t_fine, (t_fine * 5 + 128) >> 8)
    }

    /// The pressure in Pa as Q24.8, from a raw pressure (the 64-bit formula of §4.2.3).
    fn pressure(&self, t_fine: i64, adc: i64) -> i64 {
        let [p1, p2, p3, p4, p5, p6, p7, p8, p9] = self.p;
        let mut var1 = t_fine - 128_000;
        let mut var2 = var1 * var1 * p6;
        var2 += (var1 * p5) << 17;
        var2 += p4 << 35;
        var1 = ((var1 * var1 * p3) >> 8) + ((var1 * p2) << 12);
        var1 = (((1i64 << 47) + var1) * p1) >> 33;
        if var1 == 0 {
            return 0;
        }
        let mut p = 1_048_576 - adc;
        p = (((p << 31) - var2) * 3125) / var1;
        let var1 = (p9 * (p >> 13) * (p >> 13)) >> 25;
        let var2 = (p8 * p) >> 19;
        ((p + var1 + var2) >> 8) + (p7 << 4)
    }

    /// The relative humidity in %RH as Q22.10, from a raw humidity (§4.2.3).
    fn humidity(&self, t_fine: i64, adc: i64) -> i64 {
        let (h1, h2, h3) = (i64::from(self.h1), i64::from(self.h2), i64::from(self.h3));
        let (h4, h5, h6) = (i64::from(self.h4), i64::from(self.h5), i64::from(self.h6));
        let x = t_fine - 76_800;
        let x = ((((adc << 14) - (h4 << 20) - (h5 * x)) + 16_384) >> 15)
            * (((((((x * h6) >> 10) * (((x * h3) >> 11) + 32_768)) >> 10) + 2_097_152) * h2 + 8192) >> 14);
        let x = x - (((((x >> 15) * (x >> 15)) >> 7) * h1) >> 4);
        x.clamp(0, 419_430_400) >> 12
    }
}

/// The raw value in `0..=max` whose compensated value is nearest `target`, for a
/// compensation that is monotonic (rising or falling) over the range.
fn invert(max: i64, target: i64, compensate: impl Fn(i64) -> i64) -> u32 {
    let rising = compensate(max) > compensate(0);
    let past = |adc: i64| if rising { compensate(adc) >= target } else { compensate(adc) <= target };
    let (mut lo, mut hi) = (0, max);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if past(mid) { hi = mid } else { lo = mid + 1 }
    }
    let best =
        [lo - 1, lo].into_iter().filter(|&adc| adc >= 0).min_by_key(|&adc| (compensate(adc) - target).abs());
    best.unwrap_or(lo) as u32
}

/// Oversampling settings (`osrs_*`): 0 skips the measurement, 1–5 take 1–16 samples, and
/// 6 and 7 are 16 too.
fn samples(osrs: u8) -> u32 {
    match osrs {
        0 => 0,
        n => 1 << (n.min(5) - 1),
    }
}

/// `t_standby` of normal mode, from `config.t_sb` (Table 27).
fn standby(t_sb: u8) -> Duration {
    let us = [500, 62_500, 125_000, 250_000, 500_000, 1_000_000, 10_000, 20_000][usize::from(t_sb & 7)];
    Duration::from_micros(us)
}

/// What a measurement was set up to take: the oversampling of each part, latched when
/// `ctrl_meas` is written.
#[derive(Clone, Copy)]
struct Setup {
    osrs_t: u8,
    osrs_p: u8,
    osrs_h: u8,
    filter: bool,
}

impl Setup {
    /// The typical measurement time (§9.1).
    fn duration(&self) -> Duration {
        let [t, p, h] = [self.osrs_t, self.osrs_p, self.osrs_h].map(samples);
        let part = |n: u32| if n == 0 { 0 } else { 2000 * n + 500 };
        let us = 1000 + 2000 * t + part(p) + part(h);
        Duration::from_micros(us.into())
    }

    /// A 20-bit result as the chip sends it at this oversampling: its resolution in bits,
    /// the rest zero; or the skipped value.
    fn resolve(&self, osrs: u8, adc: u32) -> u32 {
        if osrs == 0 {
            return SKIPPED_20;
        }
        let bits = if self.filter { 20 } else { 16 + u32::from(osrs.min(5)) - 1 };
        adc & !((1 << (20 - bits)) - 1)
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Sleep,
    /// One measurement, done at `done`.
    Forced {
        done: Instant,
        setup: Setup,
    },
    /// Measurements one after another from `start`, each `period` apart.
    Normal {
        start: Instant,
        period: Duration,
        setup: Setup,
        written: u64,
    },
}

pub(crate) struct Bme280 {
    /// The raw readings of the configured environment, full 20 (16) bits.
    adc_t: u32,
    adc_p: u32,
    adc_h: u32,
    regs: [u8; 256],
    pointer: u8,
    mode: Mode,
    /// The last reset, which `im_update` counts from.
    reset_at: Instant,
    /// The bus time of the last header; writes happen then.
    now: Instant,
}

impl Bme280 {
    /// A chip measuring `temperature` °C, `pressure` hPa and `humidity` %RH; the config has
    /// checked each is within the chip's operating range.
    pub(crate) fn new(temperature: f64, pressure: f64, humidity: f64, now: Instant) -> Self {
        let trim = TRIMMING;
        let adc_t = invert(0xF_FFFF, (temperature * 100.0).round() as i64, |adc| trim.temperature(adc).1);
        let (t_fine, _) = trim.temperature(adc_t.into());
        let adc_p =
            invert(0xF_FFFF, (pressure * 100.0 * 256.0).round() as i64, |adc| trim.pressure(t_fine, adc));
        let adc_h = invert(0xFFFF, (humidity * 1024.0).round() as i64, |adc| trim.humidity(t_fine, adc));
        let mut chip =
            Bme280 { adc_t, adc_p, adc_h, regs: [0; 256], pointer: 0, mode: Mode::Sleep, reset_at: now, now };
        chip.reset();
        chip
    }

    /// The power-on state: trimming constants and id, control registers zero, results at
    /// their reset values.
    fn reset(&mut self) {
        self.regs = [0; 256];
        TRIMMING.write_to(&mut self.regs);
        self.regs[usize::from(REG_ID)] = ID;
        self.write_results(SKIPPED_20, SKIPPED_20, SKIPPED_16);
        self.mode = Mode::Sleep;
        self.reset_at = self.now;
    }

    fn write_results(&mut self, press: u32, temp: u32, hum: u32) {
        let data = &mut self.regs[usize::from(REG_DATA)..0xFF];
        data[..3].copy_from_slice(&[(press >> 12) as u8, (press >> 4) as u8, (press << 4) as u8]);
        data[3..6].copy_from_slice(&[(temp >> 12) as u8, (temp >> 4) as u8, (temp << 4) as u8]);
        data[6..].copy_from_slice(&(hum as u16).to_be_bytes());
    }

    /// The results of a measurement with `setup`.
    fn measured(&mut self, setup: Setup) {
        let press = setup.resolve(setup.osrs_p, self.adc_p);
        let temp = setup.resolve(setup.osrs_t, self.adc_t);
        let hum = if setup.osrs_h == 0 { SKIPPED_16 } else { self.adc_h };
        self.write_results(press, temp, hum);
    }

    /// Brings the chip to bus time `now`: measurements that have ended are in the result
    /// registers, and a forced one has returned the chip to sleep.
    fn settle(&mut self, now: Instant) {
        match self.mode {
            Mode::Forced { done, setup } if now >= done => {
                self.measured(setup);
                self.mode = Mode::Sleep;
                self.regs[usize::from(REG_CTRL_MEAS)] &= !0b11;
            }
            Mode::Normal { start, period, setup, written } => {
                let ended = match now.checked_duration_since(start + setup.duration()) {
                    Some(since) => (since.as_nanos() / period.as_nanos()) as u64 + 1,
                    None => 0,
                };
                if ended > written {
                    self.mode = Mode::Normal { start, period, setup, written: ended };
                    self.measured(setup);
                }
            }
            _ => {}
        }
    }

    fn status(&self, now: Instant) -> u8 {
        let measuring = match self.mode {
            Mode::Sleep => false,
            Mode::Forced { .. } => true,
            Mode::Normal { start, period, setup, .. } => {
                let into = now.duration_since(start).as_nanos() % period.as_nanos();
                into < setup.duration().as_nanos()
            }
        };
        let updating = now < self.reset_at + STARTUP;
        (if measuring { STATUS_MEASURING } else { 0 }) | if updating { STATUS_IM_UPDATE } else { 0 }
    }

    fn write_register(&mut self, reg: u8, value: u8) {
        match reg {
            REG_RESET if value == RESET_COMMAND => self.reset(),
            REG_CTRL_HUM => self.regs[usize::from(reg)] = value & 0b111,
            REG_CONFIG => self.regs[usize::from(reg)] = value & 0b1111_1101,
            REG_CTRL_MEAS => {
                self.regs[usize::from(reg)] = value;
                let setup = Setup {
                    osrs_t: value >> 5,
                    osrs_p: (value >> 2) & 0b111,
                    osrs_h: self.regs[usize::from(REG_CTRL_HUM)],
                    filter: (self.regs[usize::from(REG_CONFIG)] >> 2) & 0b111 != 0,
                };
                let now = self.now;
                self.mode = match value & 0b11 {
                    0b00 => Mode::Sleep,
                    0b11 => {
                        let t_sb = self.regs[usize::from(REG_CONFIG)] >> 5;
                        Mode::Normal {
                            start: now,
                            period: setup.duration() + standby(t_sb),
                            setup,
                            written: 0,
                        }
                    }
                    _ => Mode::Forced { done: now + setup.duration(), setup },
                };
            }
            // The trimming constants, id, status and results are read-only, and the rest
            // of the map is reserved.
            _ => {}
        }
    }
}

impl Device for Bme280 {
    fn address(&mut self, _rw: Rw, now: Instant) -> Ack {
        self.settle(now);
        self.now = now;
        Ack::Ack
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let mut pairs = data.chunks_exact(2);
        for pair in pairs.by_ref() {
            self.pointer = pair[0];
            self.write_register(pair[0], pair[1]);
        }
        if let [reg] = pairs.remainder() {
            self.pointer = *reg;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for b in buf {
            *b = match self.pointer {
                REG_STATUS => self.status(self.now),
                reg => self.regs[usize::from(reg)],
            };
            self.pointer = self.pointer.wrapping_add(1);
        }
        Ok(())
    }
}

// ctrl_meas values are written grouped by field: osrs_t, osrs_p, mode.
#[cfg(test)]
#[allow(clippy::unusual_byte_groupings)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A chip at 25 °C, 1013.25 hPa and 50 %RH, and the time its start-up ended.
    fn chip() -> (Bme280, Instant) {
        let chip = Bme280::new(25.0, 1013.25, 50.0, Instant::now());
        let t0 = chip.now + STARTUP;
        (chip, t0)
    }

    fn write(chip: &mut Bme280, at: Instant, data: &[u8]) {
        assert_eq!(chip.address(Rw::Write, at), Ack::Ack);
        chip.write(data).unwrap();
    }

    fn read(chip: &mut Bme280, at: Instant, reg: u8, n: usize) -> Vec<u8> {
        write(chip, at, &[reg]);
        chip.address(Rw::Read, at);
        let mut buf = vec![0; n];
        chip.read(&mut buf).unwrap();
        buf
    }

    /// The compensated values of a burst read of 0xF7–0xFE, as a driver computes them.
    fn compensate(data: &[u8]) -> (f64, f64, f64) {
        let raw20 = |b: &[u8]| i64::from(b[0]) << 12 | i64::from(b[1]) << 4 | i64::from(b[2]) >> 4;
        let (t_fine, t) = TRIMMING.temperature(raw20(&data[3..6]));
        let p = TRIMMING.pressure(t_fine, raw20(&data[..3]));
        let h = TRIMMING.humidity(t_fine, i64::from(u16::from_be_bytes([data[6], data[7]])));
        (t as f64 / 100.0, p as f64 / 256.0 / 100.0, h as f64 / 1024.0)
    }

    #[test]
    fn the_datasheets_calculation_example() {
        // BMP280 data sheet §3.12: adc_T 519888 is 25.08 °C, adc_P 415148 is 100653.27 Pa.
        let (t_fine, t) = TRIMMING.temperature(519_888);
        assert_eq!((t_fine, t), (128_422, 2508));
        assert_eq!(TRIMMING.pressure(t_fine, 415_148) / 256, 100_653);
        // And back: the raw values a chip in that environment sends.
        let chip = Bme280::new(25.08, 1006.5327, 50.0, Instant::now());
        let (t_fine, t) = TRIMMING.temperature(chip.adc_t.into());
        assert_eq!(t, 2508);
        let p = TRIMMING.pressure(t_fine, chip.adc_p.into());
        assert!((p - 25_767_237).abs() < 64, "{p}: 100653.27 Pa is 25767237, and 64 is 0.25 Pa");
    }

    #[test]
    fn the_trimming_constants_are_in_the_memory_map() {
        let (mut chip, t0) = chip();
        assert_eq!(read(&mut chip, t0, REG_ID, 1), [0x60]);
        let low = read(&mut chip, t0, 0x88, 26);
        assert_eq!(u16::from_le_bytes([low[0], low[1]]), 27504);
        assert_eq!(i16::from_le_bytes([low[4], low[5]]), -1000);
        assert_eq!(i16::from_le_bytes([low[22], low[23]]), 6000);
        assert_eq!(low[25], 75, "H1 at 0xA1");
        let high = read(&mut chip, t0, 0xE1, 7);
        let h4 = i16::from(high[3]) << 4 | i16::from(high[4] & 0x0F);
        let h5 = i16::from(high[5]) << 4 | i16::from(high[4] >> 4);
        assert_eq!(
            (i16::from_le_bytes([high[0], high[1]]), high[2], h4, h5, high[6] as i8),
            (362, 0, 313, 50, 30)
        );
    }

    #[test]
    fn a_forced_measurement_takes_its_time_then_sleeps() {
        let (mut chip, t0) = chip();
        write(&mut chip, t0, &[REG_CTRL_HUM, 0b001]);
        // osrs_t ×2, osrs_p ×16, forced: 1 + 4 + 32.5 + 2.5 = 40 ms.
        write(&mut chip, t0, &[REG_CTRL_MEAS, 0b010_101_01]);
        assert_eq!(read(&mut chip, t0 + 39 * MS, REG_STATUS, 1), [STATUS_MEASURING]);
        assert_eq!(read(&mut chip, t0 + 39 * MS, REG_DATA, 8), [0x80, 0, 0, 0x80, 0, 0, 0x80, 0], "not yet");
        let data = read(&mut chip, t0 + 40 * MS, REG_DATA, 8);
        let (t, p, h) = compensate(&data);
        assert!(
            (t - 25.0).abs() <= 0.01 && (p - 1013.25).abs() <= 0.01 && (h - 50.0).abs() <= 0.01,
            "{t} {p} {h}"
        );
        assert_eq!(read(&mut chip, t0 + 40 * MS, REG_STATUS, 2), [0, 0b010_101_00], "asleep again");
        assert_eq!(data[5] & 0x0F, 0, "xlsb's low nibble is unused");
        assert_eq!(data[5] & 0x70, 0, "17 bits of temperature at ×2: the lowest three are zero");
    }

    #[test]
    fn humidity_oversampling_waits_for_ctrl_meas() {
        let (mut chip, t0) = chip();
        write(&mut chip, t0, &[REG_CTRL_MEAS, 0b001_001_01]);
        write(&mut chip, t0, &[REG_CTRL_HUM, 0b001]);
        let data = read(&mut chip, t0 + 10 * MS, REG_DATA, 8);
        assert_eq!(data[6..], [0x80, 0x00], "skipped: ctrl_hum was written after ctrl_meas");
        write(&mut chip, t0 + 10 * MS, &[REG_CTRL_MEAS, 0b001_001_01]);
        let data = read(&mut chip, t0 + 20 * MS, REG_DATA, 8);
        assert_ne!(data[6..], [0x80, 0x00]);
    }

    #[test]
    fn normal_mode_measures_every_period() {
        let (mut chip, t0) = chip();
        // t_sb 0.5 ms, then temperature only: 3 ms a measurement, a period of 3.5 ms.
        write(&mut chip, t0, &[REG_CONFIG, 0b000_000_00, REG_CTRL_MEAS, 0b001_000_11]);
        assert_eq!(read(&mut chip, t0 + MS, REG_STATUS, 1), [STATUS_MEASURING]);
        let data = read(&mut chip, t0 + 3 * MS, REG_DATA, 6);
        assert_eq!(data[..3], [0x80, 0, 0], "pressure skipped");
        assert_ne!(data[3..], [0x80, 0, 0]);
        assert_eq!(read(&mut chip, t0 + 3 * MS + MS / 4, REG_STATUS, 1), [0], "on standby");
        assert_eq!(read(&mut chip, t0 + 4 * MS, REG_STATUS, 1), [STATUS_MEASURING], "the next");
    }

    #[test]
    fn a_soft_reset_restores_power_on_state() {
        let (mut chip, t0) = chip();
        write(&mut chip, t0, &[REG_CTRL_MEAS, 0b001_001_01]);
        let later = t0 + 20 * MS;
        write(&mut chip, later, &[REG_RESET, RESET_COMMAND]);
        assert_eq!(read(&mut chip, later, REG_STATUS, 3), [STATUS_IM_UPDATE, 0, 0], "copying the NVM");
        assert_eq!(read(&mut chip, later + 2 * MS, REG_STATUS, 1), [0]);
        assert_eq!(read(&mut chip, later, REG_DATA, 3), [0x80, 0, 0]);
        assert_eq!(read(&mut chip, later, REG_RESET, 1), [0], "reset reads as zero");
        write(&mut chip, later, &[REG_RESET, 0x01]);
        assert_eq!(read(&mut chip, later, REG_ID, 1), [ID], "any other value does nothing");
    }

    #[test]
    fn every_value_in_range_is_read_back() {
        for (t, p, h) in [(-40.0, 300.0, 0.0), (85.0, 1100.0, 100.0), (21.5, 950.0, 33.3)] {
            let mut chip = Bme280::new(t, p, h, Instant::now());
            chip.measured(Setup { osrs_t: 5, osrs_p: 5, osrs_h: 5, filter: false });
            let (rt, rp, rh) = compensate(&chip.regs[0xF7..0xFF]);
            assert!((rt - t).abs() <= 0.01, "{rt} for {t}");
            assert!((rp - p).abs() <= 0.01, "{rp} for {p}");
            assert!((rh - h).abs() <= 0.01, "{rh} for {h}");
        }
    }
}
