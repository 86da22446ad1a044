//! What one server will take on: connections and their streams, sessions, transaction sizes,
//! message sizes and how long an operation may hold the bus. Past a limit on calls, a call gets
//! RESOURCE_EXHAUSTED saying which; past a limit on connections, the connection is closed (see
//! `conn`) or the stream refused (HTTP/2's REFUSED_STREAM). SECURITY.md has the table.

use std::time::Duration;

/// What a client may send on a connection before the server has read it: HTTP/2's own
/// default, 64 KiB. hyper's is 1 MiB per connection and per stream, which a client whose
/// stream's task is busy (its replies unread) could keep full on every connection: 512 MiB at
/// the connection limit. A window is refilled as requests are read, so it bounds memory, not
/// what a client sends.
pub(crate) const RECEIVE_WINDOW: u32 = 65_535;

/// Every limit of one server; [`Limits::DEFAULT`] has the values it takes unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once. Keep it below the process's descriptor limit.
    pub connections: usize,
    /// Connections open at once from one client host (IP address).
    pub connections_per_peer: usize,
    /// Calls in flight on one connection (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS); a client
    /// with more waits for one to end. Each bus handle keeps a stream open, so this stays
    /// well above the sessions one client opens on a connection (`sessions_per_peer`).
    pub streams_per_connection: u32,
    /// Calls in flight at once (each holds buffers while it lasts); past it a call gets
    /// RESOURCE_EXHAUSTED at once.
    pub calls: usize,
    /// Calls in flight at once from one client host.
    pub calls_per_peer: usize,
    /// Bytes of requests taken in and replies not yet written that the server holds in all:
    /// past it a transaction, or a request message, gets RESOURCE_EXHAUSTED before it runs.
    pub buffered: usize,
    /// The same, for one client host: a client that stops reading its replies stops here.
    pub buffered_per_peer: usize,
    /// Watchers (`Smbus/Watch` calls) at once; each may hold a share of the events and of the
    /// bytes on their way to it.
    pub watchers: usize,
    /// Watchers at once from one client host.
    pub watchers_per_peer: usize,
    /// How long a new connection may go without starting a call (TCP, TLS and HTTP/2
    /// handshakes included) before it is closed; on a server that asks for credentials, how
    /// long one may go without a call that shows them, whatever else it has in flight.
    pub handshake_timeout: Duration,
    /// On a server that asks for credentials (a token, a client certificate), connections open
    /// at once that have made no call with them; past it a new one closes the oldest.
    pub unauthenticated_connections: usize,
    /// How long a connection may go without a call in flight before it is closed.
    pub idle_timeout: Duration,
    /// A connection silent for this long is sent an HTTP/2 ping, which must be answered within
    /// as long again, or the connection and its calls are dropped.
    pub keepalive: Duration,
    /// Sessions open at once.
    pub sessions: usize,
    /// Sessions per client host (IP address), so one client cannot take every session. Behind
    /// an SSH tunnel every client arrives from loopback, so there each connection counts as a
    /// host of its own.
    pub sessions_per_peer: usize,
    /// Operations in one transaction, at most the protocol's own 1024.
    pub ops_per_transaction: usize,
    /// Bytes in one message, either way: a larger request is refused, and so is, before it
    /// runs, a transaction whose replies could be larger.
    pub message_bytes: usize,
    /// How long one transaction's `wait` steps and `poll` timeouts may hold the bus in all;
    /// other clients of the bus wait meanwhile, as for any transaction.
    pub bus_wait: Duration,
    /// The adapter timeout every operation runs under (`I2C_TIMEOUT`); sessions may ask for
    /// less, not more. `None` leaves the adapter's own.
    pub op_timeout: Option<Duration>,
    /// The longest resume window a session may ask for: how long a silent session, its lock
    /// and its record of unacknowledged outcomes are kept for its client to come back.
    /// Zero: sessions cannot be resumed.
    pub resume_window: Duration,
    /// Bytes of unacknowledged replies one session's record keeps (counted at the most each
    /// reply can take, and in `buffered` and `buffered_per_peer` as well); one transaction is
    /// always kept, whatever its size.
    pub record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Limits {
    /// The defaults: safe for a server on a network, and roomy for a team sharing a bus.
    pub const DEFAULT: Limits = Limits {
        connections: 512,
        connections_per_peer: 64,
        streams_per_connection: 128,
        calls: 4096,
        calls_per_peer: 1024,
        // Two of the largest transactions' requests and replies from one host, eight in all;
        // I2C traffic is bytes a second, so only a client that stops reading comes near.
        buffered: 32 << 20,
        buffered_per_peer: 16 << 20,
        watchers: 32,
        watchers_per_peer: 8,
        handshake_timeout: Duration::from_secs(10),
        unauthenticated_connections: 128,
        idle_timeout: Duration::from_secs(60),
        keepalive: Duration::from_secs(30),
        sessions: 256,
        sessions_per_peer: 64,
        ops_per_transaction: smbus_proxy_wire::op::MAX_OPS,
        // tonic's default, and room for the largest transaction anyone sends in practice.
        message_bytes: 4 << 20,
        bus_wait: Duration::from_secs(1),
        op_timeout: None,
        resume_window: Duration::from_secs(60),
        // A full pipeline of 256 one-operation transactions counts 132 KB (at the most each
        // reply can take); a client that pipelines large reads waits for their
        // acknowledgements instead. Records are counted in the budgets above too.
        record_bytes: 256 << 10,
    };

    /// The limits `conn` enforces, on a server that asks clients for `credentials` or not.
    pub(crate) fn connections(&self, credentials: bool) -> crate::conn::ConnLimits {
        crate::conn::ConnLimits {
            connections: self.connections,
            connections_per_peer: self.connections_per_peer,
            calls: self.calls,
            calls_per_peer: self.calls_per_peer,
            handshake_timeout: self.handshake_timeout,
            idle_timeout: self.idle_timeout,
            buffered: self.buffered,
            buffered_per_peer: self.buffered_per_peer,
            message_bytes: self.message_bytes,
            unauthenticated: credentials.then_some(self.unauthenticated_connections),
        }
    }
}

/// Which limit a connection or a session would exceed: the server's in all, or the one per
/// client host; with the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// The limit in all.
    All(usize),
    /// The limit per client host.
    PerPeer(usize),
}

/// Gives an oversized request the status gRPC's own implementations give it.
///
/// tonic refuses a message over the size limit with OUT_OF_RANGE; gRPC's status code guide
/// and its C++, Java and Go implementations use RESOURCE_EXHAUSTED, which is what a client
/// checking for a limit looks for. The refusal is a trailers-only response, so the status is
/// in the headers.
pub(crate) fn standard_status<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    if headers.get("grpc-status").is_some_and(|code| code.as_bytes() == b"11")
        && let Some(status) = tonic::Status::from_header_map(headers)
        && let Some(status) = message_too_large(&status)
    {
        let _ = status.add_header(headers);
    }
    response
}

/// The RESOURCE_EXHAUSTED for tonic's message-too-large refusal, if `status` is that one.
///
/// Known by its code alone, not by tonic's wording, which may change: the service answers
/// OUT_OF_RANGE for nothing (an argument out of range is INVALID_ARGUMENT, naming the field),
/// so the only OUT_OF_RANGE a response carries is tonic's codec refusing a message's size.
pub(crate) fn message_too_large(status: &tonic::Status) -> Option<tonic::Status> {
    (status.code() == tonic::Code::OutOfRange)
        .then(|| tonic::Status::resource_exhausted(format!("message size: {}", status.message())))
}
