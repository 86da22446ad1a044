//! What the benchmarks share: the server as a process of its own, a relay that delays each
//! direction of a TCP connection, and percentiles.

#![allow(dead_code)] // each bench uses its own part of this

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// This package's `smbus-proxy serve`, as a process of its own.
pub struct ServerProcess {
    child: Child,
    addr: String,
    _config: tempfile::TempPath,
}

impl ServerProcess {
    /// `smbus-proxy serve --simulate` on the buses `toml` describes, on a free loopback port.
    pub fn start(toml: &str) -> Self {
        let mut config = tempfile::NamedTempFile::new().unwrap();
        config.write_all(toml.as_bytes()).unwrap();
        let config = config.into_temp_path();
        let mut child = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
            .args(["serve", "--listen", "127.0.0.1:0", "--simulate"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start smbus-proxy");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("server output").unwrap();
            if let Some(rest) = line.split("addr=").nth(1).filter(|_| line.contains("server started")) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess { child, addr, _config: config }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn status(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    pub fn rss_kib(&self) -> u64 {
        self.status("VmRSS:")
    }

    pub fn peak_rss_kib(&self) -> u64 {
        self.status("VmHWM:")
    }

    pub fn cpu_time(&self) -> Duration {
        cpu_time(&format!("/proc/{}/stat", self.child.id()))
    }
}

/// User plus system CPU time so far of the process or thread whose `stat` file this is.
pub fn cpu_time(stat: &str) -> Duration {
    let stat = std::fs::read_to_string(stat).unwrap();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th, in clock ticks.
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap().split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The p50 and p99 of `samples`, in µs.
pub fn percentiles(samples: &[Duration]) -> (f64, f64) {
    let mut s = samples.to_vec();
    s.sort();
    let at = |p: f64| s[((s.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

/// A TCP relay on loopback that holds each direction's bytes for `one_way` before passing them
/// on: a network with that latency, without traffic shaping.
pub struct Relay {
    pub addr: SocketAddr,
}

impl Relay {
    pub fn start(target: SocketAddr, one_way: Duration) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for client in listener.incoming() {
                let client = client.unwrap();
                let server = TcpStream::connect(target).unwrap();
                for s in [&client, &server] {
                    s.set_nodelay(true).unwrap();
                }
                delay_pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), one_way);
                delay_pipe(server, client, one_way);
            }
        });
        Relay { addr }
    }
}

/// Threads, not tokio, whose timer counts in milliseconds, too coarse for 0.25 ms; and a
/// spinning sleep for the last stretch, as a thread sleep overshoots by about 100 µs here.
fn delay_pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0; 64 << 10];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if tx.send((Instant::now() + delay, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (due, bytes) in rx {
            spin_sleep::sleep_until(due);
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
