//! A Sensirion SHT3x-DIS (SHT30/31/35) humidity and temperature sensor: 16-bit commands,
//! a measurement that takes time, and results protected by CRC-8.
//!
//! What the model follows, from Sensirion's "Datasheet SHT3x-DIS" (version 5, 2018):
//! - Commands are two bytes, MSB first (§4.3, §4.5). Single shot: 0x2400/0x240B/0x2416
//!   (high/medium/low repeatability) without clock stretching, 0x2C06/0x2C0D/0x2C10 with it.
//!   Periodic: 0x2032…0x272A at 0.5–10 measurements per second, 0x2B32 (ART, 4 per second),
//!   read with fetch 0xE000 and stopped with break 0x3093. Also soft reset 0x30A2, heater
//!   on/off 0x306D/0x3066, status 0xF32D, clear status 0x3041, serial number 0x3780/0x3682.
//! - A measurement lasts t_MEAS: at most 15, 6 and 4 ms for high, medium and low
//!   repeatability (Table 4). Until it ends the sensor NACKs a read header, and, being busy,
//!   any header; with clock stretching it acknowledges the read header and holds SCL until
//!   the result is ready (§4.4).
//! - Results are temperature then humidity, each two bytes and a CRC; the CRC is CRC-8 with
//!   polynomial 0x31, initial value 0xFF, no reflection (Table 20, example CRC(0xBEEF) = 0x92).
//!   Converted as T = -45 + 175·S_T/65535 °C and RH = 100·S_RH/65535 % (§4.13).
//! - In periodic mode a fetch with no new measurement makes the read header NACK, and a
//!   fetch clears the data memory (§4.6).
//! - The status register (Table 17): bit 15 alert pending and bit 4 reset detected, both set
//!   by a reset and cleared by clear status; bit 13 heater on; bit 1 set when the last
//!   command was not processed (unknown, or not allowed in the current mode).
//! - When the master has read what the sensor had to send, the sensor stops driving SDA:
//!   further bytes read 0xFF (the pull-ups).
//! - Alert mode (§4.8 and Sensirion's application note "Alert Mode of SHT3x-DIS"): four
//!   limits, high set (80 %RH, 60 °C), high clear (79 %RH, 58 °C), low clear (22 %RH, -9 °C)
//!   and low set (20 %RH, -10 °C) at reset, each a word of the 7 most significant bits of the
//!   humidity's raw value over the 9 most significant of the temperature's (high set: 0xCD33). Read with 0xE11F, 0xE114, 0xE109, 0xE102 and written, with the word and
//!   its CRC, with 0x611D, 0x6116, 0x610B, 0x6100 (a wrong CRC: not written, status bit 0).
//!   In periodic mode each measurement is checked: a value above its high set or below its low
//!   set limit raises its tracking alert (status bit 11 humidity, 10 temperature, and 15 alert
//!   pending), which falls once the value is back between the clear limits; the ALERT pin
//!   (push-pull, active high) is high while either is raised.
//!
//! The heater only sets its status bit here: the simulated temperature does not rise.

use super::timer::{self, Timed};
use super::{Ack, Device, Rw};
use crate::lines::SimLine;
use smbus_proxy_wire::Errno;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The status register after a power-on or soft reset: alert pending, reset detected.
const STATUS_RESET: u16 = 0x8010;
const STATUS_HEATER: u16 = 1 << 13;
const STATUS_NOT_PROCESSED: u16 = 1 << 1;
const STATUS_WRITE_CRC: u16 = 1 << 0;
const STATUS_ALERT_PENDING: u16 = 1 << 15;
const STATUS_RH_ALERT: u16 = 1 << 11;
const STATUS_T_ALERT: u16 = 1 << 10;
/// The alert limits at reset: high set, high clear, low clear, low set, as %RH and °C.
const LIMITS: [(f64, f64); 4] = [(80.0, 60.0), (79.0, 58.0), (22.0, -9.0), (20.0, -10.0)];
/// The commands that read each limit, and that write it, in the order of [`LIMITS`].
const READ_LIMIT: [u16; 4] = [0xE11F, 0xE114, 0xE109, 0xE102];
const WRITE_LIMIT: [u16; 4] = [0x611D, 0x6116, 0x610B, 0x6100];
/// The flags clear status clears: alert pending, the two tracking alerts, reset detected.
const STATUS_CLEARABLE: u16 = 1 << 15 | 1 << 11 | 1 << 10 | 1 << 4;

/// CRC-8 as the SHT3x computes it over each 16-bit word.
pub(crate) fn crc8(data: &[u8]) -> u8 {
    data.iter().fold(0xFF, |crc, &byte| {
        (0..8).fold(crc ^ byte, |crc, _| if crc & 0x80 != 0 { crc << 1 ^ 0x31 } else { crc << 1 })
    })
}

/// The raw temperature and humidity words for °C and %RH (§4.13 turned round). The config has
/// checked the range the formulas cover, so they fit in 16 bits.
fn raw(temperature: f64, humidity: f64) -> [u16; 2] {
    [((temperature + 45.0) * 65535.0 / 175.0).round() as u16, (humidity * 65535.0 / 100.0).round() as u16]
}

/// An alert limit's word for %RH and °C: the humidity's top 7 bits over the temperature's top 9.
fn limit((humidity, temperature): (f64, f64)) -> u16 {
    let [t, rh] = raw(temperature, humidity);
    rh & 0xFE00 | t >> 7
}

/// Words as the sensor sends them: each followed by its CRC.
fn with_crcs(words: &[u16]) -> Vec<u8> {
    words
        .iter()
        .flat_map(|w| {
            let [hi, lo] = w.to_be_bytes();
            [hi, lo, crc8(&[hi, lo])]
        })
        .collect()
}

/// The measurement time at most, by repeatability: the LSB of single shot commands and of
/// periodic ones at each rate tell it apart.
fn measurement_time(command: u16) -> Option<Duration> {
    let ms = match command {
        0x2400 | 0x2C06 | 0x2032 | 0x2130 | 0x2236 | 0x2334 | 0x2737 | 0x2B32 => 15,
        0x240B | 0x2C0D | 0x2024 | 0x2126 | 0x2220 | 0x2322 | 0x2721 => 6,
        0x2416 | 0x2C10 | 0x202F | 0x212D | 0x222B | 0x2329 | 0x272A => 4,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// The period of a periodic command, from its MSB (0x2B32, ART, runs at 4 Hz).
fn period(command: u16) -> Option<Duration> {
    let ms = match command >> 8 {
        0x20 => 2000,
        0x21 => 1000,
        0x22 => 500,
        0x23 | 0x2B => 250,
        0x27 => 100,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

enum Mode {
    Idle,
    /// A single shot measurement, ready at `ready`.
    Single {
        ready: Instant,
        stretch: bool,
    },
    /// Measurements every `period` from `start`, each taking `measure`; `fetched` of them
    /// have been fetched or skipped, `checked` checked against the alert limits.
    Periodic {
        start: Instant,
        period: Duration,
        measure: Duration,
        fetched: u64,
        checked: u64,
    },
}

impl Mode {
    /// How many periodic measurements have ended by `now`.
    fn done(start: Instant, period: Duration, measure: Duration, now: Instant) -> u64 {
        match now.checked_duration_since(start + measure) {
            Some(since) => (since.as_nanos() / period.as_nanos()) as u64 + 1,
            None => 0,
        }
    }
}

/// The chip: the sensor and the line its ALERT pin drives, shared with the thread that ends
/// its periodic measurements on time.
pub(crate) struct Sht3xChip(Arc<Shared>);

struct Shared {
    sensor: Mutex<Sht3x>,
    alert: Option<Arc<SimLine>>,
}

impl Sht3xChip {
    pub(crate) fn wired(sensor: Sht3x, alert: Option<Arc<SimLine>>) -> Self {
        let shared = Arc::new(Shared { sensor: Mutex::new(sensor), alert });
        shared.drive(&shared.sensor());
        Sht3xChip(shared)
    }

    /// After anything a transfer did: the pin, and the timer if periodic mode began.
    fn after(&self, mut sensor: MutexGuard<'_, Sht3x>) {
        let shared = &self.0;
        shared.drive(&sensor);
        if std::mem::take(&mut sensor.restarted)
            && !sensor.timer
            && let Some(line) = &shared.alert
        {
            sensor.timer = true;
            timer::start(shared, line.clock().clone(), "sht3x measurements");
        }
    }
}

impl Shared {
    fn sensor(&self) -> MutexGuard<'_, Sht3x> {
        self.sensor.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn drive(&self, sensor: &Sht3x) {
        if let Some(line) = &self.alert {
            line.drive(Some(sensor.status & (STATUS_RH_ALERT | STATUS_T_ALERT) != 0));
        }
    }
}

/// The end of each periodic measurement checks it against the alert limits.
impl Timed for Shared {
    fn next(&self) -> Option<Instant> {
        let mut sensor = self.sensor();
        let next = match sensor.mode {
            Mode::Periodic { start, period, measure, checked, .. } => {
                Some(start + measure + period * u32::try_from(checked).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        sensor.timer = next.is_some();
        next
    }

    fn fire(&self, now: Instant) {
        let mut sensor = self.sensor();
        sensor.check(now);
        self.drive(&sensor);
    }
}

impl Device for Sht3xChip {
    fn address(&mut self, rw: Rw, now: Instant) -> Ack {
        let mut sensor = self.0.sensor();
        let ack = sensor.address(rw, now);
        self.after(sensor);
        ack
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        let mut sensor = self.0.sensor();
        let result = sensor.write(data);
        self.after(sensor);
        result
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        self.0.sensor().read(buf)
    }
}

pub(crate) struct Sht3x {
    /// The measurement, as the sensor sends it.
    result: Vec<u8>,
    serial: u32,
    status: u16,
    mode: Mode,
    /// What the next read message sends; `None`: the read header is not acknowledged.
    out: Option<Vec<u8>>,
    /// The bus time of the last header, which is when a command that follows it starts.
    now: Instant,
    /// The raw temperature and humidity, what the alert limits are compared with.
    raw: [u16; 2],
    /// High set, high clear, low clear, low set.
    limits: [u16; 4],
    /// Whether periodic measurements began since last asked, and whether its timer runs.
    restarted: bool,
    timer: bool,
}

impl Sht3x {
    pub(crate) fn new(temperature: f64, humidity: f64, serial: u32, now: Instant) -> Self {
        let [t, rh] = raw(temperature, humidity);
        Sht3x {
            result: with_crcs(&[t, rh]),
            serial,
            status: STATUS_RESET,
            mode: Mode::Idle,
            out: None,
            now,
            raw: [t, rh],
            limits: LIMITS.map(limit),
            restarted: false,
            timer: false,
        }
    }

    /// Checks the periodic measurements ended by `now` against the alert limits: each raises
    /// a tracking alert past a set limit, or lowers one back within the clear limits.
    fn check(&mut self, now: Instant) {
        let Mode::Periodic { start, period, measure, checked, .. } = &mut self.mode else { return };
        let done = Mode::done(*start, *period, *measure, now);
        if done <= *checked {
            return;
        }
        *checked = done;
        // Humidity in the top 7 bits of a limit, temperature in the bottom 9.
        let humidity = self.limits.map(|w| w >> 9);
        let temperature = self.limits.map(|w| w & 0x1FF);
        for (value, [high_set, high_clear, low_clear, low_set], bit) in
            [(self.raw[1] >> 9, humidity, STATUS_RH_ALERT), (self.raw[0] >> 7, temperature, STATUS_T_ALERT)]
        {
            if value > high_set || value < low_set {
                self.status |= bit | STATUS_ALERT_PENDING;
            } else if value < high_clear && value > low_clear {
                self.status &= !bit;
            }
        }
    }

    /// Completes a single shot measurement whose time has come.
    fn settle(&mut self, now: Instant) {
        if let Mode::Single { ready, .. } = self.mode
            && now >= ready
        {
            self.out = Some(self.result.clone());
            self.mode = Mode::Idle;
        }
    }

    /// Runs a command; `false` if the sensor does not process it.
    fn command(&mut self, command: u16) -> bool {
        let now = self.now;
        let periodic = matches!(self.mode, Mode::Periodic { .. });
        match command {
            0xF32D => self.out = Some(with_crcs(&[self.status])),
            0x3041 => self.status &= !STATUS_CLEARABLE,
            0x306D => self.status |= STATUS_HEATER,
            0x3066 => self.status &= !STATUS_HEATER,
            0x3093 => self.mode = Mode::Idle,
            0xE000 => {
                let Mode::Periodic { start, period, measure, fetched, .. } = &mut self.mode else {
                    return false;
                };
                let done = Mode::done(*start, *period, *measure, now);
                self.out = (done > *fetched).then(|| self.result.clone());
                *fetched = done;
            }
            _ if READ_LIMIT.contains(&command) => {
                let i = READ_LIMIT.iter().position(|&c| c == command).expect("a limit");
                self.out = Some(with_crcs(&[self.limits[i]]));
            }
            _ if periodic && period(command).is_none() => return false,
            0x30A2 => {
                self.status = STATUS_RESET;
                self.out = None;
                self.limits = LIMITS.map(limit);
            }
            0x3780 | 0x3682 => {
                self.out = Some(with_crcs(&[(self.serial >> 16) as u16, self.serial as u16]));
            }
            0x2400 | 0x240B | 0x2416 | 0x2C06 | 0x2C0D | 0x2C10 => {
                let measure = measurement_time(command).expect("a measurement command");
                self.mode = Mode::Single { ready: now + measure, stretch: command >> 8 == 0x2C };
                self.out = None;
            }
            _ => match (period(command), measurement_time(command)) {
                (Some(period), Some(measure)) => {
                    self.mode = Mode::Periodic { start: now, period, measure, fetched: 0, checked: 0 };
                    self.out = None;
                    self.restarted = true;
                }
                _ => return false,
            },
        }
        true
    }
}

impl Device for Sht3x {
    fn address(&mut self, rw: Rw, now: Instant) -> Ack {
        self.settle(now);
        self.check(now);
        self.now = now;
        match (&self.mode, rw) {
            (Mode::Single { ready, stretch: true }, Rw::Read) => {
                let wait = *ready - now;
                self.settle(*ready);
                Ack::Stretch(wait)
            }
            (Mode::Single { .. }, _) => Ack::Nack,
            (_, Rw::Read) if self.out.is_none() => Ack::Nack,
            _ => Ack::Ack,
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        // Nothing, or half a command: no command.
        if data.len() < 2 {
            return Ok(());
        }
        let command = u16::from_be_bytes([data[0], data[1]]);
        // A command with data: an alert limit, its word and the word's CRC.
        if let (Some(i), &[_, _, hi, lo, crc]) = (WRITE_LIMIT.iter().position(|&c| c == command), data) {
            if crc8(&[hi, lo]) == crc {
                self.limits[i] = u16::from_be_bytes([hi, lo]);
                self.status &= !(STATUS_WRITE_CRC | STATUS_NOT_PROCESSED);
            } else {
                self.status |= STATUS_WRITE_CRC;
            }
            return Ok(());
        }
        let processed = data.len() == 2 && self.command(command);
        if processed {
            self.status &= !STATUS_NOT_PROCESSED;
        } else {
            self.status |= STATUS_NOT_PROCESSED;
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        let out = self.out.take().unwrap_or_default();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = out.get(i).copied().unwrap_or(0xFF);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A sensor at 25 °C and 50 %RH, and the time it was powered on.
    fn sensor() -> (Sht3x, Instant) {
        let t0 = Instant::now();
        let mut s = Sht3x::new(25.0, 50.0, 0x1234_5678, Instant::now());
        s.now = t0;
        (s, t0)
    }

    fn command(s: &mut Sht3x, at: Instant, command: u16) {
        assert_eq!(s.address(Rw::Write, at), Ack::Ack, "command {command:#06x}");
        s.write(&command.to_be_bytes()).unwrap();
    }

    fn read(s: &mut Sht3x, at: Instant, n: usize) -> Result<Vec<u8>, Ack> {
        match s.address(Rw::Read, at) {
            Ack::Nack => Err(Ack::Nack),
            _ => {
                let mut buf = vec![0; n];
                s.read(&mut buf).unwrap();
                Ok(buf)
            }
        }
    }

    fn decode(data: &[u8]) -> (f64, f64) {
        for word in data.chunks(3) {
            assert_eq!(crc8(&word[..2]), word[2], "CRC of {word:02x?}");
        }
        let t = f64::from(u16::from_be_bytes([data[0], data[1]]));
        let rh = f64::from(u16::from_be_bytes([data[3], data[4]]));
        (-45.0 + 175.0 * t / 65535.0, 100.0 * rh / 65535.0)
    }

    #[test]
    fn crc8_is_the_datasheets() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
        assert_eq!(crc8(&[0xFF, 0xFF]), 0xAC);
    }

    #[test]
    fn single_shot_nacks_until_the_measurement_time_has_passed() {
        let (mut s, t0) = sensor();
        command(&mut s, t0, 0x2400);
        assert_eq!(read(&mut s, t0 + 14 * MS, 6), Err(Ack::Nack), "a read during the measurement");
        assert_eq!(s.address(Rw::Write, t0 + 14 * MS), Ack::Nack, "busy: no command either");
        let data = read(&mut s, t0 + 15 * MS, 8).unwrap();
        let (t, rh) = decode(&data[..6]);
        assert!((t - 25.0).abs() < 0.003 && (rh - 50.0).abs() < 0.002, "{t} °C {rh} %");
        assert_eq!(data[6..], [0xFF, 0xFF], "past the result the bus is released");
        assert_eq!(read(&mut s, t0 + 16 * MS, 6), Err(Ack::Nack), "the result is read once");
    }

    #[test]
    fn repeatability_sets_the_measurement_time() {
        for (cmd, ms) in [(0x240B, 6), (0x2416, 4)] {
            let (mut s, t0) = sensor();
            command(&mut s, t0, cmd);
            assert_eq!(read(&mut s, t0 + (ms - 1) * MS, 6), Err(Ack::Nack));
            assert!(read(&mut s, t0 + ms * MS, 6).is_ok(), "{cmd:#06x}");
        }
    }

    #[test]
    fn clock_stretching_holds_the_read_until_the_result_is_ready() {
        let (mut s, t0) = sensor();
        command(&mut s, t0, 0x2C06);
        assert_eq!(s.address(Rw::Read, t0 + 5 * MS), Ack::Stretch(10 * MS));
        let mut buf = [0; 6];
        s.read(&mut buf).unwrap();
        assert!((decode(&buf).0 - 25.0).abs() < 0.003);
    }

    #[test]
    fn periodic_fetch_gives_each_measurement_once() {
        let (mut s, t0) = sensor();
        command(&mut s, t0, 0x2130); // 1 per second, high repeatability
        command(&mut s, t0 + 10 * MS, 0xE000);
        assert_eq!(read(&mut s, t0 + 11 * MS, 6), Err(Ack::Nack), "nothing measured yet");
        command(&mut s, t0 + 20 * MS, 0xE000);
        assert!(read(&mut s, t0 + 21 * MS, 6).is_ok());
        command(&mut s, t0 + 500 * MS, 0xE000);
        assert_eq!(read(&mut s, t0 + 501 * MS, 6), Err(Ack::Nack), "the fetch cleared it");
        command(&mut s, t0 + 1020 * MS, 0xE000);
        assert!(read(&mut s, t0 + 1021 * MS, 6).is_ok());
        // In periodic mode a soft reset is not processed; break ends the mode.
        command(&mut s, t0 + 1100 * MS, 0x30A2);
        command(&mut s, t0 + 1101 * MS, 0xF32D);
        let status = read(&mut s, t0 + 1102 * MS, 3).unwrap();
        assert_eq!(u16::from_be_bytes([status[0], status[1]]) & STATUS_NOT_PROCESSED, STATUS_NOT_PROCESSED);
        command(&mut s, t0 + 1103 * MS, 0x3093);
        command(&mut s, t0 + 1104 * MS, 0xE000);
        command(&mut s, t0 + 1105 * MS, 0xF32D);
        let status = read(&mut s, t0 + 1106 * MS, 3).unwrap();
        assert_eq!(status[1] & 0x02, 0x02, "fetch outside periodic mode is not processed");
    }

    #[test]
    fn status_heater_reset_and_unknown_commands() {
        let (mut s, t0) = sensor();
        let status = |s: &mut Sht3x| {
            command(s, t0, 0xF32D);
            let data = read(s, t0, 3).unwrap();
            assert_eq!(crc8(&data[..2]), data[2]);
            u16::from_be_bytes([data[0], data[1]])
        };
        assert_eq!(status(&mut s), 0x8010, "power-on: alert pending, reset detected");
        command(&mut s, t0, 0x3041);
        assert_eq!(status(&mut s), 0x0000);
        command(&mut s, t0, 0x306D);
        assert_eq!(status(&mut s), 0x2000);
        command(&mut s, t0, 0x1234);
        assert_eq!(status(&mut s), 0x2002, "an unknown command is flagged");
        s.write(&[0x61, 0x1D, 0x00, 0x00, 0x80]).unwrap();
        assert_eq!(status(&mut s), 0x2001, "an alert limit with a wrong CRC");
        s.write(&[0x61, 0x1D, 0x00, 0x00, 0x81]).unwrap();
        assert_eq!(status(&mut s), 0x2000, "written");
        command(&mut s, t0, 0x3066);
        assert_eq!(status(&mut s), 0x0000);
        command(&mut s, t0, 0x30A2);
        assert_eq!(status(&mut s), 0x8010);
        s.write(&[0x30]).unwrap();
        assert_eq!(status(&mut s), 0x8010, "half a command is no command");
    }

    #[test]
    fn serial_number_in_two_words() {
        let (mut s, t0) = sensor();
        command(&mut s, t0, 0x3780);
        let data = read(&mut s, t0, 6).unwrap();
        assert_eq!(data, with_crcs(&[0x1234, 0x5678]));
        assert_eq!(read(&mut s, t0, 1), Err(Ack::Nack), "nothing more to send");
    }

    fn limit_write(command: u16, word: u16) -> Vec<u8> {
        let [hi, lo] = word.to_be_bytes();
        let [c0, c1] = command.to_be_bytes();
        vec![c0, c1, hi, lo, crc8(&[hi, lo])]
    }

    #[test]
    fn alert_limits_read_back_and_raise_the_alert_pin_in_periodic_mode() {
        use crate::clock::Clock;
        let line = Arc::new(SimLine::new("alert", 0, false, Clock::real()));
        let mut chip = Sht3xChip::wired(Sht3x::new(25.0, 50.0, 0, Instant::now()), Some(line.clone()));
        let now = Instant::now;
        assert_eq!(LIMITS.map(limit)[0], 0xCD33, "high set at reset, as the datasheet has it");
        for (read, word) in READ_LIMIT.into_iter().zip(LIMITS.map(limit)) {
            chip.address(Rw::Write, now());
            chip.write(&read.to_be_bytes()).unwrap();
            chip.address(Rw::Read, now());
            let mut buf = [0; 3];
            chip.read(&mut buf).unwrap();
            assert_eq!(buf[..], with_crcs(&[word])[..], "{read:#06x}");
        }
        // 80 %RH over 20 °C: the temperature (25 °C) is past the high set limit.
        let twenty = ((20.0 + 45.0) * 65535.0 / 175.0) as u16 >> 7;
        chip.address(Rw::Write, now());
        chip.write(&limit_write(0x611D, 0xCC00 | twenty)).unwrap();
        chip.address(Rw::Write, now());
        chip.write(&[0x27, 0x37]).unwrap(); // 10 per second, high repeatability
        assert!(!line.level(), "not until the first measurement ends");
        let waited = Instant::now();
        while !line.level() {
            assert!(waited.elapsed() < Duration::from_secs(5), "no alert");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(waited.elapsed() >= Duration::from_millis(14), "after t_MEAS, 15 ms");
        chip.address(Rw::Write, now());
        chip.write(&[0xF3, 0x2D]).unwrap();
        chip.address(Rw::Read, now());
        let mut status = [0; 3];
        chip.read(&mut status).unwrap();
        assert_eq!(u16::from_be_bytes([status[0], status[1]]) & 0x8C00, 0x8400, "alert pending, temperature");
        // Back to the defaults: 25 °C is within the clear limits, and the next measurement
        // lowers the alert.
        chip.address(Rw::Write, now());
        chip.write(&limit_write(0x611D, limit(LIMITS[0]))).unwrap();
        let waited = Instant::now();
        while line.level() {
            assert!(waited.elapsed() < Duration::from_secs(5), "the alert stayed");
            std::thread::sleep(Duration::from_millis(1));
        }
        chip.address(Rw::Write, now());
        chip.write(&[0x30, 0x93]).unwrap(); // break
    }
}
