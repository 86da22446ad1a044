//! Sessions: opening one on the server, and the keep-alive that renews the leases of idle ones
//! on a connection.
//!
//! A session's id never changes: a bus whose session expired opens a new [`Session`], so a
//! call reads the id without a lock.

use crate::error::{Error, Result};
use crate::grpc::{Grpc, again_if_connection_broke};
use smbus_proxy_wire::pb;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
// Tokio's clock, which is the system's except in a test that pauses it.
use tokio::time::Instant;

/// Settings for a session: the adapter's (see `OpenRequest` in the protocol), how long a call
/// may wait for its answer, and how a broken connection is survived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// Pipelining: up to this many calls that return no data in flight at once. Such a call
    /// (a write, or a batch of writes) returns as soon as it is sent, and the operations still
    /// run in order. A probe (a quick write, an empty write) still waits: its acknowledgement
    /// is its answer. A failure is reported by the next call that waits for the pipeline: a
    /// read, [`crate::Bus::flush`], locking or unlocking, [`crate::Bus::close`]; nothing
    /// queued after the failure runs on the bus until then. 0 (the default): every call waits
    /// for its answer, as smbus2's do. At most [`MAX_PIPELINE`].
    pub pipeline: usize,
    /// Send SMBus operations the adapter's `I2C_FUNCS` lack anyway, for the kernel to take or
    /// refuse, as i2c-dev does: a driver such as i2c-stub ignores a PEC it does not report,
    /// and one without a command answers EOPNOTSUPP itself. By default such an operation fails
    /// with [`crate::Error::NotSupported`] and nothing is sent.
    pub send_unsupported: bool,
    /// How long the server keeps the session, its lock and the answers this client missed
    /// after the connection breaks (Wi-Fi that drops, a laptop that sleeps): the client
    /// reconnects by itself within it, takes the session up again, and every transaction runs
    /// exactly once — one the server ran is answered from its record, not run again. The
    /// server grants at most its own bound (60 s by default). `None`: the session ends one
    /// lease (5 s) after the client falls silent, and a write whose connection broke fails
    /// with [`crate::Error::OutcomeUnknown`]. Default: [`DEFAULT_RESUME_WINDOW`].
    pub resume_window: Option<Duration>,
    /// How long a call waits for the connection to come back before it fails with
    /// [`crate::Error::LinkDown`]. `None` (the default): the resume window granted.
    pub outage_wait: Option<Duration>,
}

/// How long a session is kept for a client whose connection broke, unless the program says
/// otherwise: a Wi-Fi hiccup, a roam between access points or a lid closed for a moment, not a
/// night's sleep. The most a server grants by default (`--max-resume-window-ms`).
pub const DEFAULT_RESUME_WINDOW: Duration = Duration::from_secs(60);

impl BusOptions {
    /// The defaults, where a constant needs them: `BusOptions { pipeline: 16, ..BusOptions::DEFAULT }`.
    pub const DEFAULT: BusOptions = BusOptions {
        timeout: None,
        retries: None,
        call_timeout: None,
        pipeline: 0,
        send_unsupported: false,
        resume_window: Some(DEFAULT_RESUME_WINDOW),
        outage_wait: None,
    };
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions::DEFAULT
    }
}

pub use smbus_proxy_wire::op::MAX_PIPELINE;

/// One session on the server, shared by its bus handle and the keep-alive.
pub(crate) struct Session {
    id: Arc<str>,
    lease: Duration,
    /// With a resume window granted: how to take the session up again.
    pub(crate) resume: Option<Resume>,
    opened: Instant,
    /// Microseconds from `opened` to the last time the server saw the session alive.
    last_used_us: AtomicU64,
}

impl Session {
    /// Opens a session on bus `number`, and says what the bus is.
    pub(crate) async fn open(
        grpc: &Grpc,
        number: u32,
        options: BusOptions,
    ) -> Result<(Arc<Session>, pb::BusInfo)> {
        let request = pb::OpenRequest {
            bus: number.into(),
            // The server checks the range and says what it is; a value past 64 bits of
            // milliseconds is sent as the largest, which it refuses all the same.
            timeout_ms: options.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            retries: options.retries.map(u64::from),
            resume_window_ms: options
                .resume_window
                .map_or(0, |w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)),
        };
        // Sent twice only if the first never got an answer: a session it may have opened is
        // never used and expires after its lease.
        let opened = again_if_connection_broke(|| {
            let mut grpc = grpc.clone();
            async move { grpc.open(request).await }
        })
        .await
        .map_err(Error::status)?
        .into_inner();
        let info = opened.bus.ok_or_else(|| Error::protocol("Open without the bus's description"))?;
        let resume = (opened.resume_window_ms > 0).then(|| Resume {
            key: opened.resume_key,
            window: Duration::from_millis(opened.resume_window_ms.into()),
            instance: opened.instance.into(),
            record_bytes: opened.record_bytes as usize,
        });
        let session = Session {
            id: opened.session.into(),
            lease: Duration::from_millis(opened.lease_ms.into()),
            resume,
            opened: Instant::now(),
            last_used_us: AtomicU64::new(0),
        };
        Ok((Arc::new(session), info))
    }

    /// The id, as a request carries it.
    pub(crate) fn id(&self) -> String {
        self.id.as_ref().to_owned()
    }

    /// The server saw the session alive just now.
    pub(crate) fn touch(&self) {
        self.last_used_us.store(self.opened.elapsed().as_micros() as u64, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last_used = Duration::from_micros(self.last_used_us.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last_used)
    }

    async fn keep_alive(&self, mut grpc: Grpc) {
        // A failure needs no handling here: the next call finds the session gone and reopens
        // it. One the server refuses may have moved address with the client: a resume takes
        // it up again (and renews it), which a silent program holding the lock needs.
        match grpc.keep_alive(pb::KeepAliveRequest { session: self.id() }).await {
            Ok(_) => self.touch(),
            Err(status) if status.code() == tonic::Code::NotFound && self.resume.is_some() => {
                if self.resume(&mut grpc).await.is_ok() {
                    self.touch();
                }
            }
            Err(_) => {}
        }
    }

    /// Takes the session up again on the server (see `Resume` in the protocol).
    pub(crate) async fn resume(&self, grpc: &mut Grpc) -> Result<pb::ResumeResponse, tonic::Status> {
        let Some(resume) = &self.resume else {
            return Err(tonic::Status::failed_precondition("the session was opened without a resume window"));
        };
        let request = pb::ResumeRequest { session: self.id(), resume_key: resume.key.clone() };
        let resumed = grpc.resume(request).await?.into_inner();
        self.touch();
        Ok(resumed)
    }
}

/// How to take a session up again after its connection broke.
pub(crate) struct Resume {
    key: bytes::Bytes,
    /// The window the server granted.
    pub(crate) window: Duration,
    /// The server's run that granted it, to tell a restart from an expiry.
    pub(crate) instance: Box<str>,
    /// The most the server keeps of unacknowledged transactions (`encode::kept_bytes`).
    pub(crate) record_bytes: usize,
}

/// The sessions of the buses opened through one client, for its keep-alive. A session leaves
/// when its bus handle drops it.
#[derive(Clone, Default)]
pub(crate) struct Sessions(Arc<Mutex<Vec<Weak<Session>>>>);

impl Sessions {
    pub(crate) fn add(&self, session: &Arc<Session>) {
        let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|s| s.strong_count() > 0);
        sessions.push(Arc::downgrade(session));
    }

    /// Renews every session that has been quiet for a third of its lease, and returns how
    /// long to wait before looking again.
    pub(crate) async fn keep_alive_round(&self, grpc: &Grpc) -> Duration {
        let live: Vec<Arc<Session>> = {
            let mut sessions = self.0.lock().unwrap_or_else(|e| e.into_inner());
            sessions.retain(|s| s.strong_count() > 0);
            sessions.iter().filter_map(Weak::upgrade).collect()
        };
        let mut next = Duration::from_secs(1);
        for session in live {
            if session.quiet_for() >= session.lease / 3 {
                session.keep_alive(grpc.clone()).await;
            }
            next = next.min(session.lease / 4);
        }
        next.max(Duration::from_millis(10))
    }
}

/// A connection to the server and the sessions opened on it: what a bus handle keeps alive,
/// and what the keep-alive serves.
pub(crate) struct Connection {
    pub(crate) grpc: Grpc,
    /// How to connect anew, for a link whose connection broke.
    pub(crate) dialer: crate::grpc::Dialer,
    pub(crate) sessions: Sessions,
}

impl Connection {
    /// Renews the leases of idle sessions, and returns how long to wait before looking again.
    pub(crate) async fn keep_alive_round(&self) -> Duration {
        self.sessions.keep_alive_round(&self.grpc).await
    }
}

/// The keep-alive of an async client: a task that runs until the connection is gone.
pub(crate) async fn keep_alive(connection: Weak<Connection>) {
    let mut wait = Duration::from_millis(10);
    loop {
        tokio::time::sleep(wait).await;
        let Some(connection) = connection.upgrade() else { return };
        wait = connection.keep_alive_round().await;
    }
}
