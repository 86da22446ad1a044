//! [`Link`]: how a bus's transactions reach its session on the server, and what is repeated
//! behind the caller's back when that fails — only where it is safe.
//!
//! A session the server no longer knows (it expired) is reopened and the call sent again: the
//! server refuses such a call before touching the bus, so nothing ran. A connection that broke
//! mid-call is re-established and the call repeated only if it sends the device nothing but
//! addresses and register numbers (`Op::sends`); otherwise the caller learns that a write may
//! or may not have happened.

use crate::error::{Error, Result};
use crate::grpc::Grpc;
use crate::session::{BusOptions, Connection, Session, Sessions};
use crate::stream::Stream;
use smbus_proxy_wire::{Op, Sends, encode, pb};
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Link {
    grpc: Grpc,
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
}

impl Link {
    /// Opens a session on bus `number` over `connection`, which keeps it alive while idle.
    pub(crate) async fn open(connection: &Connection, number: u32, options: BusOptions) -> Result<Link> {
        let (grpc, sessions) = (connection.grpc.clone(), connection.sessions.clone());
        let (session, info) = Session::open(&grpc, number, options).await?;
        sessions.add(&session);
        Ok(Link { grpc, sessions, options, session, info, stream: None, locked: false, closed: false })
    }

    /// Sends a transaction and waits for its answer, reopening what can safely be reopened.
    pub(crate) async fn round_trip(&mut self, ops: &[Op], keep_going: bool) -> Result<pb::ExecuteResponse> {
        let first = || ops.first().map_or("transaction", Op::name);
        let mut reopened = false;
        let mut reconnected = false;
        loop {
            let request = pb::ExecuteRequest {
                session: self.session.id(),
                ops: ops.iter().map(encode::op).collect(),
                keep_going,
            };
            let answer = match self.options.call_timeout {
                Some(limit) => match tokio::time::timeout(limit, self.send(request)).await {
                    Ok(answer) => answer,
                    Err(_) => {
                        // Cancelling the stream cancels the call: the server drops a
                        // transaction still waiting for the bus when its caller is gone.
                        if let Some(stream) = self.stream.take() {
                            stream.cancel().await;
                        }
                        return Err(Error::TimedOut { op: first(), after: limit });
                    }
                },
                None => self.send(request).await,
            };
            let reply = match answer {
                Ok(reply) => reply,
                Err(cause) => {
                    self.stream = None;
                    // A read may run twice if the connection broke after the server ran it;
                    // sending a register number again is harmless, sending data is not.
                    let writes = ops.iter().any(|op| op.sends() > Sends::Register);
                    if writes || reconnected {
                        return Err(Error::OutcomeUnknown { op: first(), cause: Box::new(cause) });
                    }
                    reconnected = true;
                    continue;
                }
            };
            self.session.touch();
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
                        continue;
                    }
                    return Err(Error::Rejected { code, message: r.message });
                }
                None => return Err(Error::protocol("an empty reply")),
            }
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
        Ok(())
    }

    pub(crate) async fn lock(&mut self, wait: Duration) -> Result<()> {
        let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        let request = pb::LockRequest { session: self.session.id(), wait_ms: wait_ms.into() };
        self.grpc.lock(request).await.map_err(Error::status)?;
        self.session.touch();
        self.locked = true;
        Ok(())
    }

    pub(crate) async fn unlock(&mut self) -> Result<()> {
        self.locked = false;
        self.grpc.unlock(pb::UnlockRequest { session: self.session.id() }).await.map_err(Error::status)?;
        self.session.touch();
        Ok(())
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
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        self.stream = None;
        self.grpc.close(pb::CloseRequest { session: self.session.id() }).await.map_err(Error::status)?;
        Ok(())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if !self.closed {
            self.in_background(|mut grpc, session| async move {
                let _ = grpc.close(pb::CloseRequest { session }).await;
            });
        }
    }
}
