//! `serve.toml`: a settings file's text as command-line options, the check of its keys, and
//! clap's check of them, whose messages quote what the file holds by at most 40 characters.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/cli/src/config.rs"]
mod config;

use std::ffi::OsString;
use std::path::Path;

/// A few of `serve`'s options, of each kind: a path, a ranged number, a list, a switch.
#[derive(clap::Parser)]
enum Cli {
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    #[arg(long)]
    listen: Option<String>,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    max_ops: Option<u32>,
    #[arg(long)]
    bus: Vec<u32>,
    #[arg(long)]
    insecure_network: bool,
    #[arg(long)]
    policy: Option<String>,
}

libfuzzer_sys::fuzz_target!(|text: &str| {
    // A key that is no option: its line and the nearest option, the key quoted briefly.
    let cli = <Cli as clap::CommandFactory>::command();
    let serve = cli.find_subcommand("serve").expect("serve");
    if let Err(problem) = config::unknown_key(text, serve) {
        assert!(problem.len() < 1024, "{} bytes", problem.len());
    }
    match config::from_text(text, Path::new("/etc/smbus-proxy"), &[]) {
        Ok(args) => {
            let command = [OsString::from("smbus-proxy"), OsString::from("serve")];
            if let Err(problem) = config::check::<Cli>(&command, &args) {
                assert!(problem.len() < 1024, "{} bytes", problem.len());
            }
        }
        Err(problem) => assert!(problem.len() < 1024, "{} bytes", problem.len()),
    }
});
