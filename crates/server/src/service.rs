//! The `smbus.v1.Smbus` gRPC service: turns requests into session and bus calls.
//!
//! Everything that can be refused is refused here, before the bus is touched: malformed
//! arguments (through `smbus_proxy_wire::decode`), unknown buses, unknown or expired sessions,
//! transactions past the server's limits or against its policy.

use crate::Stats;
use crate::budget::{Account, Held};
use crate::bus::{Bus, Caller, NotRun, Outcome};
use crate::limits::Exceeded;
use crate::limits::{Limits, message_too_large};
use crate::lines::{Lines, Refusal as LineRefusal};
use crate::policy::Policy;
use crate::record::{Settled, Slot, Take, Taking};
use crate::session::{Call, Miss, Owner, Params, Session, Sessions};
use crate::throttle::{Refusal, Refusals};
use crate::watch::{Full, Item};
use smbus_proxy_wire::pb::{self, smbus_server::Smbus};
use smbus_proxy_wire::quote::quote;
use smbus_proxy_wire::{ArgError, Step, decode, encode};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};
use tracing::info;

/// The service; cheap to clone (a stream clones it for each message it answers).
#[derive(Clone)]
pub(crate) struct Service(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) buses: Arc<BTreeMap<u32, Arc<Bus>>>,
    /// The GPIO lines it offers.
    pub(crate) lines: Arc<Lines>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) policy: Policy,
    pub(crate) limits: Limits,
    /// Turns true when the server begins to shut down.
    pub(crate) stopping: watch::Receiver<bool>,
    /// Refusals an administrator should see in the log.
    pub(crate) refusals: Arc<Refusals>,
    /// Every operation, for watchers.
    pub(crate) ops_watch: Arc<crate::watch::Watch>,
    /// When the server began serving, for `Status`.
    pub(crate) started: std::time::Instant,
    /// This run of the server, so a client can tell a restart from an expired session.
    pub(crate) instance: String,
}

impl std::ops::Deref for Service {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

fn invalid(e: ArgError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// Where a call comes from: the client that may use its sessions, and the budget its replies
/// are counted in.
pub(crate) struct Origin {
    pub owner: Owner,
    pub account: Option<Account>,
}

impl Origin {
    pub(crate) fn of<T>(req: &Request<T>) -> Origin {
        Origin { owner: Owner::of(req), account: crate::conn::account(req) }
    }
}

/// A transaction's answer, and the count of its bytes in the budget, which it keeps until it
/// is handed to be sent (and its bytes are counted as they are sent).
pub(crate) struct Answer {
    pub response: pb::ExecuteResponse,
    pub _held: Option<Held>,
}

/// Why a transaction was refused before it reached the bus: a bad argument, kept whole for the
/// legacy service to name its field the old way, or anything else.
pub(crate) enum Rejected {
    Argument(ArgError),
    Status(Status),
}

impl From<Status> for Rejected {
    fn from(status: Status) -> Self {
        Rejected::Status(status)
    }
}

impl From<Rejected> for Status {
    fn from(rejected: Rejected) -> Self {
        match rejected {
            Rejected::Argument(e) => invalid(e),
            Rejected::Status(status) => status,
        }
    }
}

impl Service {
    pub(crate) fn new(shared: Shared) -> Self {
        Service(Arc::new(shared))
    }

    /// A call by `owner` on the session `id` names: a sign of life for as long as the call is
    /// held. A session another client opened is answered as one that does not exist, so that
    /// an id is no use to anyone who saw it, nor a way to learn which ids are live; the
    /// administrator's log says what happened.
    pub(crate) fn session(&self, id: &str, owner: &Owner) -> Result<Call, Status> {
        let id = decode::session_id("session", id).map_err(invalid)?;
        self.sessions.call(id, owner).map_err(|miss| {
            let status = Status::not_found(format!(
                "session {}: unknown or expired (sessions end {} ms after their last call); open the bus again",
                encode::session_id(id),
                self.sessions.lease.as_millis()
            ));
            if miss == Miss::NotOwner {
                let why = Status::not_found("session: opened by another client (another address or certificate)");
                self.refusals.log(Refusal::Auth, owner.peer(), Some(id), &why);
            }
            status
        })
    }

    /// Opens a session on bus `number`: the one way in, for every protocol the server speaks.
    pub(crate) fn open_session(
        &self,
        number: u64,
        owner: Owner,
        params: Params,
        resume_window: Duration,
    ) -> Result<Arc<Session>, Status> {
        let peer = owner.peer();
        self.try_open(number, owner, params, resume_window).inspect_err(|status| {
            if status.code() == tonic::Code::ResourceExhausted {
                self.refusals.log(Refusal::Limit, peer, None, status);
            }
        })
    }

    fn try_open(
        &self,
        number: u64,
        owner: Owner,
        mut params: Params,
        resume_window: Duration,
    ) -> Result<Arc<Session>, Status> {
        let peer = owner.peer();
        if let Some(limit) = self.limits.op_timeout {
            let limit_ms = limit.as_millis().try_into().unwrap_or(u32::MAX);
            match params.timeout_ms {
                Some(ms) if ms > limit_ms => {
                    return Err(Status::resource_exhausted(format!(
                        "timeout_ms: {ms} is longer than the {limit_ms} ms this server lets one operation hold the bus"
                    )));
                }
                Some(_) => {}
                None => params.timeout_ms = Some(limit_ms),
            }
        }
        let bus = u32::try_from(number).ok().and_then(|n| self.buses.get(&n)).ok_or_else(|| {
            let known: Vec<String> = self.buses.keys().map(u32::to_string).collect();
            Status::not_found(format!(
                "bus: {number} does not exist; this server exposes bus {}",
                known.join(", ")
            ))
        })?;
        let session = self.sessions.open(bus.clone(), owner, params, resume_window).map_err(|hit| {
            Status::resource_exhausted(match hit {
                Exceeded::All(n) => {
                    format!("sessions: {n} are open, the server's limit; close one or let an idle one expire")
                }
                Exceeded::PerPeer(n) => format!(
                    "sessions: {n} are open from {}, the limit per client host; close one or let an idle one expire",
                    match peer {
                        // Behind an SSH tunnel every client is on loopback: each connection
                        // counts as a host of its own there.
                        Some(p) if p.ip().is_loopback() => format!("this connection ({p})"),
                        Some(p) => p.ip().to_string(),
                        None => "this client".to_owned(),
                    }
                ),
            })
        })?;
        let id = encode::session_id(session.id);
        match peer {
            Some(peer) => info!(session = %id, %peer, "new client requests bus {number}"),
            None => info!(session = %id, "new client requests bus {number}"),
        }
        Ok(session)
    }

    pub(crate) fn close_session(&self, id: &str, owner: &Owner) -> Result<(), Status> {
        let session = self.session(id, owner)?;
        self.sessions.close(session.id);
        info!(session = %encode::session_id(session.id), "client closed bus {}", session.bus.number());
        Ok(())
    }

    fn lease_ms(&self) -> u32 {
        self.sessions.lease.as_millis().try_into().unwrap_or(u32::MAX)
    }

    /// One transaction: the body of both `Execute` and `ExecuteStream`. A numbered one
    /// (`seq`) goes through its session's record ([`Service::numbered`]).
    pub(crate) async fn execute_one(
        &self,
        req: pb::ExecuteRequest,
        origin: &Origin,
    ) -> Result<Answer, Rejected> {
        self.stats.transaction();
        let session = self.session(&req.session, &origin.owner)?;
        if req.seq != 0 {
            return self.numbered(&session, req, origin).await.map_err(Rejected::Status);
        }
        let steps = decode::steps(req.ops).map_err(Rejected::Argument)?;
        let held = self.prepare(&session, &steps, req.keep_going, origin)?;
        let outcome = self.run(&session, steps, req.keep_going, None).await;
        let response = respond(&session, outcome, req.keep_going)?;
        Ok(Answer { response, _held: held })
    }

    /// Checks a transaction against the limits and the policy, and counts its reply in the
    /// connection's budget until it is sent.
    fn prepare(
        &self,
        session: &Session,
        steps: &[Step],
        keep_going: bool,
        origin: &Origin,
    ) -> Result<Option<Held>, Status> {
        let refuse = |(kind, status): (Refusal, Status)| {
            self.refusals.log(kind, session.peer(), Some(session.id), &status);
            status
        };
        let reply_bytes = self.admit(session, steps, keep_going).map_err(refuse)?;
        // The reply is counted before the bus runs: a client that does not read its replies
        // is refused more work instead of having the server keep what it would not read.
        let held = match &origin.account {
            Some(account) => Some(
                account
                    .reserve(reply_bytes)
                    .map_err(|over| refuse((Refusal::Limit, over.status("replies", reply_bytes))))?,
            ),
            None => None,
        };
        self.stats.operations_checked(steps.len());
        Ok(held)
    }

    /// Runs a transaction on the session's bus, and counts what ran.
    async fn run(
        &self,
        session: &Call,
        steps: Vec<Step>,
        keep_going: bool,
        slot: Option<Arc<Slot>>,
    ) -> Result<Outcome, NotRun> {
        let outcome = if steps.iter().any(Step::on_bus) {
            let caller = Caller { session: session.id, peer: session.peer() };
            let lines = steps.iter().any(|s| !s.on_bus()).then(|| session.session().clone());
            session.bus.run(caller, lines, session.params, steps, keep_going, slot).await
        } else {
            self.run_lines(session.session().clone(), steps, keep_going, slot).await
        };
        if let Ok(outcome) = &outcome {
            session.count(outcome.results.len(), outcome.results.iter().filter(|r| r.is_err()).count());
        }
        outcome
    }

    /// A transaction of line steps alone: it needs no turn on the bus, nor its lock, and waits
    /// as a task, holding no thread. Once claimed it runs to its end on a task of its own,
    /// whether or not its call is still there, so that its slot is settled with what ran.
    async fn run_lines(
        &self,
        session: Arc<Session>,
        steps: Vec<Step>,
        keep_going: bool,
        slot: Option<Arc<Slot>>,
    ) -> Result<Outcome, NotRun> {
        if let Some(slot) = &slot
            && !slot.claim()
        {
            return Err(NotRun::Dropped);
        }
        let run = async move {
            let outcome =
                Ok(Outcome { results: crate::lines::transaction(&session, &steps, keep_going).await });
            if let Some(slot) = slot {
                slot.settle(Settled::Ran(outcome.clone()));
            }
            outcome
        };
        tokio::spawn(run).await.map_err(|_| NotRun::Stopped)?
    }

    /// A numbered transaction: run the first time its number comes, answered from the
    /// session's record every other time (`record.rs`).
    async fn numbered(
        &self,
        session: &Call,
        req: pb::ExecuteRequest,
        origin: &Origin,
    ) -> Result<Answer, Status> {
        let Some(resumable) = &session.resumable else {
            return Err(Status::failed_precondition(
                "seq: numbered transactions need a session opened with a resume window (resume_window_ms)",
            ));
        };
        let keep_going = req.keep_going;
        let steps = decode::steps(req.ops);
        let bytes = steps.as_ref().map_or(encode::KEPT_OVERHEAD, |steps| {
            encode::kept_bytes(steps.iter().map(Step::returns), keep_going)
        });
        let take = {
            let mut record = resumable.record();
            record.acknowledge(req.acked);
            record.take(req.seq, bytes, self.limits.record_bytes, origin.account.as_ref())?
        };
        let slot = match take {
            Take::Run(slot) => slot,
            Take::Again(slot) => loop {
                match slot.outcome().await {
                    // Its call was dropped before the bus took it: it runs now, unless another
                    // copy took it first (then this one waits for that one's outcome).
                    Settled::NotRun if slot.reopen() => break slot,
                    Settled::NotRun => continue,
                    settled => {
                        return Ok(Answer { response: answer(session, settled, keep_going)?, _held: None });
                    }
                }
            },
        };
        // Settled as not run if this call is dropped before the bus takes it.
        let _taking = Taking(slot.clone());
        let fenced = {
            let record = resumable.record();
            (req.fence != 0 && req.fence <= record.highest_failed).then_some(record.highest_failed)
        };
        let prepared = match (steps, fenced) {
            (_, Some(failed)) => Err(Status::aborted(format!(
                "not run: a transaction with fence {failed} failed in this session before it"
            ))),
            (Err(e), None) => Err(invalid(e)),
            (Ok(steps), None) => self.prepare(session, &steps, keep_going, origin).map(|held| (steps, held)),
        };
        let (settled, held) = match prepared {
            Err(status) => {
                let refused = Settled::Refused { code: status.code(), message: status.message().to_owned() };
                slot.settle(refused.clone());
                (refused, None)
            }
            Ok((steps, held)) => match self.run(session, steps, keep_going, Some(slot.clone())).await {
                // Abandoned meanwhile, which only a dropped call does: this one is gone.
                Err(NotRun::Dropped) => return Err(Status::cancelled("the call was dropped")),
                outcome => {
                    // The bus settled the slot as it ran it; one it never reached (the session
                    // ended while it waited its turn) is settled here.
                    slot.settle_unless_ran(|| Settled::Ran(outcome.clone()));
                    (Settled::Ran(outcome), held)
                }
            },
        };
        let response = answer(session, settled, keep_going);
        let failed = !matches!(&response, Ok(r) if r.error.is_none());
        if failed && req.fence != 0 {
            let mut record = resumable.record();
            record.highest_failed = record.highest_failed.max(req.fence);
        }
        Ok(Answer { response: response?, _held: held })
    }
}

/// What a numbered transaction's outcome answers, the first time and every time after.
fn answer(session: &Session, settled: Settled, keep_going: bool) -> Result<pb::ExecuteResponse, Status> {
    match settled {
        Settled::Ran(outcome) => respond(session, outcome, keep_going),
        Settled::Refused { code, message } => Err(Status::new(code, message)),
        Settled::NotRun => Err(Status::aborted("not run: its call was dropped before the bus took it")),
    }
}

/// A transaction's response: each operation's reply, or its failure.
fn respond(
    session: &Session,
    outcome: Result<Outcome, NotRun>,
    keep_going: bool,
) -> Result<pb::ExecuteResponse, Status> {
    let outcome = outcome.map_err(|r| refused(session, r))?;
    let mut response =
        pb::ExecuteResponse { results: Vec::with_capacity(outcome.results.len()), error: None };
    for (i, result) in outcome.results.into_iter().enumerate() {
        match result {
            Ok(reply) => response.results.push(encode::reply(reply)),
            Err(failure) => {
                let error = encode::op_error(i, &failure);
                match keep_going {
                    true => response
                        .results
                        .push(pb::OpResult { result: Some(pb::op_result::Result::Failed(error)) }),
                    false => response.error = Some(error),
                }
            }
        }
    }
    Ok(response)
}

impl Service {
    /// The server's limits and the bus's policy, for a transaction of valid operations; the
    /// most bytes its reply can take.
    fn admit(&self, session: &Session, steps: &[Step], keep_going: bool) -> Result<usize, (Refusal, Status)> {
        for (i, step) in steps.iter().enumerate() {
            let Step::Line(l) = step else { continue };
            if session.line(l.line()).is_some() {
                continue;
            }
            let field = format!("ops[{i}].{}.line", l.name());
            return Err(match self.lines.offers(i, l.line()) {
                Ok(()) => (
                    Refusal::Policy,
                    Status::failed_precondition(format!(
                        "{field}: {} is not held by this session; request it first (RequestLines)",
                        quote(l.line())
                    )),
                ),
                Err(refusal) => (Refusal::Policy, line_refused(refusal, &field)),
            });
        }
        let waits: Duration = steps.iter().map(Step::waits).sum();
        // Line steps alone hold no bus: their waits are bounded as one wait is.
        if !steps.iter().any(Step::on_bus) {
            if waits > smbus_proxy_wire::step::MAX_WAIT {
                return Err((
                    Refusal::Limit,
                    Status::resource_exhausted(format!(
                        "ops: the waits add up to {} µs; a transaction waits at most {} µs in all",
                        waits.as_micros(),
                        smbus_proxy_wire::step::MAX_WAIT.as_micros()
                    )),
                ));
            }
        } else if waits > self.limits.bus_wait {
            return Err((
                Refusal::Limit,
                Status::resource_exhausted(format!(
                    "ops: the waits and poll timeouts add up to {} µs; this server holds the bus for at most {} µs of waiting per transaction",
                    waits.as_micros(),
                    self.limits.bus_wait.as_micros()
                )),
            ));
        }
        if steps.len() > self.limits.ops_per_transaction {
            return Err((
                Refusal::Limit,
                Status::resource_exhausted(format!(
                    "ops: {} operations; this server takes at most {} per transaction",
                    steps.len(),
                    self.limits.ops_per_transaction
                )),
            ));
        }
        // The replies go back in one message, which must fit the client's limit as well as
        // ours: refused before the bus is touched, not after the reads were done for nothing.
        let reply_bytes = encode::response_bound(steps, keep_going);
        if reply_bytes > self.limits.message_bytes {
            return Err((
                Refusal::Limit,
                Status::resource_exhausted(format!(
                    "ops: the replies would take up to {reply_bytes} bytes; this server sends at most {} in one message",
                    self.limits.message_bytes
                )),
            ));
        }
        self.policy
            .check(session.bus.number(), steps)
            .map_err(|denied| (Refusal::Policy, Status::permission_denied(denied.0)))?;
        Ok(reply_bytes)
    }
}

/// A refusal of the lines module as the status a client gets; `field` names what was refused.
fn line_refused(refusal: LineRefusal, field: &str) -> Status {
    match refusal {
        LineRefusal::Unknown { name, offered, .. } => {
            let offered = if offered.is_empty() {
                "it offers none".to_owned()
            } else {
                format!(
                    "it offers {}",
                    offered.iter().map(|n| quote(n).to_string()).collect::<Vec<_>>().join(", ")
                )
            };
            Status::invalid_argument(format!(
                "{field}: {} is not a line this server offers; {offered}",
                quote(&name)
            ))
        }
        LineRefusal::Held { name, by } => {
            Status::aborted(format!("{field}: {} is held by {by} (EBUSY)", quote(&name)))
        }
        LineRefusal::Chip { name, failure } => {
            let status = format!("{field}: {}: the chip refused it: {}", quote(&name), failure);
            match failure.errno {
                smbus_proxy_wire::Errno::EBUSY => Status::aborted(status),
                smbus_proxy_wire::Errno::EINVAL | smbus_proxy_wire::Errno::EPERM => {
                    Status::failed_precondition(status)
                }
                _ => Status::unavailable(status),
            }
        }
        LineRefusal::NotHeld { name } => Status::failed_precondition(format!(
            "{field}: {} is not held by this session (released already, or never requested)",
            quote(&name)
        )),
    }
}

fn refused(session: &Session, r: NotRun) -> Status {
    match r {
        NotRun::Locked => Status::aborted(format!(
            "bus {} is locked by another session until it unlocks, closes, or its lease runs out",
            session.bus.number()
        )),
        NotRun::Ended => Status::not_found(format!(
            "session {}: closed while it waited for bus {}",
            encode::session_id(session.id),
            session.bus.number()
        )),
        NotRun::Stopped => Status::unavailable("the server is shutting down"),
        NotRun::Dropped => Status::cancelled("the call was dropped before the bus took it"),
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<pb::StreamReply, Status>> + Send>>;

/// Replies an `ExecuteStream` holds for a client that has not read them: a client pipelines at
/// most 256 transactions (`MAX_PIPELINE`), and every one it has sent beyond these waits in
/// HTTP/2's flow control instead. Each is counted in the client's budget until it is sent.
const STREAM_REPLIES: usize = 16;

/// A reply of an `ExecuteStream`, and its count in the budget until it goes to be sent.
type StreamItem = (Result<pb::StreamReply, Status>, Option<Held>);

impl Service {
    /// Answers one `ExecuteStream`'s requests in order, until they end or the call is gone.
    async fn serve_stream(
        self,
        mut requests: impl Stream<Item = Result<pb::ExecuteRequest, Status>> + Unpin,
        origin: Origin,
        replies: tokio::sync::mpsc::Sender<StreamItem>,
    ) {
        let mut fence = Fence::default();
        loop {
            let reply = tokio::select! {
                // The client went away (cancelled the call, or the connection closed): a
                // transaction still waiting for the bus must not run late.
                () = replies.closed() => return,
                reply = async {
                    let req = requests.next().await?;
                    Some(self.stream_one(req, &origin, &mut fence).await)
                } => match reply {
                    Some(reply) => reply,
                    None => return,
                },
            };
            if replies.send(reply).await.is_err() {
                return;
            }
        }
    }

    /// One message of an `ExecuteStream`: a transaction, unless its fence is down.
    async fn stream_one(
        &self,
        req: Result<pb::ExecuteRequest, Status>,
        origin: &Origin,
        fence: &mut Fence,
    ) -> StreamItem {
        use pb::stream_reply::Reply;
        let req = match req {
            Ok(req) => req,
            Err(status) => return (Err(message_too_large(&status).unwrap_or(status)), None),
        };
        let its_fence = req.fence;
        // A numbered transaction's fences are its session's, kept in its record.
        let numbered = req.seq != 0;
        let outcome = match fence.check(its_fence) {
            Err(failed) if !numbered => Err(Status::aborted(format!(
                "not run: a transaction with fence {failed} failed on this stream before it"
            ))),
            _ => self.execute_one(req, origin).await.map_err(Status::from),
        };
        let ok = matches!(&outcome, Ok(answer) if answer.response.error.is_none());
        if !ok && !numbered {
            fence.failed(its_fence);
        }
        let (reply, held) = match outcome {
            Ok(Answer { response, _held }) => (Reply::Response(response), _held),
            Err(status) => {
                let rejection =
                    pb::Rejection { code: status.code() as i32, message: status.message().into() };
                (Reply::Rejected(rejection), None)
            }
        };
        (Ok(pb::StreamReply { reply: Some(reply) }), held)
    }
}

/// The fences of one `ExecuteStream` (see `ExecuteRequest.fence`): a client keeps a fence
/// until it has told the program of a failure, then takes a higher one. So a transaction
/// whose fence is at or below the highest that failed was sent before the program knew, and
/// does not run; remembering that one number is enough, however the fences interleave.
#[derive(Default)]
struct Fence {
    highest_failed: u64,
}

impl Fence {
    /// Whether a transaction with `fence` may run; else the failed fence that stops it.
    fn check(&self, fence: u64) -> Result<(), u64> {
        match fence {
            0 => Ok(()),
            f if f <= self.highest_failed => Err(self.highest_failed),
            _ => Ok(()),
        }
    }

    fn failed(&mut self, fence: u64) {
        self.highest_failed = self.highest_failed.max(fence);
    }
}

#[tonic::async_trait]
impl Smbus for Service {
    async fn list_buses(
        &self,
        _: Request<pb::ListBusesRequest>,
    ) -> Result<Response<pb::ListBusesResponse>, Status> {
        let buses = self.buses.values().map(|b| b.info()).collect();
        let lines = self.lines.info();
        Ok(Response::new(pb::ListBusesResponse { buses, instance: self.instance.clone(), lines }))
    }

    async fn request_lines(
        &self,
        req: Request<pb::RequestLinesRequest>,
    ) -> Result<Response<pb::RequestLinesResponse>, Status> {
        let owner = Owner::of(&req);
        let req = req.into_inner();
        let session = self.session(&req.session, &owner)?;
        let wanted = decode::line_requests(req.lines).map_err(invalid)?;
        for (i, (name, settings)) in wanted.iter().enumerate() {
            if let Err(denied) = self.policy.check_line(name, settings) {
                let status = Status::permission_denied(format!("lines[{i}]: {denied}"));
                self.refusals.log(Refusal::Policy, session.peer(), Some(session.id), &status);
                return Err(status);
            }
        }
        self.lines.request(session.session(), &wanted).map_err(|refusal| {
            let index = match &refusal {
                LineRefusal::Unknown { index, .. } => *index,
                LineRefusal::Held { name, .. }
                | LineRefusal::Chip { name, .. }
                | LineRefusal::NotHeld { name } => wanted.iter().position(|(n, _)| n == name).unwrap_or(0),
            };
            line_refused(refusal, &format!("lines[{index}].line"))
        })?;
        let lines = wanted.iter().filter_map(|(name, _)| self.lines.info_of(name)).collect();
        info!(
            session = %encode::session_tag(session.id),
            lines = ?wanted.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            "session requested lines"
        );
        Ok(Response::new(pb::RequestLinesResponse { lines }))
    }

    async fn release_lines(
        &self,
        req: Request<pb::ReleaseLinesRequest>,
    ) -> Result<Response<pb::ReleaseLinesResponse>, Status> {
        let owner = Owner::of(&req);
        let req = req.into_inner();
        let session = self.session(&req.session, &owner)?;
        let names = decode::line_names(req.lines).map_err(invalid)?;
        self.lines.release(&session, &names).map_err(|refusal| {
            let index = match &refusal {
                LineRefusal::NotHeld { name } => names.iter().position(|n| n == name).unwrap_or(0),
                _ => 0,
            };
            line_refused(refusal, &format!("lines[{index}]"))
        })?;
        Ok(Response::new(pb::ReleaseLinesResponse {}))
    }

    type LineEventsStream = LineEventStream;

    async fn line_events(
        &self,
        req: Request<pb::LineEventsRequest>,
    ) -> Result<Response<LineEventStream>, Status> {
        let owner = Owner::of(&req);
        let req = req.into_inner();
        let call = self.session(&req.session, &owner)?;
        let names = decode::line_names(req.lines).map_err(invalid)?;
        let held = if names.is_empty() {
            call.lines()
        } else {
            let mut held = Vec::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                match call.line(name) {
                    Some(h) => held.push(h),
                    None => {
                        return Err(line_refused(
                            LineRefusal::NotHeld { name: name.clone() },
                            &format!("lines[{i}]"),
                        ));
                    }
                }
            }
            held
        };
        // The queues and the lines' names, not the lines: the stream must not keep a line the
        // session gives back (and so the kernel's request) alive. A line given back closes its
        // queue, which ends the stream once every queue it reads is closed.
        let queues: Vec<_> = held
            .iter()
            .filter(|h| h.settings().edges != smbus_proxy_wire::Edges::None)
            .map(|h| (h.offered.name.clone(), h.queue.clone()))
            .collect();
        drop(held);
        if queues.is_empty() {
            return Err(Status::failed_precondition(
                "lines: the session holds no line with edge detection; request one with edges RISING, FALLING or BOTH",
            ));
        }
        // The stream is a call on the session: it keeps it alive while it lasts.
        let (tx, rx) = tokio::sync::mpsc::channel(LINE_EVENTS_BUFFERED);
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            let notify = call.line_events.clone();
            loop {
                let ready = notify.notified();
                tokio::pin!(ready);
                ready.as_mut().enable();
                // The oldest edge of all the lines first, as the kernel stamped them.
                let oldest =
                    queues.iter().filter_map(|(name, q)| Some((q.oldest()?, name, q))).min_by_key(|o| o.0);
                if let Some((name, (e, lost))) = oldest.and_then(|(_, name, q)| Some((name, q.try_take()?))) {
                    let event = smbus_proxy_wire::LineEvent {
                        line: name.clone(),
                        edge: e.edge,
                        timestamp_ns: e.timestamp_ns,
                        seqno: e.seqno,
                        lost,
                    };
                    if tx.send(Ok(encode::line_event(&event))).await.is_err() {
                        return;
                    }
                    continue;
                }
                if queues.iter().all(|(_, q)| q.closed()) || !call.alive() {
                    return;
                }
                tokio::select! {
                    () = &mut ready => {}
                    () = tx.closed() => return,
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn open(&self, req: Request<pb::OpenRequest>) -> Result<Response<pb::OpenResponse>, Status> {
        let owner = Owner::of(&req);
        let req = req.into_inner();
        let params = Params {
            timeout_ms: req.timeout_ms.map(decode::timeout_ms).transpose().map_err(invalid)?,
            retries: req.retries.map(decode::retries).transpose().map_err(invalid)?,
        };
        // Granted up to the server's bound, and the response says what was granted.
        let window = Duration::from_millis(req.resume_window_ms).min(self.limits.resume_window);
        let session = self.open_session(req.bus, owner, params, window)?;
        let resumable = session.resumable.as_ref();
        Ok(Response::new(pb::OpenResponse {
            session: encode::session_id(session.id),
            bus: Some(session.bus.info()),
            lease_ms: self.lease_ms(),
            resume_window_ms: resumable.map_or(0, |r| r.window.as_millis() as u32),
            resume_key: resumable.map(|r| bytes::Bytes::copy_from_slice(&r.key)).unwrap_or_default(),
            instance: self.instance.clone(),
            record_bytes: resumable.map_or(0, |_| self.limits.record_bytes.try_into().unwrap_or(u32::MAX)),
        }))
    }

    async fn resume(&self, req: Request<pb::ResumeRequest>) -> Result<Response<pb::ResumeResponse>, Status> {
        let owner = Owner::of(&req);
        let req = req.into_inner();
        let id = decode::session_id("session", &req.session).map_err(invalid)?;
        let session = self.sessions.resume(id, &req.resume_key, &owner).map_err(|miss| {
            let shown = encode::session_id(id);
            let status = match miss {
                Miss::NotResumable => Status::failed_precondition(format!(
                    "session {shown}: opened without a resume window (resume_window_ms), so it cannot be resumed"
                )),
                // As for any call: an id someone else saw is no use, nor a way to learn
                // which ids are live.
                Miss::Unknown | Miss::NotOwner => Status::not_found(format!(
                    "session {shown}: unknown or expired; its resume window ran out, or the server restarted (this is run {})",
                    self.instance
                )),
            };
            if miss == Miss::NotOwner {
                let why = Status::not_found("resume: a wrong key, or another client certificate");
                self.refusals.log(Refusal::Auth, owner.peer(), Some(id), &why);
            }
            status
        })?;
        let resumable = session.resumable.as_ref().expect("a resumed session is resumable");
        info!(session = %encode::session_id(session.id), peer = ?owner.peer(), "client resumed bus {}", session.bus.number());
        Ok(Response::new(pb::ResumeResponse {
            lease_ms: self.lease_ms(),
            resume_window_ms: resumable.window.as_millis() as u32,
            locked: session.bus.holder() == Some(session.id),
            ran_through: resumable.record().taken(),
        }))
    }

    async fn close(&self, req: Request<pb::CloseRequest>) -> Result<Response<pb::CloseResponse>, Status> {
        self.close_session(&req.get_ref().session, &Owner::of(&req))?;
        Ok(Response::new(pb::CloseResponse {}))
    }

    async fn keep_alive(
        &self,
        req: Request<pb::KeepAliveRequest>,
    ) -> Result<Response<pb::KeepAliveResponse>, Status> {
        self.session(&req.get_ref().session, &Owner::of(&req))?;
        Ok(Response::new(pb::KeepAliveResponse { lease_ms: self.lease_ms() }))
    }

    async fn lock(&self, req: Request<pb::LockRequest>) -> Result<Response<pb::LockResponse>, Status> {
        let owner = Owner::of(&req);
        let req = req.into_inner();
        let session = self.session(&req.session, &owner)?;
        let wait = decode::wait_ms(req.wait_ms).map_err(invalid)?;
        session
            .bus
            .lock(session.session(), Duration::from_millis(wait.into()))
            .await
            .map_err(|r| refused(&session, r))?;
        info!(session = %encode::session_id(session.id), "client locked bus {}", session.bus.number());
        Ok(Response::new(pb::LockResponse {}))
    }

    async fn unlock(&self, req: Request<pb::UnlockRequest>) -> Result<Response<pb::UnlockResponse>, Status> {
        let session = self.session(&req.get_ref().session, &Owner::of(&req))?;
        if !session.bus.release(session.id) {
            return Err(Status::failed_precondition(format!(
                "session: does not hold bus {}",
                session.bus.number()
            )));
        }
        info!(session = %encode::session_id(session.id), "client unlocked bus {}", session.bus.number());
        Ok(Response::new(pb::UnlockResponse {}))
    }

    async fn execute(
        &self,
        req: Request<pb::ExecuteRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let origin = Origin::of(&req);
        let answer = self.execute_one(req.into_inner(), &origin).await.map_err(Status::from)?;
        // Its count goes now: as the reply is sent, its bytes are counted instead (`conn`).
        Ok(Response::new(answer.response))
    }

    type ExecuteStreamStream = ReplyStream;

    async fn execute_stream(
        &self,
        req: Request<Streaming<pb::ExecuteRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        let origin = Origin::of(&req);
        let mut stopping = self.stopping.clone();
        let requests = UntilStopped {
            inner: req.into_inner(),
            stopped: Box::pin(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            }),
        };
        // The stream's transactions run on a task of their own, and the replies wait in a
        // channel for the client to read them. Run where the reply stream is polled, they would
        // wait for the peer: HTTP/2 polls a response only while the client grants it window,
        // and a transaction waiting for its turn on the bus would hold the bus, once its turn
        // came, until the client read on. The channel is short: a client that stops reading
        // stops the task at its next reply, with the bus free, and then HTTP/2's flow control
        // stops its requests.
        let (replies, out) = tokio::sync::mpsc::channel(STREAM_REPLIES);
        tokio::spawn(self.clone().serve_stream(requests, origin, replies));
        // A reply's count goes as it is handed to be sent, and its bytes are counted instead.
        let out = tokio_stream::wrappers::ReceiverStream::new(out).map(|(reply, _held)| reply);
        Ok(Response::new(Box::pin(out)))
    }

    type WatchStream = WatchStream;

    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let sessions = self.sessions.live();
        let buses = self
            .buses
            .values()
            .map(|bus| {
                let hidden = self.policy.may_watch(bus.number()).is_err();
                let holder = bus.holder();
                let sessions = sessions
                    .iter()
                    .filter(|s| !hidden && s.bus.number() == bus.number())
                    .map(|s| {
                        let a = s.activity(holder == Some(s.id));
                        pb::SessionStatus {
                            session: encode::session_tag(s.id),
                            peer: s.peer().map(|p| p.to_string()).unwrap_or_default(),
                            age_ms: ms(a.age),
                            idle_ms: ms(a.idle),
                            lock_held_ms: a.lock_held.map(ms),
                            lock_wait_ms: a.lock_wait.map(ms),
                            operations: a.operations,
                            errors: a.errors,
                        }
                    })
                    .collect();
                pb::BusStatus { bus: Some(bus.info()), sessions, sessions_hidden: hidden }
            })
            .collect();
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: ms(self.started.elapsed()),
            buses,
            lines: self.lines.info(),
        }))
    }

    async fn watch(&self, req: Request<pb::WatchRequest>) -> Result<Response<WatchStream>, Status> {
        use pb::watch_event::Event as E;
        let peer = req.remote_addr();
        let buses = self.watched_buses(req.into_inner().buses)?;
        match peer {
            Some(peer) => info!(%peer, "client watches buses {buses:?}"),
            None => info!("client watches buses {buses:?}"),
        }
        let events = self.ops_watch.subscribe(peer.map(|p| p.ip())).map_err(|full| {
            let status = Status::resource_exhausted(match full {
                Full::All(n) => format!("watchers: {n} watch this server, its limit (--max-watchers)"),
                Full::Host(n) => format!(
                    "watchers: {n} watch from this client host, the limit per host (--max-watchers-per-peer)"
                ),
            });
            self.refusals.log(Refusal::Limit, peer, None, &status);
            status
        })?;
        // Counted as a watcher for as long as the stream lives.
        let events = events.filter_map(move |item| {
            match item {
                Item::Event(event) if buses.contains(&event.bus) => Some(E::Op(event.encode())),
                Item::Event(_) => None,
                Item::Lost(lost) => Some(E::Lost(lost)),
            }
            .map(|event| Ok(pb::WatchEvent { event: Some(event) }))
        });
        let mut stopping = self.stopping.clone();
        let events = UntilStopped {
            inner: events,
            stopped: Box::pin(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            }),
        };
        Ok(Response::new(Box::pin(events)))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;
type LineEventStream = Pin<Box<dyn Stream<Item = Result<pb::LineEvent, Status>> + Send>>;

/// Edge events a `LineEvents` stream holds for a client that has not read them; the rest wait
/// in their lines' queues (`lines::QUEUE_EDGES` each), where the oldest give way.
const LINE_EVENTS_BUFFERED: usize = 16;

/// A duration as `Status` reports it.
fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

impl Service {
    /// The buses a Watch asks for: those it names, each existing and open to watching, or
    /// every bus the policy lets it watch.
    fn watched_buses(&self, asked: Vec<u32>) -> Result<BTreeSet<u32>, Status> {
        if asked.is_empty() {
            return Ok(self.buses.keys().copied().filter(|&n| self.policy.may_watch(n).is_ok()).collect());
        }
        for &n in &asked {
            if !self.buses.contains_key(&n) {
                return Err(Status::not_found(format!("buses: bus {n} does not exist")));
            }
            self.policy.may_watch(n).map_err(|denied| Status::permission_denied(denied.0))?;
        }
        Ok(asked.into_iter().collect())
    }
}

/// A stream of requests that ends when the server begins to shut down, so that a client
/// keeping its stream open does not hold the shutdown up.
struct UntilStopped<S> {
    inner: S,
    stopped: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl<S: Stream + Unpin> Stream for UntilStopped<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.inner).poll_next(cx)
    }
}
