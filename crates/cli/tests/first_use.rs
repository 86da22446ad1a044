//! What a new user meets first: help for every tool, server addresses written the short way,
//! and errors that say what to do. Each message is checked as the user sees it.

mod common;

use common::{BIN, Serving};
use std::process::{Command, Output};

fn smbus_proxy(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("SMBUS_PROXY_SERVER").env("NO_COLOR", "1").output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_tool_answers_help_with_its_usage() {
    for tool in ["detect", "dump", "get", "set", "transfer"] {
        let out = smbus_proxy(&[tool, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{tool} --help: {}", stderr(&out));
        let usage = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(usage.starts_with(&format!("Usage: smbus-proxy {tool} ")), "{tool}: {usage}");
        assert!(usage.contains("--server URL"), "{tool}: {usage}");
        // i2c-tools have no -h: like them, it is an unsupported option, answered with the usage.
        let out = smbus_proxy(&[tool, "-h"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr(&out)
                .starts_with(&format!("Error: Unsupported option \"-h\"!\nUsage: smbus-proxy {tool} ")),
            "{tool} -h: {}",
            stderr(&out)
        );
    }
    let out = smbus_proxy(&["serve", "--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_server_address_without_a_port_gets_the_default_one() {
    // Nothing listens on 127.0.0.2:50051; the message shows the port that was tried.
    let out = smbus_proxy(&["get", "-y", "--server", "127.0.0.2", "1", "0x48", "0x00"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("Error: cannot connect to http://127.0.0.2:50051: "),
        "{}",
        stderr(&out)
    );
    let out = smbus_proxy(&["get", "-y", "--server", "htp://127.0.0.1:50051", "1", "0x48", "0x00"]);
    assert_eq!(
        stderr(&out),
        "Error: cannot connect to htp://127.0.0.1:50051: `htp://` is not a scheme the server speaks: use \
         http:// or https://, or mdns://NAME for a server found on the network\n"
    );
    let out = smbus_proxy(&["get", "-y", "--server", "mdns://", "1", "0x48", "0x00"]);
    assert_eq!(
        stderr(&out),
        "Error: cannot connect to mdns://: `mdns://` names no server: give the name it announces, such as \
         mdns://raspberrypi (`smbus-proxy servers` lists them)\n"
    );
}

#[test]
fn connection_errors_say_what_to_do() {
    let refused = smbus_proxy(&["get", "-y", "--server", "127.0.0.1:1", "1", "0x48", "0x00"]);
    assert!(
        stderr(&refused).ends_with(
            "Connection refused (os error 111). Is `smbus-proxy serve` running there? The server is the URL \
             given (--server; server= in Python), else $SMBUS_PROXY_SERVER, else http://127.0.0.1:50051\n"
        ),
        "{}",
        stderr(&refused)
    );
    let server = Serving::start(&["--simulate"]);
    let tls_to_plain =
        smbus_proxy(&["get", "-y", "--server", &format!("https://{}", server.addr), "1", "0x48"]);
    assert!(
        stderr(&tls_to_plain).ends_with(
            "The server does not speak TLS there: use http://, or start it with --tls-cert and --tls-key\n"
        ),
        "{}",
        stderr(&tls_to_plain)
    );
    let taken = smbus_proxy(&["serve", "--simulate", "--listen", &server.addr]);
    assert_eq!(taken.status.code(), Some(1));
    assert!(
        stderr(&taken).contains(
            "Address already in use (os error 98); another program holds that port (another `smbus-proxy \
             serve`?): stop it, or choose another with --listen"
        ),
        "{}",
        stderr(&taken)
    );
}

#[test]
fn listen_takes_a_host_name_or_a_bare_port() {
    for listen in ["localhost:0", "0"] {
        let server = Serving::start(&["--simulate", "--listen", listen]);
        assert!(server.addr.starts_with("127.0.0.1:"), "--listen {listen}: {}", server.addr);
        let out = smbus_proxy(&["get", "-y", "--server", &server.url(), "1", "0x48", "0x00"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0x00\n", "{}", stderr(&out));
    }
    let bad = smbus_proxy(&["serve", "--simulate", "--listen", "1.2.3:x"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).starts_with(
            "error: invalid value '1.2.3:x' for '--listen <ADDR>': invalid port value; give IP:PORT, \
             HOST:PORT or PORT, such as 127.0.0.1:50051, 0.0.0.0:50051 or 50051"
        ),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn completions_and_a_manual_page() {
    let bash = smbus_proxy(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("complete -F _smbus-proxy") || script.contains("_smbus__proxy"), "{script}");
    assert!(["serve", "detect", "dump", "get", "set", "transfer"].iter().all(|c| script.contains(c)));
    let man = smbus_proxy(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.contains(".TH smbus-proxy 1"), "{page}");
    assert!(page.contains("serve") && page.contains("transfer"), "{page}");
    // The package installs the page from packaging/ (so `cargo deb` needs nothing built first).
    let shipped = include_str!("../../../packaging/smbus-proxy.1");
    assert!(
        page == shipped,
        "packaging/smbus-proxy.1 is not what `smbus-proxy man` prints: \
         cargo run -p smbus-proxy -- man > packaging/smbus-proxy.1"
    );
}

/// `smbus-proxy man | head -5` printed "ERROR smbus_proxy: Broken pipe (os error 32)": a reader
/// that goes away ends a command quietly, as it ends `i2cdump` (SIGPIPE).
#[test]
fn a_reader_that_leaves_early_is_not_an_error() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    for args in [&["man"][..], &["completions", "zsh"]] {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        let status = out.status;
        assert!(status.success() || status.signal() == Some(nix::libc::SIGPIPE), "{args:?}: {status}");
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[test]
fn the_log_shows_addresses_in_hex() {
    let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../sim/examples/lab.toml");
    let server = Serving::start(&["--simulate", lab]);
    let serving = server.logged("serving bus");
    let bus1 = serving.iter().find(|l| l.contains(" bus=1 ")).expect("bus 1 is served");
    assert!(bus1.contains("claimed=[0x68]"), "{bus1}");
}
