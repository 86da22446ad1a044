//! `serve --config FILE`: options from a file, the command line's winning, mistakes named
//! with the file; and `packaging/serve.toml` names every option `serve` has.

mod common;

use common::{BIN, Serving};
use smbus_proxy_client::blocking::Client;
use smbus_proxy_client::{Code, Command as SmbusCommand, Error, Op};
use std::process::Command;

const PACKAGED: &str = include_str!("../../../packaging/serve.toml");

fn three_ops(url: &str) -> Result<(), Error> {
    let client = Client::connect(url).unwrap();
    let op = Op::smbus(0x48, SmbusCommand::ReadByteData { reg: 0 });
    client.bus(1)?.execute(&[op.clone(), op.clone(), op]).map(drop)
}

#[test]
fn options_from_a_file_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.toml");
    std::fs::write(&file, "simulate = true\nmax_ops = 2\nlog_ops = \"info\"\n").unwrap();
    let config = file.to_str().unwrap();

    let server = Serving::start(&["--config", config]);
    match three_ops(&format!("http://{}", server.addr)) {
        Err(Error::Rejected { code: Code::ResourceExhausted, message }) => {
            assert!(message.contains("2"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    // The command line's --max-ops replaces the file's.
    let server = Serving::start(&["--config", config, "--max-ops", "3"]);
    three_ops(&format!("http://{}", server.addr)).unwrap();
}

#[test]
fn a_mistake_in_the_file_is_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.toml");
    let run = |text: &str| {
        std::fs::write(&file, text).unwrap();
        let out = Command::new(BIN).args(["serve", "--config", file.to_str().unwrap()]).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };
    let bad = run("max_ops = 0\n");
    assert!(bad.contains("serve.toml: invalid value '0' for '--max-ops <N>'"), "{bad}");
    // A misspelled key: its line, and the option it was meant to be.
    let unknown = run("simulate = true\n\nmax_opps = 2\n");
    assert!(
        unknown.contains(
            "serve.toml: line 3: \"max_opps\" is not an option of serve; did you mean `max_ops`? \
             (`smbus-proxy serve --help` lists them)"
        ),
        "{unknown}"
    );
    let unknown = run("  busses = [1]   # the buses\n");
    assert!(
        unknown.contains("serve.toml: line 1: \"busses\" is not an option of serve; did you mean `bus`?"),
        "{unknown}"
    );
    let unknown = run("frobnicate = 1\n");
    assert!(
        unknown.contains(
            "serve.toml: line 1: \"frobnicate\" is not an option of serve (`smbus-proxy serve --help`"
        ),
        "{unknown}"
    );
    // These printed the help or the version and exited 0 without serving: under systemd, a
    // stop that is not restarted.
    for key in ["help", "version"] {
        let printed = run(&format!("simulate = true\n{key} = true\n"));
        assert!(printed.contains(&format!("serve.toml: {key}: not a setting")), "{printed}");
    }
}

#[test]
fn the_packaged_file_names_every_option_and_is_valid() {
    let help = Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let options: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| l.split([' ', '[']).next().unwrap())
        .filter(|o| !["config", "help", "version"].contains(o))
        .collect();
    assert!(options.len() > 20, "{options:?}");
    for option in options {
        let key = option.replace('-', "_");
        let named = PACKAGED.lines().any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = ")));
        assert!(named, "packaging/serve.toml does not name {key}");
    }
    // As shipped it starts (here on the simulator, on a free port).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serve.toml");
    std::fs::write(&file, PACKAGED).unwrap();
    let server = Serving::start(&["--config", file.to_str().unwrap(), "--simulate"]);
    three_ops(&format!("http://{}", server.addr)).unwrap();
}

/// Every file `serve` and the tools read is bounded: each of these named `/dev/zero` and read
/// it until the allocator failed. Run with a 2 GB address-space limit, so that a regression
/// fails here rather than taking the machine's memory.
#[test]
fn every_file_is_read_with_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let lab = dir.path().join("lab.toml");
    std::fs::write(&lab, "[[bus]]\nnumber = 1\n[bus.replay]\ntrace = \"/dev/zero\"\nmode = \"strict\"\n")
        .unwrap();
    let lab = lab.to_str().unwrap();
    let cases: [&[&str]; 8] = [
        &["serve", "--config", "/dev/zero"],
        &["serve", "--simulate", "--policy", "/dev/zero"],
        &["serve", "--simulate", "--token-file", "/dev/zero"],
        &["serve", "--simulate", "/dev/zero"],
        &["serve", "--simulate", lab],
        &["serve", "--simulate", "--tls-cert", "/dev/zero", "--tls-key", "/dev/zero"],
        &["export-mock", "/dev/zero"],
        &["detect", "-y", "1", "--token-file", "/dev/zero"],
    ];
    for args in cases {
        let out = Command::new("sh")
            .args(["-c", "ulimit -v 2000000 && exec timeout 20 \"$0\" \"$@\"", BIN])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains("larger than"), "{args:?}: {stderr}");
        assert!(stderr.len() < 2000, "{args:?}: {} bytes on stderr", stderr.len());
    }
}

/// What an error quotes of a file is bounded: a 1 MiB value in `serve.toml`, an operation name
/// or hex blob in a trace, or a value in a policy or a lab used to come back whole, in one
/// line of the log or the terminal.
#[test]
fn long_values_in_files_are_quoted_short() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(1 << 20);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let header = "# smbus-proxy trace 1";
    let line = |op: &str| format!("2026-12-02T03:12:02.123456Z i2c-1 {op} -> done (10 us) - 1a2b3c4d");
    let traces = [
        write("name.trace", format!("{header}\n{}\n", line(&format!("{long} 0x48")))),
        write(
            "blob.trace",
            format!("{header}\n{}\n", line(&format!("write_block_data 0x48 reg=1 data=[{long}]"))),
        ),
        write("time.trace", format!("{header}\n{long} i2c-1 read_byte 0x48 -> 0x01 (1 us) - x\n")),
    ];
    let mut cases: Vec<Vec<String>> = vec![
        vec!["serve".into(), "--config".into(), write("serve.toml", format!("announce_name = \"{long}\"\n"))],
        vec!["serve".into(), "--config".into(), write("key.toml", format!("{long} = 1\n"))],
        vec!["serve".into(), "--config".into(), write("listen.toml", format!("listen = \"{long}\"\n"))],
        vec![
            "serve".into(),
            "--simulate".into(),
            "--policy".into(),
            write("policy.toml", format!("[bus.1]\naddresses = [\"{long}\"]\n")),
        ],
        vec![
            "serve".into(),
            "--simulate".into(),
            "--policy".into(),
            write("p2.toml", format!("[bus.1]\nforce = \"{long}\"\n")),
        ],
        vec![
            "serve".into(),
            "--simulate".into(),
            write("lab.toml", format!("[[bus]]\nnumber = 1\nfuncs = \"{long}\"\n")),
        ],
        vec![
            "serve".into(),
            "--simulate".into(),
            write("lab2.toml", format!("[[bus]]\nnumber = 1\nmodel = \"{long}\"\n")),
        ],
    ];
    for trace in &traces {
        cases.push(vec!["export-mock".into(), trace.clone()]);
        let lab = format!("[[bus]]\nnumber = 1\n[bus.replay]\ntrace = {trace:?}\nmode = \"strict\"\n");
        cases.push(vec!["serve".into(), "--simulate".into(), write("replay.toml", lab)]);
    }
    for args in cases {
        let out = Command::new(BIN).args(&args).env("NO_COLOR", "1").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{:?}", &args[..2]);
        assert!(stderr.len() < 2000, "{:?}: {} bytes: {}…", &args[..2], stderr.len(), &stderr[..300]);
    }
}
