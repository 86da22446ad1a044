//! Watching a server's buses: every operation anyone runs on them, as it completes
//! (`Smbus/Watch`), for monitors and recorders.
//!
//! A watch outlives a broken connection: the watcher subscribes again on a new one, with the
//! link's backoff, for up to [`DEFAULT_RESUME_WINDOW`]. What ran meanwhile is not replayed
//! (the server keeps no history for a watcher that left), but it is counted: each event carries
//! its bus's count of operations, so the first event of a bus after subscribing again comes
//! after a [`WatchEvent::Lost`] of the operations missed on that bus. A server that restarted
//! counts from 1 again; the operations it ran before that are not known, those of its new run
//! are.

use crate::error::{Error, Result};
use crate::grpc::{Dialer, Grpc};
use crate::session::DEFAULT_RESUME_WINDOW;
pub use smbus_proxy_wire::event::{OpEvent, WatchEvent};
use smbus_proxy_wire::{decode, pb};
use std::collections::{HashMap, HashSet};

/// A watch on a server's buses; [`Watcher::next`] waits for what happens next.
pub struct Watcher {
    events: tonic::Streaming<pb::WatchEvent>,
    dialer: Dialer,
    request: pb::WatchRequest,
    /// Each bus's number of the last operation seen.
    seen: HashMap<u32, u64>,
    /// The buses whose next event is the first since subscribing again.
    rejoined: HashSet<u32>,
    /// An event to give after the count of those missed before it.
    held: Option<WatchEvent>,
}

impl Watcher {
    /// Watches on `grpc`'s connection, and on a new one from `dialer` if that breaks.
    pub(crate) async fn subscribe(
        mut grpc: Grpc,
        dialer: &Dialer,
        request: pb::WatchRequest,
    ) -> Result<Watcher> {
        let events = grpc.watch(request.clone()).await.map_err(Error::status)?.into_inner();
        let dialer = dialer.clone();
        Ok(Watcher { events, dialer, request, seen: HashMap::new(), rejoined: HashSet::new(), held: None })
    }

    /// The next event; `None` when the server ends the watch (it shuts down).
    pub async fn next(&mut self) -> Option<Result<WatchEvent>> {
        if let Some(event) = self.held.take() {
            return Some(Ok(event));
        }
        loop {
            match self.events.message().await {
                Ok(Some(event)) => return Some(self.counted(event)),
                Ok(None) => return None,
                // The connection broke (an error of the transport, not the server's).
                Err(status) if std::error::Error::source(&status).is_some() => {
                    if let Err(e) = self.subscribe_again(status).await {
                        return Some(Err(e));
                    }
                }
                Err(status) => return Some(Err(Error::status(status))),
            }
        }
    }

    /// The event, or first the count of its bus's operations missed before it.
    fn counted(&mut self, event: pb::WatchEvent) -> Result<WatchEvent> {
        let Some(pb::watch_event::Event::Op(op)) = &event.event else { return decode_event(event) };
        // 0: a server from before events were numbered.
        if op.number == 0 {
            return decode_event(event);
        }
        let last = self.seen.insert(op.bus, op.number);
        let missed = match last {
            Some(last) if self.rejoined.remove(&op.bus) => match op.number.checked_sub(last + 1) {
                Some(missed) => missed,
                // Counting again from 1: the server restarted.
                None => op.number - 1,
            },
            _ => 0,
        };
        let event = decode_event(event)?;
        if missed == 0 {
            return Ok(event);
        }
        self.held = Some(event);
        Ok(WatchEvent::Lost(missed))
    }

    /// Subscribes again on a new connection, backing off, until the connection comes back or
    /// the resume window's length has passed.
    async fn subscribe_again(&mut self, cause: tonic::Status) -> Result<()> {
        let request = &self.request;
        let since = tokio::time::Instant::now();
        let events = self
            .dialer
            .again(since, DEFAULT_RESUME_WINDOW, async |mut grpc| grpc.watch(request.clone()).await.ok())
            .await
            .map_err(|_| Error::Disconnected { cause: cause.into() })?;
        self.events = events.into_inner();
        self.rejoined = self.seen.keys().copied().collect();
        Ok(())
    }
}

fn decode_event(event: pb::WatchEvent) -> Result<WatchEvent> {
    decode::watch_event(event).map_err(|e| Error::unreadable("a watch event".into(), e))
}
