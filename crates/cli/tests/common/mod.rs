//! The `smbus-proxy` binary serving on a free loopback port, for tests that need a real server
//! process (to kill it, restart it, or measure it).
#![allow(dead_code)]

pub mod raw_h2;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub const BIN: &str = env!("CARGO_BIN_EXE_smbus-proxy");

pub struct Serving {
    pub child: Child,
    /// `127.0.0.1:PORT`, from the server's "server started" line.
    pub addr: String,
    /// What the server logged after it started.
    log: Arc<Mutex<Vec<String>>>,
}

impl Serving {
    /// Starts `smbus-proxy serve ARGS` (with `--listen 127.0.0.1:0` unless ARGS has a
    /// `--listen`) and waits until it listens.
    pub fn start(args: &[&str]) -> Serving {
        Self::start_in(Command::new(BIN), args)
    }

    /// Starts the server under another program: `program ARGS… smbus-proxy serve …`.
    pub fn start_under(program: &[&str], args: &[&str]) -> Serving {
        let mut command = Command::new(program[0]);
        command.args(&program[1..]).arg(BIN);
        Self::start_in(command, args)
    }

    /// Starts the server with at most `files` descriptors open (`ulimit -n`).
    pub fn start_with_nofile(files: u32, args: &[&str]) -> Serving {
        let mut sh = Command::new("sh");
        sh.args(["-c", &format!("ulimit -n {files} && exec \"$0\" \"$@\""), BIN]);
        Self::start_in(sh, args)
    }

    fn start_in(mut command: Command, args: &[&str]) -> Serving {
        command.arg("serve");
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        let mut child = command
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("SMBUS_PROXY_TOKEN")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut before = Vec::new();
        let addr = loop {
            let line = lines.next().and_then(Result::ok).expect("the server started");
            if line.contains("server started")
                && let Some(addr) = line.split("addr=").nth(1)
            {
                break addr.to_owned();
            }
            before.push(line);
        };
        // Keep reading, so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(before));
        std::thread::spawn({
            let log = log.clone();
            move || lines.map_while(Result::ok).for_each(|line| log.lock().unwrap().push(line))
        });
        Serving { child, addr: addr.split_whitespace().next().unwrap().to_owned(), log }
    }

    /// The lines the server has logged that contain `text`.
    pub fn logged(&self, text: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(text)).cloned().collect()
    }

    /// The lines logged that contain `text`, once there is one: a line the server wrote has
    /// yet to come through the pipe and the reading thread (up to 10 s, then none).
    pub fn logged_once_there(&self, text: &str) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let lines = self.logged(text);
            if !lines.is_empty() || std::time::Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The server's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The sockets the server has open (its listener included).
    pub fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }

    /// CPU time the server has used, user and system, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful shutdown, no goodbye to the clients.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
