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
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The server's URL, as given or as the client completed it.
        url: String,
        /// Why, with the causes and a hint where there is one.
        reason: String,
        /// The error underneath, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The connection broke during a call that writes, so it may or may not have run; it
    /// is not repeated behind your back.
    #[error("the connection to the server broke during {op}; it may or may not have run: {}", detail(cause))]
    OutcomeUnknown {
        /// The transaction's first operation.
        op: &'static str,
        /// How the connection broke (boxed: a status is large, and every result carries room
        /// for the largest error).
        #[source]
        cause: Box<tonic::Status>,
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
    #[error("pipelined call {position} failed: {source}")]
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

/// An error underneath another, of any type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

    pub(crate) fn status(s: tonic::Status) -> Error {
        Error::Rejected { code: s.code(), message: detail(&s) }
    }

    pub(crate) fn protocol(problem: impl Into<String>) -> Error {
        Error::Protocol { problem: problem.into(), source: None }
    }

    /// A connection that could not be made, and why.
    pub(crate) fn connect(url: &str, reason: impl Into<String>, source: Option<BoxError>) -> Error {
        Error::Connect { url: url.to_owned(), reason: reason.into(), source }
    }
}

/// A status's message with its causes: a failed transport says only "transport error" and
/// keeps the reason (a refused certificate, a reset connection) in its sources.
pub(crate) fn detail(s: &tonic::Status) -> String {
    match std::error::Error::source(s) {
        Some(cause) => with_causes(s.message().to_owned(), Some(cause)),
        None => s.message().to_owned(),
    }
}

/// An error with its causes, as one line ("transport error: connection refused").
pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    with_causes(e.to_string(), e.source())
}

fn with_causes(mut text: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(s) = source {
        // Layers often repeat their cause's words; say each once.
        let more = s.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// A result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
