//! Sessions and their leases.
//!
//! A session is a client's claim on one bus. It lives while it shows signs of life: every call
//! that names it renews its lease, and a call in progress (a `Lock` waiting its turn, a long
//! transaction) is one for as long as it lasts, so a client that waits is never expired under
//! its own wait. A call whose client vanished is dropped when its connection closes (or its
//! keep-alive pings go unanswered), and from then the lease runs. A session whose lease ran out
//! is dead at once, even before the reaper removes it, so a vanished client's lock never
//! outlives its lease by more than the time it takes to notice; and a session once dead or
//! closed stays so.

use crate::bus::Bus;
use crate::limits::Exceeded;
use crate::limits::Limits;
use crate::lines::Held;
use crate::lock;
use crate::record::{Record, Resumable};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
// Tokio's clock, which is the system's except in tests that pause it: lease tests then run
// exactly and at once. A bus on a thread of its own would read the system's, so such tests
// keep to buses that run inline (the simulator at full speed).
use tokio::time::Instant;

pub type SessionId = u128;

/// Adapter settings a session asked for; `None` leaves the adapter's as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pub timeout_ms: Option<u32>,
    pub retries: Option<u32>,
}

/// Who opened a session, and so who may use it: the client's address and, over mutual TLS, its
/// certificate. A session id is a bearer credential; this makes one seen by someone else (in a
/// log, over a shoulder) useless to them. Every client behind an SSH tunnel comes from
/// loopback, so there only the certificate tells them apart.
#[derive(Clone, Debug, Default)]
pub struct Owner {
    peer: Option<SocketAddr>,
    cert: Option<tonic::transport::CertificateDer<'static>>,
}

impl Owner {
    /// The client making `req`.
    pub fn of<T>(req: &tonic::Request<T>) -> Owner {
        let cert = crate::conn::peer_certs(req).and_then(|certs| certs.first().cloned());
        Owner { peer: req.remote_addr(), cert }
    }

    /// The client's address and port, for the log.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether `other` is the same client: the same address (any port: a client reconnects)
    /// and the same certificate, if any.
    fn is(&self, other: &Owner) -> bool {
        let ip = |o: &Owner| o.peer.map(|p| p.ip());
        ip(self) == ip(other) && self.cert == other.cert
    }
}

pub struct Session {
    pub id: SessionId,
    pub bus: Arc<Bus>,
    /// Who may use it; a resume moves it to the client's new address.
    owner: Mutex<Owner>,
    pub params: Params,
    /// How long it lives without a sign of life: the lease, or its resume window if longer.
    lease_us: u64,
    /// With a resume window: its key and the record of its numbered transactions.
    pub resumable: Option<Resumable>,
    /// When the server's sessions began: `last_seen` counts from it.
    epoch: Instant,
    /// Microseconds since `epoch` of the last sign of life; atomic so that renewing a lease on
    /// the hot path takes no lock.
    last_seen: AtomicU64,
    /// Calls naming this session that are in progress.
    calls: AtomicU32,
    /// Set once the session is closed or reaped: nothing revives it.
    ended: AtomicBool,
    /// For `Status`: microseconds since `epoch` when it opened, took the bus's lock and began
    /// to wait for it (0: not holding, not waiting), and its operations and failures.
    opened: u64,
    locked_at: AtomicU64,
    waiting_since: AtomicU64,
    operations: AtomicU64,
    errors: AtomicU64,
    /// The GPIO lines it holds, by name; dropping one gives it back.
    lines: Mutex<BTreeMap<String, Arc<Held>>>,
    /// Woken by an edge on any of its lines, for its `LineEvents` stream.
    pub line_events: Arc<tokio::sync::Notify>,
}

/// What `Status` shows of a session.
#[derive(Clone, Debug)]
pub struct Activity {
    pub age: Duration,
    pub idle: Duration,
    pub lock_held: Option<Duration>,
    pub lock_wait: Option<Duration>,
    pub operations: u64,
    pub errors: u64,
}

/// Microseconds from `epoch` to now.
fn us_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

impl Session {
    /// The client's address and port, as of its last connection.
    pub fn peer(&self) -> Option<SocketAddr> {
        lock(&self.owner).peer
    }

    fn touch(&self) {
        self.last_seen.store(us_since(self.epoch), Ordering::Relaxed);
    }

    /// How long the session lives without another sign of life; zero once it is dead. A call
    /// in progress keeps the whole lease ahead.
    pub fn remaining(&self) -> Duration {
        if self.ended.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        // Acquire, paired with the Release of a call's end: seeing the call over means seeing
        // the touch it made.
        if self.calls.load(Ordering::Acquire) > 0 {
            return Duration::from_micros(self.lease_us);
        }
        Duration::from_micros(self.lease_us.saturating_sub(self.idle_us()))
    }

    fn idle_us(&self) -> u64 {
        us_since(self.epoch).saturating_sub(self.last_seen.load(Ordering::Relaxed))
    }

    /// Counts a transaction's operations that ran, and those of them that failed.
    pub fn count(&self, operations: usize, errors: usize) {
        self.operations.fetch_add(operations as u64, Ordering::Relaxed);
        self.errors.fetch_add(errors as u64, Ordering::Relaxed);
    }

    /// Notes that the session waits for the bus's lock, until the guard is dropped.
    pub fn waiting(&self) -> impl Drop + '_ {
        struct Waiting<'a>(&'a Session);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.waiting_since.store(0, Ordering::Relaxed);
            }
        }
        self.waiting_since.store(us_since(self.epoch).max(1), Ordering::Relaxed);
        Waiting(self)
    }

    /// Notes that the session took (or let go of) the bus's lock.
    pub fn locked(&self, holds: bool) {
        let at = if holds { us_since(self.epoch).max(1) } else { 0 };
        self.locked_at.store(at, Ordering::Relaxed);
    }

    /// What the session has done, as of now; `holds` says whether the bus names it its holder.
    pub fn activity(&self, holds: bool) -> Activity {
        let now = us_since(self.epoch);
        let since = |at: &AtomicU64| match at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(Duration::from_micros(now.saturating_sub(at))),
        };
        Activity {
            age: Duration::from_micros(now.saturating_sub(self.opened)),
            idle: Duration::from_micros(self.idle_us()),
            lock_held: since(&self.locked_at).filter(|_| holds),
            lock_wait: since(&self.waiting_since),
            operations: self.operations.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }

    /// Marks the session over and frees what it held.
    fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        self.bus.release(self.id);
        self.drop_lines();
    }

    /// The line of this name it holds.
    pub fn line(&self, name: &str) -> Option<Arc<Held>> {
        lock(&self.lines).get(name).cloned()
    }

    /// Every line it holds.
    pub fn lines(&self) -> Vec<Arc<Held>> {
        lock(&self.lines).values().cloned().collect()
    }

    pub fn give_line(&self, name: String, held: Arc<Held>) {
        lock(&self.lines).insert(name, held);
    }

    /// Takes back the line of this name, which is given back to its chip once no step uses it.
    pub fn take_line(&self, name: &str) -> Option<Arc<Held>> {
        lock(&self.lines).remove(name)
    }

    /// Gives back every line.
    pub fn drop_lines(&self) {
        let lines = std::mem::take(&mut *lock(&self.lines));
        drop(lines);
    }

    pub fn alive(&self) -> bool {
        !self.remaining().is_zero()
    }
}

/// A call in progress on a session: the session is alive while it lasts, and its lease starts
/// again when it ends, answered or dropped.
pub struct Call(Arc<Session>);

impl Call {
    pub fn session(&self) -> &Arc<Session> {
        &self.0
    }
}

impl std::ops::Deref for Call {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.0
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Touch first, so there is no moment with neither the call nor a fresh lease.
        self.0.touch();
        self.0.calls.fetch_sub(1, Ordering::Release);
    }
}

/// Why a call found no session to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Miss {
    /// No live session has the id.
    Unknown,
    /// The session exists, but another client opened it (or, resuming it, has not its key).
    NotOwner,
    /// A resume of a session opened without a resume window.
    NotResumable,
}

/// Every open session, by id.
pub struct Sessions {
    map: Mutex<HashMap<SessionId, Arc<Session>>>,
    /// Per server, not per process: servers on different clocks (a test's paused one, the
    /// system's) can share a process.
    epoch: Instant,
    pub lease: Duration,
    limits: Limits,
}

impl Sessions {
    pub fn new(lease: Duration, limits: Limits) -> Self {
        Sessions { map: Mutex::new(HashMap::new()), epoch: Instant::now(), lease, limits }
    }

    pub fn open(
        &self,
        bus: Arc<Bus>,
        owner: Owner,
        params: Params,
        resume_window: Duration,
    ) -> Result<Arc<Session>, Exceeded> {
        let peer = owner.peer;
        let mut map = lock(&self.map);
        // Dead sessions the reaper has not removed yet do not count.
        let live = map.values().filter(|s| s.alive());
        let (mut all, mut from_peer) = (0, 0);
        for s in live {
            all += 1;
            if let (Some(a), Some(b)) = (peer, s.peer())
                && same_client_host(a, b)
            {
                from_peer += 1;
            }
        }
        if all >= self.limits.sessions {
            return Err(Exceeded::All(self.limits.sessions));
        }
        if from_peer >= self.limits.sessions_per_peer {
            return Err(Exceeded::PerPeer(self.limits.sessions_per_peer));
        }
        let resumable = (!resume_window.is_zero()).then(|| {
            let mut key = [0u8; 16];
            getrandom::fill(&mut key).expect("the operating system's random source failed");
            Resumable { window: resume_window, key, record: Mutex::new(Record::default()) }
        });
        let session = Arc::new(Session {
            id: new_id(),
            bus,
            owner: Mutex::new(owner),
            params,
            lease_us: self.lease.max(resume_window).as_micros() as u64,
            resumable,
            epoch: self.epoch,
            last_seen: AtomicU64::new(us_since(self.epoch)),
            calls: AtomicU32::new(0),
            ended: AtomicBool::new(false),
            opened: us_since(self.epoch),
            locked_at: AtomicU64::new(0),
            waiting_since: AtomicU64::new(0),
            operations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            lines: Mutex::default(),
            line_events: Arc::default(),
        });
        map.insert(session.id, session.clone());
        Ok(session)
    }

    /// A call by `owner` on the live session with this id, which keeps it alive until the call
    /// ends.
    pub fn call(&self, id: SessionId, owner: &Owner) -> Result<Call, Miss> {
        let session = lock(&self.map).get(&id).cloned().ok_or(Miss::Unknown)?;
        if !lock(&session.owner).is(owner) {
            return Err(Miss::NotOwner);
        }
        Self::enter(session)
    }

    /// A resume of the session with this id by `owner`, who holds `key`: the same client
    /// certificate (if any) as it was opened with, from any address, which owns it from now
    /// on. A call, as [`Sessions::call`].
    pub fn resume(&self, id: SessionId, key: &[u8], owner: &Owner) -> Result<Call, Miss> {
        let session = lock(&self.map).get(&id).cloned().ok_or(Miss::Unknown)?;
        let Some(resumable) = &session.resumable else { return Err(Miss::NotResumable) };
        if !resumable.key_is(key) {
            return Err(Miss::NotOwner);
        }
        {
            let mut current = lock(&session.owner);
            if current.cert != owner.cert {
                return Err(Miss::NotOwner);
            }
            current.peer = owner.peer;
        }
        Self::enter(session)
    }

    fn enter(session: Arc<Session>) -> Result<Call, Miss> {
        // Counted before the check, so the reaper either sees the call or agrees the session
        // is dead: a session that expired is not revived by a late call.
        let others = session.calls.fetch_add(1, Ordering::AcqRel);
        if session.ended.load(Ordering::Relaxed) || (others == 0 && session.idle_us() >= session.lease_us) {
            session.calls.fetch_sub(1, Ordering::Relaxed);
            // Leave the removal and its log line to the reaper; the session is dead either way.
            return Err(Miss::Unknown);
        }
        Ok(Call(session))
    }

    /// Ends a session and frees what it held.
    pub fn close(&self, id: SessionId) -> Option<Arc<Session>> {
        let session = lock(&self.map).remove(&id)?;
        session.end();
        Some(session)
    }

    /// The live sessions, oldest first.
    pub fn live(&self) -> Vec<Arc<Session>> {
        let mut live: Vec<_> = lock(&self.map).values().filter(|s| s.alive()).cloned().collect();
        live.sort_by_key(|s| s.opened);
        live
    }

    /// Removes the sessions whose lease ran out, freeing what they held, and returns them.
    pub fn reap(&self) -> Vec<Arc<Session>> {
        let expired: Vec<_> = {
            let mut map = lock(&self.map);
            let dead: Vec<SessionId> = map.values().filter(|s| !s.alive()).map(|s| s.id).collect();
            dead.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in &expired {
            s.end();
        }
        expired
    }
}

/// The client host a connection counts as, for the per-host session limit and a bus's fair
/// share: its address, except on loopback, where an SSH tunnel brings every remote client:
/// there each connection is a host of its own, so one burst through the tunnel cannot lock
/// out the rest.
pub(crate) fn client_host(peer: Option<SocketAddr>) -> Option<SocketAddr> {
    peer.map(|p| if p.ip().is_loopback() { p } else { SocketAddr::new(p.ip(), 0) })
}

/// Whether two connections count as one client host ([`client_host`]).
pub(crate) fn same_client_host(a: SocketAddr, b: SocketAddr) -> bool {
    client_host(Some(a)) == client_host(Some(b))
}

/// 128 random bits: a session id is the only proof of owning a session, so it must not be
/// guessable.
pub(crate) fn new_id() -> SessionId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    u128::from_le_bytes(bytes)
}
