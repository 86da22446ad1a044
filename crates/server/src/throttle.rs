//! Log lines a flood cannot multiply. The server tells an administrator why it refuses what it
//! refuses (a connection over a limit, a wrong token, a policy rule), but a peer that sends the
//! same bad request a million times must not write a million lines: each kind of event is
//! logged at most once per interval, with how many there were since the last line.

use crate::lock;
use smbus_proxy_wire::encode;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;
use tracing::warn;

/// Counts events of one kind and says when one is worth a log line: the first, then one per
/// interval, with the count since the last line. Its clock is tokio's, as the leases' is, so
/// a test on a paused clock decides when an interval has passed.
pub(crate) struct Throttled {
    every: Duration,
    count: u64,
    logged: Option<Instant>,
}

impl Throttled {
    pub(crate) const fn new(every: Duration) -> Throttled {
        Throttled { every, count: 0, logged: None }
    }

    /// Counts one event; `Some(events since the last line)` if this one should be logged.
    pub(crate) fn due(&mut self) -> Option<u64> {
        self.count += 1;
        if self.logged.is_some_and(|at| at.elapsed() < self.every) {
            return None;
        }
        self.logged = Some(Instant::now());
        Some(std::mem::take(&mut self.count))
    }
}

/// What a refused call broke.
#[derive(Clone, Copy)]
pub(crate) enum Refusal {
    /// No or a wrong token, no client certificate.
    Auth,
    /// The access policy.
    Policy,
    /// A limit on sessions, operations, message or reply size, or a timeout.
    Limit,
}

/// The refusals an administrator wants to see in the log: at warn, each kind at most once a
/// second, with the peer, the session and the rule.
pub(crate) struct Refusals {
    auth: Mutex<Throttled>,
    policy: Mutex<Throttled>,
    limit: Mutex<Throttled>,
}

impl Default for Refusals {
    fn default() -> Self {
        const EVERY: Duration = Duration::from_secs(1);
        Refusals {
            auth: Mutex::new(Throttled::new(EVERY)),
            policy: Mutex::new(Throttled::new(EVERY)),
            limit: Mutex::new(Throttled::new(EVERY)),
        }
    }
}

impl Refusals {
    /// Logs `status`, the answer to a call from `peer` naming `session`, unless its kind was
    /// logged less than a second ago.
    pub(crate) fn log(
        &self,
        kind: Refusal,
        peer: Option<SocketAddr>,
        session: Option<u128>,
        status: &tonic::Status,
    ) {
        let throttle = match kind {
            Refusal::Auth => &self.auth,
            Refusal::Policy => &self.policy,
            Refusal::Limit => &self.limit,
        };
        let Some(refused) = lock(throttle).due() else { return };
        let peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
        let code = status.code();
        match session {
            Some(id) => {
                warn!(%peer, session = %encode::session_id(id), refused, "refused ({code:?}): {}", status.message())
            }
            None => warn!(%peer, refused, "refused ({code:?}): {}", status.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood makes one line per interval, each with the events since the last; on a paused
    /// clock, so the interval is exact and the test takes no time.
    #[tokio::test(start_paused = true)]
    async fn one_line_an_interval_with_the_count_since_the_last() {
        let mut refusals = Throttled::new(Duration::from_secs(1));
        assert_eq!(refusals.due(), Some(1), "the first is logged at once");
        for _ in 0..19 {
            assert_eq!(refusals.due(), None);
        }
        tokio::time::advance(Duration::from_millis(999)).await;
        assert_eq!(refusals.due(), None, "a millisecond early");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(refusals.due(), Some(21), "the 19 unlogged, the one a millisecond early, and this");
        assert_eq!(refusals.due(), None);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(refusals.due(), Some(2));
    }
}
