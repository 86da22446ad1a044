//! Connections: who may connect, and how long a connection may do nothing.
//!
//! tonic serves the connections this module accepts ([`Incoming`]); HTTP/2's own limits
//! (streams per connection, keep-alive pings) are set on tonic's builder in `lib.rs`. What
//! HTTP/2 has no knob for is here:
//! - connections in all and per client host: one over a limit is closed as soon as it is
//!   accepted, so one host cannot take every descriptor the server has;
//! - running out of descriptors (EMFILE) or kernel memory while accepting: logged at warn and
//!   retried after a back-off, instead of retried at once in a loop that spins a core;
//! - a connection that does nothing: no call in flight since it was accepted (a silent TCP
//!   connection, a stuck TLS handshake, an HTTP/2 preface and nothing more) for the
//!   handshake timeout, or since its last call ended for the idle timeout, is closed. A call
//!   in flight (an `ExecuteStream`, a `Lock` that waits) keeps it open; HTTP/2 keep-alive
//!   pings drop a peer that vanished with calls in flight;
//! - calls in flight in all and per client host: each holds memory (tonic's buffers, the
//!   handler's state) for as long as it lasts, so past a limit a call is answered at once with
//!   RESOURCE_EXHAUSTED, before any of that is allocated. With streams per connection and
//!   connections per host, this bounds what one host, and all of them, can make the server hold;
//! - on a server that asks clients for credentials, connections that have not (yet) made a
//!   call with them: health needs none, so anyone could otherwise keep every connection the
//!   server allows, each with a health watch open. Such a connection gets the handshake
//!   timeout whatever it has in flight, and they have a share of their own
//!   (`--max-unauthenticated-connections`): a new one past it closes the oldest, so that a
//!   client with credentials always gets in.
//!
//! [`Calls`] counts the calls: a layer around every service, which reaches the connection
//! through the [`Peer`] tonic puts in each request's extensions. It also counts the bytes each
//! call holds in its host's and the server's budget (`budget.rs`): every request message, by
//! the length its gRPC prefix declares, and every byte of every response until HTTP/2 has
//! written it to the socket; and it polls a response for more only while fewer than
//! [`UNSENT_MAX`] of its bytes wait to be written, however much window the client grants. A
//! client that stops reading thus stops its own calls, and the server keeps no more for it
//! than that.

use crate::budget::{Account, Budget, Held};
use crate::limits::Exceeded;
use crate::lock;
use crate::throttle::Throttled;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio::time::Sleep;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{debug, warn};

/// The limits this module enforces; see [`crate::Limits`] for their meaning and defaults.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnLimits {
    pub connections: usize,
    pub connections_per_peer: usize,
    pub calls: usize,
    pub calls_per_peer: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub buffered: usize,
    pub buffered_per_peer: usize,
    /// The largest message; a request declaring more is tonic's to refuse, as too large.
    pub message_bytes: usize,
    /// Connections open at once that have made no call with credentials, when the server asks
    /// for them; `None` when it does not (every connection is as good as any other).
    pub unauthenticated: Option<usize>,
}

/// Any error a body may fail with, as tonic takes it.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The bytes of one response that may wait in HTTP/2's buffers to be written before the
/// response is polled for more: a stalled reader's share of the server's memory, per call.
pub(crate) const UNSENT_MAX: usize = 256 << 10;

/// Accept errors are retried after this long at first, doubling up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Refused connections and failed accepts are logged at most once per this long each, with a
/// count: under a flood the log says what happens without becoming the flood.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The connections open now, in all and per client host, their calls in flight and the bytes
/// they hold.
struct Open {
    all: usize,
    per_host: HashMap<IpAddr, Host>,
    calls: Arc<AtomicUsize>,
    budget: Arc<Budget>,
    /// Connections that have not shown credentials (some may have since), oldest first.
    unauthenticated: VecDeque<std::sync::Weak<CallCount>>,
}

struct Host {
    connections: usize,
    calls: Arc<AtomicUsize>,
    budget: Arc<Budget>,
}

/// The accepting side of the listener: a stream of admitted connections for tonic.
pub(crate) struct Incoming {
    listener: TcpListener,
    limits: ConnLimits,
    open: Arc<Mutex<Open>>,
    /// While set, accepting waits for it: the last accept failed for lack of resources.
    backoff: Option<Pin<Box<Sleep>>>,
    next_backoff: Duration,
    refusals: Throttled,
    accept_failures: Throttled,
    evictions: Throttled,
}

impl Incoming {
    pub(crate) fn new(listener: TcpListener, limits: ConnLimits) -> Self {
        let open = Open {
            all: 0,
            per_host: HashMap::new(),
            calls: Arc::default(),
            budget: Budget::new(limits.buffered),
            unauthenticated: VecDeque::new(),
        };
        Incoming {
            listener,
            limits,
            open: Arc::new(Mutex::new(open)),
            backoff: None,
            next_backoff: MIN_BACKOFF,
            refusals: Throttled::new(LOG_EVERY),
            accept_failures: Throttled::new(LOG_EVERY),
            evictions: Throttled::new(LOG_EVERY),
        }
    }

    /// Counts the connection in, unless a limit is reached.
    fn admit(&self, peer: SocketAddr) -> Result<Admitted, Exceeded> {
        let mut open = lock(&self.open);
        if open.all >= self.limits.connections {
            return Err(Exceeded::All(self.limits.connections));
        }
        let (all_calls, all_budget) = (open.calls.clone(), open.budget.clone());
        let host = open.per_host.entry(peer.ip()).or_insert_with(|| Host {
            connections: 0,
            calls: Arc::default(),
            budget: Budget::new(self.limits.buffered_per_peer),
        });
        if host.connections >= self.limits.connections_per_peer {
            return Err(Exceeded::PerPeer(self.limits.connections_per_peer));
        }
        host.connections += 1;
        let host_calls = host.calls.clone();
        let account = Account::new(host.budget.clone(), all_budget);
        open.all += 1;
        Ok(Admitted { open: self.open.clone(), host: peer.ip(), host_calls, all_calls, account })
    }

    /// Counts a new connection among those without credentials, closing the oldest of them if
    /// they already have their whole share.
    fn make_room(&mut self, new: &Arc<CallCount>, share: usize) {
        let evicted = {
            let mut open = lock(&self.open);
            open.unauthenticated
                .retain(|a| a.upgrade().is_some_and(|a| !a.authenticated.load(Ordering::Acquire)));
            let evicted =
                if open.unauthenticated.len() >= share { open.unauthenticated.pop_front() } else { None };
            open.unauthenticated.push_back(Arc::downgrade(new));
            evicted.and_then(|a| a.upgrade())
        };
        if let Some(oldest) = evicted {
            oldest.evict();
            if let Some(closed) = self.evictions.due() {
                warn!(
                    closed,
                    peer = %oldest.remote,
                    "closed the oldest connection without credentials: {share} are open, their share \
                     (--max-unauthenticated-connections)"
                );
            }
        }
    }

    fn refused(&mut self, peer: SocketAddr, why: Exceeded) {
        let Some(refused) = self.refusals.due() else { return };
        let why = match why {
            Exceeded::All(n) => format!("{n} connections are open, the server's limit (--max-connections)"),
            Exceeded::PerPeer(n) => format!(
                "{n} connections are open from {}, the limit per client host (--max-connections-per-peer)",
                peer.ip()
            ),
        };
        warn!(refused, "closed new connections at once: {why}");
    }
}

/// Errors that say the process or the system is out of something: accepting again at once
/// would fail the same way, so the loop waits.
fn out_of_resources(e: &io::Error) -> bool {
    // Linux's numbers (asm-generic/errno*.h), on every architecture a Pi has.
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(backoff) = &mut self.backoff {
                ready!(backoff.as_mut().poll(cx));
                self.backoff = None;
            }
            match ready!(self.listener.poll_accept(cx)) {
                Ok((stream, peer)) => {
                    self.next_backoff = MIN_BACKOFF;
                    match self.admit(peer) {
                        Ok(admitted) => {
                            let conn = Conn::new(stream, peer, admitted, self.limits);
                            if let Some(share) = self.limits.unauthenticated {
                                self.make_room(&conn.peer.activity, share);
                            }
                            return Poll::Ready(Some(Ok(conn)));
                        }
                        Err(why) => self.refused(peer, why),
                    }
                }
                Err(e) if out_of_resources(&e) => {
                    let wait = self.next_backoff;
                    if let Some(failures) = self.accept_failures.due() {
                        warn!(
                            failures,
                            "cannot accept connections: {e}; trying again in {} ms, backing off to 1 s \
                             (open connections: {}; raise the process's descriptor limit or lower \
                             --max-connections)",
                            wait.as_millis(),
                            lock(&self.open).all
                        );
                    }
                    self.backoff = Some(Box::pin(tokio::time::sleep(wait)));
                    self.next_backoff = (wait * 2).min(MAX_BACKOFF);
                }
                // Something about that one connection (it was reset before we took it): next.
                Err(e) => debug!("accept: {e}"),
            }
        }
    }
}

/// A connection counted in [`Open`]; dropping it counts it out.
struct Admitted {
    open: Arc<Mutex<Open>>,
    host: IpAddr,
    /// The calls in flight from its host, and in all.
    host_calls: Arc<AtomicUsize>,
    all_calls: Arc<AtomicUsize>,
    /// The bytes its host, and all, hold.
    account: Account,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.all -= 1;
        if let Some(host) = open.per_host.get_mut(&self.host) {
            host.connections -= 1;
            if host.connections == 0 {
                open.per_host.remove(&self.host);
            }
        }
    }
}

/// What the calls on one connection share with it.
pub(crate) struct CallCount {
    /// Calls in flight on this connection.
    calls: AtomicU32,
    /// Calls in flight from its host, and in all, with their limits.
    host_calls: Arc<AtomicUsize>,
    all_calls: Arc<AtomicUsize>,
    limits: ConnLimits,
    /// The bytes its host, and all, hold.
    account: Account,
    /// Microseconds since `accepted` when the last call ended, or `u64::MAX` before any did
    /// (then the handshake timeout applies).
    last_call_end: AtomicU64,
    /// On tokio's clock, as the watchdog is.
    accepted: Instant,
    /// Whether a call has shown the credentials the server asks for (always, if it asks none).
    authenticated: AtomicBool,
    /// Set to close the connection: its place went to a newer one without credentials.
    evicted: AtomicBool,
    /// The task reading the connection, while it has no credentials: what eviction wakes.
    reader: Mutex<Option<Waker>>,
    remote: SocketAddr,
}

impl CallCount {
    /// Closes the connection at its next read, and wakes its reader for that.
    fn evict(&self) {
        self.evicted.store(true, Ordering::Release);
        if let Some(reader) = lock(&self.reader).take() {
            reader.wake();
        }
    }

    fn since_accepted(&self) -> u64 {
        self.accepted.elapsed().as_micros() as u64
    }

    /// When the connection counts as doing nothing since, and how long it may, if no call is
    /// in flight.
    fn quiet_since(&self, limits: &ConnLimits) -> Option<(Duration, Duration)> {
        // Without credentials, calls in flight (a health watch) buy no time.
        if !self.authenticated.load(Ordering::Acquire) {
            return Some((Duration::ZERO, limits.handshake_timeout));
        }
        if self.calls.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(match self.last_call_end.load(Ordering::Acquire) {
            u64::MAX => (Duration::ZERO, limits.handshake_timeout),
            end => (Duration::from_micros(end), limits.idle_timeout),
        })
    }
}

/// An accepted TCP connection: reads end once it has done nothing for too long.
pub(crate) struct Conn {
    stream: TcpStream,
    peer: Peer,
    limits: ConnLimits,
    watchdog: Pin<Box<Sleep>>,
    /// The task the watchdog will wake, if it has been polled since it was last set. Over TLS
    /// the first reads come from the handshake's task and the rest from HTTP/2's: armed for
    /// the one, the watchdog would never wake the other.
    armed: Option<Waker>,
    _admitted: Admitted,
}

impl Conn {
    fn new(stream: TcpStream, remote: SocketAddr, admitted: Admitted, limits: ConnLimits) -> Conn {
        // Without it every small reply waits for the peer's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            debug!("TCP_NODELAY on a connection from {remote}: {e}");
        }
        let activity = Arc::new(CallCount {
            calls: AtomicU32::new(0),
            host_calls: admitted.host_calls.clone(),
            all_calls: admitted.all_calls.clone(),
            limits,
            account: admitted.account.clone(),
            last_call_end: AtomicU64::new(u64::MAX),
            accepted: Instant::now(),
            authenticated: AtomicBool::new(limits.unauthenticated.is_none()),
            evicted: AtomicBool::new(false),
            reader: Mutex::new(None),
            remote,
        });
        let watchdog = Box::pin(tokio::time::sleep(limits.handshake_timeout));
        let peer = Peer { remote, local: stream.local_addr().ok(), activity };
        Conn { stream, peer, limits, watchdog, armed: None, _admitted: admitted }
    }

    /// Whether the connection has done nothing for longer than it may. Otherwise the watchdog
    /// is left armed for the moment it would have (while calls are in flight, an idle timeout
    /// from now: the call may be over by then), so that the connection's task is woken then.
    /// The timer is polled only when armed anew or read by another task: it keeps the waker of
    /// the task that reads this connection, so a busy connection's reads cost no timer work.
    fn has_done_nothing(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            let activity = &self.peer.activity;
            let armed = self.armed.as_ref().is_some_and(|waker| waker.will_wake(cx.waker()));
            let waiting = armed && !self.watchdog.is_elapsed();
            let deadline = match activity.quiet_since(&self.limits) {
                None if waiting => return false,
                None => Instant::now() + self.limits.idle_timeout,
                Some((since, allowed)) => {
                    let deadline = activity.accepted + since + allowed;
                    if deadline <= Instant::now() {
                        return true;
                    }
                    if waiting && deadline == self.watchdog.deadline() {
                        return false;
                    }
                    deadline
                }
            };
            self.watchdog.as_mut().reset(deadline);
            self.armed = Some(cx.waker().clone());
            if self.watchdog.as_mut().poll(cx).is_pending() {
                return false;
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.peer.activity.evicted.load(Ordering::Acquire) {
            debug!(peer = %self.peer.remote, "closing a connection without credentials to make room");
            return Poll::Ready(Ok(()));
        }
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        let activity = &self.peer.activity;
        if read.is_pending() && !activity.authenticated.load(Ordering::Acquire) {
            *lock(&activity.reader) = Some(cx.waker().clone());
            if activity.evicted.load(Ordering::Acquire) {
                return Poll::Ready(Ok(()));
            }
        }
        if read.is_pending() && self.has_done_nothing(cx) {
            let calls = self.peer.activity.last_call_end.load(Ordering::Relaxed) != u64::MAX;
            debug!(
                peer = %self.peer.remote,
                "closing a connection that did nothing for {} ms{}",
                if calls { self.limits.idle_timeout } else { self.limits.handshake_timeout }.as_millis(),
                if calls { " since its last call" } else { " since it was accepted" }
            );
            // The end of the stream: HTTP/2 closes the connection.
            return Poll::Ready(Ok(()));
        }
        read
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Who a request came from: tonic puts it in every request's extensions (inside
/// `TlsConnectInfo` over TLS).
#[derive(Clone)]
pub(crate) struct Peer {
    remote: SocketAddr,
    local: Option<SocketAddr>,
    activity: Arc<CallCount>,
}

impl Connected for Conn {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

/// Counts each connection's calls in flight, from the request's arrival to the end of its
/// response; and puts tonic's `TcpConnectInfo` beside our [`Peer`], so `remote_addr()` works.
#[derive(Clone)]
pub(crate) struct Calls<S>(S);

#[derive(Clone, Copy)]
pub(crate) struct CallsLayer;

impl<S> tower::Layer<S> for CallsLayer {
    type Service = Calls<S>;

    fn layer(&self, inner: S) -> Calls<S> {
        Calls(inner)
    }
}

/// A call in flight on a connection; dropping it ends the call.
struct InFlight(Arc<CallCount>);

impl InFlight {
    /// Counts a call in, unless its host or the server has as many in flight as it may.
    fn begin(activity: &Arc<CallCount>, remote: SocketAddr) -> Result<InFlight, tonic::Status> {
        let limits = &activity.limits;
        let host = activity.host_calls.fetch_add(1, Ordering::AcqRel);
        let all = activity.all_calls.fetch_add(1, Ordering::AcqRel);
        let refused = if host >= limits.calls_per_peer {
            Some(format!(
                "{} are in flight from {}, the limit per client host",
                limits.calls_per_peer,
                remote.ip()
            ))
        } else if all >= limits.calls {
            Some(format!("{} are in flight, the server's limit", limits.calls))
        } else {
            None
        };
        if let Some(why) = refused {
            activity.host_calls.fetch_sub(1, Ordering::AcqRel);
            activity.all_calls.fetch_sub(1, Ordering::AcqRel);
            return Err(tonic::Status::resource_exhausted(format!(
                "calls: {why}; try again when one has ended"
            )));
        }
        activity.calls.fetch_add(1, Ordering::AcqRel);
        Ok(InFlight(activity.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The end first: the watchdog never sees no call and a stale end.
        self.0.last_call_end.store(self.0.since_accepted(), Ordering::Release);
        self.0.calls.fetch_sub(1, Ordering::AcqRel);
        self.0.host_calls.fetch_sub(1, Ordering::AcqRel);
        self.0.all_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

fn peer<B>(req: &http::Request<B>) -> Option<&Peer> {
    let extensions = req.extensions();
    extensions.get::<Peer>().or_else(|| {
        extensions.get::<tonic::transport::server::TlsConnectInfo<Peer>>().map(|tls| tls.get_ref())
    })
}

/// Notes that the connection `req` came over has shown the server's credentials: it is held
/// to the limits of any client from now on.
pub(crate) fn authenticated<T>(req: &tonic::Request<T>) {
    let extensions = req.extensions();
    let peer = extensions.get::<Peer>().or_else(|| {
        extensions.get::<tonic::transport::server::TlsConnectInfo<Peer>>().map(|tls| tls.get_ref())
    });
    if let Some(peer) = peer {
        peer.activity.authenticated.store(true, Ordering::Release);
    }
}

/// The client certificates of the connection a request came over, if it is TLS.
pub(crate) fn peer_certs<T>(
    req: &tonic::Request<T>,
) -> Option<Arc<Vec<tonic::transport::CertificateDer<'static>>>> {
    req.extensions().get::<tonic::transport::server::TlsConnectInfo<Peer>>().and_then(|tls| tls.peer_certs())
}

/// The budget a request's call draws on: what the service reserves a transaction's reply from.
pub(crate) fn account<T>(req: &tonic::Request<T>) -> Option<Account> {
    req.extensions().get::<Account>().cloned()
}

impl<S, B, R> tower::Service<http::Request<B>> for Calls<S>
where
    S: tower::Service<http::Request<tonic::body::Body>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
    R: http_body::Body<Data = Bytes> + Default + Send + Unpin + 'static,
{
    type Response = http::Response<Tracked<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let Some(peer) = peer(&req).cloned() else {
            // Not from a connection of ours: nothing to count.
            let response = self.0.call(req.map(tonic::body::Body::new));
            return Box::pin(async move { Ok(response.await?.map(|body| Tracked::uncounted(body))) });
        };
        let info = TcpConnectInfo { local_addr: peer.local, remote_addr: Some(peer.remote) };
        let in_flight = match InFlight::begin(&peer.activity, peer.remote) {
            Ok(call) => call,
            Err(refused) => {
                let response = refused.into_http::<R>().map(Tracked::uncounted);
                return Box::pin(std::future::ready(Ok(response)));
            }
        };
        let account = peer.activity.account.clone();
        let call =
            Arc::new(Call { unsent: AtomicUsize::new(0), sent: Mutex::new(None), request: Mutex::new(None) });
        req.extensions_mut().insert(info);
        req.extensions_mut().insert(account.clone());
        let limits = peer.activity.limits;
        let req = req.map(|body| {
            tonic::body::Body::new(Requests::new(body, account.clone(), call.clone(), limits.message_bytes))
        });
        let response = self.0.call(req);
        Box::pin(async move {
            let tracked = |body| Tracked { body, account: Some(account), call, _in_flight: Some(in_flight) };
            Ok(response.await?.map(tracked))
        })
    }
}

/// What a call holds, shared by its request and its response.
struct Call {
    /// Bytes of its response written to HTTP/2 and not yet to the socket.
    unsent: AtomicUsize,
    /// The response's task, waiting for those to go.
    sent: Mutex<Option<Waker>>,
    /// The count of its latest request message, held until the next one begins or the call ends.
    request: Mutex<Option<Held>>,
}

/// A response body that ends its call when it is done with or dropped, and counts each of its
/// bytes until HTTP/2 has written it.
pub(crate) struct Tracked<B> {
    body: B,
    account: Option<Account>,
    call: Arc<Call>,
    _in_flight: Option<InFlight>,
}

impl<B> Tracked<B> {
    fn uncounted(body: B) -> Tracked<B> {
        let call =
            Arc::new(Call { unsent: AtomicUsize::new(0), sent: Mutex::new(None), request: Mutex::new(None) });
        Tracked { body, account: None, call, _in_flight: None }
    }
}

/// Response bytes on their way to the socket: dropped once HTTP/2 has written them.
struct Unsent {
    data: Bytes,
    call: Arc<Call>,
    _held: Held,
}

impl AsRef<[u8]> for Unsent {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Unsent {
    fn drop(&mut self) {
        let before = self.call.unsent.fetch_sub(self.data.len(), Ordering::AcqRel);
        if before >= UNSENT_MAX
            && before - self.data.len() < UNSENT_MAX
            && let Some(waker) = lock(&self.call.sent).take()
        {
            waker.wake();
        }
    }
}

impl<B: http_body::Body<Data = Bytes> + Unpin> http_body::Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        let Some(account) = self.account.clone() else { return Pin::new(&mut self.body).poll_frame(cx) };
        // Enough of this response waits to be written: more only once some of it has gone.
        if self.call.unsent.load(Ordering::Acquire) >= UNSENT_MAX {
            *lock(&self.call.sent) = Some(cx.waker().clone());
            if self.call.unsent.load(Ordering::Acquire) >= UNSENT_MAX {
                return Poll::Pending;
            }
        }
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        Poll::Ready(frame.map(|frame| {
            frame.map(|frame| {
                frame.map_data(|data| {
                    if data.is_empty() {
                        return data;
                    }
                    self.call.unsent.fetch_add(data.len(), Ordering::AcqRel);
                    let held = account.count(data.len());
                    Bytes::from_owner(Unsent { data, call: self.call.clone(), _held: held })
                })
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request body, counted message by message: each gRPC message's length is reserved from the
/// budget when its 5-byte prefix has arrived, before tonic sees its bytes, and the count is
/// held until the call's next message begins (tonic asks for more only once it is done with a
/// message: the body is cut at message boundaries for that) or the call ends.
struct Requests<B> {
    body: B,
    account: Account,
    call: Arc<Call>,
    message_bytes: usize,
    /// The prefix of the next message, as far as it has come.
    prefix: [u8; 5],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    left: usize,
    /// What came after the current message, for tonic's next request.
    rest: Option<Bytes>,
}

impl<B> Requests<B> {
    fn new(body: B, account: Account, call: Arc<Call>, message_bytes: usize) -> Self {
        Requests { body, account, call, message_bytes, prefix: [0; 5], prefix_len: 0, left: 0, rest: None }
    }

    /// The next piece of `data` to hand tonic: up to the end of the current message, with the
    /// prefix of the next counted first; the rest waits.
    fn piece(&mut self, mut data: Bytes) -> Result<Bytes, tonic::Status> {
        let mut end = 0;
        while end < data.len() {
            if self.left > 0 {
                let n = self.left.min(data.len() - end);
                self.left -= n;
                end += n;
                continue;
            }
            if end > 0 {
                // A message ended here: the next one begins when tonic asks for it.
                break;
            }
            let n = (self.prefix.len() - self.prefix_len).min(data.len());
            self.prefix[self.prefix_len..self.prefix_len + n].copy_from_slice(&data[..n]);
            self.prefix_len += n;
            end += n;
            if self.prefix_len == self.prefix.len() {
                self.prefix_len = 0;
                let len = u32::from_be_bytes(self.prefix[1..].try_into().expect("4 bytes")) as usize;
                self.left = len;
                let mut request = lock(&self.call.request);
                // The previous message is done with.
                *request = None;
                // One larger than any message is tonic's to refuse, by its size.
                if len <= self.message_bytes {
                    *request = Some(self.account.reserve(len).map_err(|over| over.status("requests", len))?);
                }
                if len == 0 {
                    break;
                }
            }
        }
        let piece = data.split_to(end);
        self.rest = (!data.is_empty()).then_some(data);
        Ok(piece)
    }
}

impl<B> http_body::Body for Requests<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let data = match self.rest.take() {
            Some(rest) => rest,
            None => match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            },
        };
        Poll::Ready(Some(self.piece(data).map(http_body::Frame::data).map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.body.is_end_stream()
    }
}
