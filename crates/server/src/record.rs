//! Exactly once: the numbered transactions of a session with a resume window.
//!
//! A client numbers each transaction of such a session (`ExecuteRequest.seq`, from 1) and
//! says up to which number it has the answers (`acked`). The server takes each number once:
//! the first time it arrives it runs (or is refused), and its outcome is kept here until the
//! client acknowledges it; when it arrives again (the client resent what it had no answer for
//! after its connection broke), it is answered from here and not run again. A number taken
//! while a copy of it is still running waits for that run's outcome.
//!
//! Whether a transaction ran is decided in one place, under the slot's lock: the bus claims
//! the slot when it is about to run it, and the call that sent it, if dropped first (its
//! connection broke while it waited for the bus), marks it not run. Whichever comes first
//! wins; a transaction marked not run is run when it arrives again, one claimed is never run
//! twice.
//!
//! The record is bounded by the most transactions a client pipelines and by bytes: a client
//! that stops acknowledging is refused more numbered work, not remembered without end.

use crate::budget::{Account, Held};
use crate::bus::{NotRun, Outcome};
use crate::lock;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tonic::Status;

/// What happened to a numbered transaction.
#[derive(Clone, Debug)]
pub enum Settled {
    /// It reached the bus's turn, and this is what came of it (a lock held by another session
    /// included, which refuses it there).
    Ran(Result<Outcome, NotRun>),
    /// It was refused before the bus: a bad argument, a limit, the policy, a failed fence.
    Refused { code: tonic::Code, message: String },
    /// Its call was dropped before the bus took it: it never ran, and runs if sent again.
    NotRun,
}

#[derive(Debug)]
enum State {
    /// Taken, not yet claimed by the bus.
    Waiting,
    /// The bus is running it.
    Running,
    Settled(Settled),
}

/// One numbered transaction's place in the record.
#[derive(Debug)]
pub struct Slot {
    /// The most bytes it takes, counted against the record's bound.
    bytes: usize,
    /// The same, counted in the server's budgets (per client host, and in all) while kept.
    _held: Option<Held>,
    state: Mutex<State>,
    settled: Notify,
}

impl Slot {
    /// Whether the bus may run the transaction now; false if its call was dropped first.
    pub fn claim(&self) -> bool {
        let mut state = lock(&self.state);
        match *state {
            State::Waiting => {
                *state = State::Running;
                true
            }
            _ => false,
        }
    }

    /// Records what came of it.
    pub fn settle(&self, settled: Settled) {
        *lock(&self.state) = State::Settled(settled);
        self.settled.notify_waiters();
    }

    /// Records what came of it, unless the bus did as it ran it.
    pub fn settle_unless_ran(&self, settled: impl FnOnce() -> Settled) {
        let mut state = lock(&self.state);
        if !matches!(*state, State::Settled(Settled::Ran(_))) {
            *state = State::Settled(settled());
            drop(state);
            self.settled.notify_waiters();
        }
    }

    /// Takes a transaction that never ran (its call was dropped first) to run now; false if
    /// another copy took it first, or it did run.
    pub fn reopen(&self) -> bool {
        let mut state = lock(&self.state);
        match *state {
            State::Settled(Settled::NotRun) => {
                *state = State::Waiting;
                true
            }
            _ => false,
        }
    }

    /// The call that sent it is gone: if the bus has not claimed it, it never runs.
    pub fn abandon(&self) {
        let mut state = lock(&self.state);
        if matches!(*state, State::Waiting) {
            *state = State::Settled(Settled::NotRun);
            drop(state);
            self.settled.notify_waiters();
        }
    }

    /// What came of it, once it is known.
    pub async fn outcome(&self) -> Settled {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let State::Settled(settled) = &*lock(&self.state) {
                return settled.clone();
            }
            notified.await;
        }
    }
}

/// Marks its slot abandoned when the call that runs it is dropped before it settled.
pub struct Taking(pub Arc<Slot>);

impl Drop for Taking {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// What to do with a numbered transaction that arrived.
pub enum Take {
    /// Run it, settling this slot.
    Run(Arc<Slot>),
    /// It was taken before: answer with what came of it (which may be that it never ran).
    Again(Arc<Slot>),
}

/// The numbered transactions of one session that the client has not acknowledged.
#[derive(Debug, Default)]
pub struct Record {
    /// The highest number taken.
    taken: u64,
    /// The client has the answers up to this number.
    acked: u64,
    /// The slots of `acked + 1 ..= taken`, in order.
    slots: VecDeque<Arc<Slot>>,
    /// Their reply bounds, summed.
    bytes: usize,
    /// The session's fences (see `ExecuteRequest.fence`): the highest that failed, across
    /// connections.
    pub highest_failed: u64,
}

/// The most unacknowledged transactions a session keeps: a client pipelines at most
/// `MAX_PIPELINE`, and acknowledges the rest with its next request.
pub const MOST_UNACKED: usize = smbus_proxy_wire::op::MAX_PIPELINE + 1;

impl Record {
    /// Forgets the outcomes the client has up to `acked` (never beyond what was taken).
    pub fn acknowledge(&mut self, acked: u64) {
        let acked = acked.min(self.taken);
        while self.acked < acked {
            if let Some(slot) = self.slots.pop_front() {
                self.bytes -= slot.bytes;
            }
            self.acked += 1;
        }
    }

    /// Takes transaction `seq`, which is counted at `bytes` (`encode::kept_bytes`), within
    /// `most_bytes` kept (one transaction is always kept, whatever its size).
    pub fn take(
        &mut self,
        seq: u64,
        bytes: usize,
        most_bytes: usize,
        account: Option<&Account>,
    ) -> Result<Take, Status> {
        if seq <= self.acked {
            return Err(Status::failed_precondition(format!(
                "seq: {seq} was acknowledged (acked {}); its outcome is no longer kept",
                self.acked
            )));
        }
        if seq <= self.taken {
            let slot = &self.slots[(seq - self.acked - 1) as usize];
            return Ok(Take::Again(slot.clone()));
        }
        if seq != self.taken + 1 {
            return Err(Status::invalid_argument(format!(
                "seq: {seq} skips {}: numbered transactions are sent in order, from 1",
                self.taken + 1
            )));
        }
        if self.slots.len() >= MOST_UNACKED {
            return Err(Status::resource_exhausted(format!(
                "seq: {} transactions are unacknowledged, the most a session keeps; acknowledge \
                 their answers (acked) to send more",
                self.slots.len()
            )));
        }
        if !self.slots.is_empty() && self.bytes + bytes > most_bytes {
            return Err(Status::resource_exhausted(format!(
                "seq: the unacknowledged replies would take {} bytes; this server keeps at most \
                 {most_bytes} per session; acknowledge their answers (acked) to send more",
                self.bytes + bytes
            )));
        }
        let held = account.map(|a| a.reserve(bytes).map_err(|over| over.status("seq", bytes))).transpose()?;
        let slot =
            Arc::new(Slot { bytes, _held: held, state: Mutex::new(State::Waiting), settled: Notify::new() });
        self.taken = seq;
        self.bytes += bytes;
        self.slots.push_back(slot.clone());
        Ok(Take::Run(slot))
    }

    /// The highest number taken.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Transactions kept, and their reply bounds in bytes.
    #[cfg(test)]
    pub fn held(&self) -> (usize, usize) {
        (self.slots.len(), self.bytes)
    }
}

/// A session's resume settings: the window, the key, and its record.
#[derive(Debug)]
pub struct Resumable {
    pub window: std::time::Duration,
    pub key: [u8; 16],
    pub record: Mutex<Record>,
}

impl Resumable {
    /// Whether `key` is the session's, compared in constant time.
    pub fn key_is(&self, key: &[u8]) -> bool {
        key.len() == self.key.len() && key.iter().zip(&self.key).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
    }

    pub fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        lock(&self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1 << 20;

    fn run(take: Result<Take, Status>) -> Arc<Slot> {
        match take.unwrap() {
            Take::Run(slot) => slot,
            Take::Again(_) => panic!("expected a new transaction"),
        }
    }

    #[test]
    fn each_number_is_taken_once_and_kept_until_acknowledged() {
        let mut record = Record::default();
        let one = run(record.take(1, 10, MB, None));
        let two = run(record.take(2, 10, MB, None));
        assert!(matches!(record.take(1, 10, MB, None), Ok(Take::Again(slot)) if Arc::ptr_eq(&slot, &one)));
        assert_eq!(record.take(4, 10, MB, None).err().map(|s| s.code()), Some(tonic::Code::InvalidArgument));
        record.acknowledge(1);
        assert_eq!(record.held(), (1, 10));
        assert_eq!(
            record.take(1, 10, MB, None).err().map(|s| s.code()),
            Some(tonic::Code::FailedPrecondition)
        );
        assert!(matches!(record.take(2, 10, MB, None), Ok(Take::Again(slot)) if Arc::ptr_eq(&slot, &two)));
        // An acknowledgement beyond what was taken is held to it.
        record.acknowledge(99);
        assert_eq!((record.held(), record.taken()), ((0, 0), 2));
        run(record.take(3, 10, MB, None));
    }

    #[test]
    fn the_record_is_bounded_in_transactions_and_bytes() {
        let mut record = Record::default();
        // One transaction is always kept, whatever its size.
        run(record.take(1, 3 * MB, MB, None));
        assert_eq!(record.take(2, 1, MB, None).err().map(|s| s.code()), Some(tonic::Code::ResourceExhausted));
        record.acknowledge(1);
        for seq in 2..=(MOST_UNACKED as u64 + 1) {
            run(record.take(seq, 1, MB, None));
        }
        let over = record.take(MOST_UNACKED as u64 + 2, 1, MB, None).err().unwrap();
        assert_eq!(over.code(), tonic::Code::ResourceExhausted);
        assert!(over.message().contains("257 transactions are unacknowledged"), "{}", over.message());
    }

    #[test]
    fn the_bus_and_a_dropped_call_agree_on_whether_it_ran() {
        let mut record = Record::default();
        let slot = run(record.take(1, 1, MB, None));
        // The call is dropped before the bus took it: it never runs, and runs when sent again.
        drop(Taking(slot.clone()));
        assert!(!slot.claim(), "the bus must not run what was abandoned");
        let Take::Again(again) = record.take(1, 1, MB, None).unwrap() else { panic!() };
        assert!(again.reopen(), "sent again, it is taken to run");
        assert!(!again.reopen(), "by one copy only");
        assert!(again.claim());
        // Claimed by the bus first: a dropped call changes nothing.
        drop(Taking(again.clone()));
        again.settle(Settled::Ran(Ok(Outcome { results: vec![] })));
        assert!(!again.reopen(), "what ran is never run again");
    }

    #[test]
    fn a_slot_costs_what_it_is_counted_at() {
        use smbus_proxy_wire::encode::{KEPT_OVERHEAD, KEPT_PER_STEP};
        // The slot in its Arc; each result of its outcome.
        let arc = 2 * std::mem::size_of::<usize>();
        assert!(std::mem::size_of::<Slot>() + arc <= KEPT_OVERHEAD, "{}", std::mem::size_of::<Slot>());
        let result = std::mem::size_of::<Result<smbus_proxy_wire::Reply, smbus_proxy_wire::Failure>>();
        assert!(result <= KEPT_PER_STEP, "{result}");
    }

    #[test]
    fn keys_compare_whole() {
        let resumable =
            Resumable { window: std::time::Duration::ZERO, key: [7; 16], record: Mutex::default() };
        assert!(resumable.key_is(&[7; 16]));
        assert!(!resumable.key_is(&[7; 15]));
        assert!(!resumable.key_is(&[7; 17]));
        let mut other = [7; 16];
        other[15] = 8;
        assert!(!resumable.key_is(&other));
    }
}
