//! The watch: every operation on the server's buses, for whoever watches (`Smbus/Watch`).
//!
//! Executors publish each operation as it completes, but only while someone watches: with
//! nobody watching, an operation costs one atomic load here. Events go into a bounded
//! broadcast ring; a watcher that falls behind is not waited for, it loses the oldest events
//! and is told how many, so a slow or stalled watcher never slows a bus.

use crate::session::SessionId;
use smbus_proxy_wire::{Errno, Op, Reply, encode, pb};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::broadcast;

/// Events kept for watchers that fall behind; past it the oldest are lost.
const RING: usize = 4096;

/// One operation as it ran.
#[derive(Debug)]
pub struct Event {
    pub bus: u32,
    pub ended: SystemTime,
    pub took: Duration,
    pub session: SessionId,
    pub peer: Option<SocketAddr>,
    pub op: Op,
    /// What went on the wire instead, if that differs.
    pub ran_as: Option<Op>,
    pub result: Result<Reply, Errno>,
}

impl Event {
    /// The event as the wire carries it.
    pub fn encode(&self) -> pb::OpEvent {
        let result = match &self.result {
            Ok(reply) => encode::reply(reply.clone()),
            Err(errno) => encode::failed(0, &(*errno).into()),
        };
        pb::OpEvent {
            bus: self.bus,
            time_micros: self.ended.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros()
                as u64,
            micros: self.took.as_micros() as u64,
            // Only what `Status` shows: the whole id would let a watcher use the session.
            session: encode::session_tag(self.session),
            peer: self.peer.map(|p| p.to_string()).unwrap_or_default(),
            op: Some(encode::op(&self.op)),
            ran_as: self.ran_as.as_ref().map(encode::op),
            result: Some(result),
        }
    }
}

/// The server's watch: where executors publish, and watchers subscribe.
pub struct Watch {
    events: broadcast::Sender<Arc<Event>>,
    watchers: AtomicUsize,
}

impl Default for Watch {
    fn default() -> Self {
        Watch { events: broadcast::channel(RING).0, watchers: AtomicUsize::new(0) }
    }
}

impl Watch {
    /// Whether anyone watches: the only cost of the watch on the hot path.
    pub fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Publishes an event; it never waits.
    pub fn publish(&self, event: Event) {
        let _ = self.events.send(Arc::new(event));
    }

    /// A watcher's events, and its place among the watchers, which it keeps until dropped.
    pub fn subscribe(self: &Arc<Self>) -> (broadcast::Receiver<Arc<Event>>, Watching) {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        (self.events.subscribe(), Watching(self.clone()))
    }
}

/// One watcher, counted while it exists.
pub struct Watching(Arc<Watch>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}
