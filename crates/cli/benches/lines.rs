//! What an interrupt costs to reach a program: from the moment a chip's line falls to the
//! moment the program hears of it, over loopback and through a relay that delays each
//! direction by 1 ms (the link bench's Wi-Fi), with `smbus-proxy serve` as a process of its
//! own on the simulator's lines.
//!
//! The "chip" is a line of the simulator wired to another (`int` follows `int-src`), which this
//! bench drives from a session on loopback; the program holds `int` with edge detection and
//! hears of each falling edge two ways:
//! - a wait: a `wait_edge` transaction already waiting on the server when the edge comes, as
//!   `embedded_hal_async::digital::Wait` and `Line::wait_edge` do;
//! - a callback: the `LineEvents` stream, as gpiozero's `when_pressed` does.
//!
//! Each figure is from just before the driving call is sent to the moment the program has the
//! edge: it includes the driving call's one-way trip on loopback (tens of µs), which a real
//! chip's edge does not cost.
//!
//! Then a sensor loop paced by its data-ready pin: the simulator's ADXL345 at 400 and 800 Hz,
//! its INT1 (DATA_READY) on a line, reading a second's samples, each sample INT_SOURCE and the
//! six data bytes (one 8-byte read from 0x30; the data read clears DATA_READY, and Overrun
//! says a sample was replaced before it was read). Two loops, each run on loopback ("local")
//! and through the relay, the figure being the time through the relay over the time on
//! loopback for the same samples:
//! - one round trip per sample: a transaction `[wait_level(INT1 high), read]`, as a driver
//!   that waits for the pin and then reads does;
//! - the samples streamed: transactions of 40 such pairs, so the server waits for each
//!   sample and reads it without a round trip in between.
//!
//!     cargo bench -p smbus-proxy --bench lines [-- --json]

use smbus_proxy_client::{Edges, LineSettings, blocking};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{Relay, ServerProcess, percentiles};

const LAB: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
[[bus.device]]
model = "adxl345"
addr = 0x53
int1 = "accel-int1"

[[line]]
name = "int-src"
pull = "up"
[[line]]
name = "int"
follows = "int-src"
[[line]]
name = "accel-int1"
"#;

/// The ADXL345's address, and its registers the loop uses.
const ACCEL: u16 = 0x53;
const BW_RATE: u8 = 0x2C;
const INT_SOURCE: u8 = 0x30;
/// The data rates the loop runs at, with BW_RATE's code for each; a run reads a second's worth.
const RATES: [(u8, usize); 2] = [(0x0C, 400), (0x0D, 800)];
/// Samples per transaction when streamed.
const PER_TRANSACTION: usize = 40;
const OVERRUN: u8 = 1 << 0;
/// How long each wait for a sample may take: 8 periods or more, and 40 of them within the
/// second of waiting a server allows a transaction by default.
const WAIT: Duration = Duration::from_millis(20);

/// Edges measured per path and way.
const EDGES: usize = 200;

struct Row {
    path: &'static str,
    way: &'static str,
    p50_us: f64,
    p99_us: f64,
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let server = ServerProcess::start(LAB);
    let addr: SocketAddr = server.url().trim_start_matches("http://").parse().unwrap();
    let driver = blocking::Client::connect(server.url()).unwrap();
    let mut driver_bus = driver.bus(1).unwrap();
    let mut source = driver_bus.line("int-src", LineSettings::output(true)).unwrap();

    let relay = Relay::start(addr, Duration::from_millis(1));
    let mut rows = Vec::new();
    for (path, url) in [("loopback", server.url()), ("1 ms each way", format!("http://{}", relay.addr))] {
        let client = blocking::Client::connect(url).unwrap();
        let mut bus = client.bus(1).unwrap();
        let falling = LineSettings::input().with_edges(Edges::Falling);

        // A wait already on the server when the edge comes.
        let mut int = bus.line("int", falling).unwrap();
        let (ready, go) = mpsc::channel::<()>();
        let (heard, times) = mpsc::channel::<Instant>();
        let waiter = std::thread::spawn(move || {
            for () in go {
                int.wait_edge(Edges::Falling, Duration::from_secs(5)).unwrap();
                heard.send(Instant::now()).unwrap();
            }
            int.release().unwrap();
        });
        let mut samples = Vec::with_capacity(EDGES);
        for _ in 0..EDGES {
            ready.send(()).unwrap();
            // Time for the wait to reach the server, even through the relay.
            std::thread::sleep(Duration::from_millis(5));
            let sent = Instant::now();
            source.set(false).unwrap();
            samples.push(times.recv().unwrap() - sent);
            source.set(true).unwrap();
        }
        drop(ready);
        waiter.join().unwrap();
        let (p50_us, p99_us) = percentiles(&samples);
        rows.push(Row { path, way: "wait", p50_us, p99_us });

        // The event stream, read on a thread of its own as a callback would be.
        let int = bus.line("int", falling).unwrap();
        let events = bus.line_events(&["int".to_owned()]).unwrap();
        let (heard, times) = mpsc::channel::<Instant>();
        std::thread::spawn(move || {
            for event in events {
                event.unwrap();
                if heard.send(Instant::now()).is_err() {
                    return;
                }
            }
        });
        let mut samples = Vec::with_capacity(EDGES);
        for _ in 0..EDGES {
            let sent = Instant::now();
            source.set(false).unwrap();
            samples.push(times.recv().unwrap() - sent);
            source.set(true).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let (p50_us, p99_us) = percentiles(&samples);
        rows.push(Row { path, way: "callback", p50_us, p99_us });
        int.release().unwrap();
    }

    let mut loops = Vec::new();
    for rate in RATES {
        for (way, per_transaction) in [("round trip per sample", 1), ("streamed", PER_TRANSACTION)] {
            let local = sensor_loop(&server.url(), rate, per_transaction);
            let remote = sensor_loop(&format!("http://{}", relay.addr), rate, per_transaction);
            loops.push((rate.1, way, local, remote));
        }
    }

    if json {
        let loops: Vec<String> = loops
            .iter()
            .map(|(hz, way, local, remote)| {
                format!(
                    "{{\"hz\":{hz},\"way\":\"{way}\",\"local_ms\":{:.1},\"remote_ms\":{:.1},\"ratio\":{:.3},\
                     \"local_overruns\":{},\"remote_overruns\":{}}}",
                    ms(local.elapsed),
                    ms(remote.elapsed),
                    remote.elapsed.as_secs_f64() / local.elapsed.as_secs_f64(),
                    local.overruns,
                    remote.overruns
                )
            })
            .collect();
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"path\":\"{}\",\"way\":\"{}\",\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
                    r.path, r.way, r.p50_us, r.p99_us
                )
            })
            .collect();
        println!(
            "{{\"interrupt_to_program\":[{}],\"data_ready_loop\":[{}]}}",
            items.join(","),
            loops.join(",")
        );
    } else {
        println!("interrupt to program, {EDGES} falling edges each (µs, p50 / p99):");
        for r in &rows {
            println!("  {:<14} {:<9} {:>9.1} / {:>9.1}", r.path, r.way, r.p50_us, r.p99_us);
        }
        println!("data-ready loop, ADXL345, a second's samples (ms, and samples replaced unread):");
        for (hz, way, local, remote) in &loops {
            println!(
                "  {hz} Hz {way:<22} local {:>7.1} ({:>3}), 1 ms each way {:>7.1} ({:>3}): {:.2}×",
                ms(local.elapsed),
                local.overruns,
                ms(remote.elapsed),
                remote.overruns,
                remote.elapsed.as_secs_f64() / local.elapsed.as_secs_f64()
            );
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What a run of the sensor loop took.
struct Loop {
    elapsed: Duration,
    /// Samples the chip replaced before they were read.
    overruns: usize,
}

/// Reads a second's samples at `rate` (BW_RATE's code, and Hz) paced by DATA_READY,
/// `per_transaction` of them per transaction.
fn sensor_loop(url: &str, (code, hz): (u8, usize), per_transaction: usize) -> Loop {
    let client = blocking::Client::connect(url).unwrap();
    let mut bus = client.bus(1).unwrap();
    let int1 = bus.line("accel-int1", LineSettings::input().with_edges(Edges::Rising)).unwrap();
    // The rate, measuring, DATA_READY on INT1; then a first read clears what is there.
    bus.write_i2c_block_data(ACCEL, BW_RATE, &[code, 0x08, 0x80]).unwrap();
    bus.read_i2c_block_data(ACCEL, INT_SOURCE, 8).unwrap();
    let mut overruns = 0;
    let start = Instant::now();
    for _ in 0..hz / per_transaction {
        let mut batch = bus.batch();
        let reads: Vec<_> = (0..per_transaction)
            .map(|_| {
                batch.wait_level("accel-int1", true, WAIT);
                batch.read_i2c_block_data(ACCEL, INT_SOURCE, 8)
            })
            .collect();
        let results = bus.run(batch).unwrap();
        overruns += reads.into_iter().filter(|&read| results.get(read)[0] & OVERRUN != 0).count();
    }
    let elapsed = start.elapsed();
    bus.write_i2c_block_data(ACCEL, BW_RATE + 1, &[0]).unwrap();
    int1.release().unwrap();
    Loop { elapsed, overruns }
}
