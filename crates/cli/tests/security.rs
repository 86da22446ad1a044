//! `smbus-proxy serve` with TLS, mutual TLS, a token and a policy, driven by the tools with
//! `--ca`, `--cert`, `--key` and `--token-file`; and the refusal to open the network without
//! client authentication.

mod common;
#[path = "../../client/tests/pki/mod.rs"]
mod pki;

use common::{BIN, Serving};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Starts `smbus-proxy serve --simulate ARGS` on a free loopback port.
fn serve(args: &[&str]) -> Serving {
    Serving::start(&[&["--simulate"][..], args].concat())
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").env_remove("SMBUS_PROXY_TOKEN").output().unwrap()
}

fn text(out: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
        out.status.code(),
    )
}

fn pem(dir: &Path, name: &str) -> String {
    dir.join(format!("{name}.pem")).display().to_string()
}

#[test]
fn the_tools_reach_a_server_behind_mutual_tls_a_token_and_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    pki::pki().write(dir.path());
    let p = |name| pem(dir.path(), name);
    let token: PathBuf = dir.path().join("token");
    std::fs::write(&token, "cli-token\n").unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[bus.1]\naddresses = [\"0x48\", \"0x50-0x57\"]\nread_only = \"registers\"\n")
        .unwrap();
    let token = token.display().to_string();
    let policy = policy.display().to_string();
    let server = serve(&[
        "--tls-cert",
        &p("server_cert"),
        "--tls-key",
        &p("server_key"),
        "--tls-client-ca",
        &p("client_ca"),
        "--token-file",
        &token,
        "--policy",
        &policy,
    ]);
    let url = format!("https://{}", server.addr);
    let (ca, cert, key) = (p("server_ca"), p("client_cert"), p("client_key"));
    let all = ["--server", &url, "--ca", &ca, "--cert", &cert, "--key", &key, "--token-file", &token];

    // Everything right: a register read passes the policy.
    let (stdout, stderr, code) = text(&run(&[&["get", "-y"][..], &all, &["1", "0x48", "0"]].concat()));
    assert_eq!((stdout.as_str(), code), ("0x00\n", Some(0)), "{stderr}");

    // The policy: a write on a read-only bus, an address outside the list.
    let (_, stderr, code) = text(&run(&[&["set", "-y"][..], &all, &["1", "0x48", "0", "1"]].concat()));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("policy: bus 1 has read_only = \"registers\"; ops[0] (write_byte_data) sends data"),
        "{stderr}"
    );
    let (_, stderr, code) = text(&run(&[&["get", "-y"][..], &all, &["1", "0x20"]].concat()));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("policy: bus 1 has addresses = [0x48, 0x50-0x57]"), "{stderr}");

    // No client certificate, no token, no CA: refused before the tool finds the bus.
    let (_, stderr, code) =
        text(&run(&["get", "-y", "--server", &url, "--ca", &ca, "--token-file", &token, "1", "0x48", "0"]));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("client certificate: none presented"), "{stderr}");
    let (_, stderr, code) = text(&run(&[
        "get", "-y", "--server", &url, "--ca", &ca, "--cert", &cert, "--key", &key, "1", "0x48", "0",
    ]));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("authorization: missing"), "{stderr}");
    let (_, stderr, code) = text(&run(&["detect", "-y", "--server", &url, "1"]));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // Still serving.
    let (stdout, _, code) = text(&run(&[&["get", "-y"][..], &all, &["1", "0x50", "0"]].concat()));
    assert_eq!((stdout.as_str(), code), ("0xff\n", Some(0)));
}

#[test]
fn serve_opens_the_network_only_with_client_authentication() {
    let dir = tempfile::tempdir().unwrap();
    pki::pki().write(dir.path());
    let p = |name| pem(dir.path(), name);
    let network = ["serve", "--simulate", "--listen", "0.0.0.0:0"];

    let (_, stderr, code) = text(&run(&network));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0 without client authentication"), "{stderr}");
    // TLS hides the traffic but lets anyone in.
    let (_, stderr, code) =
        text(&run(
            &[&network[..], &["--tls-cert", &p("server_cert"), "--tls-key", &p("server_key")]].concat()
        ));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("without client authentication"), "{stderr}");
    // A token file whose first line is empty holds no token.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let (_, stderr, code) = text(&run(&[&network[..], &["--token-file", empty.to_str().unwrap()]].concat()));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("the first line holds no token"), "{stderr}");
    // A certificate without its key, a policy naming a bus that is not served, a bad policy.
    let (_, stderr, code) = text(&run(&["serve", "--simulate", "--tls-cert", &p("server_cert")]));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[bus.9]\nread_only = true\n").unwrap();
    let (_, stderr, code) =
        text(&run(&["serve", "--simulate", "--listen", "127.0.0.1:0", "--policy", policy.to_str().unwrap()]));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("policy names bus 9, which this server does not serve"), "{stderr}");
    std::fs::write(&policy, "[bus.1]\nread_only = \"maybe\"\n").unwrap();
    let (_, stderr, code) = text(&run(&["serve", "--simulate", "--policy", policy.to_str().unwrap()]));
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("bus.1.read_only: \"maybe\" is not one of true, false, \"registers\""),
        "{stderr}"
    );
}

/// An administrator reading the server's log sees why a client is refused: the peer, the
/// session where there is one, and the rule; a flood of refusals writes a line a second, not a
/// line a refusal.
#[test]
fn refusals_are_logged_with_the_peer_and_the_rule_and_floods_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "log-token\n").unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-it\n").unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[bus.1]\naddresses = [\"0x48\"]\n").unwrap();
    let server =
        serve(&["--token-file", &token.display().to_string(), "--policy", &policy.display().to_string()]);
    let url = server.url();
    let get = |token: &Path, addr: &str| {
        text(&run(&[
            "get",
            "-y",
            "--server",
            &url,
            "--token-file",
            &token.display().to_string(),
            "1",
            addr,
            "0",
        ]))
    };
    let started = std::time::Instant::now();
    for _ in 0..20 {
        assert_eq!(get(&wrong, "0x48").2, Some(1));
    }
    assert_eq!(get(&token, "0x50").2, Some(2), "the policy refuses 0x50: the read fails");
    // A line a second: how many depends on how long the 20 took; the unit test of the
    // throttle (server/src/throttle.rs, on a paused clock) pins the interval down exactly.
    let auth = server.logged_once_there("refused (Unauthenticated)");
    let seconds = started.elapsed().as_secs() as usize;
    assert!(!auth.is_empty() && auth.len() <= 1 + seconds, "20 refusals in {seconds} s: {auth:?}");
    assert!(auth[0].contains("WARN") && auth[0].contains("authorization: wrong token"), "{}", auth[0]);
    assert!(auth[0].contains("peer=127.0.0.1:"), "{}", auth[0]);
    let policy = server.logged_once_there("refused (PermissionDenied)");
    assert_eq!(policy.len(), 1, "{policy:?}");
    assert!(
        policy[0].contains("policy: bus 1 has addresses = [0x48]; ops[0] (read_byte_data) addresses 0x50")
    );
    assert!(policy[0].contains("session=") && policy[0].contains("peer=127.0.0.1:"), "{}", policy[0]);
}

/// With the example policy, a scan shows what the policy lets this client see: the addresses
/// it may probe, answered or not, and `PD` where the policy refuses the probe.
#[test]
fn a_scan_under_a_policy_marks_what_it_may_not_probe() {
    let server = serve(&["--policy", concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/policy.toml")]);
    let (out, err, code) = text(&run(&["detect", "-y", "--server", &server.url(), "1"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f\n\
         00:                         PD PD PD PD PD PD PD PD \n\
         10: PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD \n\
         20: PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD \n\
         30: PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD \n\
         40: -- -- -- -- -- -- -- -- 48 -- -- -- -- -- -- -- \n\
         50: PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD \n\
         60: PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD PD \n\
         70: PD PD PD PD PD PD 76 --                         \n"
    );
}

/// TLS connections that complete their handshake and then say nothing are closed at the
/// handshake timeout, as silent TCP is: the timer used to be armed by the TLS task and never
/// woke HTTP/2's, so such a connection stayed open for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_connection_that_says_nothing_after_its_handshake_is_closed() {
    use tokio::io::AsyncReadExt;
    use tokio_rustls::rustls::{
        self, pki_types::CertificateDer, pki_types::ServerName, pki_types::pem::PemObject,
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::pki();
    pki.write(dir.path());
    let p = |name| pem(dir.path(), name);
    let server = serve(&[
        "--tls-cert",
        &p("server_cert"),
        "--tls-key",
        &p("server_key"),
        "--handshake-timeout-ms",
        "1000",
    ]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.server_ca.as_bytes()).unwrap()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let mut silent = Vec::new();
    for _ in 0..20 {
        let tcp = tokio::net::TcpStream::connect(&server.addr).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        silent.push(connector.connect(name, tcp).await.expect("the handshake completes"));
    }
    let started = std::time::Instant::now();
    for conn in &mut silent {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(4), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // the server's SETTINGS
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a silent TLS connection is still open after {:?}", started.elapsed());
    }
    println!("20 silent TLS connections closed within {:?} of their handshakes", started.elapsed());
}
