//! The `smbus-proxy` binary serving on a free loopback port, for tests that need a real server
//! process (to kill it, restart it, or measure it).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_smbus-proxy");

pub struct Serving {
    pub child: Child,
    /// `127.0.0.1:PORT`, from the server's "server started" line.
    pub addr: String,
}

impl Serving {
    /// Starts `smbus-proxy serve ARGS` (with `--listen 127.0.0.1:0` unless ARGS has a
    /// `--listen`) and waits until it listens.
    pub fn start(args: &[&str]) -> Serving {
        let mut command = Command::new(BIN);
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
        let addr = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.split("addr=").nth(1).filter(|_| l.contains("server started")).map(str::to_owned))
            .expect("the server started");
        // Keep reading, so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Serving { child, addr: addr.split_whitespace().next().unwrap().to_owned() }
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
