//! [`Bus`]: a session on one remote bus, with smbus2's methods.
//!
//! Calls travel on one long-lived `ExecuteStream` per bus, opened on first use: a message
//! each way instead of a new HTTP/2 stream per call, which measured about twice as fast.
//!
//! Two things are repeated behind the caller's back, and only when that is safe. A session
//! the server no longer knows (it expired) is reopened and the call sent again: the server
//! refuses such a call before touching the bus, so nothing ran. A connection that broke
//! mid-call is re-established and the call repeated only if it sends the device nothing but
//! addresses and register numbers (`Op::sends`); otherwise the caller learns that a write
//! may or may not have happened.

use crate::Client;
use crate::batch::{Batch, FromReply, Results};
use crate::client::Grpc;
use crate::error::{Error, Result};
use bytes::Bytes;
use smbus_proxy_wire::pb;
use smbus_proxy_wire::{Command, Errno, Msg, Op, Reply, Sends, Target, decode, encode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Settings for a session: the adapter's (see `OpenRequest` in the protocol), and how long a
/// call may wait for its answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusOptions {
    /// Adapter timeout (I2C_TIMEOUT), 10 ms to 60 s in steps of 10 ms.
    pub timeout: Option<Duration>,
    /// Retries on arbitration loss (I2C_RETRIES), 0–16.
    pub retries: Option<u32>,
    /// How long each transaction may wait for its answer, queueing behind other clients'
    /// included; past it the call fails with [`Error::TimedOut`]. A transaction that had not
    /// reached the bus by then never does; one already running completes. `None`: wait for
    /// as long as it takes.
    pub call_timeout: Option<Duration>,
}

/// What the keep-alive shares with the bus handle.
pub(crate) struct Session {
    id: Mutex<String>,
    pub(crate) lease: Duration,
    last_used_us: AtomicU64,
}

fn now_us() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

impl Session {
    fn id(&self) -> String {
        self.id.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn touch(&self) {
        self.last_used_us.store(now_us(), Ordering::Relaxed);
    }

    pub(crate) fn quiet_for(&self) -> Duration {
        Duration::from_micros(now_us().saturating_sub(self.last_used_us.load(Ordering::Relaxed)))
    }

    pub(crate) async fn keep_alive(&self, mut grpc: Grpc) {
        // A failure needs no handling here: the next call finds the session gone and reopens it.
        if grpc.keep_alive(pb::KeepAliveRequest { session: self.id() }).await.is_ok() {
            self.touch();
        }
    }
}

struct Stream {
    requests: mpsc::Sender<pb::ExecuteRequest>,
    replies: tonic::Streaming<pb::StreamReply>,
}

/// A session on one remote bus. Dropping it (or [`Bus::close`]) ends the session.
pub struct Bus {
    /// Keeps the connection and its keep-alive running as long as any bus is open.
    _client: Client,
    grpc: Grpc,
    info: pb::BusInfo,
    options: BusOptions,
    session: Arc<Session>,
    stream: Option<Stream>,
    pub(crate) locked: bool,
    closed: bool,
    /// Flags applied to every SMBus operation, as smbus2's `pec` and `force`, and I2C_TENBIT.
    pec: bool,
    force: bool,
    ten_bit: bool,
}

impl Bus {
    pub(crate) async fn open(client: Client, number: u32, options: BusOptions) -> Result<Bus> {
        let grpc = client.inner.grpc.clone();
        let (id, info, lease) = open_session(grpc.clone(), number, options).await?;
        let session = Arc::new(Session { id: Mutex::new(id), lease, last_used_us: AtomicU64::new(now_us()) });
        Ok(Bus {
            _client: client,
            grpc,
            info,
            options,
            session,
            stream: None,
            locked: false,
            closed: false,
            pec: false,
            force: false,
            ten_bit: false,
        })
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// The bus number (the N of /dev/i2c-N on the server).
    pub fn number(&self) -> u32 {
        self.info.number
    }

    /// The adapter's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The adapter's functionality: the I2C_FUNCS bits (`smbus_proxy_wire::funcs`).
    pub fn funcs(&self) -> u64 {
        self.info.funcs
    }

    /// Packet error checking on every SMBus operation from now on (smbus2's `pec`).
    pub fn set_pec(&mut self, on: bool) {
        self.pec = on;
    }

    pub fn pec(&self) -> bool {
        self.pec
    }

    /// Use addresses even if a kernel driver owns them (I2C_SLAVE_FORCE; smbus2's `force`).
    pub fn set_force(&mut self, on: bool) {
        self.force = on;
    }

    pub fn force(&self) -> bool {
        self.force
    }

    /// Treat SMBus addresses as 10-bit (I2C_TENBIT).
    pub fn set_ten_bit(&mut self, on: bool) {
        self.ten_bit = on;
    }

    pub fn ten_bit(&self) -> bool {
        self.ten_bit
    }

    /// The target of an SMBus operation with this bus's flags.
    pub fn target(&self, addr: u16) -> Target {
        Target { addr, ten_bit: self.ten_bit, pec: self.pec, force: self.force }
    }

    /// An empty batch whose SMBus operations carry this bus's flags.
    pub fn batch(&self) -> Batch {
        Batch::with_flags(self.target(0))
    }

    async fn one<T: FromReply>(&mut self, addr: u16, command: Command) -> Result<T> {
        let op = Op::Smbus { target: self.target(addr), command };
        let mut replies = self.execute(std::slice::from_ref(&op)).await?;
        let reply = replies.pop().ok_or_else(|| Error::Protocol("no result".into()))?;
        T::from_reply(reply).ok_or_else(|| Error::Protocol("a result of the wrong type".into()))
    }

    /// Sends the address alone with R/W bit 0 (a quick write): is anybody there?
    pub async fn write_quick(&mut self, addr: u16) -> Result<()> {
        self.one(addr, Command::WriteQuick { bit: 0 }).await
    }

    pub async fn read_byte(&mut self, addr: u16) -> Result<u8> {
        self.one(addr, Command::ReadByte).await
    }

    pub async fn write_byte(&mut self, addr: u16, value: u8) -> Result<()> {
        self.one(addr, Command::WriteByte { value }).await
    }

    pub async fn read_byte_data(&mut self, addr: u16, reg: u8) -> Result<u8> {
        self.one(addr, Command::ReadByteData { reg }).await
    }

    pub async fn write_byte_data(&mut self, addr: u16, reg: u8, value: u8) -> Result<()> {
        self.one(addr, Command::WriteByteData { reg, value }).await
    }

    pub async fn read_word_data(&mut self, addr: u16, reg: u8) -> Result<u16> {
        self.one(addr, Command::ReadWordData { reg }).await
    }

    pub async fn write_word_data(&mut self, addr: u16, reg: u8, value: u16) -> Result<()> {
        self.one(addr, Command::WriteWordData { reg, value }).await
    }

    /// Writes a word to `reg` and reads the device's word answer.
    pub async fn process_call(&mut self, addr: u16, reg: u8, value: u16) -> Result<u16> {
        self.one(addr, Command::ProcessCall { reg, value }).await
    }

    /// An SMBus block read: the device says how many bytes (1–32) it sends.
    pub async fn read_block_data(&mut self, addr: u16, reg: u8) -> Result<Bytes> {
        self.one(addr, Command::ReadBlockData { reg }).await
    }

    /// An SMBus block write of 1–32 bytes, preceded on the wire by their count.
    pub async fn write_block_data(&mut self, addr: u16, reg: u8, data: &[u8]) -> Result<()> {
        self.one(addr, Command::WriteBlockData { reg, data: Bytes::copy_from_slice(data) }).await
    }

    /// Writes a block of 1–32 bytes and reads the device's block answer.
    pub async fn block_process_call(&mut self, addr: u16, reg: u8, data: &[u8]) -> Result<Bytes> {
        self.one(addr, Command::BlockProcessCall { reg, data: Bytes::copy_from_slice(data) }).await
    }

    /// Reads `len` (1–32) bytes from `reg` on.
    pub async fn read_i2c_block_data(&mut self, addr: u16, reg: u8, len: u8) -> Result<Bytes> {
        self.one(addr, Command::ReadI2cBlockData { reg, len }).await
    }

    /// Writes 1–32 bytes from `reg` on.
    pub async fn write_i2c_block_data(&mut self, addr: u16, reg: u8, data: &[u8]) -> Result<()> {
        self.one(addr, Command::WriteI2cBlockData { reg, data: Bytes::copy_from_slice(data) }).await
    }

    /// A combined I2C transfer (I2C_RDWR): the messages are joined by repeated starts. Returns
    /// the bytes of each read message, in order.
    pub async fn i2c_rdwr(&mut self, msgs: Vec<Msg>) -> Result<Vec<Bytes>> {
        let mut replies = self.execute(&[Op::Transfer(msgs)]).await?;
        match replies.pop() {
            Some(Reply::Transfer(reads)) => Ok(reads),
            _ => Err(Error::Protocol("a transfer without its reads".into())),
        }
    }

    /// Runs a batch as one transaction, in one round trip: no other client's operation runs
    /// between its operations.
    pub async fn run(&mut self, batch: Batch) -> Result<Results> {
        let ops = batch.into_ops();
        let replies = self.execute(&ops).await?;
        Results::new(&ops, replies)
    }

    /// Takes the bus exclusively until the guard is dropped or unlocked, waiting up to `wait`
    /// for another session's lock to go.
    pub async fn lock(&mut self, wait: Duration) -> Result<LockGuard<'_>> {
        self.lock_inner(wait).await?;
        Ok(LockGuard { bus: self })
    }

    pub(crate) async fn lock_inner(&mut self, wait: Duration) -> Result<()> {
        let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        let request = pb::LockRequest { session: self.session.id(), wait_ms: wait_ms.into() };
        self.grpc.lock(request).await.map_err(Error::status)?;
        self.session.touch();
        self.locked = true;
        Ok(())
    }

    pub(crate) async fn unlock_inner(&mut self) -> Result<()> {
        self.locked = false;
        self.grpc.unlock(pb::UnlockRequest { session: self.session.id() }).await.map_err(Error::status)?;
        self.session.touch();
        Ok(())
    }

    /// Ends the session now, freeing what it holds.
    pub async fn close(mut self) -> Result<()> {
        self.close_inner().await
    }

    pub(crate) async fn close_inner(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        self.stream = None;
        self.grpc.close(pb::CloseRequest { session: self.session.id() }).await.map_err(Error::status)?;
        Ok(())
    }

    /// Runs operations as one transaction and returns their replies; the first failing
    /// operation becomes [`Error::Bus`].
    pub async fn execute(&mut self, ops: &[Op]) -> Result<Vec<Reply>> {
        self.check_funcs(ops)?;
        let response = self.round_trip(ops, false).await?;
        if let Some(e) = response.error {
            let index = e.index as usize;
            let op = ops.get(index).map_or("operation", Op::name);
            return Err(Error::Bus { errno: smbus_proxy_wire::Errno(e.errno), op, index });
        }
        if response.results.len() != ops.len() {
            return Err(Error::Protocol(format!(
                "{} results for {} operations",
                response.results.len(),
                ops.len()
            )));
        }
        response
            .results
            .into_iter()
            .map(|r| decode::reply(r).map_err(|e| Error::Protocol(e.to_string())))
            .collect()
    }

    /// Runs every operation as one transaction even when some fail, and returns each one's
    /// reply or errno: a bus scan in one round trip.
    pub async fn execute_each(&mut self, ops: &[Op]) -> Result<Vec<Result<Reply, Errno>>> {
        self.check_funcs(ops)?;
        let response = self.round_trip(ops, true).await?;
        if response.results.len() != ops.len() {
            return Err(Error::Protocol(format!(
                "{} results for {} operations",
                response.results.len(),
                ops.len()
            )));
        }
        let each = response.results.into_iter().map(|r| match r.result {
            Some(pb::op_result::Result::Failed(e)) => Ok(Err(Errno(e.errno))),
            _ => decode::reply(r).map(Ok).map_err(|e| Error::Protocol(e.to_string())),
        });
        each.collect()
    }

    fn check_funcs(&self, ops: &[Op]) -> Result<()> {
        for op in ops {
            // Transfers are the server's to judge: on an adapter without plain I2C it runs
            // those with an exact SMBus equivalent as SMBus.
            let missing = op.required_func() & !self.info.funcs;
            if missing != 0 && !matches!(op, Op::Transfer(_)) {
                return Err(Error::NotSupported { op: op.name(), funcs: self.info.funcs, missing });
            }
        }
        Ok(())
    }

    /// Sends a transaction and waits for its answer, reopening what can safely be reopened.
    async fn round_trip(&mut self, ops: &[Op], keep_going: bool) -> Result<pb::ExecuteResponse> {
        let mut reopened = false;
        let mut reconnected = false;
        loop {
            let request = pb::ExecuteRequest {
                session: self.session.id(),
                ops: ops.iter().map(encode::op).collect(),
                keep_going,
            };
            let sent = match self.options.call_timeout {
                Some(limit) => tokio::time::timeout(limit, self.send(request)).await.map_err(|_| limit),
                None => Ok(self.send(request).await),
            };
            let reply = match sent {
                Err(after) => {
                    // Dropping the stream cancels the call: the server drops a transaction
                    // still waiting for the bus when its caller is gone. The blocking client's
                    // runtime only runs during calls, so let the connection send the
                    // cancellation now rather than with the next call.
                    self.stream = None;
                    for _ in 0..4 {
                        tokio::task::yield_now().await;
                    }
                    return Err(Error::TimedOut { op: ops.first().map_or("transaction", Op::name), after });
                }
                Ok(Ok(reply)) => reply,
                Ok(Err(detail)) => {
                    self.stream = None;
                    // A read may run twice if the connection broke after the server ran it;
                    // sending a register number again is harmless, sending data is not.
                    let writes = ops.iter().any(|op| op.sends() > Sends::Register);
                    if writes || reconnected {
                        let op = ops.first().map_or("transaction", Op::name);
                        return Err(Error::OutcomeUnknown { op, detail });
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
                None => return Err(Error::Protocol("an empty reply".into())),
            }
        }
    }

    /// One request on the stream, opening the stream if need be. An error means the
    /// connection broke.
    async fn send(&mut self, request: pb::ExecuteRequest) -> Result<pb::StreamReply, String> {
        if self.stream.is_none() {
            let (requests, queue) = mpsc::channel(1);
            let replies = self
                .grpc
                .execute_stream(tokio_stream::wrappers::ReceiverStream::new(queue))
                .await
                .map_err(|s| crate::error::detail(&s))?
                .into_inner();
            self.stream = Some(Stream { requests, replies });
        }
        let stream = self.stream.as_mut().expect("opened above");
        stream.requests.send(request).await.map_err(|_| "the stream closed".to_owned())?;
        match stream.replies.message().await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err("the server ended the stream".into()),
            Err(status) => Err(crate::error::detail(&status)),
        }
    }

    async fn reopen(&mut self) -> Result<()> {
        let (id, info, _) = open_session(self.grpc.clone(), self.info.number, self.options).await?;
        *self.session.id.lock().unwrap_or_else(|e| e.into_inner()) = id;
        self.info = info;
        Ok(())
    }
}

async fn open_session(
    grpc: Grpc,
    number: u32,
    options: BusOptions,
) -> Result<(String, pb::BusInfo, Duration)> {
    let request = pb::OpenRequest {
        bus: number.into(),
        // The server checks the range and says what it is; a value past 64 bits of
        // milliseconds is sent as the largest, which it refuses all the same.
        timeout_ms: options.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        retries: options.retries.map(u64::from),
    };
    // Sent twice only if the first never got an answer: a session it may have opened is
    // never used and expires after its lease.
    let opened = crate::client::again_if_connection_broke(|| {
        let mut grpc = grpc.clone();
        async move { grpc.open(request).await }
    })
    .await
    .map_err(Error::status)?
    .into_inner();
    let info = opened.bus.ok_or_else(|| Error::Protocol("Open without the bus's description".into()))?;
    Ok((opened.session, info, Duration::from_millis(opened.lease_ms.into())))
}

impl Drop for Bus {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        // Drop cannot wait, so the goodbye goes out on a task; without a runtime to run it,
        // the server ends the session when its lease runs out.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut grpc = self.grpc.clone();
            let session = self.session.id();
            runtime.spawn(async move {
                let _ = grpc.close(pb::CloseRequest { session }).await;
            });
        }
    }
}

/// The bus held exclusively; derefs to the [`Bus`]. Dropping it releases the lock (from a
/// task, since drop cannot wait); [`LockGuard::unlock`] releases it and reports how that went.
pub struct LockGuard<'a> {
    bus: &'a mut Bus,
}

impl LockGuard<'_> {
    pub async fn unlock(self) -> Result<()> {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.bus.unlock_inner().await
    }
}

impl std::ops::Deref for LockGuard<'_> {
    type Target = Bus;
    fn deref(&self) -> &Bus {
        self.bus
    }
}

impl std::ops::DerefMut for LockGuard<'_> {
    fn deref_mut(&mut self) -> &mut Bus {
        self.bus
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if !self.bus.locked {
            return;
        }
        self.bus.locked = false;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut grpc = self.bus.grpc.clone();
            let session = self.bus.session.id();
            runtime.spawn(async move {
                let _ = grpc.unlock(pb::UnlockRequest { session }).await;
            });
        }
    }
}
