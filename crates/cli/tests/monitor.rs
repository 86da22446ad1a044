//! `smbus-proxy monitor` against a real server on the simulator: a line per operation as it
//! completes, in the notation of the server's log, filtered by bus and device.

use smbus_proxy_client::blocking::Client;
use smbus_proxy_testkit::{Loopback, lab};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn one_line_per_operation_filtered_by_bus_and_device() {
    let server = lab().on_loopback();
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["monitor", "--server", &server.url(), "-d", "0x48", "-d", "0x50", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = BufReader::new(monitor.stdout.take().unwrap());
    std::thread::spawn(move || stdout.lines().map_while(Result::ok).try_for_each(|l| lines.send(l)));

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
        // 12:34:56.789012 i2c-1 <op> → <result> (N µs) 127.0.0.1:PORT SESSION8
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(time.len(), 15, "{line}");
        assert!(rest.starts_with(&format!("i2c-1 {says} (")), "{line}");
        assert!(rest.contains(" µs) 127.0.0.1:"), "{line}");
    };
    shape(&first, "read_byte_data 0x48 reg=0x00 → 0x00");
    shape(&rest[0], "write_byte_data 0x48 reg=0x10 value=0x5a → done");
    shape(&rest[1], "read_byte_data 0x50 reg=0x00 → 0xff");
    shape(&rest[2], "transfer w1@0x50 [00] r2@0x50 → [ff ff]");
    shape(&rest[3], "write_quick 0x48 bit=0 → done");
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
    let out = run(&["x"]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error: I2CBUS argument invalid: x\n"));
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("Usage: smbus-proxy monitor [-d ADDRESS]... [I2CBUS]...")
    );
}
