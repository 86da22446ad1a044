//! The systemd unit in `packaging/`: systemd accepts it, rates its exposure low, and its
//! system-call filter allows every call the server makes. Needs `systemd-analyze` and
//! `strace` (`.ci/run` installs them); without them these tests say so and pass, except in CI.

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

/// The tools these tests need, with their Debian packages.
fn have(tool: &str) -> bool {
    let package = match tool {
        "systemd-analyze" => "systemd",
        "unshare" => "util-linux",
        other => other,
    };
    smbus_proxy_testkit::tool(tool, package)
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

    check_trace(&std::fs::read_to_string(trace).unwrap());
}

/// A server that listens beyond loopback announces itself (DNS-SD): reading the interfaces
/// (netlink) and sending to mDNS's group. It runs in a network namespace of its own with a
/// veth pair, so that nothing it sends leaves the test.
#[test]
fn the_unit_lets_the_server_announce_itself() {
    if !have("systemd-analyze") || !have("strace") || !have("unshare") {
        return;
    }
    if !Command::new("unshare").args(["-rn", "ip", "link"]).output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: no network namespace with ip here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let log = dir.path().join("log");
    // The announcement goes out after its probes (about 0.75 s); SIGTERM then says goodbye.
    let script = r#"
        set -e
        ip link set lo up
        ip link add name lan0 type veth peer name lan1
        ip addr add 10.9.0.1/24 dev lan0
        ip link set lan0 up
        ip link set lan1 up
        strace -f -qq -o "$1" "$2" serve --simulate --listen 0.0.0.0:50051 --insecure-network 2> "$3" &
        tracer=$!
        sleep 2
        kill -TERM $(cat /proc/$tracer/task/$tracer/children)
        wait $tracer
    "#;
    let status = Command::new("unshare")
        .args(["-rn", "sh", "-c", script, "sh"])
        .args([trace.to_str().unwrap(), BIN, log.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .status()
        .unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert!(status.success() && log.contains("announced on the network"), "{log}");
    let trace = std::fs::read_to_string(trace).unwrap();
    check_trace(&trace);
    assert!(
        trace.contains(r#"sin_port=htons(5353), sin_addr=inet_addr("224.0.0.251")"#),
        "no announcement sent"
    );
}

/// Every system call in an strace log is one the unit's SystemCallFilter= allows, every
/// socket's family one its RestrictAddressFamilies= allows, and every address sent to one
/// its IPAddressAllow= allows.
fn check_trace(trace: &str) {
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

    let setting = |key: &str| -> Vec<&str> {
        UNIT.lines().filter_map(|l| l.strip_prefix(key)).flat_map(str::split_whitespace).collect()
    };
    let families = setting("RestrictAddressFamilies=");
    for line in trace.lines().filter(|l| l.contains(" socket(")) {
        let family = line.split(" socket(").nth(1).and_then(|rest| rest.split(',').next()).unwrap();
        assert!(families.contains(&family), "RestrictAddressFamilies= refuses {family}: {line}");
    }
    let destinations = setting("IPAddressAllow=");
    for line in trace.lines().filter(|l| l.contains(" sendto(") || l.contains(" sendmsg(")) {
        for quoted in [r#"inet_addr(""#, r#"inet_pton(AF_INET6, ""#] {
            let Some(address) = line.split(quoted).nth(1).and_then(|rest| rest.split('"').next()) else {
                continue;
            };
            let ip: std::net::IpAddr = address.parse().unwrap();
            assert!(
                ip.is_loopback() || destinations.contains(&address),
                "IPAddressAllow= refuses {address}: {line}"
            );
        }
    }
}
