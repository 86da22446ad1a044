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
    let unknown = run("max_opps = 2\n");
    assert!(unknown.contains("serve.toml: unexpected argument '--max-opps'"), "{unknown}");
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
