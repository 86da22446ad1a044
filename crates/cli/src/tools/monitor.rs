//! `smbus-proxy monitor`: every operation on the server's buses, live, one line each.

use super::{Args, connect, fail, parse_int};
use smbus_proxy_client::{Op, OpEvent, WatchEvent};
use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

const USAGE: &str = concat!(
    "\
Usage: smbus-proxy monitor [-d ADDRESS]... [I2CBUS]...
  Prints every operation anyone runs on the server's buses (all, or those named), as it
  completes: the time (UTC), the bus, the operation and its result, how long the bus took, and
  the client's address and session.
  I2CBUS is an integer
  -d ADDRESS shows only operations on this device (repeatable; 0x00 - 0x3ff)
",
    remote_usage!()
);

pub fn run(args: Vec<String>) -> ExitCode {
    let (args, values) = match Args::parse_with_values("monitor", "", "d", args) {
        Ok(parsed) => parsed,
        Err(stop) => return stop.exit(USAGE),
    };
    let mut buses = Vec::new();
    for arg in &args.positional {
        match parse_int(arg).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => buses.push(n),
            None => return super::usage_error(&format!("Error: I2CBUS argument invalid: {arg}"), USAGE),
        }
    }
    let mut devices = Vec::new();
    for (_, value) in &values {
        match parse_int(value).and_then(|a| u16::try_from(a).ok()).filter(|&a| a <= 0x3FF) {
            Some(a) => devices.push(a),
            None => return super::usage_error(&format!("Error: Device address invalid: {value}"), USAGE),
        }
    }
    let client = match connect(&args) {
        Ok(client) => client,
        Err(code) => return code,
    };
    let watcher = match client.watch(&buses) {
        Ok(watcher) => watcher,
        Err(e) => return fail(&format!("Error: {e}")),
    };
    let mut out = std::io::stdout().lock();
    for event in watcher {
        let line = match event {
            Ok(WatchEvent::Op(e)) if devices.is_empty() || addresses(&e.op).any(|a| devices.contains(&a)) => {
                line(&e)
            }
            Ok(WatchEvent::Op(_)) => continue,
            Ok(WatchEvent::Lost(n)) => format!("-- {n} events lost: this monitor fell behind --"),
            Err(e) => return fail(&format!("Error: {e}")),
        };
        // Each line as it happens; a closed pipe (`| head`) ends the monitor.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// The devices an operation addresses.
fn addresses(op: &Op) -> impl Iterator<Item = u16> + '_ {
    let (one, many) = match op {
        Op::Smbus { target, .. } => (Some(target.addr), None),
        Op::Transfer(msgs) => (None, Some(msgs.iter().map(|m| m.addr))),
    };
    one.into_iter().chain(many.into_iter().flatten())
}

/// `12:34:56.789012 i2c-1 read_byte_data 0x48 reg=0x00 → 0x19 (105 µs) 127.0.0.1:40312 1a2b3c4d`
fn line(e: &OpEvent) -> String {
    let since_midnight =
        e.time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros() % 86_400_000_000;
    let (s, us) = (since_midnight / 1_000_000, since_midnight % 1_000_000);
    let result = match &e.result {
        Ok(reply) => reply.to_string(),
        Err(errno) => errno.name().map_or_else(|| format!("errno {}", errno.0), str::to_owned),
    };
    let ran_as = e.ran_as.as_ref().map(|op| format!(" (ran as {op})")).unwrap_or_default();
    format!(
        "{:02}:{:02}:{:02}.{us:06} i2c-{} {}{ran_as} → {result} ({} µs) {} {}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        e.bus,
        e.op,
        e.took.as_micros(),
        e.peer.as_deref().unwrap_or("-"),
        &e.session[..8.min(e.session.len())],
    )
}
