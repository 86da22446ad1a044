//! Sessions and their leases.
//!
//! A session is a client's claim on one bus. It lives while it shows signs of life: every call
//! that names it renews its lease. A session whose lease ran out is dead at once, even before
//! the reaper removes it, so a vanished client's lock never outlives its lease by more than the
//! time it takes to notice.

use crate::bus::Bus;
use crate::limits::Limits;
use crate::lock;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub type SessionId = u128;

/// Adapter settings a session asked for; `None` leaves the adapter's as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pub timeout_ms: Option<u32>,
    pub retries: Option<u32>,
}

pub struct Session {
    pub id: SessionId,
    pub bus: Arc<Bus>,
    pub peer: Option<SocketAddr>,
    pub params: Params,
    lease_us: u64,
    /// Microseconds since [`epoch`] of the last sign of life; atomic so that renewing a lease
    /// on the hot path takes no lock.
    last_seen: AtomicU64,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    epoch().elapsed().as_micros() as u64
}

impl Session {
    pub fn touch(&self) {
        self.last_seen.store(now_us(), Ordering::Relaxed);
    }

    /// How long the session lives without another sign of life; zero once it is dead.
    pub fn remaining(&self) -> Duration {
        let idle = now_us().saturating_sub(self.last_seen.load(Ordering::Relaxed));
        Duration::from_micros(self.lease_us.saturating_sub(idle))
    }

    pub fn alive(&self) -> bool {
        !self.remaining().is_zero()
    }
}

/// Which limit an open would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitHit {
    Sessions(usize),
    SessionsPerPeer(usize),
}

/// Every open session, by id.
pub struct Sessions {
    map: Mutex<HashMap<SessionId, Arc<Session>>>,
    pub lease: Duration,
    limits: Limits,
}

impl Sessions {
    pub fn new(lease: Duration, limits: Limits) -> Self {
        Sessions { map: Mutex::new(HashMap::new()), lease, limits }
    }

    pub fn open(
        &self,
        bus: Arc<Bus>,
        peer: Option<SocketAddr>,
        params: Params,
    ) -> Result<Arc<Session>, LimitHit> {
        let mut map = lock(&self.map);
        // Dead sessions the reaper has not removed yet do not count.
        let live = map.values().filter(|s| s.alive());
        let (mut all, mut from_peer) = (0, 0);
        for s in live {
            all += 1;
            if peer.is_some() && s.peer.map(|p| p.ip()) == peer.map(|p| p.ip()) {
                from_peer += 1;
            }
        }
        if all >= self.limits.sessions {
            return Err(LimitHit::Sessions(self.limits.sessions));
        }
        if from_peer >= self.limits.sessions_per_peer {
            return Err(LimitHit::SessionsPerPeer(self.limits.sessions_per_peer));
        }
        let session = Arc::new(Session {
            id: new_id(),
            bus,
            peer,
            params,
            lease_us: self.lease.as_micros() as u64,
            last_seen: AtomicU64::new(now_us()),
        });
        map.insert(session.id, session.clone());
        Ok(session)
    }

    /// The live session with this id, its lease renewed.
    pub fn get(&self, id: SessionId) -> Option<Arc<Session>> {
        let session = lock(&self.map).get(&id).cloned()?;
        if !session.alive() {
            // Leave the removal and its log line to the reaper; the session is dead either way.
            return None;
        }
        session.touch();
        Some(session)
    }

    /// Ends a session and frees what it held.
    pub fn close(&self, id: SessionId) -> Option<Arc<Session>> {
        let session = lock(&self.map).remove(&id)?;
        session.bus.release(id);
        Some(session)
    }

    /// Removes the sessions whose lease ran out, freeing what they held, and returns them.
    pub fn reap(&self) -> Vec<Arc<Session>> {
        let expired: Vec<_> = {
            let mut map = lock(&self.map);
            let dead: Vec<SessionId> = map.values().filter(|s| !s.alive()).map(|s| s.id).collect();
            dead.iter().filter_map(|id| map.remove(id)).collect()
        };
        for s in &expired {
            s.bus.release(s.id);
        }
        expired
    }

    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// 128 random bits: a session id is the only proof of owning a session, so it must not be
/// guessable.
fn new_id() -> SessionId {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    u128::from_le_bytes(bytes)
}
