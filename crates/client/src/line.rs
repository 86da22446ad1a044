//! [`Line`]: a GPIO line of the server's, held by a bus's session: a chip's reset or enable
//! input, its interrupt or data-ready output.
//!
//! A line's steps go on its bus's session, in order with the bus's operations: a pipelined
//! write queued before `reset.set(false)` runs before it, every step runs exactly once across
//! a broken connection as the bus's do, and a session taken up again keeps its lines (a new
//! one requests them again). The flip side: a wait on a line holds its session's other calls
//! until it ends, as a wait in a transaction does; a line to wait on while the bus works
//! belongs to a second session ([`crate::Client::bus`] again).
//!
//! [`crate::Batch`] puts line steps in one transaction with bus operations: "pulse reset, wait
//! 10 ms, read the ID" or "wait for data-ready, then read 6 bytes" is one round trip.

use crate::bus::{Bus, transact};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::session::Connection;
use smbus_proxy_wire::line::{Direction, Edges, LineEvent, LineSettings, LineStep};
use smbus_proxy_wire::step::MAX_WAIT;
use smbus_proxy_wire::{Reply, Step, decode, pb};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// The longest one wait on a line may be ([`Line::wait_edge`], [`Line::wait_level`]): the
/// server's bound on a transaction of line steps alone.
pub const LONGEST_LINE_WAIT: Duration = MAX_WAIT;

/// A GPIO line the session of a [`Bus`] holds. Dropping it gives it back (from a task, as
/// drop cannot wait); [`Line::release`] gives it back and reports how that went.
pub struct Line {
    _connection: Arc<Connection>,
    link: Arc<Mutex<Link>>,
    name: String,
    settings: LineSettings,
    /// An output's value as last set, logical.
    value: bool,
    released: bool,
}

impl Bus {
    /// Requests the server's line `name` (as [`crate::Client::list_lines`] lists it) for this
    /// bus's session, with `settings`. A line another session, process or kernel driver holds
    /// is refused (`ABORTED`, EBUSY); one the policy keeps from this use, `PERMISSION_DENIED`.
    pub async fn line(&mut self, name: &str, settings: LineSettings) -> Result<Line> {
        let mut lines = self.lines(&[(name, settings)]).await?;
        lines.pop().ok_or_else(|| Error::protocol("no line"))
    }

    /// Requests several lines in one call, all or none: one someone else holds refuses the
    /// request, and the session holds none of them.
    pub async fn lines(&mut self, wanted: &[(&str, LineSettings)]) -> Result<Vec<Line>> {
        let request: Vec<_> = wanted.iter().map(|(name, settings)| ((*name).to_owned(), *settings)).collect();
        self.link.lock().await.request_lines(&request).await?;
        Ok(request
            .into_iter()
            .map(|(name, settings)| Line {
                _connection: self.connection.clone(),
                link: self.link.clone(),
                name,
                settings,
                value: match settings.direction {
                    Direction::Output(v) => v,
                    Direction::Input => false,
                },
                released: false,
            })
            .collect())
    }
}

impl Line {
    /// The line's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings it holds the line with.
    pub fn settings(&self) -> LineSettings {
        self.settings
    }

    async fn step(&mut self, step: LineStep) -> Result<Reply> {
        let mut replies = transact(&mut *self.link.lock().await, &[Step::Line(step)]).await?;
        replies.pop().ok_or_else(|| Error::protocol("no result"))
    }

    /// Drives the line (an output) to the logical `value`. With pipelining it returns once
    /// sent, as a write does.
    pub async fn set(&mut self, value: bool) -> Result<()> {
        self.step(LineStep::Set { line: self.name.clone(), value }).await?;
        self.value = value;
        Ok(())
    }

    /// The output's value as last set, without asking the server.
    pub fn is_set(&self) -> bool {
        self.value
    }

    /// Reads the line's logical value.
    pub async fn get(&mut self) -> Result<bool> {
        match self.step(LineStep::Get { line: self.name.clone() }).await? {
            Reply::Level(v) => Ok(v),
            other => Err(Error::protocol(format!("get_line answered {other}"))),
        }
    }

    /// Waits for an edge among `edge` (the line must detect it), up to `timeout` (at most 60 s);
    /// an edge that came since the last wait counts. Past the timeout, [`Error::Bus`] with
    /// ETIMEDOUT.
    pub async fn wait_edge(&mut self, edge: Edges, timeout: Duration) -> Result<LineEvent> {
        match self.step(LineStep::WaitEdge { line: self.name.clone(), edge, timeout }).await? {
            Reply::Edge(e) => Ok(*e),
            other => Err(Error::protocol(format!("wait_edge answered {other}"))),
        }
    }

    /// Waits until the line has the logical `value`: at once if it has it now.
    pub async fn wait_level(&mut self, value: bool, timeout: Duration) -> Result<()> {
        self.step(LineStep::WaitLevel { line: self.name.clone(), value, timeout }).await.map(drop)
    }

    /// Waits as long as it takes, in waits of at most a minute each.
    async fn wait_forever(&mut self, step: impl Fn(String) -> LineStep) -> Result<()> {
        loop {
            match self.step(step(self.name.clone())).await {
                Err(e) if e.errno() == Some(smbus_proxy_wire::Errno::ETIMEDOUT) => continue,
                result => return result.map(drop),
            }
        }
    }

    /// Gives the line new settings: an input made an output, an edge detection added.
    pub async fn reconfigure(&mut self, settings: LineSettings) -> Result<()> {
        self.link.lock().await.request_lines(&[(self.name.clone(), settings)]).await?;
        self.settings = settings;
        if let Direction::Output(v) = settings.direction {
            self.value = v;
        }
        Ok(())
    }

    /// Gives the line back and reports how that went.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        self.link.lock().await.release_lines(std::slice::from_ref(&self.name)).await
    }

    /// The line's edges as they come (it must detect some), each with the kernel's timestamp
    /// and sequence number, and a count of those lost before it. Edges go to one reader: this
    /// stream, or a wait.
    pub async fn events(&self) -> Result<impl tokio_stream::Stream<Item = Result<LineEvent>> + use<>> {
        events(&self.link, std::slice::from_ref(&self.name)).await
    }
}

impl Bus {
    /// The edges of the session's `lines` (none: all it holds with edge detection) as they
    /// come, oldest first across the lines, as [`Line::events`]; one stream for them all.
    pub async fn line_events(
        &self,
        lines: &[String],
    ) -> Result<impl tokio_stream::Stream<Item = Result<LineEvent>> + use<>> {
        events(&self.link, lines).await
    }
}

/// A `LineEvents` call on the session of `link`, beside its calls: it holds the link only to
/// start.
async fn events(
    link: &Mutex<Link>,
    lines: &[String],
) -> Result<impl tokio_stream::Stream<Item = Result<LineEvent>> + use<>> {
    use tokio_stream::StreamExt;
    let (mut grpc, session) = {
        let link = link.lock().await;
        (link.grpc(), link.session_id())
    };
    let request = pb::LineEventsRequest { session, lines: lines.to_vec() };
    let stream = grpc.line_events(request).await.map_err(Error::status)?.into_inner();
    Ok(stream.map(|event| {
        let event = event.map_err(Error::status)?;
        decode::line_event(event).map_err(|e| Error::unreadable("a line event".into(), e))
    }))
}

impl Drop for Line {
    fn drop(&mut self) {
        if !self.released
            && let Ok(mut link) = self.link.try_lock()
        {
            link.release_soon(&self.name);
        }
    }
}

impl embedded_hal::digital::ErrorType for Line {
    type Error = Error;
}

/// Waits on the server, which queues the line's edges from the moment it was requested: an
/// edge that comes between two waits is the next wait's, never lost (the race of
/// embedded-hal #653 does not arise). `wait_for_high`/`low` return at once if the line has
/// the level, else at the edge that gives it.
impl embedded_hal_async::digital::Wait for Line {
    async fn wait_for_high(&mut self) -> Result<()> {
        self.wait_forever(|line| LineStep::WaitLevel { line, value: true, timeout: MAX_WAIT }).await
    }

    async fn wait_for_low(&mut self) -> Result<()> {
        self.wait_forever(|line| LineStep::WaitLevel { line, value: false, timeout: MAX_WAIT }).await
    }

    async fn wait_for_rising_edge(&mut self) -> Result<()> {
        self.wait_forever(|line| LineStep::WaitEdge { line, edge: Edges::Rising, timeout: MAX_WAIT }).await
    }

    async fn wait_for_falling_edge(&mut self) -> Result<()> {
        self.wait_forever(|line| LineStep::WaitEdge { line, edge: Edges::Falling, timeout: MAX_WAIT }).await
    }

    async fn wait_for_any_edge(&mut self) -> Result<()> {
        self.wait_forever(|line| LineStep::WaitEdge { line, edge: Edges::Both, timeout: MAX_WAIT }).await
    }
}
