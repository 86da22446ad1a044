//! The test fixture smbus-proxy's crates share: the simulated lab, and servers on loopback
//! running it.
//!
//! [`LAB`] is the lab most tests use (`lab.toml` says what each bus is for); a test whose
//! subject is the lab itself, such as a scan's output or a slow bus, brings its own TOML to
//! [`simulated`], or to [`simulated_on`] for buses on a clock the test moves. A server runs on a thread of its own ([`Loopback::on_loopback`]), or on the test's own
//! runtime ([`Here`]): there a test that pauses tokio's clock pauses the server's too, so
//! leases, lock waits and timeouts run exactly and at once.

use smbus_proxy_server::{Backend, Running, Server};
use smbus_proxy_sim::{Clock, Config, ManualClock, SimLines};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The shared lab, as TOML.
pub const LAB: &str = include_str!("lab.toml");

/// Where test servers listen: loopback, on a port the system picks.
const LOOPBACK: &str = "127.0.0.1:0";

/// A lab from TOML; a test's own lab that does not parse is a bug in the test.
pub fn config(toml: &str) -> Config {
    Config::parse(toml).unwrap_or_else(|e| panic!("test lab: {e}"))
}

/// A server on the shared lab, to configure further and start.
pub fn lab() -> Server {
    simulated(LAB)
}

/// A server on a lab of the test's own.
pub fn simulated(toml: &str) -> Server {
    Server::simulated(&config(toml))
}

/// A server on a lab of the test's own whose buses keep time on `clock`: their waits, polls
/// and chips move only when the test moves it.
pub fn simulated_on(toml: &str, clock: &Arc<ManualClock>) -> Server {
    let buses = config(toml).build_on(&Clock::manual(clock));
    Server::new(buses.into_iter().map(|bus| Box::new(bus) as Box<dyn Backend>).collect())
}

/// A server on a lab of the test's own, and its simulated lines, which the test drives from
/// outside as a circuit would.
pub fn simulated_with_lines(toml: &str) -> (Server, SimLines) {
    let (buses, lines) = config(toml).build_all(&Clock::real());
    (Server::simulated_on(buses, &lines), lines)
}

/// Starting a test's server.
pub trait Loopback {
    /// Starts the server on loopback, on a thread of its own; dropping the handle stops it.
    fn on_loopback(self) -> Running;
}

impl Loopback for Server {
    fn on_loopback(self) -> Running {
        self.spawn(LOOPBACK.parse().expect("an address")).expect("the test server starts")
    }
}

/// A server running on the test's own runtime, and so on its clock.
pub struct Here {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Here {
    /// Starts `server` on loopback, as a task of the current runtime.
    pub async fn start(server: Server) -> Here {
        let listener = tokio::net::TcpListener::bind(LOOPBACK).await.expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            server.serve(listener, shutdown).await.expect("the test server serves");
        });
        Here { addr, stop, task }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server gracefully and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("the test server stops cleanly");
    }
}

/// Whether `program` (a tool from outside the project, such as tshark) is on the PATH, for a
/// test that needs it. Without it the test says what to install and passes, so the test
/// command runs on a machine with Rust and Python alone; in CI (`CI` set), where `.ci/run`
/// installs every tool, a missing one fails the test instead.
pub fn tool(program: &str, debian_package: &str) -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !on_path {
        let why = format!("it needs {program} (Debian: apt-get install {debian_package})");
        assert!(std::env::var_os("CI").is_none_or(|ci| ci.is_empty()), "{why}, and CI has everything");
        eprintln!("SKIPPED: {why}");
    }
    on_path
}

/// The lit pixels, (x, y) from the top left, of a simulated SSD1306's 128×64 panel: its PBM
/// image (P4), where a lit pixel is a 0 bit, white on the dark glass.
pub fn panel_pixels(path: &std::path::Path) -> std::collections::BTreeSet<(usize, usize)> {
    let image = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = b"P4\n128 64\n";
    assert_eq!(&image[..header.len()], header, "a 128×64 P4 image");
    let rows = &image[header.len()..];
    assert_eq!(rows.len(), 16 * 64, "64 rows of 16 bytes");
    (0..64)
        .flat_map(|y| (0..128).map(move |x| (x, y)))
        .filter(|&(x, y)| rows[y * 16 + x / 8] & (0x80 >> (x % 8)) == 0)
        .collect()
}
