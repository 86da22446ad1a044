//! `smbus-proxy get` and `set` against a real server on the simulator: i2cget's and i2cset's
//! output and exit codes, and their grammar's errors.

use smbus_proxy_server::Running;
use smbus_proxy_testkit::{Loopback, simulated};
use std::io::Write;
use std::process::{Command, Output, Stdio};

const CONFIG: &str = r#"
[[bus]]
number = 1
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

[[bus]]
number = 2
funcs = "bcm2835"
[[bus.device]]
model = "register-file"
addr = 0x48
"#;

fn server() -> Running {
    simulated(CONFIG).on_loopback()
}

fn tool(server: &Running, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(&args[..1])
        .args(["--server", &server.url()])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// (stdout, stderr, exit code)
fn run(server: &Running, args: &[&str]) -> (String, String, i32) {
    let o = tool(server, args, "");
    (String::from_utf8(o.stdout).unwrap(), String::from_utf8(o.stderr).unwrap(), o.status.code().unwrap())
}

#[test]
fn set_then_get_in_every_mode() {
    let s = server();
    let ok = |out: String| (out, String::new(), 0);
    assert_eq!(
        run(&s, &["set", "-y", "-r", "1", "0x48", "0x10", "0xa5"]),
        ok("Value 0xa5 written, readback matched\n".into())
    );
    assert_eq!(
        run(&s, &["set", "-y", "-m", "0x0f", "-r", "1", "0x48", "0x10", "0x3c"]),
        ok("Value 0xac written, readback matched\n".into())
    );
    assert_eq!(run(&s, &["get", "-y", "1", "0x48", "0x10"]), ok("0xac\n".into()));
    assert_eq!(
        run(&s, &["set", "-y", "-r", "1", "0x48", "0x20", "0x1234", "w"]),
        ok("Value 0x1234 written, readback matched\n".into())
    );
    assert_eq!(run(&s, &["get", "-y", "1", "0x48", "0x20", "w"]), ok("0x1234\n".into()));
    assert_eq!(run(&s, &["set", "-y", "1", "0x48", "0x30", "1", "2", "3", "i"]), ok(String::new()));
    assert_eq!(run(&s, &["get", "-y", "1", "0x48", "0x30", "i", "3"]), ok("0x01 0x02 0x03\n".into()));
    assert_eq!(run(&s, &["set", "-y", "1", "0x48", "0x40", "7", "8", "s"]), ok(String::new()));
    assert_eq!(run(&s, &["get", "-y", "1", "0x48", "0x40", "s"]), ok("0x07 0x08\n".into()));
    assert_eq!(run(&s, &["get", "-y", "1", "0x48", "0x10", "c"]), ok("0xac\n".into()));
    assert_eq!(
        run(&s, &["get", "-y", "1", "0x48"]),
        ok("0x00\n".into()),
        "receive byte at the pointer, 0x11"
    );
    assert_eq!(
        run(&s, &["set", "-y", "-r", "1", "0x48", "0x06", "c"]),
        ok("Warning - data mismatch - wrote 0x06, read back 0x00\n".into())
    );
}

#[test]
fn failures_exit_as_i2c_tools_do() {
    let s = server();
    let (out, err, code) = run(&s, &["get", "-y", "1", "0x33", "0x00"]);
    // i2cget's words, then the errno it does not give.
    let said =
        "Error: Read failed\nread_byte_data at 0x33 failed: ENXIO (6): no device acknowledged the address\n";
    assert_eq!((out.as_str(), err.as_str(), code), ("", said, 2));
    let (out, err, code) = run(&s, &["get", "-y", "1", "0x68", "0x00"]);
    assert_eq!((out.as_str(), code), ("", 1));
    assert!(err.starts_with("Error: Could not set address to 0x68: "), "{err}");
    assert_eq!(run(&s, &["get", "-y", "-f", "1", "0x68", "0x00"]).0, "0x00\n");
    let (_, err, code) = run(&s, &["set", "-y", "1", "0x33", "0x00", "1"]);
    assert_eq!((err.as_str(), code), ("Error: Write failed\n", 1));
}

#[test]
fn grammar_errors() {
    let s = server();
    let cases: &[(&[&str], &str)] = &[
        (&["get", "-y", "1", "0x48", "0x10", "x"], "Error: Invalid mode!\nUsage: smbus-proxy get"),
        (&["get", "-y", "1", "0x48", "0x100"], "Error: Data address invalid!\n"),
        (&["get", "-y", "1", "0x05"], "Error: Chip address out of range (0x08-0x77)!\n"),
        (&["get", "-y", "1", "zz"], "Error: Chip address is not a number!\n"),
        (&["get", "-y", "1", "0x48", "0", "i", "33"], "Error: Length invalid!\n"),
        (&["get", "-y", "1"], "Usage: smbus-proxy get "),
        (&["get", "-y", "1", "0x48", "0", "b", "3"], "Error: Length only valid for I2C block data!\n"),
        (&["set", "-y", "1", "0x48", "0x30", "300"], "Error: Data value out of range!\n"),
        (&["set", "-y", "1", "0x48", "0x30", "0x10000", "w"], "Error: Data value out of range!\n"),
        (&["set", "-y", "1", "0x48", "0x30", "-1"], "Error: Unsupported option \"-1\"!\n"),
        (&["set", "-y", "--", "1", "0x48", "0x30", "-1"], "Error: Data value invalid!\n"),
        (&["set", "-y", "1", "0x48", "0x05", "1", "2"], "Error: Invalid mode '2'!\n"),
        (
            &["set", "-y", "-m", "0x0f", "1", "0x48", "0x05", "1", "i"],
            "Error: Mask not supported for block writes!\n",
        ),
        (&["set", "-y", "-m", "0", "1", "0x48", "0x05", "1"], "Error: Data value mask invalid!\n"),
        (&["set", "-y", "-m", "0x100", "1", "0x48", "0x05", "1"], "Error: Data value mask out of range!\n"),
        (&["set", "-y", "1", "0x48", "0x05", "1", "ip"], "Error: PEC not supported for I2C block writes!\n"),
        (&["set", "-y", "1", "0x48"], "Usage: smbus-proxy set "),
        // Alone after DATA-ADDRESS, only c is a mode: anything else is a value.
        (&["set", "-y", "1", "0x48", "0x05", "i"], "Error: Data value invalid!\n"),
        (&["set", "-y", "1", "0x48", "0x05", "1", "2", "c"], "Error: Invalid mode 'c'!\n"),
        (&["set", "-y", "-m", "0x1", "1", "0x48", "0x05", "1", "c"], "Error: Invalid mode 'c'!\n"),
        (&["set", "-y", "1", "0x48", "0x05", "1", "ww"], "Error: Invalid mode 'ww'!\n"),
        (&["set", "-y", "1", "0x48", "0x05", "1", "2", "w"], "Error: Too many arguments!\n"),
        (&["set", "-y", "1", "0x48", "0x05", "zz"], "Error: Data value invalid!\n"),
        (
            &["get", "-y", "2", "0x48", "0x05", "s"],
            "Error: Adapter does not have SMBus block read capability\n",
        ),
        (
            &[
                "set", "-y", "1", "0x48", "0x05", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
                "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26",
                "27", "28", "29", "30", "31", "32", "33", "i",
            ],
            "Error: Too many arguments!\n",
        ),
        (&["set", "-y", "-m"], "Usage: smbus-proxy set "),
    ];
    for (args, expected) in cases {
        let (out, err, code) = run(&s, args);
        assert_eq!((out.as_str(), code), ("", 1), "{args:?}");
        assert!(err.starts_with(expected), "{args:?}: {err}");
    }
}

#[test]
fn asks_first_and_warns_about_dimm_eeproms() {
    let s = server();
    let o = tool(&s, &["get", "1", "0x48", "0x10", "w"], "n\n");
    assert!(o.status.success() && o.stdout.is_empty());
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        format!(
            "WARNING! This program can confuse your I2C bus, cause data loss and worse!\n\
             I will read from device file /dev/i2c-1 on {}, chip address 0x48, data address\n\
             0x10, using read word data.\n\
             Continue? [Y/n] Aborting on user request.\n",
            s.url()
        )
    );
    let o = tool(&s, &["set", "1", "0x50", "0x10", "1"], "\n");
    assert!(o.status.success() && o.stdout.is_empty());
    assert_eq!(
        String::from_utf8(o.stderr).unwrap(),
        format!(
            "WARNING! This program can confuse your I2C bus, cause data loss and worse!\n\
             DANGEROUS! Writing to a serial EEPROM on a memory DIMM\n\
             may render your memory USELESS and make your system UNBOOTABLE!\n\
             I will write to device file /dev/i2c-1 on {}, chip address 0x50,\n\
             data address 0x10, data 0x01, mode byte.\n\
             Continue? [y/N] Aborting on user request.\n",
            s.url()
        )
    );
    let o = tool(&s, &["set", "1", "0x48", "0x10", "0x77"], "y\n");
    assert!(o.status.success());
    assert_eq!(run(&s, &["get", "-y", "1", "0x48", "0x10"]).0, "0x77\n");
}
