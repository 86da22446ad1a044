//! `smbus-proxy monitor --pcap` against a real server on the simulator, the capture decoded by
//! Wireshark's own dissector (`tshark`): every kind of operation, as the I2C messages that went
//! over the wire.

use smbus_proxy_client::Msg;
use smbus_proxy_client::blocking::Client;
use smbus_proxy_testkit::{Loopback, lab};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// One decoded packet: interface, bus, address, flags, every byte (address byte first), and
/// the comment of an operation's first packet.
#[derive(Debug, PartialEq)]
struct Packet {
    interface: String,
    bus: String,
    addr: String,
    flags: String,
    bytes: String,
    comment: String,
}

fn tshark(path: &std::path::Path) -> Vec<Packet> {
    let fields = ["frame.interface_name", "i2c.bus", "i2c.addr", "i2c.flags", "data.data", "frame.comment"];
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path).args(["-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Packet {
                interface: f[0].into(),
                bus: f[1].into(),
                addr: f[2].into(),
                flags: f[3].into(),
                bytes: f[4].into(),
                comment: f.get(5).copied().unwrap_or("").into(),
            }
        })
        .collect()
}

#[test]
fn wireshark_decodes_every_kind_of_operation() {
    if !smbus_proxy_testkit::tool("tshark", "tshark") {
        return;
    }
    let server = lab().on_loopback();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("bus.pcapng");
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["monitor", "--server", &server.url(), "--pcap"])
        .arg(&pcap)
        .arg("1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = mpsc::channel();
    let stdout = BufReader::new(monitor.stdout.take().unwrap());
    std::thread::spawn(move || {
        stdout.lines().map_while(Result::ok).filter(|l| !l.starts_with('#')).try_for_each(|l| lines.send(l))
    });
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    // Until the monitor watches, operations pass unseen: probe until one shows.
    while seen.recv_timeout(Duration::from_millis(100)).is_err() {
        bus.write_quick(0x48).unwrap();
    }
    // Each probe the monitor saw is a packet before the ones that count.
    let mut probes = 1;
    while seen.recv_timeout(Duration::from_millis(200)).is_ok() {
        probes += 1;
    }

    bus.write_quick(0x48).unwrap();
    let byte = bus.read_byte(0x48).unwrap();
    bus.write_byte_data(0x48, 0x10, 0x5A).unwrap();
    bus.read_byte_data(0x48, 0x10).unwrap();
    bus.write_word_data(0x48, 0x20, 0xBEEF).unwrap();
    bus.read_word_data(0x48, 0x20).unwrap();
    bus.write_block_data(0x48, 0x30, &[1, 2, 3]).unwrap();
    bus.read_block_data(0x48, 0x30).unwrap();
    bus.write_i2c_block_data(0x48, 0x40, &[7, 8]).unwrap();
    bus.read_i2c_block_data(0x48, 0x40, 2).unwrap();
    let answer = bus.process_call(0x48, 0x50, 0x1234).unwrap();
    assert!(bus.read_byte_data(0x49, 0x00).is_err(), "nobody at 0x49");
    bus.set_pec(true);
    bus.write_byte_data(0x48, 0x10, 0x5A).unwrap();
    bus.read_byte_data(0x48, 0x10).unwrap();
    bus.set_pec(false);
    // Repeated starts: a register pointer, then reads of two devices.
    bus.i2c_rdwr(vec![Msg::write(0x48, vec![0x40]), Msg::read(0x48, 2), Msg::read(0x50, 1)]).unwrap();
    bus.set_ten_bit(true);
    bus.write_byte_data(0x1A5, 0x01, 0x77).unwrap();
    let seen: Vec<String> = (0..16).map(|_| seen.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
    monitor.kill().unwrap();
    let _ = monitor.wait();

    let [lo, hi] = answer.to_le_bytes();
    // (address, I2C_M_* flags with RD, bytes on the wire, what the operation's comment says)
    let expected: Vec<(&str, u32, String, &str)> = vec![
        ("0x48", 0, "90".into(), "write_quick 0x48 bit=0 -> done"),
        ("0x48", 1, format!("91{byte:02x}"), "read_byte 0x48 ->"),
        ("0x48", 0, "90105a".into(), "write_byte_data 0x48 reg=0x10 value=0x5a -> done"),
        ("0x48", 0, "9010".into(), "read_byte_data 0x48 reg=0x10 -> 0x5a"),
        ("0x48", 1, "915a".into(), ""),
        ("0x48", 0, "9020efbe".into(), "write_word_data 0x48 reg=0x20 value=0xbeef -> done"),
        ("0x48", 0, "9020".into(), "read_word_data 0x48 reg=0x20 -> 0xbeef"),
        ("0x48", 1, "91efbe".into(), ""),
        ("0x48", 0, "903003010203".into(), "write_block_data 0x48 reg=0x30 data=[01 02 03] -> done"),
        ("0x48", 0, "9030".into(), "read_block_data 0x48 reg=0x30 -> [01 02 03]"),
        ("0x48", 0x401, "9103010203".into(), ""),
        ("0x48", 0, "90400708".into(), "write_i2c_block_data 0x48 reg=0x40 data=[07 08] -> done"),
        ("0x48", 0, "9040".into(), "read_i2c_block_data 0x48 reg=0x40 len=2 -> [07 08]"),
        ("0x48", 1, "910708".into(), ""),
        ("0x48", 0, "90503412".into(), "process_call 0x48 reg=0x50 value=0x1234 ->"),
        ("0x48", 1, format!("91{lo:02x}{hi:02x}"), ""),
        // The NACK: the address byte alone, the errno in the comment.
        ("0x49", 0, "92".into(), "read_byte_data 0x49 reg=0x00 -> ENXIO"),
        // PEC, CRC-8 over every byte: 0x7f over 90 10 5a, 0x81 over 90 10 91 5a.
        ("0x48", 0, "90105a7f".into(), "write_byte_data 0x48 reg=0x10 value=0x5a pec -> done"),
        ("0x48", 0, "9010".into(), "read_byte_data 0x48 reg=0x10 pec -> 0x5a"),
        ("0x48", 1, "915a81".into(), ""),
        ("0x48", 0, "9040".into(), "transfer w1@0x48 [40] r2@0x48 r1@0x50 ->"),
        ("0x48", 1, "910708".into(), ""),
        ("0x50", 1, "a1ff".into(), ""),
        // A 10-bit address: 11110, its top bits and R/W, then its low byte; Wireshark shows the
        // first byte shifted right, as for a 7-bit address.
        ("0x79", 0x10, "f2a50177".into(), "write_byte_data 0x1a5 reg=0x01 value=0x77 10-bit -> done"),
    ];
    let packets = &tshark(&pcap)[probes..];
    assert_eq!(packets.len(), expected.len(), "{packets:#?}\n{seen:#?}");
    for (packet, (addr, flags, bytes, says)) in packets.iter().zip(&expected) {
        let what = format!("{packet:?}");
        assert_eq!(packet.interface, "i2c-1", "{what}");
        assert_eq!(packet.bus, "1", "{what}");
        assert_eq!(packet.addr, *addr, "{what}");
        assert_eq!(packet.flags, format!("0x{flags:08x}"), "{what}");
        assert_eq!(packet.bytes, *bytes, "{what}");
        if says.is_empty() {
            assert_eq!(packet.comment, "", "only an operation's first packet has a comment: {what}");
        } else {
            assert!(packet.comment.contains(&format!(" i2c-1 {says}")), "{what}");
            assert!(seen.contains(&packet.comment), "the comment is the trace line: {what}");
        }
    }
}

#[test]
fn a_capture_on_stdout_is_all_that_is_there() {
    let server = lab().on_loopback();
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["monitor", "--server", &server.url(), "--pcap", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = monitor.stdout.take().unwrap();
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let (done, finished) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buf = [0; 4096];
        // Until an Enhanced Packet Block (type 6) shows that the operations reach it.
        while let Ok(n @ 1..) = std::io::Read::read(&mut stdout, &mut buf) {
            bytes.extend_from_slice(&buf[..n]);
            if bytes.windows(4).any(|w| w == [6, 0, 0, 0]) {
                break;
            }
        }
        done.send(()).unwrap();
        bytes
    });
    while finished.recv_timeout(Duration::from_millis(100)).is_err() {
        bus.write_quick(0x48).unwrap();
    }
    monitor.kill().unwrap();
    let _ = monitor.wait();
    let bytes = reader.join().unwrap();
    // A pcapng section header block first, nothing of the text lines anywhere.
    assert_eq!(bytes[..4], [0x0A, 0x0D, 0x0D, 0x0A]);
    assert!(!String::from_utf8_lossy(&bytes).contains("smbus-proxy trace"));
}
