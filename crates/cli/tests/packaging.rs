//! The systemd unit in `packaging/`: systemd accepts it, rates its exposure low, and its
//! system-call filter allows every call the server makes. Needs `systemd-analyze` and
//! `strace` (`.ci/run` installs them); without them these tests say so and pass.

mod common;

use common::{BIN, Serving};
use smbus_proxy_client::Msg;
use smbus_proxy_client::blocking::Client;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

const UNIT: &str = include_str!("../../../packaging/smbus-proxy.service");
/// The most exposure `systemd-analyze security` may rate the unit (10 is the worst).
const MOST_EXPOSURE: f64 = 2.0;

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

fn analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze").args(args).output().unwrap()
}

#[test]
fn the_unit_is_valid_and_its_exposure_low() {
    if !have("systemd-analyze") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("smbus-proxy.service");
    // verify checks that ExecStart's program exists: point it at the one just built.
    std::fs::write(&unit, UNIT.replace("/usr/bin/smbus-proxy", BIN)).unwrap();
    let unit = unit.to_str().unwrap();
    let verify = analyze(&["verify", unit]);
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && complaints.trim().is_empty(), "systemd-analyze verify: {complaints}");
    let security = analyze(&["security", "--offline=true", unit]);
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for smbus-proxy.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    println!("systemd-analyze security rates the unit {exposure}");
    assert!(exposure <= MOST_EXPOSURE, "exposure {exposure}:\n{report}");
}

/// The system calls in a set systemd names (`@system-service`), or the call itself.
fn syscalls(set: &str) -> BTreeSet<String> {
    if !set.starts_with('@') {
        return BTreeSet::from([set.to_owned()]);
    }
    let listing = analyze(&["syscall-filter", set]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    let mut calls = BTreeSet::new();
    for line in listing.lines().skip(1).map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        calls.extend(syscalls(line));
    }
    calls
}

/// What the unit's SystemCallFilter= lines allow: the sets of the allow lines, less those of
/// the `~` deny lines.
fn allowed_by_unit() -> BTreeSet<String> {
    let (mut allowed, mut denied) = (BTreeSet::new(), BTreeSet::new());
    for value in UNIT.lines().filter_map(|l| l.strip_prefix("SystemCallFilter=")) {
        let (into, sets) = match value.strip_prefix('~') {
            Some(sets) => (&mut denied, sets),
            None => (&mut allowed, value),
        };
        for set in sets.split_whitespace() {
            into.extend(syscalls(set));
        }
    }
    assert!(!allowed.is_empty(), "the unit has no SystemCallFilter=");
    allowed.difference(&denied).cloned().collect()
}

#[test]
fn the_units_system_call_filter_allows_what_the_server_does() {
    if !have("systemd-analyze") || !have("strace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let server =
        Serving::start_under(&["strace", "-f", "-qq", "-o", trace.to_str().unwrap()], &["--simulate"]);
    // A workload that touches every part: operations, transfers, locks, sessions, and a
    // connection closed for doing nothing.
    {
        let client = Client::connect(server.url()).unwrap();
        client.list_buses().unwrap();
        let mut bus = client.bus(1).unwrap();
        bus.write_byte_data(0x48, 1, 2).unwrap();
        bus.read_i2c_block_data(0x48, 0, 8).unwrap();
        bus.i2c_rdwr(vec![Msg::write(0x50, vec![0]), Msg::read(0x50, 16)]).unwrap();
        let mut held = bus.lock(Duration::from_secs(1)).unwrap();
        held.read_byte(0x48).unwrap();
    }
    let idle = std::net::TcpStream::connect(&server.addr).unwrap();
    // Ended as systemd ends it: SIGTERM to the server, strace's child.
    let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.pid())).unwrap();
    let pid = children.split_whitespace().next().expect("the server runs under strace");
    assert!(Command::new("kill").args(["-TERM", pid]).status().unwrap().success());
    let mut server = server;
    assert!(server.child.wait().unwrap().success());
    drop(idle);

    let trace = std::fs::read_to_string(trace).unwrap();
    let used: BTreeSet<String> = trace
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.split('(').next())
        .filter(|name| {
            !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect();
    assert!(used.contains("epoll_wait") || used.contains("epoll_pwait"), "the trace is empty: {used:?}");
    let allowed = allowed_by_unit();
    let refused: Vec<_> = used.difference(&allowed).collect();
    println!("the server made {} kinds of system call, all allowed by the unit", used.len());
    assert!(refused.is_empty(), "the unit's SystemCallFilter refuses {refused:?}");
}
