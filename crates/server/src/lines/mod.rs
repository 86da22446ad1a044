//! GPIO lines: the chip's other wires, offered next to the buses.
//!
//! The operator names the lines a server offers ([`LineSource`]s: a GPIO chip's line through
//! the kernel's character device, `linux.rs`, or a simulated one, `sim.rs`); nothing else is
//! reachable. A session requests lines and holds them as it holds a bus's lock: until it
//! releases them, closes, or expires. One session at a time holds a line; the kernel refuses
//! a line another process or a kernel driver holds (EBUSY), and so does the server.
//!
//! An input requested with edge detection has an [`EdgeQueue`]: its source puts every edge
//! there as it comes, and a transaction's `wait_edge` or the session's `LineEvents` stream
//! takes them, so no edge is lost between two waits. The queue is bounded; an edge that finds
//! it full pushes out the oldest, and the gap shows in the sequence numbers, which the next
//! edge taken reports as lost.

#[cfg(target_os = "linux")]
pub mod linux;
pub mod sim;

use crate::lock;
use crate::session::Session;
use smbus_proxy_wire::line::{Bias, Drive, Edge, Edges, EventClock, LineEvent, LineSettings, LineStep};
use smbus_proxy_wire::{Errno, Failure, Reply, pb};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// The most edges a line's queue keeps unread: 24 bytes each, so 6 KiB a line.
pub const QUEUE_EDGES: usize = 256;

/// A line's state as its chip reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Described {
    /// The chip (`gpiochip0`).
    pub chip: String,
    /// The chip's label (`pinctrl-bcm2711`).
    pub chip_label: String,
    /// The line's offset on the chip.
    pub offset: u32,
    /// The kernel's name of the line, "" if none.
    pub line_name: String,
    /// Whether anyone holds it.
    pub used: bool,
    /// The consumer it was requested as.
    pub consumer: String,
    /// Whether it is an output.
    pub output: bool,
    /// Whether its values are inverted.
    pub active_low: bool,
    /// Its pull resistor.
    pub bias: Bias,
    /// How it is driven, as an output.
    pub drive: Drive,
    /// The edges it detects.
    pub edges: Edges,
    /// Its debounce period.
    pub debounce: Duration,
    /// The clock of its edge events.
    pub event_clock: EventClock,
}

/// Where an offered line comes from.
pub trait LineSource: Send + Sync + 'static {
    /// The line's state now.
    fn describe(&self) -> Result<Described, Errno>;
    /// Requests the line as `consumer` (the kernel shows it to other users of the chip),
    /// putting its edges, if it detects any, into `edges`.
    fn request(
        &self,
        settings: &LineSettings,
        consumer: &str,
        edges: Arc<EdgeQueue>,
    ) -> Result<Box<dyn Requested>, Failure>;
}

/// A line requested from its source; dropping it gives it back.
pub trait Requested: Send + Sync {
    /// Its logical value.
    fn get(&self) -> Result<bool, Failure>;
    /// Drives it (an output) to the logical `value`.
    fn set(&self, value: bool) -> Result<(), Failure>;
    /// Gives it new settings.
    fn reconfigure(&self, settings: &LineSettings) -> Result<(), Failure>;
}

/// An edge as a source reports it: the line's name is added when it is handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEdge {
    /// Which edge.
    pub edge: Edge,
    /// On the line's event clock.
    pub timestamp_ns: u64,
    /// The line's count of edges since it was requested, this one included.
    pub seqno: u64,
}

/// The edges of one requested line not yet taken.
#[derive(Debug)]
pub struct EdgeQueue {
    state: Mutex<Queue>,
    /// For a transaction waiting on the bus's thread.
    arrived: Condvar,
    /// For the session's `LineEvents` stream.
    notify: Arc<tokio::sync::Notify>,
}

#[derive(Debug, Default)]
struct Queue {
    edges: VecDeque<RawEdge>,
    /// The seqno of the last edge taken or passed over.
    last: u64,
    /// Edges lost before those passed over, not yet reported.
    carried: u64,
    /// The line was given back: waits end.
    closed: bool,
}

impl EdgeQueue {
    /// An empty queue whose pushes wake `notify`.
    pub fn new(notify: Arc<tokio::sync::Notify>) -> Arc<EdgeQueue> {
        Arc::new(EdgeQueue { state: Mutex::default(), arrived: Condvar::new(), notify })
    }

    /// A source's new edge; the oldest goes if the queue is full.
    pub fn push(&self, edge: RawEdge) {
        let mut q = lock(&self.state);
        if q.edges.len() == QUEUE_EDGES {
            q.edges.pop_front();
        }
        q.edges.push_back(edge);
        drop(q);
        self.arrived.notify_all();
        // Every stream of the session looks: each enables its wake-up before it looks at its
        // queues, so none misses this.
        self.notify.notify_waiters();
    }

    fn close(&self) {
        lock(&self.state).closed = true;
        self.arrived.notify_all();
        self.notify.notify_waiters();
    }

    /// Takes the oldest edge, with the count of those lost before it.
    fn pop(q: &mut Queue) -> Option<(RawEdge, u64)> {
        let e = q.edges.pop_front()?;
        let lost = e.seqno.saturating_sub(q.last + 1) + std::mem::take(&mut q.carried);
        q.last = e.seqno;
        Some((e, lost))
    }

    /// The next edge of a kind among `want` already queued, passing over others; an error if
    /// the line was given back; none yet otherwise.
    fn take_now(q: &mut Queue, want: Edges) -> Option<Result<(RawEdge, u64), Failure>> {
        while let Some((e, lost)) = Self::pop(q) {
            if want.has(e.edge) {
                return Some(Ok((e, lost)));
            }
            q.carried += lost;
        }
        q.closed.then(|| Err(Failure::detailed(Errno::EBADF, ": the line was released while waited on")))
    }

    fn timed_out(want: Edges) -> Failure {
        Failure::detailed(Errno::ETIMEDOUT, format!(": no {} edge came", want.name()))
    }

    /// The next edge of a kind among `want`, waiting on this thread until `deadline`: for a
    /// transaction on a bus's thread.
    fn take(&self, want: Edges, deadline: Instant) -> Result<(RawEdge, u64), Failure> {
        let mut q = lock(&self.state);
        loop {
            if let Some(taken) = Self::take_now(&mut q, want) {
                return taken;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Self::timed_out(want));
            }
            q = self.arrived.wait_timeout(q, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// The same, waiting as a task: a transaction of line steps alone holds no thread while it
    /// waits, however many of them a client sends.
    async fn take_async(
        &self,
        want: Edges,
        deadline: tokio::time::Instant,
    ) -> Result<(RawEdge, u64), Failure> {
        loop {
            let arrived = self.notify.notified();
            tokio::pin!(arrived);
            // Enabled before looking, so an edge pushed after the look wakes it.
            arrived.as_mut().enable();
            if let Some(taken) = Self::take_now(&mut lock(&self.state), want) {
                return taken;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(Self::timed_out(want));
            }
        }
    }

    /// Passes over every edge queued so far.
    fn skip(&self) {
        let mut q = lock(&self.state);
        while let Some((_, lost)) = Self::pop(&mut q) {
            q.carried += lost;
        }
    }

    /// The timestamp of the oldest edge queued, if any.
    pub fn oldest(&self) -> Option<u64> {
        lock(&self.state).edges.front().map(|e| e.timestamp_ns)
    }

    /// The next edge, if one came: for the event stream.
    pub fn try_take(&self) -> Option<(RawEdge, u64)> {
        Self::pop(&mut lock(&self.state))
    }

    /// Whether the line was given back.
    pub fn closed(&self) -> bool {
        lock(&self.state).closed
    }
}

/// One line the server offers.
pub struct Offered {
    /// What clients name it by.
    pub name: String,
    source: Box<dyn LineSource>,
    /// The session holding it, if that session is alive and still has it.
    holder: Mutex<Weak<Session>>,
}

/// A line a session holds.
pub struct Held {
    pub offered: Arc<Offered>,
    settings: Mutex<LineSettings>,
    requested: Box<dyn Requested>,
    pub queue: Arc<EdgeQueue>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl Held {
    pub fn settings(&self) -> LineSettings {
        *lock(&self.settings)
    }

    /// What a step comes to before any waiting: its reply now, or the edge to wait for (and,
    /// for a level, the level it answers).
    fn plan(&self, step: &LineStep) -> Plan {
        let (want, timeout, level) = match step {
            LineStep::Set { value, .. } => {
                return Plan::Now(self.requested.set(*value).map(|()| Reply::Done));
            }
            LineStep::Get { .. } => return Plan::Now(self.requested.get().map(Reply::Level)),
            LineStep::WaitEdge { edge, timeout, .. } => (*edge, *timeout, None),
            LineStep::WaitLevel { value, timeout, .. } => {
                (if *value { Edges::Rising } else { Edges::Falling }, *timeout, Some(*value))
            }
        };
        if let Err(refused) = self.detects(want) {
            return Plan::Now(Err(refused));
        }
        if let Some(value) = level {
            // Edges before now are passed over: the level read now stands for them.
            self.queue.skip();
            match self.requested.get() {
                Ok(now) if now == value => return Plan::Now(Ok(Reply::Level(value))),
                Ok(_) => {}
                Err(failure) => return Plan::Now(Err(failure)),
            }
        }
        Plan::Wait { want, timeout, level }
    }

    /// The reply of a wait that took this edge.
    fn answer(&self, (e, lost): (RawEdge, u64), level: Option<bool>) -> Reply {
        match level {
            Some(value) => Reply::Level(value),
            None => Reply::Edge(Box::new(self.event(e, lost))),
        }
    }

    /// Runs a transaction's step on the line, waiting on this thread: for a transaction on a
    /// bus's thread.
    pub fn step(&self, step: &LineStep) -> Result<Reply, Failure> {
        match self.plan(step) {
            Plan::Now(reply) => reply,
            Plan::Wait { want, timeout, level } => {
                self.queue.take(want, Instant::now() + timeout).map(|taken| self.answer(taken, level))
            }
        }
    }

    /// The same, waiting as a task rather than on a thread.
    async fn step_async(&self, step: &LineStep) -> Result<Reply, Failure> {
        match self.plan(step) {
            Plan::Now(reply) => reply,
            Plan::Wait { want, timeout, level } => {
                let deadline = tokio::time::Instant::now() + timeout;
                self.queue.take_async(want, deadline).await.map(|taken| self.answer(taken, level))
            }
        }
    }

    /// Whether the line detects the edges a wait asks for.
    fn detects(&self, want: Edges) -> Result<(), Failure> {
        let edges = self.settings().edges;
        if edges.covers(want) {
            return Ok(());
        }
        let detects = match edges {
            Edges::None => "no edges".to_owned(),
            edges => format!("{} edges only", edges.name()),
        };
        Err(Failure::detailed(
            Errno::EINVAL,
            format!(": the line detects {detects}; request it with edges {} to wait for them", want.name()),
        ))
    }

    /// An edge taken from the queue, as the client gets it.
    pub fn event(&self, e: RawEdge, lost: u64) -> LineEvent {
        LineEvent {
            line: self.offered.name.clone(),
            edge: e.edge,
            timestamp_ns: e.timestamp_ns,
            seqno: e.seqno,
            lost,
        }
    }
}

/// What a line's step comes to before any waiting.
enum Plan {
    Now(Result<Reply, Failure>),
    Wait { want: Edges, timeout: Duration, level: Option<bool> },
}

/// Why lines were not given or given back.
#[derive(Debug)]
pub enum Refusal {
    /// No offered line has the name; the names offered follow.
    Unknown { index: usize, name: String, offered: Vec<String> },
    /// Another live session holds it.
    Held { name: String, by: String },
    /// The chip refused.
    Chip { name: String, failure: Failure },
    /// The session does not hold it.
    NotHeld { name: String },
}

/// Every line the server offers.
#[derive(Default)]
pub struct Lines {
    offered: Vec<Arc<Offered>>,
}

impl Lines {
    /// Offers `sources` under their names, which must differ.
    pub fn new(sources: Vec<(String, Box<dyn LineSource>)>) -> Result<Lines, String> {
        let mut offered: Vec<Arc<Offered>> = Vec::with_capacity(sources.len());
        for (name, source) in sources {
            if offered.iter().any(|o| o.name == name) {
                return Err(name);
            }
            offered.push(Arc::new(Offered { name, source, holder: Mutex::new(Weak::new()) }));
        }
        Ok(Lines { offered })
    }

    fn find(&self, index: usize, name: &str) -> Result<&Arc<Offered>, Refusal> {
        self.offered.iter().find(|o| o.name == name).ok_or_else(|| Refusal::Unknown {
            index,
            name: name.to_owned(),
            offered: self.offered.iter().map(|o| o.name.clone()).collect(),
        })
    }

    /// Whether `name` is offered; the refusal, for a transaction's step `index`, if not.
    pub fn offers(&self, index: usize, name: &str) -> Result<(), Refusal> {
        self.find(index, name).map(drop)
    }

    /// Gives `session` the lines `wanted`, all or none; a line it holds already takes its new
    /// settings.
    pub fn request(&self, session: &Arc<Session>, wanted: &[(String, LineSettings)]) -> Result<(), Refusal> {
        let found: Vec<&Arc<Offered>> =
            wanted.iter().enumerate().map(|(i, (name, _))| self.find(i, name)).collect::<Result<_, _>>()?;
        let consumer = format!("smbus-proxy {}", smbus_proxy_wire::encode::session_tag(session.id));
        let mut taken: Vec<String> = Vec::new();
        let undo = |taken: &[String]| {
            for name in taken {
                session.take_line(name);
            }
        };
        for (offered, (name, settings)) in found.into_iter().zip(wanted) {
            let mut holder = lock(&offered.holder);
            match holder.upgrade() {
                Some(h) if h.id != session.id && h.alive() && h.line(name).is_some() => {
                    undo(&taken);
                    let by = format!(
                        "session {}{}",
                        smbus_proxy_wire::encode::session_tag(h.id),
                        h.peer().map(|p| format!(" from {}", p.ip())).unwrap_or_default()
                    );
                    return Err(Refusal::Held { name: name.clone(), by });
                }
                // A dead holder that the reaper has not reached gives the line up now.
                Some(h) if h.id != session.id => drop(h.take_line(name)),
                _ => {}
            }
            if let Some(held) = session.line(name) {
                if let Err(failure) = held.requested.reconfigure(settings) {
                    drop(holder);
                    undo(&taken);
                    return Err(Refusal::Chip { name: name.clone(), failure });
                }
                *lock(&held.settings) = *settings;
                continue;
            }
            let queue = EdgeQueue::new(session.line_events.clone());
            let requested = match offered.source.request(settings, &consumer, queue.clone()) {
                Ok(r) => r,
                Err(failure) => {
                    drop(holder);
                    undo(&taken);
                    return Err(Refusal::Chip { name: name.clone(), failure });
                }
            };
            let held = Held { offered: offered.clone(), settings: Mutex::new(*settings), requested, queue };
            session.give_line(name.clone(), Arc::new(held));
            *holder = Arc::downgrade(session);
            taken.push(name.clone());
        }
        Ok(())
    }

    /// Gives back `names` (none: all) that `session` holds.
    pub fn release(&self, session: &Session, names: &[String]) -> Result<(), Refusal> {
        if let Some(name) = names.iter().find(|n| session.line(n).is_none()) {
            return Err(Refusal::NotHeld { name: name.clone() });
        }
        if names.is_empty() {
            session.drop_lines();
        }
        for name in names {
            session.take_line(name);
        }
        Ok(())
    }

    /// What clients are told about each line, with the tag of the session of this server
    /// holding it and, where one does, its value.
    pub fn info(&self) -> Vec<pb::LineInfo> {
        self.offered.iter().map(|o| info(o)).collect()
    }

    /// The same for one line.
    pub fn info_of(&self, name: &str) -> Option<pb::LineInfo> {
        self.offered.iter().find(|o| o.name == name).map(|o| info(o))
    }
}

fn info(o: &Offered) -> pb::LineInfo {
    use smbus_proxy_wire::encode;
    let d = o.source.describe().unwrap_or_default();
    let holder = lock(&o.holder).upgrade().filter(|h| h.alive());
    let held = holder.as_ref().and_then(|h| h.line(&o.name));
    pb::LineInfo {
        name: o.name.clone(),
        chip: d.chip,
        chip_label: d.chip_label,
        offset: d.offset,
        line_name: d.line_name,
        used: d.used,
        session: holder.filter(|_| held.is_some()).map(|h| encode::session_tag(h.id)).unwrap_or_default(),
        consumer: d.consumer,
        direction: if d.output { pb::Direction::Output } else { pb::Direction::Input }.into(),
        active_low: d.active_low,
        bias: encode::bias(d.bias).into(),
        drive: encode::drive(d.drive).into(),
        edges: encode::edges(d.edges).into(),
        debounce_us: d.debounce.as_micros() as u64,
        value: held.and_then(|h| h.requested.get().ok()),
        event_clock: encode::event_clock(d.event_clock).into(),
    }
}

/// Runs a transaction's step on a line `session` holds.
pub fn step(session: Option<&Session>, step: &LineStep) -> Result<Reply, Failure> {
    match session.and_then(|s| s.line(step.line())) {
        Some(held) => held.step(step),
        // Given back between the transaction's checks and its run.
        None => Err(Failure::detailed(Errno::EBADF, ": the session no longer holds the line")),
    }
}

/// Runs a transaction of line steps alone, which needs no bus, as a task: its waits hold no
/// thread.
pub async fn transaction(
    session: &Session,
    steps: &[smbus_proxy_wire::Step],
    keep_going: bool,
) -> Vec<Result<Reply, Failure>> {
    let mut results = Vec::with_capacity(steps.len());
    for s in steps {
        let result = match s {
            smbus_proxy_wire::Step::Line(l) => match session.line(l.line()) {
                Some(held) => held.step_async(l).await,
                None => Err(Failure::detailed(Errno::EBADF, ": the session no longer holds the line")),
            },
            _ => Err(Errno::EINVAL.into()),
        };
        let failed = result.is_err();
        results.push(result);
        if failed && !keep_going {
            break;
        }
    }
    results
}
