//! The order in which a bus serves the transactions waiting for it: a fair share between client
//! hosts, and between the sessions of one host.
//!
//! One at a time is the bus's rule; first come, first served was its order, so a client with
//! many transactions in flight (eight `Execute`s of a 1 s wait each, or the 1,024 calls a host
//! may have in flight) made everyone else wait for all of them. Here service goes in rounds:
//! in each, every host with work waiting runs one transaction, in the order the hosts came,
//! and within a host its sessions take turns the same way; a session's own transactions run in
//! the order they came. A host that has had its turn in a round waits for the next, so one that
//! arrives meanwhile goes first. Another client therefore waits for the transaction on the bus
//! and at most one of each other host with work waiting, each bounded by the server's limits
//! (`--max-bus-wait-ms`), however many those hosts have queued.
//!
//! Behind an SSH tunnel every client comes from loopback, so there each connection counts as a
//! host of its own, as for the per-host session limit ([`crate::session::client_host`]).

use crate::session::SessionId;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Who waits: the client host (see [`crate::session::client_host`]) and its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Who {
    pub host: Option<SocketAddr>,
    pub session: SessionId,
}

/// Names an item in the queue, to take it out again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

/// Items waiting their turn, served host by host and session by session, round by round.
pub(crate) struct Fair<T> {
    hosts: Rounds<Option<SocketAddr>>,
    /// The turns of each waiting host's sessions.
    sessions: HashMap<Option<SocketAddr>, Rounds<SessionId>>,
    /// Each waiting session's items, in the order they came.
    items: HashMap<SessionId, VecDeque<(Ticket, T)>>,
    next_ticket: u64,
}

impl<T> Default for Fair<T> {
    fn default() -> Self {
        Fair { hosts: Rounds::default(), sessions: HashMap::new(), items: HashMap::new(), next_ticket: 0 }
    }
}

impl<T> Fair<T> {
    /// Notes that `who` took the bus at once, with nothing waiting: a new round begins, in
    /// which its host has had its turn.
    pub(crate) fn took(&mut self, who: Who) {
        debug_assert!(self.items.is_empty(), "a turn is taken at once only when no one waits");
        self.hosts.took(who.host);
    }

    /// Queues `item` for `who`, behind that session's earlier items.
    pub(crate) fn push(&mut self, who: Who, item: T) -> Ticket {
        let ticket = Ticket(self.next_ticket);
        self.next_ticket += 1;
        self.items.entry(who.session).or_default().push_back((ticket, item));
        self.sessions.entry(who.host).or_default().join(who.session);
        self.hosts.join(who.host);
        ticket
    }

    /// The next item to serve: the first of the next session of the next host.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let host = self.hosts.next()?;
        let sessions = self.sessions.get_mut(&host).expect("a waiting host has its sessions' turns");
        let session = sessions.next().expect("a waiting host has a waiting session");
        let items = self.items.get_mut(&session).expect("a waiting session has items");
        let (_, item) = items.pop_front().expect("a waiting session has items");
        if items.is_empty() {
            self.items.remove(&session);
            self.left(host, session, true);
        }
        Some(item)
    }

    /// Takes `who`'s item with `ticket` out of line, if it is still waiting.
    pub(crate) fn remove(&mut self, who: Who, ticket: Ticket) -> Option<T> {
        let items = self.items.get_mut(&who.session)?;
        let (_, item) = items.remove(items.iter().position(|(t, _)| *t == ticket)?)?;
        if items.is_empty() {
            self.items.remove(&who.session);
            self.left(who.host, who.session, false);
        }
        Some(item)
    }

    /// `session` of `host` has nothing left waiting, after a turn if `served`.
    fn left(&mut self, host: Option<SocketAddr>, session: SessionId, served: bool) {
        let sessions = self.sessions.get_mut(&host).expect("a waiting host has its sessions' turns");
        sessions.leave(session, served);
        if sessions.is_idle() {
            self.sessions.remove(&host);
            self.hosts.leave(host, served);
        }
    }
}

/// Which key's turn it is, among keys with work waiting: round by round, each key once a
/// round, in the order the keys came.
struct Rounds<K> {
    /// Keys with work waiting, in the order they came, each with the round of its next turn.
    waiting: Vec<(K, u64)>,
    /// The round of the last turn given.
    round: u64,
    /// Keys that have had their turn in `round` and have nothing waiting: if work comes back,
    /// it waits for the next round.
    served: Vec<K>,
}

impl<K> Default for Rounds<K> {
    fn default() -> Self {
        Rounds { waiting: Vec::new(), round: 0, served: Vec::new() }
    }
}

impl<K: Copy + PartialEq> Rounds<K> {
    /// Whether no key waits.
    fn is_idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// `key` has work waiting.
    fn join(&mut self, key: K) {
        if self.waiting.iter().any(|(k, _)| *k == key) {
            return;
        }
        let round = if self.served.contains(&key) { self.round + 1 } else { self.round };
        self.waiting.push((key, round));
    }

    /// `key` took a turn with no one waiting: a new round, which it has had.
    fn took(&mut self, key: K) {
        self.round += 1;
        self.served.clear();
        self.served.push(key);
    }

    /// The key whose turn it is; it keeps waiting, for the next round, until it leaves.
    fn next(&mut self) -> Option<K> {
        let (i, _) = self.waiting.iter().enumerate().min_by_key(|(_, (_, round))| *round)?;
        let (key, round) = &mut self.waiting[i];
        if *round > self.round {
            self.round = *round;
            self.served.clear();
        }
        *round += 1;
        Some(*key)
    }

    /// `key` has nothing waiting any more, after its turn in this round if `served`.
    fn leave(&mut self, key: K, served: bool) {
        self.waiting.retain(|(k, _)| *k != key);
        if served {
            self.served.push(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(host: u8, session: SessionId) -> Who {
        Who { host: Some(SocketAddr::from(([10, 0, 0, host], 0))), session }
    }

    fn drain(fair: &mut Fair<String>) -> Vec<String> {
        std::iter::from_fn(|| fair.pop()).collect()
    }

    #[test]
    fn hosts_then_sessions_take_turns_and_a_session_keeps_its_order() {
        let mut fair = Fair::default();
        // Host 1 queues eight from one session and two from another before host 2 comes.
        for i in 0..8 {
            fair.push(who(1, 10), format!("1/10/{i}"));
        }
        fair.push(who(1, 11), "1/11/0".to_owned());
        fair.push(who(1, 11), "1/11/1".to_owned());
        fair.push(who(2, 20), "2/20/0".to_owned());
        assert_eq!(
            drain(&mut fair),
            [
                "1/10/0", "2/20/0", "1/11/0", "1/10/1", "1/11/1", "1/10/2", "1/10/3", "1/10/4", "1/10/5",
                "1/10/6", "1/10/7"
            ]
        );
        assert!(fair.items.is_empty() && fair.sessions.is_empty() && fair.hosts.is_idle());
    }

    /// A host that took the bus at once and queued more behind it waits for the next round, so
    /// another host arriving meanwhile is next.
    #[test]
    fn a_host_that_had_its_turn_waits_for_the_next_round() {
        let mut fair = Fair::default();
        fair.took(who(1, 10));
        for i in 0..3 {
            fair.push(who(1, 10), format!("1/{i}"));
        }
        fair.push(who(2, 20), "2/0".to_owned());
        assert_eq!(fair.pop().unwrap(), "2/0");
        // Host 2 comes back after its turn: host 1 goes first in the new round.
        fair.push(who(2, 20), "2/1".to_owned());
        assert_eq!(drain(&mut fair), ["1/0", "2/1", "1/1", "1/2"]);
    }

    #[test]
    fn a_removed_item_leaves_no_trace() {
        let mut fair = Fair::default();
        let gone = fair.push(who(1, 10), 1.to_string());
        fair.push(who(2, 20), 2.to_string());
        let also_gone = fair.push(who(2, 21), 3.to_string());
        assert_eq!(fair.remove(who(1, 10), gone).as_deref(), Some("1"));
        assert_eq!(fair.remove(who(1, 10), gone), None);
        assert_eq!(fair.remove(who(2, 21), also_gone).as_deref(), Some("3"));
        assert_eq!(drain(&mut fair), ["2"]);
        assert!(fair.items.is_empty() && fair.sessions.is_empty() && fair.hosts.is_idle());
    }
}
