//! An Analog Devices ADXL345 3-axis accelerometer: its registers, a new sample at the output
//! data rate BW_RATE selects, and DATA_READY on its INT1/INT2 pins, so that a driver can be
//! paced by the pin as it would be by the chip (ADXL345 datasheet, Rev. G).
//!
//! What the model follows:
//! - A write's first byte is a register address; bytes after it are written from there on,
//!   and a read starts where the last write pointed, the address moving on after each byte
//!   (multiple-byte read and write, Figure 41). Registers 0x01–0x1C are reserved: they read 0
//!   and take no writes; so do the read-only ones.
//! - DEVID (0x00) reads 0xE5. Power-on values: BW_RATE 0x0A (100 Hz), INT_SOURCE 0x02, the rest
//!   0 (Table 19).
//! - The chip measures only while POWER_CTL's Measure bit (D3) is set: a new sample every
//!   1/ODR from the moment it was set (or BW_RATE changed), ODR = 3200 Hz / 2^(15 − Rate)
//!   (Rate = BW_RATE D3–D0, Table 7).
//! - INT_SOURCE (Table 20): DATA_READY (D7) is set by each new sample and cleared by reading
//!   DATAX0–DATAZ1; Overrun (D0), in bypass mode, is set when a new sample replaces one not yet
//!   read, and cleared the same way; Watermark (D1) is set while the FIFO holds as many samples
//!   as FIFO_CTL asks for, which in bypass mode (it holds none) means while that is 0.
//! - INT_ENABLE selects which of those drive a pin; INT_MAP sends each to INT1 (0) or INT2 (1).
//!   The pins are push-pull, active high, or active low with DATA_FORMAT's INT_INVERT (D5).
//! - The data (0x32–0x37) are two's complement, X, Y then Z, low byte first; with FULL_RES
//!   (D3) off, 10 bits at every range (256, 128, 64 and 32 LSB/g for ±2, 4, 8 and 16 g), with
//!   it on, 256 LSB/g in 10 to 13 bits; right-justified with the sign extended, or with Justify
//!   (D2) MSB-aligned. A value past the range reads as the range's end, as the chip saturates.
//!   OFSX/OFSY/OFSZ add their two's-complement value at 15.6 mg/LSB.
//!
//! Not modelled: tap, activity and free-fall detection, self test, sleep and auto sleep, the
//! low power mode's noise, and the FIFO modes other than bypass (FIFO_CTL is kept, but samples
//! go to the data registers as in bypass mode). The acceleration is the configured constant.
//!
//! With an INT pin wired, a thread of the chip's own waits on the lines' clock for each sample
//! while the chip measures, as the chip's oscillator would (one per wired, measuring chip;
//! the lab's config bounds them). Without one, samples are counted when the bus next reaches
//! the chip, which is all a register can show.

use super::timer::{self, Timed};
use super::{Ack, Device, Rw};
use crate::lines::SimLine;
use smbus_proxy_wire::Errno;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const DEVID: u8 = 0x00;
const OFSX: u8 = 0x1E;
const ACT_TAP_STATUS: u8 = 0x2B;
const BW_RATE: u8 = 0x2C;
const POWER_CTL: u8 = 0x2D;
const INT_ENABLE: u8 = 0x2E;
const INT_MAP: u8 = 0x2F;
const INT_SOURCE: u8 = 0x30;
const DATA_FORMAT: u8 = 0x31;
const DATAX0: u8 = 0x32;
const DATAZ1: u8 = 0x37;
const FIFO_CTL: u8 = 0x38;
const FIFO_STATUS: u8 = 0x39;
/// Past the last register everything reads 0.
const REGISTERS: usize = 0x3A;

const MEASURE: u8 = 1 << 3;
const DATA_READY: u8 = 1 << 7;
const WATERMARK: u8 = 1 << 1;
const OVERRUN: u8 = 1 << 0;
const INT_INVERT: u8 = 1 << 5;
const FULL_RES: u8 = 1 << 3;
const JUSTIFY: u8 = 1 << 2;

/// The time between samples at BW_RATE's `rate` code: 1 / (3200 Hz / 2^(15 − rate)).
pub(crate) fn sample_period(bw_rate: u8) -> Duration {
    Duration::from_nanos(312_500 << (15 - u32::from(bw_rate & 0x0F)))
}

pub(crate) struct Adxl345(Arc<Chip>);

struct Chip {
    state: Mutex<State>,
    /// The lines INT1 and INT2 drive.
    int: [Option<Arc<SimLine>>; 2],
}

struct State {
    regs: [u8; REGISTERS],
    /// The register the next byte goes to or comes from.
    pointer: u8,
    /// X, Y and Z, in g.
    acceleration: [f64; 3],
    /// While measuring: when the sampling began, and how many samples it has taken since.
    sampling: Option<(Instant, u64)>,
    /// Whether a sample was ever taken: until then the data registers read 0.
    sampled: bool,
    /// Whether its timer thread runs.
    timer: bool,
    /// Whether the data registers were read in the transfer going on.
    data_read: bool,
    /// The bus time of the last start: when what follows it happens.
    now: Instant,
}

impl Adxl345 {
    /// A chip measuring `acceleration` (g), its INT1 and INT2 pins driving `int`.
    pub(crate) fn wired(acceleration: [f64; 3], int: [Option<Arc<SimLine>>; 2], now: Instant) -> Self {
        let mut regs = [0; REGISTERS];
        regs[usize::from(DEVID)] = 0xE5;
        regs[usize::from(BW_RATE)] = 0x0A;
        let state = State {
            regs,
            pointer: 0,
            acceleration,
            sampling: None,
            sampled: false,
            timer: false,
            data_read: false,
            now,
        };
        let chip = Arc::new(Chip { state: Mutex::new(state), int });
        chip.drive_pins(&mut chip.state(), now);
        Adxl345(chip)
    }
}

impl State {
    fn reg(&self, at: u8) -> u8 {
        self.regs.get(usize::from(at)).copied().unwrap_or(0)
    }

    /// Counts the samples due by `now`: each sets DATA_READY, and one that finds the last
    /// unread sets Overrun.
    fn catch_up(&mut self, now: Instant) {
        let Some((since, taken)) = &mut self.sampling else { return };
        let period = sample_period(self.regs[usize::from(BW_RATE)]);
        let due = (now.saturating_duration_since(*since).as_nanos() / period.as_nanos()) as u64;
        if due <= *taken {
            return;
        }
        let source = &mut self.regs[usize::from(INT_SOURCE)];
        if *source & DATA_READY != 0 || due - *taken > 1 {
            *source |= OVERRUN;
        }
        *source |= DATA_READY;
        *taken = due;
        self.sampled = true;
    }

    /// When the next sample is due, while measuring.
    fn next_sample(&self) -> Option<Instant> {
        let (since, taken) = self.sampling?;
        let period = sample_period(self.regs[usize::from(BW_RATE)]);
        Some(since + period * u32::try_from(taken + 1).unwrap_or(u32::MAX))
    }

    /// INT_SOURCE as read: the stored bits, and Watermark while FIFO_CTL asks for no samples.
    fn int_source(&self) -> u8 {
        let watermark = if self.regs[usize::from(FIFO_CTL)] & 0x1F == 0 { WATERMARK } else { 0 };
        self.regs[usize::from(INT_SOURCE)] & !WATERMARK | watermark
    }

    /// One axis as the data registers hold it.
    fn axis(&self, axis: usize) -> i16 {
        if !self.sampled {
            return 0;
        }
        let format = self.regs[usize::from(DATA_FORMAT)];
        let range = u32::from(format & 0x03);
        let (bits, per_g) =
            if format & FULL_RES != 0 { (10 + range, 256.0) } else { (10, 256.0 / f64::from(1u32 << range)) };
        let offset = f64::from(self.regs[usize::from(OFSX) + axis] as i8) * 0.0156;
        let max = (1i32 << (bits - 1)) - 1;
        let counts = (((self.acceleration[axis] + offset) * per_g).round() as i32).clamp(-max - 1, max);
        if format & JUSTIFY != 0 { (counts << (16 - bits)) as i16 } else { counts as i16 }
    }

    /// A byte of the data registers.
    fn data(&self, at: u8) -> u8 {
        let i = usize::from(at - DATAX0);
        self.axis(i / 2).to_le_bytes()[i % 2]
    }

    fn write(&mut self, at: u8, value: u8) {
        match at {
            0x1D..=0x2A | BW_RATE | POWER_CTL | INT_ENABLE | INT_MAP | DATA_FORMAT | FIFO_CTL => {
                self.regs[usize::from(at)] = value;
            }
            // DEVID, the reserved registers, and ACT_TAP_STATUS, INT_SOURCE, the data and
            // FIFO_STATUS, which are read-only.
            _ => {}
        }
    }
}

impl Chip {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets each INT pin to what INT_SOURCE, INT_ENABLE and INT_MAP make it.
    fn drive_pins(&self, state: &mut State, now: Instant) {
        state.catch_up(now);
        let active = state.int_source() & state.regs[usize::from(INT_ENABLE)];
        let map = state.regs[usize::from(INT_MAP)];
        let invert = state.regs[usize::from(DATA_FORMAT)] & INT_INVERT != 0;
        for (pin, line) in self.int.iter().enumerate() {
            let routed = if pin == 0 { !map } else { map };
            if let Some(line) = line {
                // The chip's lock is held: a line's watchers never reach back into this chip.
                line.drive(Some((active & routed != 0) != invert));
            }
        }
    }

    /// Starts or stops sampling after a write to POWER_CTL or BW_RATE, and with a pin wired,
    /// the timer that raises DATA_READY on time.
    fn restart(self: &Arc<Self>, state: &mut State, now: Instant) {
        let measuring = state.regs[usize::from(POWER_CTL)] & MEASURE != 0;
        state.sampling = measuring.then_some((now, 0));
        let Some(clock) = self.int.iter().flatten().next().map(|line| line.clock().clone()) else { return };
        if measuring && !state.timer {
            state.timer = true;
            timer::start(self, clock, "adxl345 samples");
        }
    }
}

/// The chip's oscillator raises DATA_READY on each sample's time.
impl Timed for Chip {
    fn next(&self) -> Option<Instant> {
        let mut state = self.state();
        let next = state.next_sample();
        state.timer = next.is_some();
        next
    }

    fn fire(&self, now: Instant) {
        self.drive_pins(&mut self.state(), now);
    }
}

impl Device for Adxl345 {
    fn address(&mut self, _rw: Rw, now: Instant) -> Ack {
        let mut state = self.0.state();
        state.catch_up(now);
        state.now = now;
        Ack::Ack
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let Some((&at, values)) = data.split_first() else { return Ok(()) };
        let chip = &self.0;
        let mut state = chip.state();
        let now = state.now;
        state.pointer = at;
        let mut restart = false;
        for &value in values {
            let at = state.pointer;
            restart |= matches!(at, POWER_CTL | BW_RATE) && state.reg(at) != value;
            state.write(at, value);
            state.pointer = at.wrapping_add(1);
        }
        if restart {
            chip.restart(&mut state, now);
        }
        chip.drive_pins(&mut state, now);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        let mut state = self.0.state();
        for b in buf.iter_mut() {
            let at = state.pointer;
            *b = match at {
                INT_SOURCE => state.int_source(),
                DATAX0..=DATAZ1 => {
                    state.data_read = true;
                    state.data(at)
                }
                ACT_TAP_STATUS | FIFO_STATUS => 0,
                _ => state.reg(at),
            };
            state.pointer = at.wrapping_add(1);
        }
        Ok(())
    }

    /// Reading the data clears DATA_READY and Overrun once the read is over.
    fn stop(&mut self, now: Instant) {
        let mut state = self.0.state();
        if std::mem::take(&mut state.data_read) {
            state.regs[usize::from(INT_SOURCE)] &= !(DATA_READY | OVERRUN);
        }
        self.0.drive_pins(&mut state, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    const MS: Duration = Duration::from_millis(1);

    /// Drives the chip as the bus would: each call one transfer at bus time `at`.
    struct Host {
        chip: Adxl345,
        t0: Instant,
    }

    impl Host {
        fn new(acceleration: [f64; 3], int: [Option<Arc<SimLine>>; 2]) -> Host {
            let t0 = Instant::now();
            Host { chip: Adxl345::wired(acceleration, int, t0), t0 }
        }

        fn write(&mut self, at: Duration, data: &[u8]) {
            let now = self.t0 + at;
            assert_eq!(self.chip.address(Rw::Write, now), Ack::Ack);
            self.chip.write(data).unwrap();
            self.chip.stop(now);
        }

        fn read(&mut self, at: Duration, register: u8, len: usize) -> Vec<u8> {
            let now = self.t0 + at;
            self.chip.address(Rw::Write, now);
            self.chip.write(&[register]).unwrap();
            self.chip.address(Rw::Read, now);
            let mut buf = vec![0; len];
            self.chip.read(&mut buf).unwrap();
            self.chip.stop(now);
            buf
        }

        fn xyz(&mut self, at: Duration) -> [i16; 3] {
            let b = self.read(at, DATAX0, 6);
            [0, 1, 2].map(|i| i16::from_le_bytes([b[2 * i], b[2 * i + 1]]))
        }
    }

    #[test]
    fn power_on_registers_and_a_sample_every_period_once_measuring() {
        let mut chip = Host::new([0.5, -0.25, 1.0], [None, None]);
        assert_eq!(chip.read(Duration::ZERO, DEVID, 1), [0xE5]);
        assert_eq!(
            chip.read(Duration::ZERO, BW_RATE, 3),
            [0x0A, 0x00, 0x00],
            "BW_RATE, POWER_CTL, INT_ENABLE"
        );
        assert_eq!(
            chip.read(Duration::ZERO, INT_SOURCE, 1),
            [0x02],
            "Watermark: the bypass FIFO holds 0 of 0"
        );
        assert_eq!(chip.xyz(Duration::ZERO), [0; 3], "standby: no sample yet");
        chip.write(Duration::ZERO, &[0x05, 0xAA]);
        assert_eq!(chip.read(Duration::ZERO, 0x05, 1), [0], "reserved: no write");

        chip.write(Duration::ZERO, &[POWER_CTL, MEASURE]);
        assert_eq!(chip.read(MS * 9, INT_SOURCE, 1), [0x02], "100 Hz: nothing after 9 ms");
        assert_eq!(chip.read(MS * 10, INT_SOURCE, 1), [0x82], "DATA_READY after 10 ms");
        assert_eq!(chip.read(MS * 11, INT_SOURCE, 1), [0x82], "reading INT_SOURCE clears nothing");
        assert_eq!(chip.xyz(MS * 12), [128, -64, 256], "±2 g, 10 bits: 256 LSB/g");
        assert_eq!(chip.read(MS * 12, INT_SOURCE, 1), [0x02], "reading the data clears DATA_READY");
        assert_eq!(chip.read(MS * 35, INT_SOURCE, 1), [0x83], "two samples, one never read: Overrun");
        chip.xyz(MS * 35);
        assert_eq!(chip.read(MS * 35, INT_SOURCE, 1), [0x02]);

        chip.write(MS * 36, &[BW_RATE, 0x0F]);
        assert_eq!(sample_period(0x0F), Duration::from_micros(312) + Duration::from_nanos(500));
        assert_eq!(
            chip.read(MS * 36 + Duration::from_micros(313), INT_SOURCE, 1),
            [0x82],
            "3200 Hz from the change"
        );
        chip.write(MS * 37, &[POWER_CTL, 0]);
        chip.xyz(MS * 37);
        assert_eq!(chip.read(MS * 100, INT_SOURCE, 1), [0x02], "standby: no more samples");
        assert_eq!(chip.xyz(MS * 100), [128, -64, 256], "the last sample stays");
    }

    #[test]
    fn the_data_format_sets_resolution_range_and_justification() {
        let mut chip = Host::new([0.5, 10.0, -3.0], [None, None]);
        chip.write(Duration::ZERO, &[POWER_CTL, MEASURE]);
        assert_eq!(chip.xyz(MS * 10), [128, 511, -512], "±2 g: saturated at 10 bits");
        chip.write(MS * 10, &[DATA_FORMAT, 0x03]);
        assert_eq!(chip.xyz(MS * 10), [16, 320, -96], "±16 g, 10 bits: 32 LSB/g");
        chip.write(MS * 10, &[DATA_FORMAT, FULL_RES | 0x03]);
        assert_eq!(chip.xyz(MS * 10), [128, 2560, -768], "full resolution: 256 LSB/g");
        chip.write(MS * 10, &[DATA_FORMAT, JUSTIFY]);
        assert_eq!(chip.xyz(MS * 10), [128 << 6, 511 << 6, -512 << 6], "left-justified");
        chip.write(MS * 10, &[DATA_FORMAT, 0]);
        chip.write(MS * 10, &[OFSX, 0x10, 0xF0, 0]);
        assert_eq!(chip.read(MS * 10, OFSX, 3), [0x10, 0xF0, 0]);
        // +16 × 15.6 mg and −16 × 15.6 mg.
        assert_eq!(chip.xyz(MS * 10), [192, 511, -512]);
    }

    fn wait_for(line: &SimLine, level: bool) {
        let start = Instant::now();
        while line.level() != level {
            assert!(start.elapsed() < Duration::from_secs(5), "{} never went {level}", line.name());
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    #[test]
    fn data_ready_drives_the_mapped_pin_at_the_data_rate_until_the_data_is_read() {
        let int1 = Arc::new(SimLine::new("int1", 0, false, Clock::real()));
        let int2 = Arc::new(SimLine::new("int2", 1, false, Clock::real()));
        let chip = Adxl345::wired([0.0, 0.0, 1.0], [Some(int1.clone()), Some(int2.clone())], Instant::now());
        let mut chip = Host { chip, t0: Instant::now() };
        assert!(!int1.level() && !int2.level(), "no interrupt enabled: both low");
        chip.write(chip.t0.elapsed(), &[INT_ENABLE, DATA_READY]);
        chip.write(chip.t0.elapsed(), &[BW_RATE, 0x0A, MEASURE]);
        let start = Instant::now();
        wait_for(&int1, true);
        assert!(start.elapsed() >= 10 * MS, "not before the first sample is due");
        assert!(!int2.level(), "mapped to INT1");
        chip.xyz(chip.t0.elapsed());
        assert!(!int1.level(), "the data read: DATA_READY clear");
        wait_for(&int1, true);

        chip.write(chip.t0.elapsed(), &[INT_MAP, DATA_READY]);
        assert!(!int1.level() && int2.level(), "now on INT2");
        chip.write(chip.t0.elapsed(), &[DATA_FORMAT, INT_INVERT]);
        assert!(int1.level() && !int2.level(), "INT_INVERT: active low");
        chip.write(chip.t0.elapsed(), &[POWER_CTL, 0]);
        chip.xyz(chip.t0.elapsed());
        std::thread::sleep(30 * MS);
        assert!(int2.level(), "standby: no new sample pulls it low");
    }

    #[test]
    fn a_client_restarting_the_sampling_starts_no_more_threads() {
        let threads = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim() == "adxl345 samples")
                .count()
        };
        let int1 = Arc::new(SimLine::new("int1", 0, false, Clock::real()));
        let mut chip = Host::new([0.0; 3], [Some(int1), None]);
        for i in 0..1000u32 {
            chip.write(
                Duration::from_micros(u64::from(i)),
                &[POWER_CTL, if i % 2 == 0 { MEASURE } else { 0 }],
            );
        }
        // Other tests' chips may have a thread each; this one has at most one, not 500.
        assert!(threads() <= 3, "{} sample threads", threads());
    }
}
