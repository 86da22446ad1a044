//! `smbus-proxy dump` and `transfer` against a real server on the simulator.

mod common;

use smbus_proxy_server::Running;
use smbus_proxy_testkit::{Loopback, simulated};
use std::process::Command;

const CONFIG: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
registers = [0x73, 0x6d, 0x62, 0x75, 0x73, 0x00, 0xff, 0x0a, 0x7f]
[[bus.device]]
model = "eeprom-24c02"
addr = 0x50
"#;

fn server() -> Running {
    simulated(CONFIG).on_loopback()
}

fn run(server: &Running, args: &[&str]) -> (String, String, i32) {
    let o = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(&args[..1])
        .args(["--server", &server.url()])
        .args(&args[1..])
        .output()
        .unwrap();
    (String::from_utf8(o.stdout).unwrap(), String::from_utf8(o.stderr).unwrap(), o.status.code().unwrap())
}

#[test]
fn dump_tables() {
    let s = server();
    let (out, err, code) = run(&s, &["dump", "-y", "-r", "0x00-0x12", "1", "0x48"]);
    assert_eq!((err.as_str(), code), ("No size specified (using byte-data access)\n", 0));
    assert_eq!(
        out,
        "     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef\n\
         00: 73 6d 62 75 73 00 ff 0a 7f 00 00 00 00 00 00 00    smbus..??.......\n\
         10: 00 00 00                                           ...             \n"
    );
    let (out, _, _) = run(&s, &["dump", "-y", "-r", "0x00-0x09", "1", "0x48", "w"]);
    assert_eq!(
        out,
        "     0,8  1,9  2,a  3,b  4,c  5,d  6,e  7,f\n\
         00: 6d73 626d 7562 7375 0073 ff00 0aff 7f0a \n\
         08: 007f 0000                               \n"
    );
    let (out, _, _) = run(&s, &["dump", "-y", "-r", "0x04-0x07", "1", "0x48", "W"]);
    let row = format!(
        "00: {}73 00 ff 0a {}   {}s..?{}",
        " ".repeat(12),
        " ".repeat(24),
        " ".repeat(4),
        " ".repeat(8)
    );
    assert_eq!(out.lines().nth(1).unwrap(), row);
    let (i, _, _) = run(&s, &["dump", "-y", "1", "0x48", "i"]);
    let (c, _, _) = run(&s, &["dump", "-y", "1", "0x48", "c"]);
    let (b, _, _) = run(&s, &["dump", "-y", "1", "0x48", "b"]);
    assert_eq!((i.as_str(), c.as_str()), (b.as_str(), b.as_str()), "every mode sees the same registers");
    let (out, _, code) = run(&s, &["dump", "-y", "-r", "0x00-0x0f", "1", "0x33"]);
    assert_eq!(code, 0);
    assert_eq!(
        out.lines().nth(1).unwrap(),
        "00: XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX XX    XXXXXXXXXXXXXXXX"
    );
}

#[test]
fn dump_grammar() {
    let s = server();
    for (args, expected) in [
        (&["dump", "-y", "-r", "0x10", "1", "0x48", "b"][..], "Error: Invalid range parameter!\n"),
        (&["dump", "-y", "-r", "0x20-0x10", "1", "0x48", "b"], "Error: Invalid range parameter!\n"),
        (
            &["dump", "-y", "-r", "0x01-0x10", "1", "0x48", "W"],
            "Error: Range parameter not compatible with selected mode!\n",
        ),
        (
            &["dump", "-y", "-r", "0x00-0x10", "1", "0x48", "s"],
            "SMBus block mode is deprecated, please use i2cget instead\n\
             Error: Range parameter not compatible with selected mode!\n",
        ),
        (&["dump", "-y", "1", "0x48", "x"], "Error: Invalid mode!\n"),
        (&["dump", "-y", "1"], "Error: No address specified!\n"),
    ] {
        let (out, err, code) = run(&s, args);
        assert_eq!((out.as_str(), code), ("", 1), "{args:?}");
        assert!(err.starts_with(expected), "{args:?}: {err}");
    }
}

#[test]
fn transfer_writes_and_reads_with_repeated_starts() {
    let s = server();
    assert_eq!(
        run(&s, &["transfer", "-y", "1", "w5@0x50", "0x10", "0xa0+"]),
        (String::new(), String::new(), 0)
    );
    assert_eq!(run(&s, &["transfer", "-y", "1", "w1@0x50", "0x10", "r4"]).0, "0xa0 0xa1 0xa2 0xa3\n");
    assert_eq!(
        run(&s, &["transfer", "-y", "-v", "1", "w1@0x50", "0x10", "r2", "r0@0x48"]).0,
        "msg 0: addr 0x50, write, len 1, buf 0x10\n\
         msg 1: addr 0x50, read, len 2, buf 0xa0 0xa1\n\
         msg 2: addr 0x48, read, len 0\n"
    );
    let binary = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["transfer", "--server", &s.url(), "-y", "-b", "1", "w1@0x50", "0x10", "r3", "r0", "r1"])
        .output()
        .unwrap();
    assert_eq!(binary.stdout, [0xa0, 0xa1, 0xa2, 0xa3], "every read message's bytes, raw");
    let (out, err, code) = run(&s, &["transfer", "-y", "1", "w1@0x33", "0x00"]);
    assert_eq!((out.as_str(), code), ("", 1));
    assert_eq!(err, "Error: Sending messages failed: no device acknowledged the address\n");
    let many: Vec<&str> =
        ["transfer", "-y", "1", "r1@0x50"].into_iter().chain(std::iter::repeat_n("r1", 42)).collect();
    let (_, err, code) = run(&s, &many);
    assert_eq!((err.as_str(), code), ("Error: Too many messages (max: 42)\n", 1));
    let (_, err, code) = run(&s, &["transfer", "-y", "1", "r1"]);
    assert_eq!((err.as_str(), code), ("Error: No address given\nError: faulty argument is 'r1'\n", 1));
}

#[test]
fn transfer_reads_whose_length_the_device_sends() {
    let s = server();
    // Register 0x40 holds a count, 3, and the three bytes after it follow.
    run(&s, &["transfer", "-y", "1", "w5@0x48", "0x40", "0x03", "0x01+"]);
    assert_eq!(run(&s, &["transfer", "-y", "1", "w1@0x48", "0x40", "r?"]).0, "0x03 0x01 0x02 0x03\n");
    assert_eq!(
        run(&s, &["transfer", "-y", "-v", "1", "w1@0x48", "0x40", "r?@0x48"]).0,
        "msg 0: addr 0x48, write, len 1, buf 0x40\n\
         msg 1: addr 0x48, read, len 4, buf 0x03 0x01 0x02 0x03\n"
    );
    // Register 0x05 holds 0: no valid count.
    let (out, err, code) = run(&s, &["transfer", "-y", "1", "w1@0x48", "0x05", "r?"]);
    assert_eq!((out.as_str(), code), ("", 1));
    assert!(err.starts_with("Error: Sending messages failed: "), "{err}");
    let (_, err, code) = run(&s, &["transfer", "-y", "1", "w?@0x48"]);
    assert_eq!((err.as_str(), code), ("Error: Length invalid\nError: faulty argument is 'w?@0x48'\n", 1));
}

/// On an adapter without plain I2C, a transfer runs as its SMBus equivalent, and the log says
/// what ran on the wire and what it stood for.
#[test]
fn the_log_shows_what_ran_on_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab.toml");
    std::fs::write(
        &lab,
        "[[bus]]\nnumber = 1\nfuncs = \"i801\"\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\n",
    )
    .unwrap();
    let server = common::Serving::start(&["--simulate", lab.to_str().unwrap(), "--log-ops", "info"]);
    let out = std::process::Command::new(common::BIN)
        .args(["transfer", "-y", "--server", &server.url(), "1", "w1@0x48", "0x00", "r2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let logged = server.logged("(for transfer w1@0x48 [00] r2@0x48)");
    assert_eq!(logged.len(), 1, "{logged:?}");
    // Two bytes after a register number are a word read on the wire.
    assert!(
        logged[0].contains("read_word_data 0x48 reg=0x00 (for transfer w1@0x48 [00] r2@0x48) → 0x0000"),
        "{}",
        logged[0]
    );
}
