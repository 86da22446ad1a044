//! [`Link`]: how a bus's transactions reach its session on the server, and what is repeated
//! behind the caller's back when that fails — only where it is safe.
//!
//! A session the server no longer knows (it expired) is reopened and the call sent again: the
//! server refuses such a call before touching the bus, so nothing ran. A connection that broke
//! mid-call is re-established and the call repeated only if it sends the device nothing but
//! addresses and register numbers (`Op::sends`); otherwise the caller learns that a write may
//! or may not have happened.
//!
//! A session with a resume window (the default) numbers its transactions. When the connection
//! breaks, the link reconnects with backoff and takes the session up again (`recover`), then
//! sends again every transaction it has no answer for, under the same numbers: the server
//! answers one it already ran from its record, so each runs exactly once, and the program
//! sees nothing but the wait. If the connection stays down past `BusOptions::outage_wait`,
//! or the session is gone (the server restarted, or the window ran out), the call fails
//! saying which.
//!
//! With pipelining on, calls that return no data are sent without waiting for their answers
//! (`queue`), which come back in order and are read when the window is full or at the next
//! flush point (`flush`: every `round_trip`, lock, unlock and close starts with one). Each
//! pipelined transaction carries a fence; the server runs none after a failed one with the
//! same fence, and the fence moves on only once the failure has been reported, so a failed
//! write stops everything queued after it from reaching the bus until the program knows.

use crate::error::{Error, Lost, Result};
use crate::grpc::{Dialer, Grpc, again_if_connection_broke};
use crate::session::{BusOptions, Connection, MAX_PIPELINE, Session, Sessions};
use crate::stream::Stream;
use smbus_proxy_wire::{Command, Dir, LineSettings, Op, Returns, Sends, Step, encode, pb};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// What a transaction is made of, as the link sends it: operations ([`Op`], what most calls
/// send) or steps ([`Step`], which may wait on the bus).
pub(crate) trait Part {
    fn encode(&self) -> pb::Op;
    fn name(&self) -> &'static str;
    /// What it sends the device, which says whether sending it again is safe.
    fn sends(&self) -> Sends;
    fn returns(&self) -> Returns<'_>;
    /// The bus operation in it, if any.
    fn op(&self) -> Option<&Op>;
    /// Whether a pipelined bus need not wait for its answer: it returns no data and is not a
    /// probe (a quick write, or a transfer of empty writes), whose acknowledgement is all it
    /// is for.
    fn pipelines(&self) -> bool;
}

impl Part for Op {
    fn encode(&self) -> pb::Op {
        encode::op(self)
    }
    fn name(&self) -> &'static str {
        Op::name(self)
    }
    fn sends(&self) -> Sends {
        Op::sends(self)
    }
    fn returns(&self) -> Returns<'_> {
        Op::returns(self)
    }
    fn op(&self) -> Option<&Op> {
        Some(self)
    }
    fn pipelines(&self) -> bool {
        let probe = match self {
            Op::Smbus { command, .. } => matches!(command, Command::WriteQuick { .. }),
            Op::Transfer(msgs) => msgs.iter().all(|m| matches!(&m.dir, Dir::Write(data) if data.is_empty())),
        };
        returns_nothing(self.returns()) && !probe
    }
}

impl Part for Step {
    fn encode(&self) -> pb::Op {
        encode::step(self)
    }
    fn name(&self) -> &'static str {
        Step::name(self)
    }
    fn sends(&self) -> Sends {
        Step::sends(self)
    }
    fn returns(&self) -> Returns<'_> {
        Step::returns(self)
    }
    fn op(&self) -> Option<&Op> {
        Step::op(self)
    }
    /// A poll is no probe: the program asked the server to wait for the answer.
    fn pipelines(&self) -> bool {
        match self {
            Step::Op(op) => op.pipelines(),
            Step::Wait(_) | Step::Poll(_) | Step::Line(_) => returns_nothing(self.returns()),
        }
    }
}

/// `answer`, or `Err(limit)` if the call timeout (`limit`, when there is one) ran out first.
async fn in_time<T>(limit: Option<Duration>, answer: impl Future<Output = T>) -> Result<T, Duration> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, answer).await.map_err(|_| limit),
        None => Ok(answer.await),
    }
}

fn returns_nothing(returns: Returns<'_>) -> bool {
    match returns {
        Returns::Done => true,
        Returns::Reads(msgs) => msgs.iter().all(|m| m.reads_at_most().is_none()),
        Returns::Byte | Returns::Word | Returns::Block(_) | Returns::Level | Returns::Edge(_) => false,
    }
}

pub(crate) struct Link {
    grpc: Grpc,
    /// How to connect anew when the connection breaks.
    dialer: Dialer,
    /// The client's keep-alive, which a reopened session joins.
    sessions: Sessions,
    options: BusOptions,
    session: Arc<Session>,
    /// The bus, as the server described it when the session opened.
    pub(crate) info: pb::BusInfo,
    stream: Option<Stream>,
    /// Whether the session holds the bus's exclusive lock.
    pub(crate) locked: bool,
    closed: bool,
    pipeline: Pipeline,
    /// The numbers of the session's transactions, with a resume window.
    numbers: Numbers,
    /// The GPIO lines the session holds, with their settings, to request again on a new
    /// session.
    lines: Vec<(String, LineSettings)>,
}

/// A resumable session's transaction numbers: the last one sent, and the last one answered
/// (answers come in order, so every one before it was answered too).
#[derive(Clone, Copy, Default)]
struct Numbers {
    sent: u64,
    answered: u64,
}

/// Why a broken connection could not be got over.
enum Gone {
    /// It stayed down this long, the most the program waits.
    Down(Duration),
    /// The session is gone.
    Lost(Lost),
}

/// Pipelined transactions in flight, and what became of those already answered.
#[derive(Default)]
struct Pipeline {
    /// Sent and not yet answered, oldest first.
    in_flight: VecDeque<Queued>,
    /// The fence pipelined transactions carry: from 1, the next after each reported failure.
    fence: u64,
    /// Pipelined calls so far, which numbers them in errors.
    calls: u64,
    /// The first failure since the last flush point, to report at the next.
    failure: Option<Error>,
}

struct Queued {
    position: u64,
    /// Its operations' names and devices, to name the one that failed.
    ops: Box<[(&'static str, Option<u16>)]>,
    /// What was sent, to send again after a broken connection (numbered sessions only).
    request: Option<pb::ExecuteRequest>,
    /// What the server's record counts it at until it is acknowledged (`encode::kept_bytes`).
    kept: usize,
}

impl Link {
    /// Opens a session on bus `number` over `connection`, which keeps it alive while idle.
    pub(crate) async fn open(connection: &Connection, number: u32, options: BusOptions) -> Result<Link> {
        if options.pipeline > MAX_PIPELINE {
            return Err(Error::Rejected {
                code: tonic::Code::InvalidArgument,
                message: format!("pipeline: {} is out of range 0–{MAX_PIPELINE}", options.pipeline),
            });
        }
        let (grpc, sessions, dialer) =
            (connection.grpc.clone(), connection.sessions.clone(), connection.dialer.clone());
        let (session, info) = Session::open(&grpc, number, options).await?;
        sessions.add(&session);
        let pipeline = Pipeline { fence: 1, ..Pipeline::default() };
        Ok(Link {
            grpc,
            dialer,
            sessions,
            options,
            session,
            info,
            stream: None,
            locked: false,
            closed: false,
            pipeline,
            numbers: Numbers::default(),
            lines: Vec::new(),
        })
    }

    /// A transaction as a request: numbered, if the session can be resumed.
    fn request<P: Part>(&mut self, ops: &[P], keep_going: bool, fence: u64) -> pb::ExecuteRequest {
        let (seq, acked) = match self.session.resume {
            Some(_) => {
                self.numbers.sent += 1;
                (self.numbers.sent, self.numbers.answered)
            }
            None => (0, 0),
        };
        pb::ExecuteRequest {
            session: self.session.id(),
            ops: ops.iter().map(P::encode).collect(),
            keep_going,
            fence,
            seq,
            acked,
        }
    }

    /// The connection broke `since` then: reconnects with backoff and takes the session up
    /// again, until the program's outage wait runs out.
    async fn recover(&mut self, since: tokio::time::Instant) -> Result<(), Gone> {
        self.stream = None;
        let Some(resume) = &self.session.resume else { return Err(Gone::Down(since.elapsed())) };
        let limit = self.options.outage_wait.unwrap_or(resume.window);
        let session = &self.session;
        let settled = self
            .dialer
            .again(since, limit, async |mut grpc| match session.resume(&mut grpc).await {
                Ok(_) => Some((grpc, None)),
                Err(status) if status.code() == tonic::Code::NotFound => {
                    // Gone: from this run of the server, or with the server.
                    let listed = grpc.list_buses(pb::ListBusesRequest {}).await;
                    let restarted = listed.is_ok_and(|l| *l.into_inner().instance != *resume.instance);
                    Some((grpc, Some(if restarted { Lost::ServerRestarted } else { Lost::Expired })))
                }
                Err(_) => None,
            })
            .await;
        let (grpc, lost) = settled.map_err(Gone::Down)?;
        // A new session, if the caller opens one after a loss, goes on this connection.
        self.grpc = grpc;
        lost.map_or(Ok(()), |why| Err(Gone::Lost(why)))
    }

    /// Sends a transaction and waits for its answer, reopening what can safely be reopened.
    /// Waits for the pipeline first.
    pub(crate) async fn round_trip<P: Part>(
        &mut self,
        ops: &[P],
        keep_going: bool,
    ) -> Result<pb::ExecuteResponse> {
        self.flush().await?;
        let first = || ops.first().map_or("transaction", P::name);
        // A read may run twice if the connection broke after the server ran it; sending a
        // register number again is harmless, sending data is not.
        let writes = ops.iter().any(|op| op.sends() > Sends::Register);
        let mut reopened = false;
        let mut reconnected = false;
        let mut outage = None;
        let mut request = self.request(ops, keep_going, 0);
        loop {
            let answer = match in_time(self.options.call_timeout, self.send(request.clone())).await {
                Ok(answer) => answer,
                Err(after) => {
                    self.cancel().await;
                    return Err(Error::TimedOut { op: first(), after });
                }
            };
            let reply = match answer {
                Ok(reply) => reply,
                Err(cause) if self.session.resume.is_some() => {
                    let since = *outage.get_or_insert_with(tokio::time::Instant::now);
                    match self.recover(since).await {
                        // Sent again under its number: answered from the record if it ran.
                        Ok(()) => continue,
                        Err(Gone::Down(after)) => {
                            return Err(Error::LinkDown { op: first(), after, cause: cause.into() });
                        }
                        // Nothing of the session is left; a transaction that is safe to repeat
                        // runs on a new one, unless the lock went with the old.
                        Err(Gone::Lost(_)) if !writes && !self.locked && !reopened => {
                            self.reopen().await?;
                            reopened = true;
                            request = self.request(ops, keep_going, 0);
                            continue;
                        }
                        Err(Gone::Lost(why)) => {
                            self.locked = false;
                            return Err(Error::SessionLost { op: first(), why });
                        }
                    }
                }
                Err(cause) => {
                    self.stream = None;
                    if writes || reconnected {
                        return Err(Error::OutcomeUnknown { op: first(), cause: cause.into() });
                    }
                    reconnected = true;
                    continue;
                }
            };
            self.session.touch();
            self.numbers.answered = self.numbers.answered.max(request.seq);
            match reply.reply {
                Some(pb::stream_reply::Reply::Response(r)) => return Ok(r),
                Some(pb::stream_reply::Reply::Rejected(r)) => {
                    let code = tonic::Code::from_i32(r.code);
                    // Refused before the bus was touched, so sending it again is safe, writes
                    // included; but not if the session held the lock, which is now gone.
                    if code == tonic::Code::NotFound && !reopened {
                        if self.locked {
                            self.locked = false;
                            return Err(Error::LockLost { bus: self.info.number });
                        }
                        self.reopen().await?;
                        reopened = true;
                        request = self.request(ops, keep_going, 0);
                        continue;
                    }
                    return Err(Error::Rejected { code, message: r.message });
                }
                None => return Err(Error::protocol("an empty reply")),
            }
        }
    }

    /// Whether calls that return no data are pipelined.
    pub(crate) fn pipelined(&self) -> bool {
        self.options.pipeline > 0
    }

    /// Sends a transaction that returns no data without waiting for its answer, once fewer
    /// than the window are in flight. A failure shows at the next flush point.
    pub(crate) async fn queue<P: Part>(&mut self, ops: &[P]) -> Result<()> {
        while self.pipeline.in_flight.len() >= self.options.pipeline {
            self.receive().await;
        }
        self.pipeline.calls += 1;
        // The server keeps the outcomes of what it has not seen acknowledged, within a bound:
        // beyond it, the answers in flight are read first (which this request acknowledges).
        let kept = match self.session.resume.as_ref().map(|resume| resume.record_bytes) {
            Some(most) => {
                let kept = encode::kept_bytes(ops.iter().map(P::returns), false);
                while !self.pipeline.in_flight.is_empty()
                    && self.pipeline.in_flight.iter().map(|q| q.kept).sum::<usize>() + kept > most
                {
                    self.receive().await;
                }
                kept
            }
            None => 0,
        };
        let request = self.request(ops, false, self.pipeline.fence);
        let queued = Queued {
            position: self.pipeline.calls,
            ops: ops.iter().map(|p| (p.name(), p.op().and_then(Op::device))).collect(),
            request: (request.seq != 0).then(|| request.clone()),
            kept,
        };
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => match Stream::open(&self.grpc).await {
                Ok(stream) => self.stream.insert(stream),
                Err(status) if self.session.resume.is_some() => {
                    self.pipeline.in_flight.push_back(queued);
                    self.broke(status).await;
                    return Ok(());
                }
                Err(status) => {
                    self.fail(&queued, Error::status(status));
                    return Ok(());
                }
            },
        };
        match stream.send(request).await {
            Ok(()) => self.pipeline.in_flight.push_back(queued),
            Err(cause) if queued.request.is_some() => {
                self.pipeline.in_flight.push_back(queued);
                self.broke(cause).await;
            }
            Err(cause) => self.broke_unnumbered(&queued, cause),
        }
        Ok(())
    }

    /// Waits for every pipelined transaction's answer, and reports the first that failed.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        self.settle().await;
        match self.pipeline.failure.take() {
            // Told now: what is queued from here on runs again.
            Some(failure) => {
                self.pipeline.fence += 1;
                Err(failure)
            }
            None => Ok(()),
        }
    }

    /// Waits for every pipelined transaction's answer, and keeps a failure for the next flush
    /// point to report: for a caller that cannot report one, which must then not consume it
    /// (and so let what is queued after it run).
    pub(crate) async fn settle(&mut self) {
        while !self.pipeline.in_flight.is_empty() {
            self.receive().await;
        }
    }

    /// Ends the call whose answer did not come in time. Cancelling the stream cancels the
    /// call: the server drops a transaction still waiting for the bus when its caller is gone.
    async fn cancel(&mut self) {
        if let Some(stream) = self.stream.take() {
            stream.cancel().await;
        }
    }

    /// Reads the answer of the oldest pipelined transaction.
    async fn receive(&mut self) {
        let Some(stream) = &mut self.stream else {
            let Some(queued) = self.pipeline.in_flight.pop_front() else { return };
            return self.fail(&queued, Error::protocol("a pipelined call without its stream"));
        };
        let Some(queued) = self.pipeline.in_flight.front() else { return };
        let numbered = queued.request.is_some();
        let answer = in_time(self.options.call_timeout, stream.reply()).await;
        let reply = match answer {
            Ok(Ok(reply)) => reply,
            // Numbered: it is sent again, with the rest, and this reads its answer then.
            Ok(Err(cause)) if numbered => return self.broke(cause).await,
            Ok(Err(cause)) => {
                let queued = self.pipeline.in_flight.pop_front().expect("the oldest in flight");
                return self.broke_unnumbered(&queued, cause);
            }
            Err(after) => {
                let queued = self.pipeline.in_flight.pop_front().expect("the oldest in flight");
                self.cancel().await;
                let op = queued.ops.first().map_or("transaction", |&(name, _)| name);
                self.fail(&queued, Error::TimedOut { op, after });
                return self.pipeline.in_flight.clear();
            }
        };
        let queued = self.pipeline.in_flight.pop_front().expect("the oldest in flight");
        if let Some(request) = &queued.request {
            self.numbers.answered = self.numbers.answered.max(request.seq);
        }
        self.session.touch();
        match reply.reply {
            Some(pb::stream_reply::Reply::Response(r)) => {
                if let Some(e) = r.error {
                    let (op, device) =
                        queued.ops.get(e.index as usize).copied().unwrap_or(("operation", None));
                    self.fail(&queued, Error::bus(&e, op, device));
                }
            }
            Some(pb::stream_reply::Reply::Rejected(r)) => {
                let code = tonic::Code::from_i32(r.code);
                // After a failure the server skips the rest of its fence: expected, not news.
                let skipped = code == tonic::Code::Aborted && self.pipeline.failure.is_some();
                if !skipped {
                    self.fail(&queued, Error::Rejected { code, message: r.message });
                }
            }
            None => self.fail(&queued, Error::protocol("an empty reply")),
        }
    }

    /// The connection broke with numbered pipelined transactions in flight: once the session
    /// is taken up again, they are all sent again, in order, under their numbers, and their
    /// answers read as if nothing happened. If it cannot be, whether they ran is unknown, and
    /// the first is the one to report.
    async fn broke(&mut self, mut cause: tonic::Status) {
        let since = tokio::time::Instant::now();
        loop {
            match self.recover(since).await {
                Ok(()) => match self.send_again().await {
                    Ok(()) => return,
                    Err(again) => cause = again,
                },
                Err(gone) => {
                    let Some(queued) = self.pipeline.in_flight.pop_front() else { return };
                    let op = queued.ops.first().map_or("transaction", |&(name, _)| name);
                    let error = match gone {
                        Gone::Down(after) => Error::LinkDown { op, after, cause: cause.into() },
                        Gone::Lost(why) => {
                            self.locked = false;
                            Error::SessionLost { op, why }
                        }
                    };
                    self.fail(&queued, error);
                    return self.pipeline.in_flight.clear();
                }
            }
        }
    }

    /// Sends every pipelined transaction in flight again, on a new stream.
    async fn send_again(&mut self) -> Result<(), tonic::Status> {
        let mut stream = Stream::open(&self.grpc).await?;
        for queued in &self.pipeline.in_flight {
            if let Some(request) = &queued.request {
                stream.send(request.clone()).await?;
            }
        }
        self.stream = Some(stream);
        Ok(())
    }

    /// The connection broke with pipelined transactions in flight on a session that cannot
    /// be resumed: whether they ran is unknown, and the first is the one to report.
    fn broke_unnumbered(&mut self, queued: &Queued, cause: tonic::Status) {
        self.stream = None;
        let op = queued.ops.first().map_or("transaction", |&(name, _)| name);
        self.fail(queued, Error::OutcomeUnknown { op, cause: cause.into() });
        self.pipeline.in_flight.clear();
    }

    fn fail(&mut self, queued: &Queued, error: Error) {
        if self.pipeline.failure.is_none() {
            self.pipeline.failure =
                Some(Error::Pipelined { position: queued.position, source: Box::new(error) });
        }
    }

    /// One request on the stream, opening the stream if need be. An error means the
    /// connection broke.
    async fn send(&mut self, request: pb::ExecuteRequest) -> Result<pb::StreamReply, tonic::Status> {
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => self.stream.insert(Stream::open(&self.grpc).await?),
        };
        stream.call(request).await
    }

    async fn reopen(&mut self) -> Result<()> {
        let (session, info) = Session::open(&self.grpc, self.info.number, self.options).await?;
        self.sessions.add(&session);
        self.session = session;
        self.info = info;
        self.numbers = Numbers::default();
        // The lines went with the old session; the new one takes them again.
        if !self.lines.is_empty() {
            let lines = std::mem::take(&mut self.lines);
            self.request_lines(&lines).await?;
        }
        Ok(())
    }

    /// Requests lines for the session, all or none; a line it holds takes the new settings.
    /// After the calls queued before it have run.
    pub(crate) async fn request_lines(
        &mut self,
        lines: &[(String, LineSettings)],
    ) -> Result<Vec<pb::LineInfo>> {
        self.flush().await?;
        let request = pb::RequestLinesRequest {
            session: self.session.id(),
            lines: lines
                .iter()
                .map(|(name, s)| pb::LineRequest {
                    line: name.clone(),
                    settings: Some(encode::line_settings(s)),
                })
                .collect(),
        };
        // Requesting again is harmless: a line held takes the same settings.
        let grpc = &self.grpc;
        let answer = again_if_connection_broke(|| {
            let mut grpc = grpc.clone();
            let request = request.clone();
            async move { grpc.request_lines(request).await }
        })
        .await
        .map_err(Error::status)?
        .into_inner();
        self.session.touch();
        for (name, settings) in lines {
            match self.lines.iter_mut().find(|(n, _)| n == name) {
                Some(held) => held.1 = *settings,
                None => self.lines.push((name.clone(), *settings)),
            }
        }
        Ok(answer.lines)
    }

    /// Gives lines back, after the calls queued before.
    pub(crate) async fn release_lines(&mut self, names: &[String]) -> Result<()> {
        self.flush().await?;
        let request = pb::ReleaseLinesRequest { session: self.session.id(), lines: names.to_vec() };
        self.grpc.release_lines(request).await.map_err(Error::status)?;
        self.session.touch();
        self.lines.retain(|(n, _)| !names.contains(n));
        Ok(())
    }

    /// Gives a line back without waiting, for a drop.
    pub(crate) fn release_soon(&mut self, name: &str) {
        if let Some(at) = self.lines.iter().position(|(n, _)| n == name) {
            self.lines.remove(at);
            let lines = vec![name.to_owned()];
            self.in_background(|mut grpc, session| async move {
                let _ = grpc.release_lines(pb::ReleaseLinesRequest { session, lines }).await;
            });
        }
    }

    /// The session's id, for a call of its own (a line's event stream).
    pub(crate) fn session_id(&self) -> String {
        self.session.id()
    }

    /// The connection's client, for a call of its own.
    pub(crate) fn grpc(&self) -> Grpc {
        self.grpc.clone()
    }

    pub(crate) async fn lock(&mut self, wait: Duration) -> Result<()> {
        self.flush().await?;
        let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        let request = pb::LockRequest { session: self.session.id(), wait_ms: wait_ms.into() };
        self.grpc.lock(request).await.map_err(Error::status)?;
        self.session.touch();
        self.locked = true;
        Ok(())
    }

    pub(crate) async fn unlock(&mut self) -> Result<()> {
        let flushed = self.flush().await;
        self.locked = false;
        self.grpc.unlock(pb::UnlockRequest { session: self.session.id() }).await.map_err(Error::status)?;
        self.session.touch();
        flushed
    }

    /// Releases the lock without waiting, for a drop.
    pub(crate) fn unlock_soon(&mut self) {
        if std::mem::replace(&mut self.locked, false) {
            self.in_background(|mut grpc, session| async move {
                let _ = grpc.unlock(pb::UnlockRequest { session }).await;
            });
        }
    }

    /// Sends a call from a task, for a drop, which cannot wait. Without a runtime to run it,
    /// the server does the same when the session's lease runs out.
    fn in_background<F, Fut>(&self, call: F)
    where
        F: FnOnce(Grpc, String) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(call(self.grpc.clone(), self.session.id()));
        }
    }

    /// Ends the session now, freeing what it holds.
    pub(crate) async fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let flushed = self.flush().await;
        self.closed = true;
        self.stream = None;
        self.grpc.close(pb::CloseRequest { session: self.session.id() }).await.map_err(Error::status)?;
        flushed
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if !self.closed {
            // Pipelined transactions still in flight run before the session closes: a Close
            // overtaking them on its own HTTP/2 stream would leave them to find it gone.
            let (stream, in_flight) = (self.stream.take(), self.pipeline.in_flight.len());
            self.in_background(|mut grpc, session| async move {
                if let Some(mut stream) = stream {
                    for _ in 0..in_flight {
                        if stream.reply().await.is_err() {
                            break;
                        }
                    }
                }
                let _ = grpc.close(pb::CloseRequest { session }).await;
            });
        }
    }
}
