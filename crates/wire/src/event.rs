//! What a watch sees: each operation as it ran on a server's bus, and how many were lost when
//! the watcher fell behind. The one model of an event, which the server's watch makes, the
//! wire carries (`decode::watch_event` reads it), a trace file holds as text (`trace`), and
//! the monitor writes as a capture.

use crate::{Errno, Op, Reply};
use std::time::{Duration, SystemTime};

/// One operation as it ran on a server's bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpEvent {
    /// The bus number.
    pub bus: u32,
    /// When it ended.
    pub time: SystemTime,
    /// How long the bus took for it.
    pub took: Duration,
    /// The session that ran it.
    pub session: String,
    /// The client's address, where the server knows it.
    pub peer: Option<String>,
    /// The operation as the client sent it.
    pub op: Op,
    /// What went on the wire instead, when that differs (a transfer run as its SMBus
    /// equivalent on an adapter without plain I2C).
    pub ran_as: Option<Op>,
    /// Its reply, or the kernel's errno.
    pub result: Result<Reply, Errno>,
}

/// What a watch sees, and a trace holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// An operation.
    Op(Box<OpEvent>),
    /// This many events were lost: the watcher fell behind, and the bus did not wait for it.
    Lost(u64),
}
