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

[[line]]
name = "int-src"
pull = "up"
[[line]]
name = "int"
follows = "int-src"
"#;

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

    if json {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"path\":\"{}\",\"way\":\"{}\",\"p50_us\":{:.1},\"p99_us\":{:.1}}}",
                    r.path, r.way, r.p50_us, r.p99_us
                )
            })
            .collect();
        println!("{{\"interrupt_to_program\":[{}]}}", items.join(","));
    } else {
        println!("interrupt to program, {EDGES} falling edges each (µs, p50 / p99):");
        for r in &rows {
            println!("  {:<14} {:<9} {:>9.1} / {:>9.1}", r.path, r.way, r.p50_us, r.p99_us);
        }
    }
}
