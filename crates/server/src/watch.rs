//! The watch: every operation on the server's buses, for whoever watches (`Smbus/Watch`).
//!
//! Executors publish each operation as it completes, but only while someone watches: with
//! nobody watching, an operation costs one atomic load here. Events go into a ring bounded in
//! events and in bytes; a watcher that falls behind is not waited for, it loses the oldest
//! events and is told how many, so a slow or stalled watcher never slows a bus, and the ring
//! holds the same few megabytes however many watchers stall. Each event owns its bytes (a
//! slice of the request it came in would keep the whole request's buffer alive), and the ring
//! is emptied when the last watcher leaves. Watchers are limited in all and per client host.

use crate::lock;
use crate::session::SessionId;
use smbus_proxy_wire::{Command, Dir, Errno, Op, Reply, encode, pb};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;

/// Events kept for watchers that fall behind: the newest this many, and no more than
/// [`RING_BYTES`] of them; past either, the oldest are lost.
const RING_EVENTS: usize = 4096;
const RING_BYTES: usize = 4 << 20;

/// One operation as it ran, as the server keeps it for its watchers: compact (the peer as an
/// address, the whole session id), and private, since the whole id would let a watcher use the
/// session. It reaches them as the wire's `OpEvent` (`encode`), which clients decode into
/// `smbus_proxy_wire::event::OpEvent`, the one model of an event.
#[derive(Debug)]
pub struct Record {
    /// The bus's count of operations, this one included.
    pub number: u64,
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

impl Record {
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
            number: self.number,
        }
    }

    /// The event with bytes of its own: the operation's data may be a slice of the request it
    /// came in, whose whole buffer it would keep.
    fn owned(mut self) -> Record {
        fn own(op: &mut Op) {
            let copy = |data: &mut bytes::Bytes| *data = bytes::Bytes::copy_from_slice(data);
            match op {
                Op::Transfer(msgs) => {
                    for msg in msgs {
                        if let Dir::Write(data) = &mut msg.dir {
                            copy(data);
                        }
                    }
                }
                Op::Smbus { command, .. } => match command {
                    Command::WriteBlockData { data, .. }
                    | Command::BlockProcessCall { data, .. }
                    | Command::WriteI2cBlockData { data, .. } => copy(data),
                    _ => {}
                },
            }
        }
        own(&mut self.op);
        if let Some(op) = &mut self.ran_as {
            own(op);
        }
        self
    }

    /// About how many bytes the event holds: what the ring counts.
    fn size(&self) -> usize {
        let op = |op: &Op| match op {
            Op::Transfer(msgs) => msgs
                .iter()
                .map(|m| {
                    std::mem::size_of_val(m)
                        + match &m.dir {
                            Dir::Write(data) => data.len(),
                            Dir::Read(_) => 0,
                        }
                })
                .sum(),
            // An SMBus block is at most 32 bytes.
            Op::Smbus { .. } => 32,
        };
        let reply = match &self.result {
            Ok(Reply::Transfer(reads)) => reads.iter().map(|r| std::mem::size_of_val(r) + r.len()).sum(),
            Ok(Reply::Block(data)) => data.len(),
            _ => 0,
        };
        std::mem::size_of::<Record>() + op(&self.op) + self.ran_as.as_ref().map_or(0, op) + reply
    }
}

/// What a watcher is given: the next event, or how many it lost by falling behind.
pub enum Item {
    Event(Arc<Record>),
    Lost(u64),
}

/// The newest events, numbered.
#[derive(Default)]
struct Ring {
    events: VecDeque<(Arc<Record>, usize)>,
    /// The number of `events[0]`.
    first: u64,
    bytes: usize,
}

/// The server's watch: where executors publish, and watchers subscribe.
pub struct Watch {
    ring: Mutex<Ring>,
    published: Arc<Notify>,
    watchers: AtomicUsize,
    per_host: Mutex<HashMap<Option<IpAddr>, usize>>,
    limit: usize,
    limit_per_host: usize,
}

/// Which limit on watchers a new one would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    All(usize),
    Host(usize),
}

impl Watch {
    /// A watch for at most `limit` watchers at once, `limit_per_host` from one client host.
    pub fn new(limit: usize, limit_per_host: usize) -> Watch {
        Watch {
            ring: Mutex::default(),
            published: Arc::new(Notify::new()),
            watchers: AtomicUsize::new(0),
            per_host: Mutex::default(),
            limit,
            limit_per_host,
        }
    }

    /// Whether anyone watches: the only cost of the watch on the hot path.
    pub fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Publishes an event; it never waits.
    pub fn publish(&self, event: Record) {
        let event = event.owned();
        let size = event.size();
        {
            let mut ring = lock(&self.ring);
            ring.events.push_back((Arc::new(event), size));
            ring.bytes += size;
            while ring.events.len() > RING_EVENTS || (ring.bytes > RING_BYTES && ring.events.len() > 1) {
                let (_, size) = ring.events.pop_front().expect("not empty");
                ring.bytes -= size;
                ring.first += 1;
            }
        }
        self.published.notify_waiters();
    }

    /// A watcher from `host`: the events published from now on, until it is dropped.
    pub fn subscribe(self: &Arc<Self>, host: Option<IpAddr>) -> Result<Subscription, Full> {
        {
            let mut per_host = lock(&self.per_host);
            let all: usize = per_host.values().sum();
            let from_host = per_host.entry(host).or_default();
            if all >= self.limit {
                return Err(Full::All(self.limit));
            }
            if *from_host >= self.limit_per_host {
                return Err(Full::Host(self.limit_per_host));
            }
            *from_host += 1;
            self.watchers.fetch_add(1, Ordering::Relaxed);
        }
        let next = {
            let ring = lock(&self.ring);
            ring.first + ring.events.len() as u64
        };
        let woken = Box::pin(self.published.clone().notified_owned());
        Ok(Subscription { watch: self.clone(), host, next, woken })
    }
}

/// One watcher's events, counted as a watcher while it exists.
pub struct Subscription {
    watch: Arc<Watch>,
    host: Option<IpAddr>,
    /// The number of the next event it is to see.
    next: u64,
    woken: Pin<Box<OwnedNotified>>,
}

impl Subscription {
    fn take(&mut self) -> Option<Item> {
        let ring = lock(&self.watch.ring);
        if self.next < ring.first {
            let lost = ring.first - self.next;
            self.next = ring.first;
            return Some(Item::Lost(lost));
        }
        let (event, _) = ring.events.get((self.next - ring.first) as usize)?;
        self.next += 1;
        Some(Item::Event(event.clone()))
    }
}

impl tokio_stream::Stream for Subscription {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        loop {
            // Registered before looking, so that an event published in between wakes us.
            self.woken.as_mut().enable();
            if let Some(item) = self.take() {
                return Poll::Ready(Some(item));
            }
            if self.woken.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let woken = self.watch.published.clone().notified_owned();
            self.woken.set(woken);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut per_host = lock(&self.watch.per_host);
        if let Some(n) = per_host.get_mut(&self.host) {
            *n -= 1;
            if *n == 0 {
                per_host.remove(&self.host);
            }
        }
        if self.watch.watchers.fetch_sub(1, Ordering::Relaxed) == 1 {
            // Nobody watches: what the ring holds is no one's.
            let mut ring = lock(&self.watch.ring);
            let first = ring.first + ring.events.len() as u64;
            *ring = Ring { first, ..Ring::default() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smbus_proxy_wire::Msg;
    use tokio_stream::StreamExt;

    fn event(data: usize) -> Record {
        Record {
            number: 1,
            bus: 1,
            ended: SystemTime::now(),
            took: Duration::ZERO,
            session: 0,
            peer: None,
            op: Op::Transfer(vec![Msg::write(0x50, vec![0; data])]),
            ran_as: None,
            result: Ok(Reply::Done),
        }
    }

    #[tokio::test]
    async fn the_ring_is_bounded_in_bytes_and_a_laggard_is_told_what_it_lost() {
        let watch = Arc::new(Watch::new(4, 2));
        let mut laggard = watch.subscribe(None).unwrap();
        // 8 KiB events: 4 MiB holds about 500 of them, far fewer than 4096.
        for _ in 0..2000 {
            watch.publish(event(8192));
        }
        let (held, bytes) = {
            let ring = lock(&watch.ring);
            (ring.events.len(), ring.bytes)
        };
        assert!(bytes <= RING_BYTES && held < 520, "{held} events, {bytes} bytes");
        let Some(Item::Lost(lost)) = laggard.next().await else { panic!("not told") };
        assert_eq!(lost as usize + held, 2000);
        assert!(matches!(laggard.next().await, Some(Item::Event(_))));
        drop(laggard);
        assert_eq!(lock(&watch.ring).events.len(), 0, "emptied when the last watcher left");
    }

    #[test]
    fn watchers_are_limited_in_all_and_per_host() {
        let watch = Arc::new(Watch::new(3, 2));
        let host = |n| Some(IpAddr::from([10, 0, 0, n]));
        let (a, _b) = (watch.subscribe(host(1)).unwrap(), watch.subscribe(host(1)).unwrap());
        assert_eq!(watch.subscribe(host(1)).err(), Some(Full::Host(2)));
        let _c = watch.subscribe(host(2)).unwrap();
        assert_eq!(watch.subscribe(host(3)).err(), Some(Full::All(3)));
        drop(a);
        assert!(watch.subscribe(host(3)).is_ok(), "a place freed");
    }

    #[test]
    fn an_event_owns_its_bytes() {
        let request = bytes::Bytes::from(vec![7u8; 1 << 20]);
        let mut e = event(0);
        e.op = Op::Transfer(vec![Msg::write(0x50, request.slice(0..2))]);
        let e = e.owned();
        let Op::Transfer(msgs) = &e.op else { unreachable!() };
        let Dir::Write(data) = &msgs[0].dir else { unreachable!() };
        assert!(!request.as_ptr_range().contains(&data.as_ptr()), "a copy, not a slice of the request");
    }
}
