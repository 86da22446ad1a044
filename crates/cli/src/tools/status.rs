//! `smbus-proxy status`: who is using the server's buses, as `systemctl status` shows a
//! service: its version and uptime, then per bus its sessions, which one holds the lock and
//! for how long, and who waits for it; then its GPIO lines, who holds each, its direction and
//! value.

use super::{Args, connect, fail};
use smbus_proxy_client::BusInfo;
use smbus_proxy_client::Report;
use smbus_proxy_wire::pb::{BusStatus, SessionStatus, StatusResponse};
use std::fmt::Write;
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy status
  Shows the server's version and uptime, and for each bus its adapter, functionality and the
  addresses kernel drivers own, and its sessions: the client's address, age, time since its
  last call, the lock held or awaited and for how long, operations and errors; then the GPIO
  lines it offers: the chip and offset, who holds each (a session, or the consumer the kernel
  names), its direction and, held by a session, its value.
",
    remote_usage!()
);

pub fn run(args: Vec<String>) -> ExitCode {
    let args = match Args::parse("status", "", args) {
        Ok(args) => args,
        Err(stop) => return stop.exit(USAGE),
    };
    if let Some(extra) = args.positional.first() {
        return super::usage_error(&format!("Error: unexpected argument: {extra}"), USAGE);
    }
    let client = match connect(&args) {
        Ok(client) => client,
        Err(code) => return code,
    };
    match client.status() {
        Ok(status) => {
            print!("{}", render(&args.server, &status));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("Error: {}", Report(&e))),
    }
}

fn render(server: &str, status: &StatusResponse) -> String {
    let mut out = format!("smbus-proxy {} at {server}, up {}\n", status.version, duration(status.uptime_ms));
    for bus in &status.buses {
        let _ = write!(out, "{}", bus_lines(bus));
    }
    if !status.lines.is_empty() {
        let _ = writeln!(
            out,
            "\nGPIO lines\n  {:<16}  {:<14}  {:<26}  {:<6}  VALUE",
            "LINE", "CHIP", "HELD BY", "DIR"
        );
        for l in &status.lines {
            let held = match (l.used, l.session.as_str()) {
                (false, _) => "-".to_owned(),
                (true, "") if l.consumer.is_empty() => "the kernel".to_owned(),
                (true, "") => format!("{:?}", l.consumer),
                (true, session) => format!("session {session}"),
            };
            let at = format!("{} {}", l.chip, l.offset);
            let dir = if l.is_output() { "output" } else { "input" };
            let value = l.value.map_or("-", |v| if v { "1" } else { "0" });
            let _ = writeln!(out, "  {:<16}  {at:<14}  {held:<26}  {dir:<6}  {value}", l.name);
        }
    }
    out
}

fn bus_lines(status: &BusStatus) -> String {
    let info = status.bus.clone().unwrap_or_default();
    let mut out =
        format!("\ni2c-{} {:?}, funcs {:#010x}{}\n", info.number, info.name, info.funcs, claimed(&info));
    match (&status.sessions[..], status.sessions_hidden) {
        (_, true) => out += "  sessions hidden by the server's policy\n",
        ([], false) => out += "  no sessions\n",
        (sessions, false) => {
            let _ = writeln!(
                out,
                "  {:<8}  {:<22} {:>8} {:>8}  {:<16} {:>8} {:>7}",
                "SESSION", "PEER", "AGE", "IDLE", "LOCK", "OPS", "ERRORS"
            );
            for s in sessions {
                out += &session_line(s);
            }
        }
    }
    out
}

fn claimed(info: &BusInfo) -> String {
    let mut addrs: Vec<String> = info.claimed.iter().map(|a| format!("{a:#04x}")).collect();
    addrs.extend(info.claimed_ten_bit.iter().map(|a| format!("{a:#05x} (10-bit)")));
    match addrs.is_empty() {
        true => String::new(),
        false => format!(", drivers own {}", addrs.join(" ")),
    }
}

fn session_line(s: &SessionStatus) -> String {
    let lock = match (s.lock_held_ms, s.lock_wait_ms) {
        (Some(ms), _) => format!("held {}", duration(ms)),
        (None, Some(ms)) => format!("waiting {}", duration(ms)),
        (None, None) => "-".to_owned(),
    };
    let peer = if s.peer.is_empty() { "-" } else { &s.peer };
    format!(
        "  {:<8}  {peer:<22} {:>8} {:>8}  {lock:<16} {:>8} {:>7}\n",
        s.session,
        duration(s.age_ms),
        duration(s.idle_ms),
        s.operations,
        s.errors
    )
}

/// `850ms`, `12.3s`, `5m03s`, `2h07m`.
fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1e3),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms / 1_000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(303_000), "5m03s");
        assert_eq!(duration(7_620_000), "2h07m");
    }
}
