//! `smbus-proxy gpio` against a real server on the simulator's lines: libgpiod's tools' output,
//! exit codes and grammar errors, and what each does to the lines (read through the
//! simulator, which the test drives as a circuit would). `rig/gpio.sh` compares them with the
//! real tools on a real kernel.

use smbus_proxy_server::Running;
use smbus_proxy_sim::SimLines;
use smbus_proxy_testkit::{Loopback, simulated_with_lines};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = r#"
[[bus]]
number = 1
[[line]]
name = "int"
pull = "up"
[[line]]
name = "reset"
[[line]]
name = "led"
"#;

const BIN: &str = env!("CARGO_BIN_EXE_smbus-proxy");

fn lab() -> (Running, SimLines) {
    let (server, lines) = simulated_with_lines(LAB);
    (server.on_loopback(), lines)
}

fn gpio(server: &Running, tool: &str, args: &[&str]) -> Output {
    Command::new(BIN).args(["gpio", tool, "--server", &server.url()]).args(args).output().unwrap()
}

/// What a tool printed, stdout then stderr, and its exit status.
fn said(out: &Output) -> (String, String, i32) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn detect_and_info_list_the_lines_as_libgpiod_does() {
    let (server, lines) = lab();
    assert_eq!(said(&gpio(&server, "detect", &[])).0, "sim-gpio [smbus-proxy simulated lines] (3 lines)\n");
    lines.line("reset").unwrap().request(smbus_proxy_sim::lines::LineSettings::output(true), None).unwrap();
    let (out, err, code) = said(&gpio(&server, "info", &[]));
    assert_eq!(
        out,
        "sim-gpio - 3 lines:\n\tline   0:\t\"int\"           \tinput\n\tline   1:\t\"reset\"         \toutput consumer=\"kernel\"\n\tline   2:\t\"led\"           \tinput\n"
    );
    assert_eq!((err.as_str(), code), ("", 0));
    let (out, err, code) = said(&gpio(&server, "info", &["--unquoted", "led", "nope"]));
    assert_eq!(
        (out.as_str(), err.as_str(), code),
        ("sim-gpio 2\tled             \tinput\n", "gpioinfo: cannot find line 'nope'\n", 1)
    );
    let (_, err, code) = said(&gpio(&server, "info", &["-c", "gpiochip9"]));
    assert_eq!((err.as_str(), code), ("gpioinfo: cannot find GPIO chip character device 'gpiochip9'\n", 1));
}

#[test]
fn get_reads_and_set_drives_and_gives_back() {
    let (server, lines) = lab();
    assert_eq!(said(&gpio(&server, "get", &["int", "led"])).0, "\"int\"=active \"led\"=inactive\n");
    assert_eq!(said(&gpio(&server, "get", &["--numeric", "-l", "int"])).0, "0\n");
    assert_eq!(said(&gpio(&server, "get", &["-c", "sim-gpio", "0", "2"])).0, "\"0\"=active \"2\"=inactive\n");
    assert_eq!(said(&gpio(&server, "get", &["-b", "pull-down", "led"])).0, "\"led\"=inactive\n");
    assert!(lines.line("int").unwrap().settings().is_none(), "given back");

    // Held until told to stop, then given back.
    let mut set = Command::new(BIN)
        .args(["gpio", "set", "--server", &server.url(), "led=on", "reset=0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let led = lines.line("led").unwrap();
    let started = Instant::now();
    while !led.level() {
        assert!(started.elapsed() < Duration::from_secs(10), "gpio set never drove the line");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, err, code) = said(&gpio(&server, "get", &["led"]));
    assert_eq!((err.as_str(), code), ("gpioget: unable to request lines: Device or resource busy\n", 1));
    Command::new("kill").arg(set.id().to_string()).status().unwrap();
    assert!(set.wait().unwrap().success(), "a terminated gpio set ends cleanly");
    assert!(led.settings().is_none(), "given back when it ended");

    // A toggle sequence ending in 0 exits.
    let (_, err, code) = said(&gpio(&server, "set", &["-t", "5,5,0", "led=1"]));
    assert_eq!((err.as_str(), code), ("", 0));
}

#[test]
fn mon_prints_each_edge() {
    let (server, lines) = lab();
    let mon = Command::new(BIN)
        .args(["gpio", "mon", "--server", &server.url(), "-n", "3", "-F", "%o %e %E %l %c", "int"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let int = lines.line("int").unwrap();
    let started = Instant::now();
    while int.settings().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "gpio mon never requested the line");
        std::thread::sleep(Duration::from_millis(10));
    }
    for level in [false, true, false] {
        int.drive(Some(level));
    }
    let out = mon.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0 2 falling int sim-gpio\n0 1 rising int sim-gpio\n0 2 falling int sim-gpio\n"
    );
    let (out, _, code) = said(&gpio(&server, "mon", &["-n", "1", "--idle-timeout", "50", "int"]));
    assert_eq!((out.as_str(), code), ("", 0), "nothing came within the idle timeout");
}

#[test]
fn the_grammar_is_getopt_longs() {
    let (server, _lines) = lab();
    let cases: &[(&str, &[&str], &str)] = &[
        ("get", &[], "gpioget: at least one GPIO line must be specified\n"),
        (
            "get",
            &["--numeric=1", "int"],
            "gpioget: option '--numeric' doesn't allow an argument\ngpioget: try gpioget --help\n",
        ),
        ("get", &["-x", "int"], "gpioget: invalid option -- 'x'\ngpioget: try gpioget --help\n"),
        ("get", &["--bogus", "int"], "gpioget: unrecognized option '--bogus'\ngpioget: try gpioget --help\n"),
        ("get", &["-c"], "gpioget: option requires an argument -- 'c'\ngpioget: try gpioget --help\n"),
        ("get", &["-b", "up", "int"], "gpioget: invalid bias: up\n"),
        ("get", &["int", "int"], "gpioget: lines 'int' and 'int' are the same line\n"),
        ("get", &["int", "-c", "0"], "gpioget: cannot find line '-c'\ngpioget: cannot find line '0'\n"),
        (
            "get",
            &["-a", "int"],
            "gpioget: -a: the server requests a line as an input or an output, so as-is is not available remotely\n",
        ),
        ("set", &["led"], "gpioset: invalid line value: 'led'\n"),
        ("set", &["led=2"], "gpioset: invalid line value: '2'\n"),
        (
            "set",
            &["-z", "led=1"],
            "gpioset: -z: the lines are held by this process's session on the server; run it in the background (&) instead\n",
        ),
        ("set", &["-t", "5x", "led=1"], "gpioset: invalid period: 5x\n"),
        ("mon", &["-e", "up", "int"], "gpiomon: invalid edges: up\n"),
        ("mon", &["-E", "hte", "int"], "gpiomon: the hte clock is not available remotely\n"),
        ("detect", &["nope"], "gpiodetect: cannot find GPIO chip character device 'nope'\n"),
    ];
    for (tool, args, says) in cases {
        let (_, err, code) = said(&gpio(&server, tool, args));
        assert_eq!((err.as_str(), code), (*says, 1), "gpio {tool} {args:?}");
    }
    let help = Command::new(BIN).args(["gpio", "get", "--help"]).output().unwrap();
    assert!(
        help.status.success()
            && String::from_utf8_lossy(&help.stdout).starts_with("Usage: smbus-proxy gpio get")
    );
}
