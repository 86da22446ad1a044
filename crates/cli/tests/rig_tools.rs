//! The remote i2c-tools against the real ones, on a real kernel: run by `rig/test.sh`, whose
//! guest prints what `/usr/sbin/i2c*` say about its buses between `===TOOL cmd args===` and
//! `===END rc=N===` on its console ($SMBUS_PROXY_RIG_LOG), then serves the same buses at
//! $SMBUS_PROXY_RIG. Each tool's output from the host must be byte-identical, and its exit
//! status the same. The writes among them are idempotent, so running them twice is fine.

use std::process::Command;
use std::time::{Duration, Instant};

/// (the guest's command line, what it printed, its exit status), in order, for the runs
/// whose start marker is `===MARK `: `TOOL` (stdout) or `ERRTOOL` (stderr).
fn guest_outputs(log: &str, mark: &str) -> Vec<(String, String, i32)> {
    let log = log.replace('\r', "");
    let start = format!("==={mark} ");
    let mut outputs = Vec::new();
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        let Some(cmd) = line.strip_prefix(start.as_str()).and_then(|l| l.strip_suffix("===")) else {
            continue;
        };
        let mut body = String::new();
        let mut rc = None;
        for l in lines.by_ref() {
            if let Some(code) = l.strip_prefix("===END rc=").and_then(|l| l.strip_suffix("===")) {
                rc = code.parse().ok();
                break;
            }
            body += l;
            body.push('\n');
        }
        outputs.push((cmd.to_owned(), body, rc.expect("an exit status")));
    }
    outputs
}

#[test]
#[ignore = "needs the QEMU rig: rig/test.sh"]
fn remote_tools_print_what_the_real_ones_print() {
    let url = std::env::var("SMBUS_PROXY_RIG").expect("run by rig/test.sh");
    let log_path = std::env::var("SMBUS_PROXY_RIG_LOG").expect("run by rig/test.sh");
    // The guest prints the real tools' outputs, then starts the server: wait for it.
    let start = Instant::now();
    let run = |cmd: &str| {
        let args: Vec<&str> = cmd.split_whitespace().collect();
        Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
            .args(&args[..1])
            .args(["--server", &url])
            .args(&args[1..])
            .output()
            .unwrap()
    };
    while !run("detect -l").status.success() {
        assert!(start.elapsed() < Duration::from_secs(60), "the guest's server did not come up");
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = std::fs::read_to_string(log_path).unwrap();
    let outputs = guest_outputs(&log, "TOOL");
    assert!(outputs.len() >= 43, "the guest printed {} tool outputs", outputs.len());
    for (cmd, real, rc) in outputs {
        let ours = run(&cmd);
        let stderr = String::from_utf8_lossy(&ours.stderr);
        assert_eq!(
            String::from_utf8(ours.stdout).unwrap(),
            real,
            "smbus-proxy {cmd} differs from i2c{cmd}: {stderr}"
        );
        assert_eq!(ours.status.code(), Some(rc), "smbus-proxy {cmd} exits unlike i2c{cmd}: {stderr}");
        eprintln!("identical: i2c{cmd}");
    }

    // Error paths: the same reason in the same words, the usage printed or not as the real
    // tool does (ours names `smbus-proxy TOOL` and adds the remote options), the same status.
    let errors = guest_outputs(&log, "ERRTOOL");
    assert!(errors.len() >= 41, "the guest printed {} error outputs", errors.len());
    for (cmd, real, rc) in errors {
        let ours = run(&cmd);
        let stderr = String::from_utf8_lossy(&ours.stderr).into_owned();
        assert_eq!(reason(&stderr), reason(&real), "smbus-proxy {cmd} says other than i2c{cmd}:\n{stderr}");
        assert_eq!(ours.status.code(), Some(rc), "smbus-proxy {cmd} exits unlike i2c{cmd}: {stderr}");
        eprintln!("same error: i2c{cmd}");
    }
}

/// What a tool said before its usage, and whether it printed the usage.
fn reason(stderr: &str) -> (Vec<&str>, bool) {
    let mut lines = stderr.lines();
    let said = lines.by_ref().take_while(|l| !l.starts_with("Usage: ")).collect();
    (said, stderr.lines().any(|l| l.starts_with("Usage: ")))
}
