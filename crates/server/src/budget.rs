//! What peers can make the server hold, in bytes: the requests it has taken in and not yet
//! answered, and the replies it has built and not yet handed to the kernel, counted per client
//! host and in all, each against a bound.
//!
//! A reply is counted from the moment its transaction is admitted (its bound, before it runs)
//! until the last of its bytes has left for the socket: HTTP/2 keeps what the client's window
//! does not yet let it send, and a client that stops reading would otherwise make the server
//! keep every reply it asks for. A request message is counted, by the length its gRPC prefix
//! declares, from its first byte until the next message of its call begins or the call ends.
//! Past a bound a transaction, or a request, is refused with RESOURCE_EXHAUSTED before
//! anything is allocated for it; bytes that already exist (a reply being sent) are counted
//! whatever the bound, so that the next request sees them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes held for one client host, or for all of them.
#[derive(Debug)]
pub(crate) struct Budget {
    held: AtomicUsize,
    limit: usize,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget { held: AtomicUsize::new(0), limit })
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Takes `n` bytes if they fit.
    fn take(&self, n: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_add(n).filter(|&after| after <= self.limit)
            })
            .is_ok()
    }
}

/// The budgets a call draws on: its client host's, and the server's.
#[derive(Clone, Debug)]
pub(crate) struct Account {
    host: Arc<Budget>,
    all: Arc<Budget>,
}

/// Which bound a reservation would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    /// The client host's, with its limit.
    Host(usize),
    /// The server's, with its limit.
    All(usize),
}

impl Over {
    /// The refusal a client gets, for `what` (requests or replies) of `n` bytes.
    pub(crate) fn status(self, what: &str, n: usize) -> tonic::Status {
        let bound = match self {
            Over::Host(limit) => {
                format!("{limit} bytes, the limit per client host (--max-buffered-per-peer)")
            }
            Over::All(limit) => format!("{limit} bytes, the server's limit (--max-buffered)"),
        };
        tonic::Status::resource_exhausted(format!(
            "{what}: {n} more bytes would take what the server holds of requests and unread replies past \
             {bound}; read the replies, or try again when calls have ended"
        ))
    }
}

impl Account {
    pub(crate) fn new(host: Arc<Budget>, all: Arc<Budget>) -> Account {
        Account { host, all }
    }

    /// Reserves `n` bytes, if both budgets have them.
    pub(crate) fn reserve(&self, n: usize) -> Result<Held, Over> {
        if !self.host.take(n) {
            return Err(Over::Host(self.host.limit));
        }
        if !self.all.take(n) {
            self.host.held.fetch_sub(n, Ordering::AcqRel);
            return Err(Over::All(self.all.limit));
        }
        Ok(Held { account: self.clone(), n })
    }

    /// Counts `n` bytes that exist already, whatever the bounds.
    pub(crate) fn count(&self, n: usize) -> Held {
        self.host.held.fetch_add(n, Ordering::AcqRel);
        self.all.held.fetch_add(n, Ordering::AcqRel);
        Held { account: self.clone(), n }
    }
}

/// Bytes counted in an [`Account`] for as long as this lives.
#[derive(Debug)]
pub(crate) struct Held {
    account: Account,
    n: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.account.host.held.fetch_sub(self.n, Ordering::AcqRel);
        self.account.all.held.fetch_sub(self.n, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_both_bounds_and_are_given_back() {
        let all = Budget::new(100);
        let (a, b) = (Account::new(Budget::new(60), all.clone()), Account::new(Budget::new(60), all.clone()));
        let first = a.reserve(50).unwrap();
        assert_eq!(a.reserve(20).unwrap_err(), Over::Host(60));
        let second = b.reserve(50).unwrap();
        assert_eq!(b.reserve(5).unwrap_err(), Over::All(100));
        assert_eq!(all.held(), 100, "a refused reservation takes nothing");
        drop(first);
        let counted = a.count(70);
        assert_eq!((a.host.held(), all.held()), (70, 120), "what exists is counted past the bound");
        assert!(a.reserve(1).is_err());
        drop((second, counted));
        assert_eq!(all.held(), 0);
    }
}
