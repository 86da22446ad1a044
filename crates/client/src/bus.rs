//! [`Bus`]: a session on one remote bus, with smbus2's methods, and its exclusive lock.

use crate::batch::{Batch, FromReply, Results};
use crate::error::{Error, Result};
use crate::link::{Link, Part};
use crate::methods::smbus_methods;
use crate::session::{BusOptions, Connection};
use bytes::Bytes;
use smbus_proxy_wire::{Command, Errno, Msg, Op, Poll, Reply, Returns, Step, Target, decode, pb};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// A session on one remote bus. Dropping it (or [`Bus::close`]) ends the session.
pub struct Bus {
    /// Keeps the connection and its keep-alive running as long as any bus is open.
    pub(crate) connection: Arc<Connection>,
    /// The session, shared with the bus's [`crate::Line`]s, whose steps go the same way, in
    /// order with the bus's.
    pub(crate) link: Arc<Mutex<Link>>,
    /// The bus, as the server described it when the session opened.
    info: pb::BusInfo,
    /// Flags applied to every SMBus operation, as smbus2's `pec` and `force`, and I2C_TENBIT.
    pec: bool,
    force: bool,
    ten_bit: bool,
    /// [`BusOptions::send_unsupported`].
    send_unsupported: bool,
}

/// Generates the async methods from [`smbus_methods`].
macro_rules! async_methods {
    ($( $(#[doc = $doc:literal])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $command:expr; )*) => {
        impl Bus {
            $(
                $(#[doc = $doc])*
                pub async fn $name(&mut self, addr: u16 $(, $arg: $ty)*) -> Result<$ret> {
                    self.one(addr, $command).await
                }
            )*
        }
    };
}

smbus_methods!(async_methods);

impl Bus {
    pub(crate) async fn open(connection: Arc<Connection>, number: u32, options: BusOptions) -> Result<Bus> {
        let link = Link::open(&connection, number, options).await?;
        let send_unsupported = options.send_unsupported;
        let info = link.info.clone();
        let link = Arc::new(Mutex::new(link));
        Ok(Bus { connection, link, info, pec: false, force: false, ten_bit: false, send_unsupported })
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

    /// Whether SMBus operations use packet error checking.
    pub fn pec(&self) -> bool {
        self.pec
    }

    /// Use addresses even if a kernel driver owns them (I2C_SLAVE_FORCE; smbus2's `force`).
    pub fn set_force(&mut self, on: bool) {
        self.force = on;
    }

    /// Whether SMBus operations force their address.
    pub fn force(&self) -> bool {
        self.force
    }

    /// Treat SMBus addresses as 10-bit (I2C_TENBIT).
    pub fn set_ten_bit(&mut self, on: bool) {
        self.ten_bit = on;
    }

    /// Whether SMBus addresses are 10-bit.
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
        let reply = replies.pop().ok_or_else(|| Error::protocol("no result"))?;
        // `execute` checked the reply's shape; the type is the method list's to get right.
        T::from_reply(reply).ok_or_else(|| Error::protocol(format!("{} has the wrong Rust type", op.name())))
    }

    /// A combined I2C transfer (I2C_RDWR): the messages are joined by repeated starts. Returns
    /// the bytes of each read message, in order.
    pub async fn i2c_rdwr(&mut self, msgs: Vec<Msg>) -> Result<Vec<Bytes>> {
        match self.execute(&[Op::Transfer(msgs)]).await?.pop() {
            Some(Reply::Transfer(reads)) => Ok(reads),
            _ => Err(Error::protocol("a transfer without its reads")),
        }
    }

    /// Runs a batch as one transaction, in one round trip: no other client's operation runs
    /// between its operations.
    pub async fn run(&mut self, batch: Batch) -> Result<Results> {
        Ok(Results::new(self.execute_steps(&batch.into_steps()).await?))
    }

    /// Runs operations as one transaction and returns their replies; the first failing
    /// operation becomes [`Error::Bus`].
    ///
    /// With [`BusOptions::pipeline`] on, a transaction that returns no data returns once it
    /// is sent, with the replies its operations will give ([`Reply::Done`], or a transfer with
    /// no reads); its failure comes from the next call that waits for the pipeline.
    pub async fn execute(&mut self, ops: &[Op]) -> Result<Vec<Reply>> {
        self.transact(ops).await
    }

    /// Runs steps as one transaction: operations, and waits and polls the server does on the
    /// bus between them (a [`Batch`] is the easy way to make them). As [`Bus::execute`]; a
    /// poll that runs out of time fails with ETIMEDOUT, saying after how many tries.
    pub async fn execute_steps(&mut self, steps: &[Step]) -> Result<Vec<Reply>> {
        self.transact(steps).await
    }

    /// Holds the bus for `time` on the server, between the operations before and after: a
    /// conversion time timed on the bus, not across the network. With pipelining it returns
    /// at once, and costs no round trip of its own.
    pub async fn wait(&mut self, time: Duration) -> Result<()> {
        self.transact(&[Step::Wait(time)]).await.map(drop)
    }

    /// Polls on the bus ([`Poll`]): the operation runs until its result matches, or until it
    /// succeeds, within the timeout; the reply is the last try's. Past the timeout,
    /// [`Error::Bus`] with ETIMEDOUT, saying after how many tries.
    pub async fn poll(&mut self, poll: Poll) -> Result<Reply> {
        let mut replies = self.transact(&[Step::Poll(poll)]).await?;
        replies.pop().ok_or_else(|| Error::protocol("no result"))
    }

    async fn transact<P: Part>(&mut self, ops: &[P]) -> Result<Vec<Reply>> {
        self.check_funcs(ops.iter().filter_map(P::op))?;
        transact(&mut *self.link.lock().await, ops).await
    }

    /// Runs every operation as one transaction even when some fail, and returns each one's
    /// reply or errno: a bus scan in one round trip.
    pub async fn execute_each(&mut self, ops: &[Op]) -> Result<Vec<Result<Reply, Errno>>> {
        self.check_funcs(ops.iter())?;
        let response = self.link.lock().await.round_trip(ops, true).await?;
        let each = results(ops, response.results)?.map(|(op, result)| match result.result {
            Some(pb::op_result::Result::Failed(e)) => Ok(Err(Errno(e.errno))),
            _ => reply(op, result).map(Ok),
        });
        each.collect()
    }

    fn check_funcs<'a>(&self, ops: impl Iterator<Item = &'a Op>) -> Result<()> {
        if self.send_unsupported {
            return Ok(());
        }
        for op in ops {
            // Transfers are the server's to judge: on an adapter without plain I2C it runs
            // those with an exact SMBus equivalent as SMBus.
            let missing = op.required_func() & !self.funcs();
            if missing != 0 && !matches!(op, Op::Transfer(_)) {
                return Err(Error::NotSupported { op: op.name(), funcs: self.funcs(), missing });
            }
        }
        Ok(())
    }

    /// Waits until every pipelined call has run, and reports the first that failed
    /// ([`Error::Pipelined`]); what was queued after it never ran. Without pipelining there is
    /// nothing to wait for.
    pub async fn flush(&mut self) -> Result<()> {
        self.link.lock().await.flush().await
    }

    /// Waits until every pipelined call has run, keeping a failure for the next call that
    /// waits for the pipeline to report.
    pub(crate) async fn settle(&mut self) {
        self.link.lock().await.settle().await
    }

    /// Takes the bus exclusively until the guard is dropped or unlocked, waiting up to `wait`
    /// for another session's lock to go.
    pub async fn lock(&mut self, wait: Duration) -> Result<LockGuard<'_>> {
        self.link.lock().await.lock(wait).await?;
        Ok(LockGuard { bus: self })
    }

    pub(crate) async fn lock_inner(&mut self, wait: Duration) -> Result<()> {
        self.link.lock().await.lock(wait).await
    }

    pub(crate) async fn unlock_inner(&mut self) -> Result<()> {
        self.link.lock().await.unlock().await
    }

    /// Whether the session holds the bus's lock; a line's step in progress on the session
    /// counts as not.
    pub(crate) fn locked(&self) -> bool {
        self.link.try_lock().is_ok_and(|link| link.locked)
    }

    /// Ends the session now, freeing what it holds.
    pub async fn close(mut self) -> Result<()> {
        self.close_inner().await
    }

    pub(crate) async fn close_inner(&mut self) -> Result<()> {
        self.link.lock().await.close().await
    }
}

/// Each operation with its result; there must be one per operation.
fn results<P: Part>(
    ops: &[P],
    results: Vec<pb::OpResult>,
) -> Result<impl Iterator<Item = (&P, pb::OpResult)>> {
    if results.len() != ops.len() {
        return Err(Error::protocol(format!("{} results for {} operations", results.len(), ops.len())));
    }
    Ok(ops.iter().zip(results))
}

/// A result as the reply `op` returns, or a protocol error if it is not one.
fn reply<P: Part>(op: &P, result: pb::OpResult) -> Result<Reply> {
    let reply = decode::reply(result).map_err(|e| Error::unreadable(format!("{}'s result", op.name()), e))?;
    if !reply.fits(op.returns()) {
        return Err(Error::protocol(format!(
            "{} answered {reply}: not the shape or length it returns",
            op.name()
        )));
    }
    Ok(reply)
}

/// The bus held exclusively; derefs to the [`Bus`]. Dropping it releases the lock (from a
/// task, since drop cannot wait); [`LockGuard::unlock`] releases it and reports how that went.
pub struct LockGuard<'a> {
    bus: &'a mut Bus,
}

impl LockGuard<'_> {
    /// Releases the lock and reports how that went.
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
        // Busy only while a line's step is in progress on another task; then the lock goes
        // when the session does.
        if let Ok(mut link) = self.bus.link.try_lock() {
            link.unlock_soon();
        }
    }
}

/// Runs steps as one transaction on `link`: pipelined if they return nothing and the session
/// pipelines, else waiting for their replies; the first failing step becomes [`Error::Bus`].
pub(crate) async fn transact<P: Part>(link: &mut Link, ops: &[P]) -> Result<Vec<Reply>> {
    if link.pipelined() && ops.iter().all(P::pipelines) {
        link.queue(ops).await?;
        return Ok(ops
            .iter()
            .map(
                |op| {
                    if let Returns::Reads(_) = op.returns() {
                        Reply::Transfer(Vec::new())
                    } else {
                        Reply::Done
                    }
                },
            )
            .collect());
    }
    let response = link.round_trip(ops, false).await?;
    if let Some(e) = response.error {
        let failed = ops.get(e.index as usize);
        let device = failed.and_then(P::op).and_then(Op::device);
        return Err(Error::bus(&e, failed.map_or("operation", P::name), device));
    }
    results(ops, response.results)?.map(|(op, result)| reply(op, result)).collect()
}
