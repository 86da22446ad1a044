//! `smbus-proxy monitor` against a real server on the simulator: a line per operation as it
//! completes, in the notation of the server's log, filtered by bus and device; what it prints
//! and records is a trace that reads back.

use smbus_proxy_client::blocking::Client;
use smbus_proxy_client::{Command as SmbusCommand, Op, Reply};
use smbus_proxy_testkit::{Loopback, lab};
use smbus_proxy_wire::trace;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn one_line_per_operation_filtered_by_bus_and_device() {
    let server = lab().on_loopback();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("bus.trace");
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["monitor", "--server", &server.url(), "-d", "0x48", "-d", "0x50", "1", "--record"])
        .arg(&record)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = BufReader::new(monitor.stdout.take().unwrap());
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| lines.send(l)));
    assert_eq!(seen.recv().unwrap(), trace::HEADER);
    assert!(seen.recv().unwrap().starts_with("# from http://127.0.0.1:"));

    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    // Until the monitor watches, operations pass unseen: probe until one shows.
    let first = loop {
        bus.read_byte_data(0x48, 0x00).unwrap();
        if let Ok(line) = seen.recv_timeout(Duration::from_millis(100)) {
            break line;
        }
    };
    bus.write_byte_data(0x48, 0x10, 0x5A).unwrap();
    bus.read_byte_data(0x20, 0).unwrap(); // another device: not shown
    client.bus(2).unwrap().read_byte_data(0x48, 0).unwrap(); // another bus: not shown
    assert!(bus.read_byte_data(0x50, 0x00).is_ok());
    bus.i2c_rdwr(vec![
        smbus_proxy_client::Msg::write(0x50, vec![0x00]),
        smbus_proxy_client::Msg::read(0x50, 2),
    ])
    .unwrap();
    let _ = bus.write_quick(0x48);
    let rest: Vec<String> = (0..4).map(|_| seen.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    monitor.kill().unwrap();
    let _ = monitor.wait();

    let shape = |line: &str, says: &str| {
        // 2026-12-02T03:12:02.123456Z i2c-1 <op> -> <result> (N us) 127.0.0.1:PORT SESSION8
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(time.len(), 27, "{line}");
        assert!(rest.starts_with(&format!("i2c-1 {says} (")), "{line}");
        assert!(rest.contains(" us) 127.0.0.1:"), "{line}");
    };
    shape(&first, "read_byte_data 0x48 reg=0x00 -> 0x00");
    shape(&rest[0], "write_byte_data 0x48 reg=0x10 value=0x5a -> done");
    shape(&rest[1], "read_byte_data 0x50 reg=0x00 -> 0xff");
    shape(&rest[2], "transfer w1@0x50 [00] r2@0x50 -> [ff ff]");
    shape(&rest[3], "write_quick 0x48 bit=0 -> done");

    // The file has what stdout had, and reads back into the operations that ran.
    let recorded = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<&str> = recorded.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.ends_with(&rest.iter().map(String::as_str).collect::<Vec<_>>()), "{recorded}");
    let events = trace::parse(&recorded).unwrap();
    let Some((_, smbus_proxy_wire::event::WatchEvent::Op(last))) = events.last() else {
        panic!("{recorded}")
    };
    assert_eq!(last.op, Op::smbus(0x48, SmbusCommand::WriteQuick { bit: 0 }));
    assert_eq!(last.result, Ok(Reply::Done));
}

#[test]
fn bad_arguments_say_what_is_wrong() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_smbus-proxy")).arg("monitor").args(args).output().unwrap()
    };
    let out = run(&["-d", "0x400"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("Error: Device address invalid: 0x400\nUsage: smbus-proxy monitor")
    );
    // A bus is found as every tool finds one, and one the server lacks is named with those it has.
    let server = lab().on_loopback();
    let url = server.url();
    for (bus, error) in [
        (
            "9",
            "Error: Could not open file `/dev/i2c-9' on the server: no such bus (it has i2c-1, i2c-2, i2c-3, i2c-4; `detect -l` lists them)\n",
        ),
        (
            "x",
            "Error: I2C bus name doesn't match any bus present!\nI2CBUS is a bus number or an adapter's name (the server has i2c-1, i2c-2, i2c-3, i2c-4; `detect -l` lists them)\n",
        ),
    ] {
        let out = run(&["--server", &url, "1", bus]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&out.stderr), error);
        assert!(out.stdout.is_empty(), "nothing is printed before the buses check out");
    }
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(
        "Usage: smbus-proxy monitor [-d ADDRESS]... [--record FILE] [--pcap FILE|-] [I2CBUS]..."
    ));
}
