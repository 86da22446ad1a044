//! `Smbus/Status` and `smbus-proxy status` against a real server on the simulator: several
//! clients, one holding bus 1's lock and one waiting for it, their operations and errors, and
//! a bus whose policy hides its sessions.

use smbus_proxy_client::blocking::Client;
use smbus_proxy_server::Policy;
use smbus_proxy_testkit::{Loopback, lab};
use std::process::Command;
use std::time::{Duration, Instant};

const RF: u16 = 0x48;

#[test]
fn who_holds_the_lock_and_who_waits() {
    let server = lab().policy(Policy::parse("[bus.2]\nwatch = false\n").unwrap()).on_loopback();
    let url = server.url();

    // A: three operations, one of which fails, then the lock.
    let a = Client::connect(url.clone()).unwrap();
    let mut a_bus = a.bus(1).unwrap();
    a_bus.write_byte_data(RF, 0x10, 1).unwrap();
    a_bus.read_byte_data(RF, 0x10).unwrap();
    assert!(a_bus.read_byte_data(0x33, 0).is_err());
    let guard = a_bus.lock(Duration::from_secs(1)).unwrap();

    // B waits for the lock on a thread of its own; C uses bus 2, whose sessions are hidden.
    let (tx, locked) = std::sync::mpsc::channel();
    let waiter = {
        let url = url.clone();
        std::thread::spawn(move || {
            let b = Client::connect(url).unwrap();
            let mut bus = b.bus(1).unwrap();
            let guard = bus.lock(Duration::from_secs(20)).unwrap();
            tx.send(()).unwrap();
            drop(guard);
        })
    };
    let c = Client::connect(url.clone()).unwrap();
    let mut c_bus = c.bus(2).unwrap();
    let _led = c_bus.line("lab-led", smbus_proxy_client::LineSettings::output(true)).unwrap();

    let observer = Client::connect(url.clone()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = observer.status().unwrap();
        let waiting = status.buses[0].sessions.iter().any(|s| s.lock_wait_ms.is_some());
        if waiting || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.version, env!("CARGO_PKG_VERSION"));
    let bus1 = &status.buses[0];
    assert_eq!(bus1.bus.as_ref().unwrap().number, 1);
    assert_eq!(bus1.bus.as_ref().unwrap().claimed, [0x36], "the lab's driver-owned address");
    let [holder, waiting] = &bus1.sessions[..] else { panic!("{:#?}", bus1.sessions) };
    assert!(holder.lock_held_ms.is_some() && holder.lock_wait_ms.is_none(), "{holder:?}");
    assert_eq!((holder.operations, holder.errors), (3, 1));
    assert!(holder.peer.starts_with("127.0.0.1:"), "{holder:?}");
    assert_eq!(holder.session.len(), 8);
    assert!(waiting.lock_wait_ms.is_some() && waiting.lock_held_ms.is_none(), "{waiting:?}");
    assert_eq!(waiting.operations, 0);
    let bus2 = &status.buses[1];
    assert!(bus2.sessions_hidden && bus2.sessions.is_empty(), "{bus2:?}");

    // The command shows the same.
    let out =
        Command::new(env!("CARGO_BIN_EXE_smbus-proxy")).args(["status", "--server", &url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with(&format!("smbus-proxy {} at {url}, up ", env!("CARGO_PKG_VERSION"))), "{text}");
    assert!(text.contains("\ni2c-1 \"smbus-proxy simulated bus 1\", funcs 0x"), "{text}");
    assert!(text.contains(", drivers own 0x36\n"), "{text}");
    let line = |prefix: &str| text.lines().find(|l| l.trim_start().starts_with(prefix)).map(str::to_owned);
    let held = line(&holder.session).unwrap_or_else(|| panic!("{text}"));
    assert!(held.contains(" held ") && held.trim_end().ends_with("3       1"), "{held}");
    assert!(line(&waiting.session).unwrap().contains(" waiting "), "{text}");
    assert!(
        text.contains("i2c-2 \"smbus-proxy simulated bus 2\"")
            && text.contains("sessions hidden by the server's policy")
    );
    // The lab's lines: one held by C's session, as an output driven high.
    let led = status.lines.iter().find(|l| l.name == "lab-led").unwrap();
    let held = format!("session {}", led.session);
    let row = line("lab-led").unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains("sim-gpio 2") && row.contains(&held) && row.trim_end().ends_with("output  1"),
        "{row}"
    );
    assert!(line("lab-int").unwrap().trim_end().ends_with("-                           input   -"), "{text}");

    // A lets go: B holds the bus, and nobody waits.
    drop(guard);
    locked.recv_timeout(Duration::from_secs(10)).unwrap();
    waiter.join().unwrap();
    let after = observer.status().unwrap();
    assert!(after.buses[0].sessions.iter().all(|s| s.lock_wait_ms.is_none()), "{after:?}");
}
