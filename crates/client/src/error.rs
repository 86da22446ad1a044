//! The client's one error type.

use smbus_proxy_wire::Errno;
use std::time::Duration;

/// What can go wrong with a call: on the bus, at the server, or on the way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bus refused an operation; `errno` is the kernel's, exactly as the server saw it.
    #[error("{op}{} failed: {errno}{}", At(*addr), detail.as_deref().unwrap_or_default())]
    Bus {
        /// The kernel's errno.
        errno: Errno,
        /// The operation's name (`read_byte_data`, `transfer`, `poll`, ...).
        op: &'static str,
        /// The device it was for (a transfer's first message's), where it names one.
        addr: Option<u16>,
        /// Its index in the transaction.
        index: usize,
        /// What the server said beyond the errno: a poll that timed out says after how many
        /// tries.
        detail: Option<Box<str>>,
    },
    /// The adapter lacks a functionality bit the operation needs; nothing was sent.
    #[error("{op} is not supported by this adapter: its I2C_FUNCS {funcs:#010x} lack {missing:#010x}")]
    NotSupported {
        /// The operation's name.
        op: &'static str,
        /// The adapter's functionality.
        funcs: u64,
        /// The bits the operation needs that the adapter lacks.
        missing: u64,
    },
    /// The server refused the request before it reached the bus: a bad argument
    /// (`InvalidArgument`, the message names the field and range), an unknown bus
    /// (`NotFound`), a bus another session has locked (`Aborted`), ...
    #[error("{}: {message}", code_name(*.code))]
    Rejected {
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// The server cannot be reached, or the URL or credentials cannot be used.
    #[error("cannot connect to {url}{}", Reason(reason.as_deref()))]
    Connect {
        /// The server's URL, as given or as the client completed it.
        url: Box<str>,
        /// What failed, where the cause alone would not say (`cannot read the client
        /// certificate /etc/pki/client.pem`); the cause itself is the source. What to do about
        /// it, where the cause says, is [`Error::hint`].
        reason: Option<Box<str>>,
        /// The error underneath, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The connection broke during a call that writes, so it may or may not have run; it
    /// is not repeated behind your back.
    #[error("the connection to the server broke during {op}; it may or may not have run")]
    OutcomeUnknown {
        /// The transaction's first operation.
        op: &'static str,
        /// How the connection broke.
        #[source]
        cause: Transport,
    },
    /// The connection stayed down longer than the program waits for it
    /// ([`crate::BusOptions::outage_wait`], the resume window by default). The session lives
    /// on at the server until its window ends; whether `op` ran is unknown.
    #[error("the connection to the server has been down for {:.1} s; {op} may or may not have run", after.as_secs_f64())]
    LinkDown {
        /// The transaction's first operation.
        op: &'static str,
        /// How long the client tried to reach the server again.
        after: Duration,
        /// How the connection broke.
        #[source]
        cause: Transport,
    },
    /// The connection broke, and the session could not be taken up again: the server
    /// restarted, or the session's resume window ran out. Its lock is gone, and whether `op`
    /// ran is unknown.
    #[error("{why}: the session and its lock are gone, and whether {op} ran is unknown")]
    SessionLost {
        /// The transaction's first operation.
        op: &'static str,
        /// What happened to the session.
        why: Lost,
    },
    /// The connection to the server failed outside a call to the bus: opening a session,
    /// taking or giving back the lock, a watch.
    #[error("the connection to the server failed")]
    Disconnected {
        /// How it failed.
        #[source]
        cause: Transport,
    },
    /// No answer came within [`crate::BusOptions::call_timeout`]. If the transaction was
    /// still waiting for the bus, it never runs; if it was running, it completes.
    #[error("{op} got no answer within {after:?}; it may or may not have run")]
    TimedOut {
        /// The transaction's first operation.
        op: &'static str,
        /// The call timeout.
        after: Duration,
    },
    /// The session expired while it held the bus's exclusive lock, so the lock is gone and
    /// another client may have used the bus since.
    #[error("the session expired while holding bus {bus}'s exclusive lock; the lock is lost")]
    LockLost {
        /// The bus number.
        bus: u32,
    },
    /// A pipelined call ([`crate::BusOptions::pipeline`]) failed after it had returned; this
    /// is the next call that waits for the pipeline. No pipelined call queued after it ran.
    #[error("pipelined call {position} failed")]
    Pipelined {
        /// Which pipelined call of the bus handle it was, counting from 1.
        position: u64,
        /// How it failed: [`Error::Bus`] with the operation and errno, or why it never ran.
        #[source]
        source: Box<Error>,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from the server: {problem}")]
    Protocol {
        /// What was wrong with the answer.
        problem: String,
        /// The field of the answer that could not be read, when that was the problem.
        #[source]
        source: Option<Box<smbus_proxy_wire::ArgError>>,
    },
}

/// Why a session could not be taken up again after its connection broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Lost {
    /// The server is another run of it than the one the session was opened on.
    #[error("the server restarted while the connection was down")]
    ServerRestarted,
    /// The server is the same, and no longer has the session: its resume window ran out.
    #[error("the connection was down longer than the session's resume window")]
    Expired,
}

/// An error underneath another, of any type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a connection failed, as the gRPC status tonic made of it on this side, kept whole
/// ([`Transport::status`]). As a link in an error's chain it says the status's message
/// ("transport error") and leads on to what lies beneath (h2's, hyper's, the socket's error).
#[derive(Debug)]
pub struct Transport(Box<tonic::Status>);

impl Transport {
    /// The status, with its code and metadata.
    pub fn status(&self) -> &tonic::Status {
        &self.0
    }
}

impl From<tonic::Status> for Transport {
    fn from(status: tonic::Status) -> Transport {
        // Boxed: a status is large, and every result carries room for the largest error.
        Transport(Box::new(status))
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.message())
    }
}

impl std::error::Error for Transport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        InvalidArgument => "invalid argument",
        NotFound => "not found",
        Aborted => "aborted",
        FailedPrecondition => "failed precondition",
        PermissionDenied => "permission denied",
        Unauthenticated => "unauthenticated",
        ResourceExhausted => "resource exhausted",
        DeadlineExceeded => "deadline exceeded",
        Unavailable => "unavailable",
        _ => "server error",
    }
}

impl Error {
    /// The kernel's errno, for errors the bus reported.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Bus { errno, .. } => Some(*errno),
            Error::Pipelined { source, .. } => source.errno(),
            _ => None,
        }
    }

    /// A failed operation as the server reported it: the errno, and what the message says
    /// beyond the errno's own text.
    pub(crate) fn bus(error: &smbus_proxy_wire::pb::OpError, op: &'static str, addr: Option<u16>) -> Error {
        let errno = Errno(error.errno);
        let detail =
            error.message.strip_prefix(&errno.to_string()).filter(|rest| !rest.is_empty()).map(Box::from);
        Error::Bus { errno, op, addr, index: error.index as usize, detail }
    }

    /// What to do about the error, where its cause says: a server that is not running,
    /// http:// and https:// the wrong way round, a `.local` name this machine cannot look up.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Connect { url, source: Some(source), .. } => crate::client::connect_hint(url, &**source),
            Error::Pipelined { source, .. } => source.hint(),
            _ => None,
        }
    }

    /// A status as the error it stands for: one the server sent is its refusal; one tonic
    /// made here, with an error beneath it, is a failed connection.
    pub(crate) fn status(s: tonic::Status) -> Error {
        if std::error::Error::source(&s).is_some() {
            Error::Disconnected { cause: Transport::from(s) }
        } else {
            Error::Rejected { code: s.code(), message: s.message().to_owned() }
        }
    }

    pub(crate) fn protocol(problem: impl Into<String>) -> Error {
        Error::Protocol { problem: problem.into(), source: None }
    }

    /// An answer with a field that cannot be read: what it was, and the field as the cause.
    pub(crate) fn unreadable(what: String, e: smbus_proxy_wire::ArgError) -> Error {
        Error::Protocol { problem: format!("{what} cannot be read"), source: Some(Box::new(e)) }
    }

    /// A connection that could not be made: what failed, if the cause alone would not say.
    pub(crate) fn connect(url: &str, reason: Option<String>, source: Option<BoxError>) -> Error {
        Error::Connect { url: url.into(), reason: reason.map(Into::into), source }
    }
}

/// An error and its causes on one line, each said once, then what to do about it where a
/// client [`Error`] in the chain knows ([`Error::hint`]): how the command-line tools and the
/// Python module print an error.
///
/// ```
/// use smbus_proxy_client::{Report, blocking::Client};
///
/// if let Err(e) = Client::connect("http://127.0.0.1:1") {
///     eprintln!("Error: {}", Report(&e));
/// }
/// ```
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut said = self.0.to_string();
        f.write_str(&said)?;
        let mut hint = None;
        let mut next = Some(self.0);
        while let Some(e) = next {
            if hint.is_none() {
                hint = e.downcast_ref::<Error>().and_then(Error::hint);
            }
            if !std::ptr::eq(e, self.0) {
                // Layers often repeat their cause's words ("tcp connect error: Connection
                // refused", then "Connection refused"); say each once.
                let text = e.to_string();
                if !said.ends_with(&text) {
                    write!(f, ": {text}")?;
                    said = text;
                }
            }
            next = e.source();
        }
        match hint {
            Some(hint) => write!(f, ". {hint}"),
            None => Ok(()),
        }
    }
}

/// A result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `: reason` after a connection's URL, where there is one.
struct Reason<'a>(Option<&'a str>);

impl std::fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(reason) => write!(f, ": {reason}"),
            None => Ok(()),
        }
    }
}

/// ` at 0x48` after an operation's name, where it has a device.
struct At(Option<u16>);

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(addr) => write!(f, " at {addr:#04x}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every `Result` of the client carries room for its largest error, moved on each return:
    /// a large cause goes in a box.
    #[test]
    fn errors_stay_small() {
        let size = std::mem::size_of::<super::Error>();
        assert!(size <= 64, "Error is {size} bytes");
    }
}
