//! A driver loop that shows each write reaching the device exactly once, whatever the network
//! does meanwhile: pull the cable, let the Wi-Fi roam, suspend the laptop.
//!
//!     cargo run --example exactly_once -- URL BUS SECONDS [--pipeline N] [--expect-lost]
//!
//! It locks bus BUS, and for SECONDS writes a counter, two bytes a write, to the write-log
//! device at 0x60 (the simulator's `model = "write-log"`), reading the register file at 0x48
//! after every fourth write (every sixteenth with `--pipeline`, where the read is the point at
//! which the queued writes are waited for). Then, still holding the lock, it reads the log back
//! and checks that it holds every write once, in order. It prints how long the calls took and
//! the longest pause between two answers, and exits 1 on any error.
//!
//! With `--expect-lost` the outage is meant to outlast the session's resume window: the loop
//! must end with the error that says so (`Error::LinkDown` or `Error::SessionLost`), which it
//! prints, and it exits 1 if it ends any other way.

use smbus_proxy_client::blocking::{Bus, Client};
use smbus_proxy_client::{BusOptions, Error, Msg, Report};
use std::time::{Duration, Instant};

const LOG: u16 = 0x60;
const RF: u16 = 0x48;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(bus), Some(seconds)) = (args.first(), args.get(1), args.get(2)) else {
        eprintln!("usage: exactly_once URL BUS SECONDS [--pipeline N] [--expect-lost]");
        std::process::exit(2);
    };
    let pipeline = match args.iter().position(|a| a == "--pipeline") {
        Some(i) => args.get(i + 1).and_then(|n| n.parse().ok()).expect("--pipeline N"),
        None => 0,
    };
    let expect_lost = args.iter().any(|a| a == "--expect-lost");
    let (bus, seconds): (u32, f64) = (bus.parse().expect("BUS"), seconds.parse().expect("SECONDS"));
    let name = if pipeline > 0 { "rust pipelined" } else { "rust sync" };
    let mut timings = Timings::default();
    match run(url, bus, Duration::from_secs_f64(seconds), pipeline, &mut timings) {
        Ok(writes) if !expect_lost => {
            println!("{name}: {writes} writes, each once, in order; the lock held throughout; {timings}");
        }
        Err(e) if expect_lost && outage_outlasted_the_session(&e) => {
            println!("{name}: ended as expected after {} calls: {}", timings.calls.len(), Report(&e));
        }
        Ok(writes) => {
            eprintln!("{name}: FAILED: {writes} writes went through an outage meant to end the session");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{name}: FAILED after {} calls: {}", timings.calls.len(), Report(&e));
            std::process::exit(1);
        }
    }
}

/// Whether `e` says the connection stayed down too long or the session is gone, for the call
/// itself or, pipelined, for one that went before.
fn outage_outlasted_the_session(e: &Error) -> bool {
    match e {
        Error::LinkDown { .. } | Error::SessionLost { .. } => true,
        Error::Pipelined { source, .. } => outage_outlasted_the_session(source),
        _ => false,
    }
}

/// Writes for `time`, then checks the log; returns how many writes there were.
fn run(url: &str, number: u32, time: Duration, pipeline: usize, timings: &mut Timings) -> Result<u32, Error> {
    let client = Client::connect(url)?;
    let mut bus = client.bus_with(number, BusOptions { pipeline, ..BusOptions::DEFAULT })?;
    let mut bus = bus.lock(Duration::from_secs(1))?;
    let read_every = if pipeline > 0 { 16 } else { 4 };
    let start = Instant::now();
    let mut writes = 0u32;
    while start.elapsed() < time {
        let [hi, lo] = (writes as u16).to_be_bytes();
        timings.time(|| bus.write_byte_data(LOG, hi, lo))?;
        writes += 1;
        if writes.is_multiple_of(read_every) {
            timings.time(|| bus.read_byte_data(RF, 0))?;
        }
    }
    bus.flush()?;
    let expected: Vec<u8> = (0..writes).flat_map(|i| (i as u16).to_be_bytes()).collect();
    let logged = logged(&mut bus, expected.len() + 1)?;
    if logged[..expected.len()] != expected[..] || logged[expected.len()] != 0xFF {
        let at = logged.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(expected.len());
        eprintln!("the write log differs from what was written at byte {at}");
        std::process::exit(1);
    }
    bus.unlock()?;
    Ok(writes)
}

/// What the write log holds from the start: `len` bytes of it.
fn logged(bus: &mut Bus, len: usize) -> Result<Vec<u8>, Error> {
    bus.write_quick(LOG)?;
    let mut logged = Vec::with_capacity(len);
    while logged.len() < len {
        let chunk = (len - logged.len()).min(4096) as u16;
        logged.extend_from_slice(&bus.i2c_rdwr(vec![Msg::read(LOG, chunk)])?.remove(0));
    }
    Ok(logged)
}

/// Each call's duration, and the longest pause between two answers.
#[derive(Default)]
struct Timings {
    calls: Vec<Duration>,
    last: Option<Instant>,
    longest_pause: Duration,
}

impl Timings {
    fn time<T>(&mut self, call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        let start = Instant::now();
        let answer = call()?;
        let end = Instant::now();
        self.calls.push(end - start);
        if let Some(last) = self.last {
            self.longest_pause = self.longest_pause.max(end - last);
        }
        self.last = Some(end);
        Ok(answer)
    }
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sorted = self.calls.clone();
        sorted.sort();
        let ms = |q: f64| {
            sorted
                .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        write!(
            f,
            "{} calls: p50 {:.2} ms, p99 {:.2} ms; longest pause between answers {:.3} s",
            sorted.len(),
            ms(0.5),
            ms(0.99),
            self.longest_pause.as_secs_f64()
        )
    }
}
