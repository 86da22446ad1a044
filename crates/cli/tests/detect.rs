//! `smbus-proxy detect` against a real server on the simulator: i2cdetect's output, byte for
//! byte, and its grammar's errors.

use smbus_proxy_server::Running;
use smbus_proxy_testkit::{Loopback, simulated};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const CONFIG: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "si4703"
addr = 0x10
[[bus.device]]
model = "register-file"
addr = 0x48
[[bus.device]]
model = "eeprom-24c02"
addr = 0x50
[[bus.device]]
model = "register-file"
addr = 0x68
busy = true
[[bus.device]]
model = "register-file"
addr = 0x03

[[bus]]
number = 4
name = "PC SMBus"
funcs = "i801"
[[bus.device]]
model = "eeprom-24c02"
addr = 0x51
"#;

fn server() -> Running {
    simulated(CONFIG).on_loopback()
}

fn detect(server: &Running, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .arg("detect")
        .args(["--server", &server.url()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> &str {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::str::from_utf8(&o.stdout).unwrap()
}

#[test]
fn scans_as_i2cdetect_prints_them() {
    let server = server();
    let scan = detect(&server, &["-y", "1"], "");
    assert_eq!(
        stdout(&scan),
        "     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f\n\
         00:                         -- -- -- -- -- -- -- -- \n\
         10: 10 -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- \n\
         20: -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- \n\
         30: -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- \n\
         40: -- -- -- -- -- -- -- -- 48 -- -- -- -- -- -- -- \n\
         50: 50 -- -- -- -- -- -- -- -- -- -- -- -- -- -- -- \n\
         60: -- -- -- -- -- -- -- -- UU -- -- -- -- -- -- -- \n\
         70: -- -- -- -- -- -- -- --                         \n"
    );
    let all = detect(&server, &["-ya", "1", "0x00", "0x0f"], "");
    assert_eq!(stdout(&all).lines().nth(1).unwrap(), "00: -- -- -- 03 -- -- -- -- -- -- -- -- -- -- -- -- ");
    let range = detect(&server, &["-y", "-r", "1", "0x48", "0x50"], "");
    assert_eq!(
        stdout(&range).lines().nth(5).unwrap(),
        "40:                         48 -- -- -- -- -- -- -- "
    );
    assert_eq!(
        stdout(&range).lines().nth(6).unwrap(),
        "50: 50                                              "
    );
}

#[test]
fn functionality_and_bus_list() {
    let server = server();
    let funcs = detect(&server, &["-F", "PC SMBus"], "");
    let out = stdout(&funcs);
    assert!(
        out.starts_with("Functionalities implemented by /dev/i2c-4:\nI2C                              no\n"),
        "{out}"
    );
    assert!(out.contains("\nSMBus Quick Command              yes\n"), "{out}");
    assert!(out.ends_with("I2C Block Read                   yes\n"), "{out}");
    let list = detect(&server, &["-l"], "");
    assert_eq!(
        stdout(&list),
        "i2c-1\ti2c       \tsmbus-proxy simulated bus 1     \tI2C adapter\n\
         i2c-4\tsmbus     \tPC SMBus                        \tSMBus adapter\n"
    );
}

#[test]
fn asks_before_probing_unless_told_yes() {
    let server = server();
    let no = detect(&server, &["-q", "1"], "n\n");
    assert!(no.status.success());
    assert!(no.stdout.is_empty());
    let stderr = String::from_utf8(no.stderr).unwrap();
    assert!(
        stderr.starts_with("WARNING! This program can confuse your I2C bus, cause data loss and worse!\n")
    );
    assert!(
        stderr.contains("I will probe file /dev/i2c-1 using quick write commands on http://"),
        "{stderr}"
    );
    assert!(
        stderr
            .ends_with("I will probe address range 0x08-0x77.\nContinue? [Y/n] Aborting on user request.\n")
    );
    let yes = detect(&server, &["1"], "\n");
    assert!(stdout(&yes).contains("40: -- -- -- -- -- -- -- -- 48 "));
}

#[test]
fn grammar_errors() {
    let server = server();
    let cases: &[(&[&str], &str)] = &[
        (&[], "Error: No i2c-bus specified!\nUsage: smbus-proxy detect"),
        (&["-q", "-r", "1"], "Error: Different modes specified!\n"),
        // FIRST without LAST: the usage alone, as i2cdetect prints it.
        (&["-y", "1", "zz"], "Usage: smbus-proxy detect"),
        (&["-y", "1", "zz", "0x20"], "Error: FIRST argment not a number!\nUsage: smbus-proxy detect"),
        (&["-y", "1", "0x03", "0x20"], "Error: FIRST argument out of range (0x08-0x77)!\n"),
        (&["-y", "1", "0x60", "0x40"], "Error: LAST argument out of range (0x60-0x77)!\n"),
        (&["-y", "1", "0x10", "0x78"], "Error: LAST argument out of range (0x10-0x77)!\n"),
        (&["-x", "1"], "Error: Unsupported option \"-x\"!\nUsage: smbus-proxy detect"),
        (&["--nope", "1"], "Error: Unsupported option \"--nope\"!\n"),
        (
            &["-y", "9"],
            "Error: Could not open file `/dev/i2c-9' on the server: no such bus (it has i2c-1, i2c-4; `detect -l` lists them)\n",
        ),
        // A name: i2c-tools' words, then what the server has.
        (
            &["-y", "no such adapter"],
            "Error: I2C bus name doesn't match any bus present!\nI2CBUS is a bus number or an adapter's name (the server has i2c-1, i2c-4; `detect -l` lists them)\n",
        ),
        // A device's name or path, as users type it: the number to give instead.
        (
            &["-y", "i2c-1"],
            "Error: I2C bus name doesn't match any bus present!\nI2CBUS is a bus number or an adapter's name (the server has i2c-1, i2c-4; `detect -l` lists them; for i2c-1, give its number: 1)\n",
        ),
        (
            &["-y", "/dev/i2c-4"],
            "Error: I2C bus name doesn't match any bus present!\nI2CBUS is a bus number or an adapter's name (the server has i2c-1, i2c-4; `detect -l` lists them; for i2c-4, give its number: 4)\n",
        ),
    ];
    for (args, expected) in cases {
        let out = detect(&server, args, "");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // An SMBus-only bus cannot be scanned with plain I2C reads, but has both probe commands.
    let out = detect(&server, &["-y", "-r", "4"], "");
    assert!(stdout(&out).contains("50: -- 51 -- "));
}

#[test]
fn no_server_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["detect", "-y", "1", "--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error: cannot connect to http://127.0.0.1:1"));
}
