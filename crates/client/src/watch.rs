//! Watching a server's buses: every operation anyone runs on them, as it completes
//! (`Smbus/Watch`), for monitors and recorders.

use crate::error::{Error, Result};
pub use smbus_proxy_wire::event::{OpEvent, WatchEvent};
use smbus_proxy_wire::{decode, pb};

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
    decode::watch_event(event).map_err(|e| Error::unreadable("a watch event".into(), e))
}
