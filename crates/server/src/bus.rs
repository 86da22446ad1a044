//! One bus: its executor, and its exclusive lock.
//!
//! Transactions run one at a time per bus, whole, so two clients' operations never
//! interleave; those waiting are served in a fair order between client hosts and sessions
//! (`fair.rs`). A backend that may block (a Linux adapter sleeps in the kernel for the whole
//! transfer) gets an OS thread of its own, which takes the next transaction from that queue, so
//! it never stalls the network and distinct buses run in parallel. A backend that never blocks
//! runs where the call arrives, when the call's turn comes: two thread switches per call cost
//! more than its operations; but a transaction that waits on the bus (a `wait` or `poll` step)
//! runs on a blocking thread, so it never holds up the network.
//!
//! Whatever holds the bus is never a future that waits on a peer: a turn is handed to a
//! waiting call only through a channel it is polled on, and a call that is dropped instead
//! passes its turn on (`Turn`'s drop), so a client that stops reading cannot hold a bus.

use crate::backend::{Backend, Claims};
use crate::fair::{Fair, Ticket, Who};
use crate::fallback;
use crate::lock;
use crate::record::{Settled, Slot};
use crate::session::{Params, Session, SessionId, client_host};
use crate::watch::{Record, Watch};
use smbus_proxy_wire::{Errno, Failure, Op, Poll, Reply, Step, funcs::I2C, pb};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::Context;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{Notify, oneshot};
use tracing::Level;

/// What a transaction did: the result of each step that ran, in order. Unless the
/// transaction keeps going, a failure is the last of them: steps after it do not run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub results: Vec<Result<Reply, Failure>>,
}

/// Who runs a transaction: the session, and the client's address where known.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub session: SessionId,
    pub peer: Option<SocketAddr>,
}

impl Caller {
    /// Where it waits in the bus's fair queue.
    fn who(&self) -> Who {
        Who { host: client_host(self.peer), session: self.session }
    }
}

/// Why a transaction never reached the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotRun {
    /// Another live session holds the bus exclusively.
    Locked,
    /// The session ended (closed, or expired) before the bus was its.
    Ended,
    /// The executor is gone (the server is shutting down).
    Stopped,
    /// Its call was dropped before the bus took it.
    Dropped,
}

struct Job {
    caller: Caller,
    lines: Option<Arc<Session>>,
    params: Params,
    steps: Vec<Step>,
    keep_going: bool,
    slot: Option<Arc<Slot>>,
    reply: oneshot::Sender<Result<Outcome, NotRun>>,
}

pub struct Bus {
    info: pb::BusInfo,
    claims: Claims,
    runner: Runner,
    /// The session holding the bus exclusively, if any. Only a live holder counts: a holder
    /// whose lease ran out has lost the lock, whether or not the reaper got to it yet. Weak,
    /// because sessions hold their bus: a strong reference back would keep a bus, its thread
    /// and its device open for as long as the session held the lock, past the server's end.
    holder: Mutex<Weak<Session>>,
    released: Notify,
}

impl Drop for Bus {
    fn drop(&mut self) {
        // The thread ends once it has run (or skipped) what is queued.
        if let Runner::Thread(jobs) = &self.runner {
            jobs.close();
        }
    }
}

/// Where a bus's transactions run.
enum Runner {
    /// On a thread of the bus's own, which takes the next job from a fair queue: for backends
    /// that block.
    Thread(Arc<Jobs>),
    /// Right where the call arrives, one at a time: for backends that never block, which
    /// return within microseconds. Callers wait for their turn without blocking the network
    /// thread, so that a transaction that waits on the bus holds up no one but the bus's
    /// other callers.
    Inline(Arc<Inline>),
}

/// The jobs waiting for a bus's thread, and whether the bus still exists.
struct Jobs {
    queue: Mutex<(Fair<Job>, bool)>,
    ready: Condvar,
}

impl Jobs {
    /// Queues a job; none if the bus is gone, and the job with it.
    fn push(&self, who: Who, job: Job) -> Option<Ticket> {
        let mut queue = lock(&self.queue);
        if !queue.1 {
            return None;
        }
        let ticket = queue.0.push(who, job);
        self.ready.notify_one();
        Some(ticket)
    }

    /// The next job, waiting for one; `None` once the bus is gone.
    fn next(&self) -> Option<Job> {
        let mut queue = lock(&self.queue);
        loop {
            if let Some(job) = queue.0.pop() {
                return Some(job);
            }
            if !queue.1 {
                return None;
            }
            queue = self.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn close(&self) {
        lock(&self.queue).1 = false;
        self.ready.notify_all();
    }
}

/// A job queued for the bus's thread; dropped, it leaves the queue: a caller that gave up
/// (deadline, disconnect) must not have its writes done late, nor its request kept.
struct Queued<'a> {
    jobs: &'a Jobs,
    who: Who,
    ticket: Ticket,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        let removed = lock(&self.jobs.queue).0.remove(self.who, self.ticket);
        drop(removed);
    }
}

/// A bus that runs where the call arrives: its executor, and whose turn it is.
struct Inline {
    executor: Mutex<Executor>,
    /// Whether a turn is out, and the calls waiting for theirs.
    turns: Mutex<(bool, Fair<oneshot::Sender<Turn>>)>,
}

/// The right to run on an inline bus; dropping it hands the bus to the next caller in line,
/// wherever it is dropped (a cancelled call's future, a channel that was never read).
struct Turn {
    inline: Option<Arc<Inline>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(inline) = self.inline.take() {
            let mut turns = lock(&inline.turns);
            while let Some(next) = turns.1.pop() {
                match next.send(Turn { inline: Some(inline.clone()) }) {
                    Ok(()) => return,
                    // That caller is gone; its turn must not pass itself on from in here.
                    Err(mut unwanted) => unwanted.inline = None,
                }
            }
            turns.0 = false;
        }
    }
}

impl Inline {
    /// Waits for the caller's turn.
    fn turn(self: &Arc<Self>, who: Who) -> WaitingTurn<'_> {
        let mut turns = lock(&self.turns);
        if !turns.0 {
            turns.0 = true;
            turns.1.took(who);
            return WaitingTurn::Now(Some(Turn { inline: Some(self.clone()) }));
        }
        let (grant, granted) = oneshot::channel();
        let ticket = turns.1.push(who, grant);
        WaitingTurn::Queued { inline: self, who, ticket, granted }
    }
}

/// A call waiting for its turn on an inline bus; dropped, it leaves the line (and a turn
/// granted but not yet taken passes on when the channel holding it goes).
enum WaitingTurn<'a> {
    Now(Option<Turn>),
    Queued { inline: &'a Inline, who: Who, ticket: Ticket, granted: oneshot::Receiver<Turn> },
}

impl Future for WaitingTurn<'_> {
    type Output = Result<Turn, NotRun>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<Self::Output> {
        match &mut *self {
            WaitingTurn::Now(turn) => std::task::Poll::Ready(turn.take().ok_or(NotRun::Stopped)),
            WaitingTurn::Queued { granted, .. } => Pin::new(granted).poll(cx).map_err(|_| NotRun::Stopped),
        }
    }
}

impl Drop for WaitingTurn<'_> {
    fn drop(&mut self) {
        if let WaitingTurn::Queued { inline, who, ticket, .. } = self {
            let removed = lock(&inline.turns).1.remove(*who, *ticket);
            drop(removed);
        }
    }
}

impl Bus {
    /// Starts the bus's executor; a thread of its own ends when the last handle to the bus is
    /// dropped.
    pub fn start(backend: Box<dyn Backend>, op_log: Level, watch: Arc<Watch>) -> std::io::Result<Arc<Bus>> {
        let funcs = backend.funcs();
        let info = pb::BusInfo {
            number: backend.number(),
            name: backend.name().to_owned(),
            funcs,
            ..Default::default()
        };
        let claims = backend.claims();
        let executor = Executor {
            blocks: backend.blocks(),
            backend,
            watch,
            funcs,
            op_log,
            applied: Params::default(),
            ran: 0,
        };
        if !executor.blocks {
            let inline =
                Inline { executor: Mutex::new(executor), turns: Mutex::new((false, Fair::default())) };
            let runner = Runner::Inline(Arc::new(inline));
            return Ok(Arc::new(Bus {
                info,
                claims,
                runner,
                holder: Mutex::new(Weak::new()),
                released: Notify::new(),
            }));
        }
        let jobs = Arc::new(Jobs { queue: Mutex::new((Fair::default(), true)), ready: Condvar::new() });
        let runner = Runner::Thread(jobs.clone());
        let bus =
            Arc::new(Bus { info, claims, runner, holder: Mutex::new(Weak::new()), released: Notify::new() });
        let weak = Arc::downgrade(&bus);
        std::thread::Builder::new()
            .name(format!("i2c-{}", bus.info.number))
            .spawn(move || executor.run(&jobs, weak))?;
        Ok(bus)
    }

    pub fn number(&self) -> u32 {
        self.info.number
    }

    /// What clients are told about the bus: its number, name and functionality, and the
    /// addresses kernel drivers own on it now.
    pub fn info(&self) -> pb::BusInfo {
        let claimed = (self.claims)();
        pb::BusInfo {
            claimed: claimed.seven_bit.into_iter().map(u32::from).collect(),
            claimed_ten_bit: claimed.ten_bit.into_iter().map(u32::from).collect(),
            ..self.info.clone()
        }
    }

    /// Runs `steps` as one transaction for `session`. A numbered transaction's `slot` is
    /// claimed when the bus takes it (if its call was dropped first, it does not run) and
    /// settled with what came of it, whether or not its call is still there to hear.
    pub async fn run(
        self: &Arc<Self>,
        caller: Caller,
        lines: Option<Arc<Session>>,
        params: Params,
        steps: Vec<Step>,
        keep_going: bool,
        slot: Option<Arc<Slot>>,
    ) -> Result<Outcome, NotRun> {
        match &self.runner {
            Runner::Inline(inline) => {
                let turn = inline.turn(caller.who()).await?;
                if steps.iter().all(|s| s.waits().is_zero()) {
                    let mut executor = lock(&inline.executor);
                    let outcome = self.dispatch(
                        &mut executor,
                        caller,
                        lines.as_deref(),
                        params,
                        &steps,
                        keep_going,
                        slot.as_deref(),
                    );
                    drop((executor, turn));
                    return outcome;
                }
                let (bus, inline) = (self.clone(), inline.clone());
                tokio::task::spawn_blocking(move || {
                    let executor = &mut lock(&inline.executor);
                    let outcome = bus.dispatch(
                        executor,
                        caller,
                        lines.as_deref(),
                        params,
                        &steps,
                        keep_going,
                        slot.as_deref(),
                    );
                    drop(turn);
                    outcome
                })
                .await
                .map_err(|_| NotRun::Stopped)?
            }
            Runner::Thread(jobs) => {
                let (reply, outcome) = oneshot::channel();
                let job = Job { caller, lines, params, steps, keep_going, slot, reply };
                let who = caller.who();
                let ticket = jobs.push(who, job).ok_or(NotRun::Stopped)?;
                let _queued = Queued { jobs, who, ticket };
                outcome.await.map_err(|_| NotRun::Stopped)?
            }
        }
    }

    /// Runs a transaction unless another session holds the bus. The lock is checked here, at
    /// the moment the bus would run, so a transaction queued before someone took the lock
    /// cannot slip in after.
    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &self,
        executor: &mut Executor,
        caller: Caller,
        lines: Option<&Session>,
        params: Params,
        steps: &[Step],
        keep_going: bool,
        slot: Option<&Slot>,
    ) -> Result<Outcome, NotRun> {
        if let Some(slot) = slot
            && !slot.claim()
        {
            return Err(NotRun::Dropped);
        }
        let outcome = if self.held_by_other(caller.session) {
            Err(NotRun::Locked)
        } else {
            Ok(executor.transaction(caller, lines, params, steps, keep_going))
        };
        if let Some(slot) = slot {
            slot.settle(Settled::Ran(outcome.clone()));
        }
        outcome
    }

    /// Whether another live session than `session` holds the bus.
    fn held_by_other(&self, session: SessionId) -> bool {
        lock(&self.holder).upgrade().is_some_and(|h| h.id != session && h.alive())
    }

    /// The live session holding the bus exclusively, if any.
    pub fn holder(&self) -> Option<SessionId> {
        lock(&self.holder).upgrade().filter(|h| h.alive()).map(|h| h.id)
    }

    /// Takes the bus exclusively for `session`, waiting up to `wait` for another holder to go.
    /// The caller's call keeps `session` alive while it waits; a session that ended meanwhile
    /// (closed by another call) is never handed the bus.
    pub async fn lock(&self, session: &Arc<Session>, wait: Duration) -> Result<(), NotRun> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut waiting = None;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let holder_left = {
                let mut holder = lock(&self.holder);
                match holder.upgrade() {
                    Some(h) if h.id != session.id && h.alive() => h.remaining(),
                    _ if !session.alive() => return Err(NotRun::Ended),
                    Some(h) if h.id == session.id => return Ok(()),
                    _ => {
                        *holder = Arc::downgrade(session);
                        session.locked(true);
                        return Ok(());
                    }
                }
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(NotRun::Locked);
            }
            // Shown by `Status` until the wait ends, however it ends.
            waiting.get_or_insert_with(|| session.waiting());
            // Wake when the holder lets go, or when its lease would run out.
            let _ = tokio::time::timeout_at(deadline.min(now + holder_left), released).await;
        }
    }

    /// Frees the bus if `session` holds it; true if it did.
    pub fn release(&self, session: SessionId) -> bool {
        let mut holder = lock(&self.holder);
        if let Some(h) = holder.upgrade().filter(|h| h.id == session) {
            h.locked(false);
            *holder = Weak::new();
            drop(holder);
            self.released.notify_waiters();
            true
        } else {
            false
        }
    }
}

/// The executor thread's state.
struct Executor {
    backend: Box<dyn Backend>,
    watch: Arc<Watch>,
    blocks: bool,
    funcs: u64,
    op_log: Level,
    /// The adapter settings last applied, so an unchanged setting costs no ioctl.
    applied: Params,
    /// Operations run so far: each event's number, by which a watcher that reconnects counts
    /// what it missed.
    ran: u64,
}

impl Executor {
    fn run(mut self, jobs: &Jobs, bus: std::sync::Weak<Bus>) {
        while let Some(job) = jobs.next() {
            // A caller that gave up (deadline, disconnect) must not have its writes done late.
            if job.reply.is_closed() {
                continue;
            }
            let Some(bus) = bus.upgrade() else { return };
            let slot = job.slot.as_deref();
            let lines = job.lines.as_deref();
            let result =
                bus.dispatch(&mut self, job.caller, lines, job.params, &job.steps, job.keep_going, slot);
            drop(bus);
            let _ = job.reply.send(result);
        }
    }

    fn transaction(
        &mut self,
        caller: Caller,
        lines: Option<&Session>,
        params: Params,
        steps: &[Step],
        keep_going: bool,
    ) -> Outcome {
        if let Err(errno) = self.apply(params) {
            let failed = if keep_going { steps.len() } else { 1 };
            return Outcome { results: vec![Err(errno.into()); failed] };
        }
        self.backend.begin(caller.session);
        let mut results = Vec::with_capacity(steps.len());
        for step in steps {
            let result = match step {
                Step::Op(op) => self.execute(caller, op),
                Step::Wait(time) => {
                    self.backend.wait(*time);
                    Ok(Reply::Done)
                }
                Step::Poll(poll) => self.poll(caller, poll),
                Step::Line(step) => crate::lines::step(lines, step),
            };
            let failed = result.is_err();
            results.push(result);
            if failed && !keep_going {
                break;
            }
        }
        Outcome { results }
    }

    /// Tries `poll.op` until its result matches (or, without a condition, until it succeeds),
    /// `poll.interval` apart, while another try can start within `poll.timeout`. A failed try
    /// counts as "not yet": a busy chip does not acknowledge.
    fn poll(&mut self, caller: Caller, poll: &Poll) -> Result<Reply, Failure> {
        let start = self.backend.now();
        let mut tries: u64 = 0;
        loop {
            tries += 1;
            let result = self.execute(caller, &poll.op);
            let done = match (&result, poll.until) {
                (Ok(reply), Some(until)) => until.matches(reply),
                (Ok(_), None) => true,
                (Err(_), _) => false,
            };
            if done {
                return result;
            }
            if self.backend.now() - start + poll.interval >= poll.timeout {
                let last = match result {
                    Ok(_) => "did not match".to_owned(),
                    Err(failure) => format!("failed with {}", failure.errno.name().unwrap_or("an errno")),
                };
                return Err(Failure::detailed(
                    Errno::ETIMEDOUT,
                    format!(" after {tries} tries; the last {last}"),
                ));
            }
            self.backend.wait(poll.interval);
        }
    }

    /// Runs one operation, logs what went on the wire (a transfer run as its SMBus
    /// equivalent is logged as that command, with the transfer it stands for), and shows it
    /// to the watch if anyone watches.
    fn execute(&mut self, caller: Caller, op: &Op) -> Result<Reply, Failure> {
        let bus = self.backend.number();
        let started = self.watch.watched().then(Instant::now);
        let (ran_as, result) = if let Op::Transfer(msgs) = op
            && self.funcs & I2C == 0
            && let Some(smbus) = fallback::smbus_equivalent(msgs, self.funcs)
        {
            let result = self.backend.execute(&smbus);
            log_op(self.op_log, caller.session, bus, &smbus, Some(op), &result);
            let result = result.map(|reply| fallback::transfer_reply(&smbus, reply));
            (Some(smbus), result)
        } else {
            let result = self.backend.execute(op);
            log_op(self.op_log, caller.session, bus, op, None, &result);
            // The reply-size check before the transaction ran counted on this.
            if let Ok(reply) = &result {
                debug_assert!(reply.fits(op.returns()), "{op} answered {reply}");
            }
            (None, result)
        };
        self.ran += 1;
        if let Some(started) = started {
            self.watch.publish(Record {
                number: self.ran,
                bus,
                ended: SystemTime::now(),
                took: started.elapsed(),
                session: caller.session,
                peer: caller.peer,
                op: op.clone(),
                ran_as,
                result: result.clone().map_err(|failure| failure.errno),
            });
        }
        result
    }

    fn apply(&mut self, wanted: Params) -> Result<(), Errno> {
        if let Some(ms) = wanted.timeout_ms.filter(|&ms| self.applied.timeout_ms != Some(ms)) {
            self.backend.set_timeout(Duration::from_millis(ms.into()))?;
            self.applied.timeout_ms = Some(ms);
        }
        if let Some(n) = wanted.retries.filter(|&n| self.applied.retries != Some(n)) {
            self.backend.set_retries(n)?;
            self.applied.retries = Some(n);
        }
        Ok(())
    }
}

/// Logs `op`, as it ran, with the transfer it `stood_for` if it ran in that one's place.
fn log_op(
    level: Level,
    session: SessionId,
    bus: u32,
    op: &Op,
    stood_for: Option<&Op>,
    result: &Result<Reply, Failure>,
) {
    let op = Ran { op, stood_for };
    // `event!` needs its level at compile time; the arms differ only in that.
    macro_rules! event {
        ($lvl:expr) => {
            match result {
                Ok(reply) => tracing::event!($lvl, bus, session = %format_args!("{session:032x}"), "{op} → {reply}"),
                Err(failure) => tracing::event!($lvl, bus, session = %format_args!("{session:032x}"), "{op} → {failure}"),
            }
        };
    }
    match level {
        Level::ERROR => event!(Level::ERROR),
        Level::WARN => event!(Level::WARN),
        Level::INFO => event!(Level::INFO),
        Level::DEBUG => event!(Level::DEBUG),
        Level::TRACE => event!(Level::TRACE),
    }
}

/// An operation as it ran, formatted only if its log line is written.
struct Ran<'a> {
    op: &'a Op,
    stood_for: Option<&'a Op>,
}

impl std::fmt::Display for Ran<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.op)?;
        match self.stood_for {
            Some(transfer) => write!(f, " (for {transfer})"),
            None => Ok(()),
        }
    }
}
