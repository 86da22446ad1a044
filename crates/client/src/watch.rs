//! Watching a server's buses: every operation anyone runs on them, as it completes
//! (`Smbus/Watch`), for monitors and recorders.

use crate::error::{Error, Result};
use smbus_proxy_wire::{Errno, Op, Reply, decode, pb};
use std::time::{Duration, SystemTime};

/// One operation as it ran on the server's bus.
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
    pub result: std::result::Result<Reply, Errno>,
}

/// What a watch sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// An operation.
    Op(Box<OpEvent>),
    /// This many events were lost: the watcher fell behind, and the bus did not wait for it.
    Lost(u64),
}

/// A watch on a server's buses; [`Watcher::next`] waits for what happens next.
pub struct Watcher {
    pub(crate) events: tonic::Streaming<pb::WatchEvent>,
}

impl Watcher {
    /// The next event; `None` when the server ends the watch (it shuts down).
    pub async fn next(&mut self) -> Option<Result<WatchEvent>> {
        match self.events.message().await {
            Ok(Some(event)) => Some(decode_event(event)),
            Ok(None) => None,
            Err(status) => Some(Err(Error::status(status))),
        }
    }
}

fn decode_event(event: pb::WatchEvent) -> Result<WatchEvent> {
    use pb::watch_event::Event as E;
    let bad =
        |e: smbus_proxy_wire::ArgError| Error::Protocol { problem: e.to_string(), source: Some(Box::new(e)) };
    match event.event {
        Some(E::Lost(n)) => Ok(WatchEvent::Lost(n)),
        Some(E::Op(e)) => {
            let op = decode::op(e.op.ok_or_else(|| Error::protocol("an event without its operation"))?)
                .map_err(bad)?;
            let ran_as = e.ran_as.map(decode::op).transpose().map_err(bad)?;
            let result = match e.result {
                Some(pb::OpResult { result: Some(pb::op_result::Result::Failed(f)) }) => Err(Errno(f.errno)),
                Some(result) => Ok(decode::reply(result).map_err(bad)?),
                None => return Err(Error::protocol("an event without its result")),
            };
            Ok(WatchEvent::Op(Box::new(OpEvent {
                bus: e.bus,
                time: SystemTime::UNIX_EPOCH + Duration::from_micros(e.time_micros),
                took: Duration::from_micros(e.micros),
                session: e.session,
                peer: Some(e.peer).filter(|p| !p.is_empty()),
                op,
                ran_as,
                result,
            })))
        }
        None => Err(Error::protocol("an empty watch event")),
    }
}
