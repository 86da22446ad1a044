//! The smbus-proxy server: executes SMBus and I2C operations on local buses for remote clients.
//!
//! What an embedder uses: [`Server`] (built from [`Backend`]s, with [`Limits`], a [`Policy`]
//! and [`Tls`]), served on a listener or on a thread of its own ([`Running`]), and its
//! [`Stats`]. The rest is how a call travels through the crate (ARCHITECTURE.md has the whole
//! trip), one module each:
//! - `conn`: who may connect and for how long: connections in all and per host, calls in
//!   flight, handshake and idle timeouts, and an accept loop that survives running out of
//!   descriptors; and what each call holds, counted against `budget`: the bytes of requests
//!   and unwritten replies the server keeps per client host and in all.
//! - `auth` and `tls`: who may call: a bearer token, TLS and client certificates.
//! - `service`: the `smbus.v1.Smbus` gRPC service. It checks every argument (through
//!   `smbus_proxy_wire::decode`), the session, the server's `limits` and the bus's access
//!   `policy`, then hands the transaction to the bus.
//! - `session`: sessions and their leases; a session that shows no sign of life for its
//!   lease is dead, and whatever it held is freed.
//! - `bus`: each bus's executor (a thread of its own if its backend blocks) and its
//!   exclusive lock.
//!   Transactions run whole and one at a time per bus; distinct buses run in parallel.
//! - `fair`: the order a bus serves waiting transactions in: client hosts, then their
//!   sessions, take turns.
//! - `legacy`: the original Python smbus-proxy's `SmbusRcp`, a thin adapter over the same.
//! - [`backend`]: the trait a bus implements: the simulator (`smbus_proxy_sim`) and, on
//!   Linux, `/dev/i2c-N` through i2c-dev's ioctls (`backend::linux`).
//! - `fallback`: transfers that have an exact SMBus equivalent run as SMBus on adapters
//!   without plain I2C.
//! - `lines`: the GPIO lines offered next to the buses, which sessions request and hold:
//!   a kernel's through the GPIO character device (`lines::linux`), or the simulator's.
//! - `throttle`: log lines a flood cannot multiply.
//! - `announce`: DNS-SD, so that clients on the local network find the server by name.
//!
//! This crate owns the network-facing side. It must not validate arguments itself (the wire
//! crate does, in one place) nor know how a device behaves (backends do).

mod announce;
mod auth;
pub mod backend;
mod budget;
mod bus;
mod conn;
mod fair;
mod fallback;
mod legacy;
mod limits;
mod lines;
mod policy;
mod record;
mod service;
mod session;
mod throttle;
mod tls;
mod watch;

pub use backend::Backend;
pub use limits::Limits;
#[cfg(target_os = "linux")]
pub use lines::linux::{Cdev, find as find_line};
pub use lines::{Described, EdgeQueue, LineSource, RawEdge, Requested};

/// A line to offer, and the name clients call it by.
pub type NamedLine = (String, Box<dyn LineSource>);
pub use policy::Policy;
pub use tls::Tls;

use bus::Bus;
use service::Service;
use session::Sessions;
use smbus_proxy_wire::legacy::smbus_rcp_server::SmbusRcpServer;
use smbus_proxy_wire::{discovery, pb};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tracing::{Level, info};

/// The default session lease: how long a session lives without a sign of life.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// How long calls in flight may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Why a server could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two backends have the same bus number.
    #[error("bus {0} is configured twice")]
    DuplicateBus(u32),
    /// No backend at all.
    #[error("no bus to serve")]
    NoBus,
    /// A thread or the listener could not be set up.
    #[error("cannot start serving")]
    Start(#[source] std::io::Error),
    /// The thread of [`Server::spawn`] panicked.
    #[error("the server thread panicked")]
    Panicked,
    /// The access policy names a bus the server does not have.
    #[error("policy names bus {0}, which this server does not serve")]
    PolicyBus(u32),
    /// Two lines are offered under one name.
    #[error("line {0:?} is offered twice")]
    DuplicateLine(String),
    /// The access policy names a line the server does not offer.
    #[error("policy names line {0:?}, which this server does not offer")]
    PolicyLine(String),
    /// The certificate, key or client CA could not be used.
    #[error("the TLS settings cannot be used")]
    Tls(#[source] tonic::transport::Error),
    /// The reflection service could not read the protocol's descriptors.
    #[error("the reflection service cannot read the protocol's descriptors")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// Serving failed.
    #[error(transparent)]
    Transport(#[from] tonic::transport::Error),
}

/// A server ready to serve its buses.
pub struct Server {
    backends: Vec<Box<dyn Backend>>,
    lines: Vec<NamedLine>,
    lease: Duration,
    op_log: Level,
    stats: Arc<Stats>,
    token: Option<String>,
    limits: Limits,
    policy: Policy,
    tls: Option<Tls>,
    /// Whether to announce the server with DNS-SD, and under which name.
    announce: Announce,
}

/// Whether and as what the server announces itself with DNS-SD.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Announce {
    /// Not at all (an embedder's server, unless it asks).
    Off,
    /// Under the host's name.
    HostName,
    /// Under this name.
    Named(String),
}

/// Counters of what the server did, readable while it serves.
#[derive(Debug, Default)]
pub struct Stats {
    transactions: AtomicU64,
    operations: AtomicU64,
}

impl Stats {
    /// Transactions received (each `Execute` call or `ExecuteStream` message), valid or not.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// Operations in the transactions that passed validation.
    pub fn operations(&self) -> u64 {
        self.operations.load(Ordering::Relaxed)
    }

    pub(crate) fn transaction(&self) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn operations_checked(&self, n: usize) {
        self.operations.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Server {
    /// A server for these buses, with the default lease, limits and an open policy.
    pub fn new(backends: Vec<Box<dyn Backend>>) -> Self {
        Server {
            backends,
            lines: Vec::new(),
            lease: DEFAULT_LEASE,
            op_log: Level::DEBUG,
            stats: Arc::default(),
            token: None,
            limits: Limits::default(),
            policy: Policy::default(),
            tls: None,
            announce: Announce::Off,
        }
    }

    /// A server on the simulated buses and lines a configuration describes.
    pub fn simulated(config: &smbus_proxy_sim::Config) -> Self {
        let clock = smbus_proxy_sim::Clock::real();
        let (buses, lines) = config.build_all(&clock);
        Self::simulated_on(buses, &lines)
    }

    /// A server on these simulated buses and lines.
    pub fn simulated_on(buses: Vec<smbus_proxy_sim::SimBus>, lines: &smbus_proxy_sim::SimLines) -> Self {
        let epoch = std::time::Instant::now();
        let lines = lines
            .lines()
            .iter()
            .map(|l| {
                let source = lines::sim::Sim::new(l.clone(), epoch);
                (l.name().to_owned(), Box::new(source) as Box<dyn LineSource>)
            })
            .collect();
        Self::new(buses.into_iter().map(|bus| Box::new(bus) as Box<dyn Backend>).collect()).lines(lines)
    }

    /// Offers GPIO lines, each under its name, beside the buses.
    pub fn lines(mut self, lines: Vec<NamedLine>) -> Self {
        self.lines.extend(lines);
        self
    }

    /// How long a session lives without a sign of life.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Requires every call to the bus services to carry `authorization: Bearer <token>`.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// How much the server takes on: sessions, transaction and message sizes, bus time.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// What each bus accepts beyond valid arguments.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Serves over TLS with this identity, and requires client certificates if it names a
    /// client CA.
    pub fn tls(mut self, tls: Option<Tls>) -> Self {
        self.tls = tls;
        self
    }

    /// Announces the server on the local network with DNS-SD while it serves, as `name`
    /// (else the host name), if it listens beyond loopback; `smbus_proxy_wire::discovery`
    /// has the record. A server that cannot announce itself serves anyway, and says why.
    pub fn announce(mut self, name: Option<String>) -> Self {
        self.announce = name.map_or(Announce::HostName, Announce::Named);
        self
    }

    /// The server's counters.
    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// The level at which every bus operation is logged.
    pub fn op_log_level(mut self, level: Level) -> Self {
        self.op_log = level;
        self
    }

    /// Serves until `shutdown` completes, then finishes the calls in flight and returns.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        if self.backends.is_empty() {
            return Err(Error::NoBus);
        }
        let watch = Arc::new(watch::Watch::new(self.limits.watchers, self.limits.watchers_per_peer));
        let mut buses = BTreeMap::new();
        for backend in self.backends {
            let n = backend.number();
            if buses.contains_key(&n) {
                return Err(Error::DuplicateBus(n));
            }
            buses.insert(n, Bus::start(backend, self.op_log, watch.clone()).map_err(Error::Start)?);
        }
        if let Some(n) = self.policy.buses().find(|n| !buses.contains_key(n)) {
            return Err(Error::PolicyBus(n));
        }
        let offered = lines::Lines::new(self.lines).map_err(Error::DuplicateLine)?;
        if let Some(name) = self.policy.lines().find(|n| offered.offers(0, n).is_err()) {
            return Err(Error::PolicyLine(name.to_owned()));
        }
        let sessions = Arc::new(Sessions::new(self.lease, self.limits));
        let reaper = reaper(&sessions).map_err(Error::Start)?;

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<pb::smbus_server::SmbusServer<Service>>().await;
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1alpha = reflection().build_v1alpha()?;
        let reflection_v1 = reflection().build_v1()?;

        let addr = listener.local_addr().ok();
        for bus in buses.values() {
            let info = bus.info();
            // Addresses in hex, as everywhere else they are shown.
            let claimed: Vec<String> = info.claimed.iter().map(|a| format!("{a:#04x}")).collect();
            info!(
                bus = info.number,
                name = %info.name,
                funcs = %format_args!("{:#010x}", info.funcs),
                claimed = %format_args!("[{}]", claimed.join(", ")),
                "serving bus"
            );
        }
        for line in offered.info() {
            info!(line = %line.name, chip = %line.chip, offset = line.offset, used = line.used, "offering line");
        }
        match addr {
            Some(addr) => info!(
                %addr,
                lease_ms = self.lease.as_millis() as u64,
                auth = auth_name(self.token.is_some(), self.tls.as_ref()),
                tls = self.tls.is_some(),
                "server started"
            ),
            None => info!("server started"),
        }
        let announcer = match (&self.announce, addr) {
            (Announce::HostName | Announce::Named(_), Some(addr)) => {
                let record = discovery::Announcement {
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    buses: buses.keys().copied().collect(),
                    tls: self.tls.is_some(),
                    token: self.token.is_some(),
                    client_cert: self.tls.as_ref().is_some_and(Tls::requires_client_cert),
                };
                let name = match &self.announce {
                    Announce::Named(name) => Some(name.as_str()),
                    _ => None,
                };
                announce::Announcer::start(addr, name, &record).unwrap_or_else(|e| {
                    tracing::warn!("{e}; clients must be given its address");
                    None
                })
            }
            _ => None,
        };
        // Shutting down: streams end after the call in flight, and whatever is still open after
        // the grace period (a Lock waiting its turn, an idle client that never answers the
        // GOAWAY) is closed.
        let (stopping, stop_seen) = tokio::sync::watch::channel(false);
        let limits = self.limits;
        let refusals = Arc::new(throttle::Refusals::default());
        let service = Service::new(service::Shared {
            buses: Arc::new(buses),
            lines: Arc::new(offered),
            sessions,
            stats: self.stats,
            policy: self.policy,
            limits,
            stopping: stop_seen.clone(),
            refusals: refusals.clone(),
            ops_watch: watch,
            started: std::time::Instant::now(),
            instance: smbus_proxy_wire::encode::session_id(session::new_id()),
        });
        let client_cert = self.tls.as_ref().is_some_and(Tls::requires_client_cert);
        let credentials = self.token.is_some() || client_cert;
        let auth = auth::Auth::new(self.token.as_deref(), client_cert, refusals);
        let legacy = InterceptedService::new(
            legacy::ToTrailers(
                SmbusRcpServer::new(legacy::Legacy::new(service.clone()))
                    .max_decoding_message_size(limits.message_bytes),
            ),
            auth.clone(),
        );
        let smbus = InterceptedService::new(
            pb::smbus_server::SmbusServer::new(service).max_decoding_message_size(limits.message_bytes),
            auth.clone(),
        );
        let incoming = conn::Incoming::new(listener, limits.connections(credentials));
        let mut builder = tonic::transport::Server::builder()
            .initial_stream_window_size(limits::RECEIVE_WINDOW)
            .initial_connection_window_size(limits::RECEIVE_WINDOW)
            .max_concurrent_streams(limits.streams_per_connection)
            .http2_keepalive_interval(Some(limits.keepalive))
            .http2_keepalive_timeout(Some(limits.keepalive));
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.server_config()).map_err(Error::Tls)?;
        }
        let serving = builder
            .layer(conn::CallsLayer)
            .layer(tower::util::MapResponseLayer::new(limits::standard_status))
            .add_service(health_service)
            .add_service(InterceptedService::new(reflection_v1, auth.clone()))
            .add_service(InterceptedService::new(reflection_v1alpha, auth.clone()))
            .add_service(smbus)
            .add_service(legacy)
            .serve_with_incoming_shutdown(incoming, async move {
                shutdown.await;
                let _ = stopping.send(true);
            });
        let grace_over = async move {
            let mut stop_seen = stop_seen;
            let _ = stop_seen.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        let result = tokio::select! {
            result = serving => result,
            () = grace_over => {
                tracing::warn!(
                    "closed the connections and calls still open {} ms after the shutdown signal",
                    SHUTDOWN_GRACE.as_millis()
                );
                Ok(())
            }
        };
        drop(reaper);
        drop(announcer);
        info!("server stopped");
        Ok(result?)
    }
}

impl Server {
    /// Serves on its own thread and single-thread runtime until the returned handle is
    /// stopped or dropped: for embedding a server in a program, an example or a test.
    pub fn spawn(self, listen: SocketAddr) -> std::io::Result<Running> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = self.tls.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("smbus-proxy server".into()).spawn(move || {
            runtime.block_on(async {
                let listener = TcpListener::from_std(listener).map_err(Error::Start)?;
                self.serve(listener, async {
                    let _ = stopped.await;
                })
                .await
            })
        })?;
        Ok(Running { addr, tls, stop: Some(stop), thread: Some(thread) })
    }
}

/// A server running on its own thread; dropping it stops the server and waits for it.
pub struct Running {
    addr: SocketAddr,
    tls: bool,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// Stops the server gracefully and reports how serving went.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(Error::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.shut_down();
    }
}

/// How clients prove who they are, for the start-up log line.
fn auth_name(token: bool, tls: Option<&Tls>) -> &'static str {
    match (token, tls.is_some_and(Tls::requires_client_cert)) {
        (true, true) => "token and client certificate",
        (true, false) => "token",
        (false, true) => "client certificate",
        (false, false) => "none",
    }
}

/// Removes dead sessions and says so, from a thread of its own. Their locks are already void;
/// this frees the memory and leaves a trace in the log. On a thread rather than a task, so
/// the network thread has no timer to wake for and sleeps in the kernel until a request comes
/// (measured: a periodic timer on the server's runtime costs every request a timed wait).
/// Dropping the returned sender stops it.
fn reaper(sessions: &Arc<Sessions>) -> std::io::Result<std::sync::mpsc::Sender<()>> {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let sessions = Arc::downgrade(sessions);
    let lease = sessions.upgrade().map_or(DEFAULT_LEASE, |s| s.lease);
    let tick = (lease / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    // The thread reads the sessions' clock as the runtime does: tokio's, paused in tests.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new().name("session reaper".into()).spawn(move || {
        let _clock = runtime.enter();
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
            let Some(sessions) = sessions.upgrade() else { return };
            for s in sessions.reap() {
                info!(
                    session = %smbus_proxy_wire::encode::session_id(s.id),
                    "session expired after {} ms of inactivity; bus {} freed",
                    sessions.lease.as_millis(),
                    s.bus.number()
                );
            }
        }
    })?;
    Ok(stop)
}

/// Locks a mutex, ignoring poisoning: every critical section here leaves its data consistent
/// at each step, so a panic elsewhere is no reason to stop serving.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
