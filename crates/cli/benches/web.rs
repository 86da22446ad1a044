//! What `smbus-proxy web` keeps up with and what it costs: the server and the page's process as
//! processes of their own on the simulator's demo bus at full speed, four clients running
//! `read_byte_data` as fast as they can, and a reader that asks the page's process for the feed
//! as the page does (every 250 ms, at once again after a full read).
//!
//! - the rate the clients drive, and the events per second the reader gets, with the events
//!   it missed (the ring moved on) and those the watch lost;
//! - the page process's memory after 10,000, 100,000 and 360,000 operations (an hour of a
//!   driver polling at 100 Hz), against its bound (the ring's 16 MiB);
//! - the server's CPU per operation with the page watching, against none watching and against
//!   `smbus-proxy monitor` watching (into /dev/null). Here every process shares the machine's
//!   two CPUs; the page's process would run on the laptop.
//!
//!     cargo bench -p smbus-proxy --bench web [-- --json]

use smbus_proxy_client::blocking::Client;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::{ServerProcess, cpu_time};

const LAB: &str = "[[bus]]\nnumber = 1\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\n";
const CLIENTS: usize = 4;
/// An hour of a driver polling at 100 Hz.
const HOUR: u64 = 360_000;

struct Page {
    child: Child,
    addr: SocketAddr,
}

impl Page {
    fn start(server: &str) -> Page {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
            .args(["web", "--server", server, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
        let addr = url.trim().trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
        Page { child, addr }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// One read of the feed, as the page makes it: (events, the next to ask from, missed, lost).
    fn read(&self, after: u64) -> (u64, u64, u64, u64) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        write!(
            stream,
            "GET /api/events?after={after} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
        let number = |key: &str| -> u64 {
            let at = body.find(&format!("\"{key}\":")).unwrap() + key.len() + 3;
            body[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
        };
        (body.matches("\"seq\":").count() as u64, number("next"), number("missed"), number("lost"))
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clients running `read_byte_data` until `stop`; the count of operations they ran.
fn load(url: &str, stop: &Arc<AtomicBool>) -> (Arc<AtomicU64>, Vec<std::thread::JoinHandle<()>>) {
    let ops = Arc::new(AtomicU64::new(0));
    let threads = (0..CLIENTS)
        .map(|_| {
            let (url, stop, ops) = (url.to_owned(), stop.clone(), ops.clone());
            std::thread::spawn(move || {
                let client = Client::connect(url).unwrap();
                let mut bus = client.bus(1).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    bus.read_byte_data(0x48, 0).unwrap();
                    ops.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    (ops, threads)
}

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let server = ServerProcess::start(LAB);

    // The server's CPU per operation with nobody watching, then with the monitor watching.
    let per_op = |server: &ServerProcess| {
        let stop = Arc::new(AtomicBool::new(false));
        let (ops, threads) = load(&server.url(), &stop);
        std::thread::sleep(Duration::from_secs(1));
        let (cpu0, ops0) = (server.cpu_time(), ops.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_secs(5));
        let us = (server.cpu_time() - cpu0).as_secs_f64() * 1e6 / (ops.load(Ordering::Relaxed) - ops0) as f64;
        stop.store(true, Ordering::Relaxed);
        threads.into_iter().for_each(|t| t.join().unwrap());
        us
    };
    let alone_us = per_op(&server);
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["monitor", "--server", &server.url()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let monitor_us = per_op(&server);
    let _ = monitor.kill();
    let _ = monitor.wait();

    // The page watching, and a reader reading it as the page does, until an hour's operations.
    let page = Page::start(&server.url());
    let stop = Arc::new(AtomicBool::new(false));
    let (ops, threads) = load(&server.url(), &stop);
    let start = Instant::now();
    let (cpu0, ops0) = (server.cpu_time(), ops.load(Ordering::Relaxed));
    let page_cpu0 = cpu_time(&format!("/proc/{}/stat", page.child.id()));
    let (mut after, mut got, mut missed, mut lost) = (0, 0, 0, 0);
    let mut memory = Vec::new();
    let mut marks = [10_000u64, 100_000, HOUR].into_iter().peekable();
    while marks.peek().is_some() && start.elapsed() < Duration::from_secs(120) {
        let (events, next, m, l) = page.read(after);
        (after, got, missed, lost) = (next, got + events, missed + m, l);
        while let Some(&mark) = marks.peek()
            && after >= mark
        {
            memory.push((mark, page.rss_kib()));
            marks.next();
        }
        if events < 2_000 {
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let ran = ops.load(Ordering::Relaxed) - ops0;
    let watched_us = (server.cpu_time() - cpu0).as_secs_f64() * 1e6 / ran as f64;
    let page_us =
        (cpu_time(&format!("/proc/{}/stat", page.child.id())) - page_cpu0).as_secs_f64() * 1e6 / ran as f64;
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());

    let rate = ran as f64 / elapsed;
    let read_rate = got as f64 / elapsed;
    if json {
        let memory: Vec<String> =
            memory.iter().map(|(n, kib)| format!("{{\"ops\":{n},\"rss_kib\":{kib}}}")).collect();
        println!(
            "{{\"ops_per_s\":{rate:.0},\"page_events_per_s\":{read_rate:.0},\"missed\":{missed},\"lost\":{lost},\
             \"memory\":[{}],\"server_cpu_us_per_op\":{{\"alone\":{alone_us:.2},\"monitor\":{monitor_us:.2},\"page\":{watched_us:.2}}},\
             \"page_cpu_us_per_op\":{page_us:.2}}}",
            memory.join(",")
        );
    } else {
        println!("{CLIENTS} clients, read_byte_data as fast as they go, the page's process watching:");
        println!(
            "  {rate:.0} ops/s; the reader got {read_rate:.0} events/s, missed {missed}, the watch lost {lost}"
        );
        for (n, kib) in &memory {
            println!("  page process RSS after {n} operations: {:.1} MiB", *kib as f64 / 1024.0);
        }
        println!(
            "  server CPU per operation: {alone_us:.2} µs alone, {monitor_us:.2} µs with the monitor watching, \
             {watched_us:.2} µs with the page watching"
        );
        println!("  the page process's CPU per operation: {page_us:.2} µs");
    }
}
