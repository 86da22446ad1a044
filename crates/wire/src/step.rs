//! [`Step`]: what a transaction is made of. Mostly bus operations ([`Op`]); also waiting on
//! the bus between them, so that a driver's "start a conversion, wait, read" or "write a page,
//! poll until the EEPROM acknowledges" costs one network round trip, not one per wait.
//!
//! Backends only ever see [`Op`]s: the server's executor does the waiting.

use crate::line::LineStep;
use crate::op::{Op, Reply, Returns, Sends};
use std::time::Duration;

/// The longest one wait or one poll may be, whatever a server allows (its own limit on a
/// transaction's waiting is usually far lower).
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The shortest time between a poll's tries. Without a floor, a poll "again at once" on a bus
/// that answers in microseconds (the simulator, a fast adapter) spins a core for its whole
/// timeout, millions of tries a second; no chip needs asking more often than this.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_micros(100);

/// One step of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An operation on the bus.
    Op(Op),
    /// Hold the bus this long before the next step.
    Wait(Duration),
    /// Run an operation until its result matches, or until it succeeds.
    Poll(Poll),
    /// Set, read or wait on a GPIO line the session holds.
    Line(LineStep),
}

/// Polling on the bus: `op` runs, and again every `interval`, until its result matches
/// `until` or, without `until`, until it succeeds. Past `timeout` it fails with ETIMEDOUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Poll {
    /// The operation.
    pub op: Op,
    /// The time between the end of one try and the start of the next: at least
    /// [`MIN_POLL_INTERVAL`].
    pub interval: Duration,
    /// How long the tries may take in all.
    pub timeout: Duration,
    /// What the result must be; `None`: any success (ACK polling).
    pub until: Option<Match>,
}

/// A condition on a result's value: `value & mask == self.value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The bits that count.
    pub mask: u16,
    /// What they must be.
    pub value: u16,
}

impl Match {
    /// Whether `reply` matches. Its value is its byte or word, or the first byte of a block or
    /// of a transfer's last read; a reply with none (a write's, an empty read's) never does.
    pub fn matches(&self, reply: &Reply) -> bool {
        let value = match reply {
            Reply::Byte(b) => u16::from(*b),
            Reply::Word(w) => *w,
            Reply::Block(data) => match data.first() {
                Some(&b) => u16::from(b),
                None => return false,
            },
            Reply::Transfer(reads) => match reads.last().and_then(|r| r.first()) {
                Some(&b) => u16::from(b),
                None => return false,
            },
            Reply::Done | Reply::Level(_) | Reply::Edge(_) => return false,
        };
        value & self.mask == self.value
    }
}

impl Step {
    /// The bus operation this step runs, if any.
    pub fn op(&self) -> Option<&Op> {
        match self {
            Step::Op(op) => Some(op),
            Step::Poll(poll) => Some(&poll.op),
            Step::Wait(_) | Step::Line(_) => None,
        }
    }

    /// What the step's reply is: a poll's is its operation's last result, a wait's `Done`, a
    /// line's its value or the edge awaited.
    pub fn returns(&self) -> Returns<'_> {
        match self {
            Step::Line(LineStep::Set { .. }) | Step::Wait(_) => Returns::Done,
            Step::Line(LineStep::Get { .. } | LineStep::WaitLevel { .. }) => Returns::Level,
            Step::Line(LineStep::WaitEdge { line, .. }) => Returns::Edge(line.len()),
            Step::Op(op) | Step::Poll(Poll { op, .. }) => op.returns(),
        }
    }

    /// Whether the step needs the bus: lines do not.
    pub fn on_bus(&self) -> bool {
        !matches!(self, Step::Line(_))
    }

    /// What the step sends the device; a poll sends it again with each try.
    pub fn sends(&self) -> Sends {
        self.op().map_or(Sends::Nothing, Op::sends)
    }

    /// The step's name in messages and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Op(op) => op.name(),
            Step::Wait(_) => "wait",
            Step::Poll(_) => "poll",
            Step::Line(step) => step.name(),
        }
    }

    /// The longest the step may hold the bus waiting, beyond its operations' own time.
    pub fn waits(&self) -> Duration {
        match self {
            Step::Op(_) => Duration::ZERO,
            Step::Wait(d) => *d,
            Step::Poll(poll) => poll.timeout,
            Step::Line(step) => step.waits(),
        }
    }
}

impl From<Op> for Step {
    fn from(op: Op) -> Step {
        Step::Op(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Command, Msg};
    use bytes::Bytes;

    #[test]
    fn a_match_reads_the_value_each_reply_has() {
        let ready = Match { mask: 0x02, value: 0x02 };
        assert!(ready.matches(&Reply::Byte(0x03)));
        assert!(!ready.matches(&Reply::Byte(0x01)));
        assert!(Match { mask: 0x8000, value: 0 }.matches(&Reply::Word(0x7FFF)));
        assert!(ready.matches(&Reply::Block(Bytes::from_static(&[0x02, 0x00]))));
        let reads = Reply::Transfer(vec![Bytes::from_static(&[0x00]), Bytes::from_static(&[0x06])]);
        assert!(ready.matches(&reads), "the last read's first byte");
        assert!(!Match { mask: 0, value: 0 }.matches(&Reply::Done));
        assert!(!Match { mask: 0, value: 0 }.matches(&Reply::Transfer(vec![Bytes::new()])));
    }

    #[test]
    fn a_step_answers_for_its_operation() {
        let op = Op::smbus(0x48, Command::ReadByteData { reg: 0 });
        let poll =
            Step::Poll(Poll { op: op.clone(), interval: MIN_POLL_INTERVAL, timeout: MAX_WAIT, until: None });
        assert_eq!(
            (poll.returns(), poll.sends(), poll.name(), poll.waits()),
            (Returns::Byte, Sends::Register, "poll", MAX_WAIT)
        );
        let wait = Step::Wait(Duration::from_millis(2));
        assert_eq!(
            (wait.op(), wait.returns(), wait.sends(), wait.name()),
            (None, Returns::Done, Sends::Nothing, "wait")
        );
        let write = Step::from(Op::Transfer(vec![Msg::write(0x50, vec![0, 1])]));
        assert_eq!((write.sends(), write.waits()), (Sends::Data, Duration::ZERO));
    }
}
