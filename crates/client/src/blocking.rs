//! The blocking client: the same [`Client`] and [`Bus`] for code that is not async.
//!
//! Each client owns a private single-thread tokio runtime and runs every call on the calling
//! thread with `block_on`, so a call costs no hop between threads. A small thread renews the
//! leases of idle sessions. Use it from plain `fn main`, not from inside an async runtime.

use crate::Credentials;
use crate::batch::{Batch, Results};
use crate::error::{Error, Result};
use crate::methods::smbus_methods;
use crate::session::BusOptions;
use bytes::Bytes;
use smbus_proxy_wire::line::{Edges, LineEvent, LineSettings};
use smbus_proxy_wire::{Msg, Op, Reply, Target, pb};
use std::sync::{Arc, mpsc};
use std::time::Duration;
use tokio::runtime::Runtime;

/// A connection to an smbus-proxy server, for blocking code.
pub struct Client {
    rt: Arc<Shared>,
    inner: crate::Client,
}

/// What the client and its buses share: the runtime, and the keep-alive's life line.
pub(crate) struct Shared {
    rt: Runtime,
    /// Dropped with the last client or bus, which wakes the keep-alive thread to end.
    _keep_alive: mpsc::Sender<()>,
}

impl Shared {
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

impl Client {
    /// Connects to the server at `url` (`http://host:port` or `https://host:port`) with the
    /// [`Credentials`] the environment gives.
    pub fn connect(url: impl Into<String>) -> Result<Client> {
        Self::connect_with(url, Credentials::from_env())
    }

    /// Connects with this token (`authorization: Bearer <token>` on every call), or none, and
    /// the TLS settings of the environment.
    pub fn connect_with_token(url: impl Into<String>, token: Option<String>) -> Result<Client> {
        Self::connect_with(url, Credentials::from_env().with_token(token))
    }

    /// Connects with these credentials.
    pub fn connect_with(url: impl Into<String>, credentials: Credentials) -> Result<Client> {
        let url = url.into();
        let failed =
            |what: &str, e: std::io::Error| Error::connect(&url, Some(what.to_owned()), Some(e.into()));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed("cannot start the I/O runtime", e))?;
        let inner = rt.block_on(crate::Client::connect_quietly(url.clone(), &credentials))?;
        let (keep_alive, ended) = mpsc::channel();
        let rt = Arc::new(Shared { rt, _keep_alive: keep_alive });
        let (shared, client) = (Arc::downgrade(&rt), Arc::downgrade(&inner.inner));
        std::thread::Builder::new()
            .name("smbus-proxy keep-alive".into())
            .spawn(move || {
                let mut wait = Duration::from_millis(10);
                // Runs until every client and bus is gone, which disconnects the channel.
                while let Err(mpsc::RecvTimeoutError::Timeout) = ended.recv_timeout(wait) {
                    let (Some(shared), Some(inner)) = (shared.upgrade(), client.upgrade()) else { return };
                    wait = shared.block_on(inner.keep_alive_round());
                }
            })
            .map_err(|e| failed("cannot start the keep-alive thread", e))?;
        Ok(Client { rt, inner })
    }

    /// Connects to the server [`crate::server_url`] names when given no URL.
    pub fn connect_default() -> Result<Client> {
        Self::connect(crate::server_url(None))
    }

    /// The buses the server exposes.
    pub fn list_buses(&self) -> Result<Vec<pb::BusInfo>> {
        self.rt.block_on(self.inner.list_buses())
    }

    /// The GPIO lines the server offers ([`crate::Client::list_lines`]).
    pub fn list_lines(&self) -> Result<Vec<pb::LineInfo>> {
        self.rt.block_on(self.inner.list_lines())
    }

    /// Who is using the server's buses ([`crate::Client::status`]).
    pub fn status(&self) -> Result<pb::StatusResponse> {
        self.rt.block_on(self.inner.status())
    }

    /// Watches `buses` (none: every bus the server lets this client watch).
    pub fn watch(&self, buses: &[u32]) -> Result<Watcher> {
        Ok(Watcher { rt: self.rt.clone(), inner: self.rt.block_on(self.inner.watch(buses))? })
    }

    /// Opens bus `number`.
    pub fn bus(&self, number: u32) -> Result<Bus> {
        self.bus_with(number, BusOptions::default())
    }

    /// Opens bus `number` with adapter settings for this session.
    pub fn bus_with(&self, number: u32, options: BusOptions) -> Result<Bus> {
        let inner = self.rt.block_on(self.inner.bus_with(number, options))?;
        Ok(Bus { rt: self.rt.clone(), inner })
    }
}

/// A watch on a server's buses, for blocking code.
pub struct Watcher {
    rt: Arc<Shared>,
    inner: crate::Watcher,
}

/// The events as they come, each waited for; the iteration ends when the server ends the watch.
impl Iterator for Watcher {
    type Item = Result<crate::WatchEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.inner.next())
    }
}

/// A session on one remote bus, for blocking code. Dropping it ends the session.
pub struct Bus {
    pub(crate) rt: Arc<Shared>,
    pub(crate) inner: crate::Bus,
}

/// Generates the blocking twins of smbus2's methods from [`smbus_methods`].
macro_rules! blocking_methods {
    ($( $(#[doc = $doc:literal])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $command:expr; )*) => {
        impl Bus {
            $(
                $(#[doc = $doc])*
                pub fn $name(&mut self, addr: u16 $(, $arg: $ty)*) -> Result<$ret> {
                    self.rt.block_on(self.inner.$name(addr $(, $arg)*))
                }
            )*
        }
    };
}

smbus_methods!(blocking_methods);

/// Blocking twins of the other async [`crate::Bus`] methods, documented there.
macro_rules! blocking {
    ($( fn $name:ident(&mut self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        $(
            #[doc = concat!("See [`crate::Bus::", stringify!($name), "`].")]
            pub fn $name(&mut self $(, $arg: $ty)*) -> Result<$ret> {
                self.rt.block_on(self.inner.$name($($arg),*))
            }
        )*
    };
}

impl Bus {
    blocking! {
        fn i2c_rdwr(&mut self, msgs: Vec<Msg>) -> Vec<Bytes>;
        fn run(&mut self, batch: Batch) -> Results;
        fn execute(&mut self, ops: &[Op]) -> Vec<Reply>;
        fn execute_each(&mut self, ops: &[Op]) -> Vec<std::result::Result<Reply, smbus_proxy_wire::Errno>>;
        fn execute_steps(&mut self, steps: &[smbus_proxy_wire::Step]) -> Vec<Reply>;
        fn wait(&mut self, time: Duration) -> ();
        fn poll(&mut self, poll: smbus_proxy_wire::Poll) -> Reply;
        fn flush(&mut self) -> ();
    }

    /// See [`crate::Bus::settle`].
    pub(crate) fn settle(&mut self) {
        self.rt.block_on(self.inner.settle())
    }

    /// The bus's number: the N of /dev/i2c-N on the server.
    pub fn number(&self) -> u32 {
        self.inner.number()
    }

    /// The adapter's name, as the server's kernel gives it.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The adapter's functionality bits (`I2C_FUNCS`); see [`crate::funcs`].
    pub fn funcs(&self) -> u64 {
        self.inner.funcs()
    }

    /// Packet error checking on the SMBus operations that follow (`I2C_PEC`).
    pub fn set_pec(&mut self, on: bool) {
        self.inner.set_pec(on)
    }

    /// Whether SMBus operations use PEC.
    pub fn pec(&self) -> bool {
        self.inner.pec()
    }

    /// Use addresses even where a kernel driver on the server owns them (`I2C_SLAVE_FORCE`).
    pub fn set_force(&mut self, on: bool) {
        self.inner.set_force(on)
    }

    /// Whether SMBus operations force their address.
    pub fn force(&self) -> bool {
        self.inner.force()
    }

    /// 10-bit addressing for the operations that follow (`I2C_TENBIT`).
    pub fn set_ten_bit(&mut self, on: bool) {
        self.inner.set_ten_bit(on)
    }

    /// Whether addresses are 10-bit.
    pub fn ten_bit(&self) -> bool {
        self.inner.ten_bit()
    }

    /// The target an SMBus operation on `addr` gets: the address with this bus's settings.
    pub fn target(&self, addr: u16) -> Target {
        self.inner.target(addr)
    }

    /// A new, empty batch of operations to [`Bus::run`] as one transaction.
    pub fn batch(&self) -> Batch {
        self.inner.batch()
    }

    /// Takes the bus exclusively until the guard is dropped, waiting up to `wait` for another
    /// session's lock to go.
    pub fn lock(&mut self, wait: Duration) -> Result<LockGuard<'_>> {
        self.rt.block_on(self.inner.lock_inner(wait))?;
        Ok(LockGuard { bus: self })
    }

    /// Ends the session now.
    pub fn close(mut self) -> Result<()> {
        self.rt.block_on(self.inner.close_inner())
    }

    /// Requests several lines in one call, all or none ([`crate::Bus::lines`]).
    pub fn lines(&mut self, wanted: &[(&str, LineSettings)]) -> Result<Vec<Line>> {
        let lines = self.rt.block_on(self.inner.lines(wanted))?;
        Ok(lines.into_iter().map(|inner| Line { rt: self.rt.clone(), inner: Some(inner) }).collect())
    }

    /// The edges of the session's `lines` as they come ([`crate::Bus::line_events`]).
    pub fn line_events(&self, lines: &[String]) -> Result<LineEvents> {
        let stream = self.rt.block_on(self.inner.line_events(lines))?;
        Ok(LineEvents { rt: self.rt.clone(), stream: Box::pin(stream) })
    }

    /// Requests the server's line `name` for this bus's session ([`crate::Bus::line`]).
    pub fn line(&mut self, name: &str, settings: LineSettings) -> Result<Line> {
        let inner = self.rt.block_on(self.inner.line(name, settings))?;
        Ok(Line { rt: self.rt.clone(), inner: Some(inner) })
    }
}

/// A GPIO line a bus's session holds, for blocking code ([`crate::Line`]). Dropping it gives
/// it back.
pub struct Line {
    rt: Arc<Shared>,
    /// Taken by [`Line::release`].
    inner: Option<crate::Line>,
}

impl Line {
    fn inner(&mut self) -> &mut crate::Line {
        self.inner.as_mut().expect("a line is used only until it is released")
    }

    /// The line's name on the server.
    pub fn name(&self) -> &str {
        self.inner.as_ref().map_or("", crate::Line::name)
    }

    /// The settings it holds the line with.
    pub fn settings(&self) -> Option<LineSettings> {
        self.inner.as_ref().map(crate::Line::settings)
    }

    /// See [`crate::Line::set`].
    pub fn set(&mut self, value: bool) -> Result<()> {
        let line = self.inner.as_mut().expect("a line is used only until it is released");
        self.rt.block_on(line.set(value))
    }

    /// See [`crate::Line::is_set`].
    pub fn is_set(&self) -> bool {
        self.inner.as_ref().is_some_and(crate::Line::is_set)
    }

    /// See [`crate::Line::get`].
    pub fn get(&mut self) -> Result<bool> {
        let rt = self.rt.clone();
        rt.block_on(self.inner().get())
    }

    /// See [`crate::Line::wait_edge`].
    pub fn wait_edge(&mut self, edge: Edges, timeout: Duration) -> Result<LineEvent> {
        let rt = self.rt.clone();
        rt.block_on(self.inner().wait_edge(edge, timeout))
    }

    /// See [`crate::Line::wait_level`].
    pub fn wait_level(&mut self, value: bool, timeout: Duration) -> Result<()> {
        let rt = self.rt.clone();
        rt.block_on(self.inner().wait_level(value, timeout))
    }

    /// See [`crate::Line::reconfigure`].
    pub fn reconfigure(&mut self, settings: LineSettings) -> Result<()> {
        let rt = self.rt.clone();
        rt.block_on(self.inner().reconfigure(settings))
    }

    /// See [`crate::Line::release`].
    pub fn release(mut self) -> Result<()> {
        match self.inner.take() {
            Some(line) => self.rt.block_on(line.release()),
            None => Ok(()),
        }
    }

    /// The line's edges as they come ([`crate::Line::events`]), each waited for.
    pub fn events(&mut self) -> Result<LineEvents> {
        let rt = self.rt.clone();
        let stream = rt.block_on(self.inner().events())?;
        Ok(LineEvents { rt, stream: Box::pin(stream) })
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if let Some(line) = self.inner.take() {
            // The timer is made inside `block_on`, where the runtime's clock is.
            let _ = self.rt.block_on(async { tokio::time::timeout(GOODBYE_WAIT, line.release()).await });
        }
    }
}

/// A line's edge events as they come, for blocking code; the iteration ends when the server
/// ends the stream (the line was given back, the session ended).
pub struct LineEvents {
    rt: Arc<Shared>,
    stream: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<LineEvent>> + Send>>,
}

impl Iterator for LineEvents {
    type Item = Result<LineEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        use tokio_stream::StreamExt;
        self.rt.block_on(self.stream.next())
    }
}

/// How long dropping a bus or a lock guard waits for the server to acknowledge: over a
/// network that died, the goodbye would otherwise wait for the connection to be declared dead.
/// A session whose goodbye is lost ends with its lease anyway.
const GOODBYE_WAIT: Duration = Duration::from_secs(1);

impl Drop for Bus {
    fn drop(&mut self) {
        // A line taken from the bus shares its session, which closes when the last of them goes.
        if Arc::strong_count(&self.inner.link) > 1 {
            return;
        }
        // The timer is made inside `block_on`, where the runtime's clock is.
        let _ =
            self.rt.block_on(async { tokio::time::timeout(GOODBYE_WAIT, self.inner.close_inner()).await });
    }
}

/// The bus held exclusively; derefs to the [`Bus`]. Dropping it releases the lock.
pub struct LockGuard<'a> {
    bus: &'a mut Bus,
}

impl LockGuard<'_> {
    /// Releases the lock and reports how that went.
    pub fn unlock(self) -> Result<()> {
        let mut this = std::mem::ManuallyDrop::new(self);
        let bus = &mut *this.bus;
        bus.rt.block_on(bus.inner.unlock_inner())
    }
}

impl std::ops::Deref for LockGuard<'_> {
    type Target = Bus;
    fn deref(&self) -> &Bus {
        self.bus
    }
}

impl std::ops::DerefMut for LockGuard<'_> {
    fn deref_mut(&mut self) -> &mut Bus {
        self.bus
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if self.bus.inner.locked() {
            let bus = &mut *self.bus;
            let _ =
                bus.rt.block_on(async { tokio::time::timeout(GOODBYE_WAIT, bus.inner.unlock_inner()).await });
        }
    }
}
