//! TLS, mutual TLS and tokens over a real socket: the right credentials pass, wrong ones are
//! refused with a clear error (UNAUTHENTICATED where the server gets to answer), plaintext to a
//! TLS port fails at once, and the server keeps serving through all of it.

mod pki;

use smbus_proxy_client::{Credentials, Error, Report, blocking::Client};
use smbus_proxy_server::{Running, Server, Tls};
use smbus_proxy_sim::Config;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::Code;

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> (Setup, pki::Pki) {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki::pki();
        pki.write(dir.path());
        (Setup { dir }, pki)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.pem"))
    }

    /// Credentials trusting the server CA, with the named client certificate if any.
    fn credentials(&self, client: Option<&str>, token: Option<&str>) -> Credentials {
        Credentials {
            token: token.map(str::to_owned),
            ca: Some(self.path("server_ca")),
            cert: client.map(|c| self.path(&format!("{c}_cert"))),
            key: client.map(|c| self.path(&format!("{c}_key"))),
        }
    }
}

fn serve(pki: &pki::Pki, client_ca: bool, token: Option<&str>) -> Running {
    let tls = Tls::from_pem(
        pki.server_cert.clone().into(),
        pki.server_key.clone().into(),
        client_ca.then(|| pki.client_ca.clone().into()),
    );
    Server::simulated(&Config::demo())
        .tls(Some(tls))
        .token(token.map(str::to_owned))
        .spawn("127.0.0.1:0".parse().unwrap())
        .unwrap()
}

/// Connects and reads the register file's first register: the whole path, TLS included.
fn read(url: &str, credentials: Credentials) -> Result<u8, Error> {
    let client = Client::connect_with(url, credentials)?;
    let mut bus = client.bus(1)?;
    bus.read_byte_data(0x48, 0)
}

fn rejected(result: Result<u8, Error>) -> (Code, String) {
    match result {
        Err(Error::Rejected { code, message }) => (code, message),
        other => panic!("expected a refusal from the server, got {other:?}"),
    }
}

/// The error of a connection that never got as far as the server's answer, with its causes.
fn refused_connection(result: Result<u8, Error>) -> String {
    match result {
        Err(e @ (Error::Connect { .. } | Error::Disconnected { .. })) => Report(&e).to_string(),
        other => panic!("expected a failed connection, got {other:?}"),
    }
}

#[test]
fn tls_with_the_servers_ca_passes_and_without_it_fails() {
    let (setup, pki) = Setup::new();
    let server = serve(&pki, false, None);
    let url = server.url();
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(read(&url, setup.credentials(None, None)).unwrap(), 0);

    // The system's roots do not know the test CA.
    let reason = refused_connection(read(&url, Credentials::default()));
    assert!(reason.contains("certificate") || reason.contains("UnknownIssuer"), "{reason}");
    // A CA that did not sign the server's certificate.
    let wrong_ca = Credentials { ca: Some(setup.path("client_ca")), ..Credentials::default() };
    let reason = refused_connection(read(&url, wrong_ca));
    assert!(reason.contains("UnknownIssuer") || reason.contains("certificate"), "{reason}");

    assert_eq!(read(&url, setup.credentials(None, None)).unwrap(), 0, "still serving");
}

#[test]
fn plaintext_to_a_tls_port_fails_cleanly() {
    let (setup, pki) = Setup::new();
    let server = serve(&pki, false, None);
    let plain = format!("http://{}", server.addr());
    let started = Instant::now();
    let result = read(&plain, Credentials::default());
    assert!(result.is_err(), "plaintext got through: {result:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    // A CA with a plaintext URL is a mistake the client names rather than ignores.
    let reason = refused_connection(read(&plain, setup.credentials(None, None)));
    assert!(reason.contains("the URL is not https://"), "{reason}");
    assert_eq!(read(&server.url(), setup.credentials(None, None)).unwrap(), 0, "still serving");
}

#[test]
fn mutual_tls_wants_a_certificate_from_the_client_ca() {
    let (setup, pki) = Setup::new();
    let server = serve(&pki, true, None);
    let url = server.url();
    assert_eq!(read(&url, setup.credentials(Some("client"), None)).unwrap(), 0);

    // No certificate: the server answers, and says what is missing.
    let (code, message) = rejected(read(&url, setup.credentials(None, None)));
    assert_eq!(code, Code::Unauthenticated);
    assert_eq!(
        message,
        "client certificate: none presented; this server requires one signed by its client CA"
    );

    // A certificate from a CA the server does not trust is refused in the handshake.
    let result = read(&url, setup.credentials(Some("stranger"), None));
    match result {
        Err(Error::Connect { .. } | Error::Disconnected { .. } | Error::Rejected { .. }) => {}
        other => panic!("a stranger's certificate got {other:?}"),
    }

    // A certificate without its key is a local mistake, named before connecting.
    let half = Credentials { key: None, ..setup.credentials(Some("client"), None) };
    let reason = refused_connection(read(&url, half));
    assert!(reason.contains("needs its key"), "{reason}");

    assert_eq!(read(&url, setup.credentials(Some("client"), None)).unwrap(), 0, "still serving");
}

#[test]
fn a_token_over_tls() {
    let (setup, pki) = Setup::new();
    let server = serve(&pki, false, Some("tls-token"));
    let url = server.url();
    assert_eq!(read(&url, setup.credentials(None, Some("tls-token"))).unwrap(), 0);
    let (code, message) = rejected(read(&url, setup.credentials(None, Some("nope"))));
    assert_eq!((code, message.as_str()), (Code::Unauthenticated, "authorization: wrong token"));
    let (code, _) = rejected(read(&url, setup.credentials(None, None)));
    assert_eq!(code, Code::Unauthenticated);
}

#[test]
fn the_files_are_named_when_they_cannot_be_read() {
    let (setup, _) = Setup::new();
    let missing = Credentials { ca: Some(Path::new("/nonexistent/ca.pem").into()), ..Credentials::default() };
    let reason = refused_connection(read("https://127.0.0.1:1", missing));
    // What failed, then its cause, each said once.
    assert_eq!(
        reason,
        "cannot connect to https://127.0.0.1:1: CA file /nonexistent/ca.pem: No such file or directory (os error 2)"
    );
    drop(setup);
}
