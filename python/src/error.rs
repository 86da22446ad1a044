//! The client's errors as the exceptions smbus2 raises for the same failure.
//!
//! smbus2 calls the kernel, so a failed operation is an `OSError` whose `errno` is the
//! kernel's. Here the kernel is the server's: its errno arrives untouched (Linux numbering,
//! whatever the client's platform). Python turns `OSError(errno, msg)` into the matching
//! subclass itself (EAGAIN is a `BlockingIOError`, ETIMEDOUT a `TimeoutError`), exactly as for
//! a local bus.

use pyo3::exceptions::{PyConnectionError, PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use smbus_proxy_client::{Code, Errno, Error, Report};

const ENOENT: i32 = 2;
const EBADF: i32 = 9;
const EMFILE: i32 = 24;

/// `OSError(errno, message)`, which Python narrows to the subclass for that errno.
pub fn os_error(errno: i32, message: impl Into<String>) -> PyErr {
    PyOSError::new_err((errno, message.into()))
}

/// What smbus2 would have raised, saying what failed and why (the error's causes, and what to
/// do where the client knows).
pub fn to_py(e: Error) -> PyErr {
    let message = Report(&e).to_string();
    match e {
        // What the failed call would have raised, with the message that says which call.
        Error::Pipelined { source, .. } => {
            let err = to_py(*source);
            Python::attach(|py| match err.value(py).getattr("errno").and_then(|n| n.extract::<i32>()) {
                Ok(errno) => os_error(errno, message),
                Err(_) => PyErr::from_type(err.get_type(py), message),
            })
        }
        Error::Bus { errno, .. } => os_error(errno.0, message),
        // The kernel answers EOPNOTSUPP when the adapter lacks the function; the client
        // knows the adapter's functionality and answers the same without a round trip.
        Error::NotSupported { .. } => os_error(Errno::EOPNOTSUPP.0, message),
        Error::Rejected { code, message } => match code {
            Code::InvalidArgument | Code::OutOfRange => PyValueError::new_err(argument_names(&message)),
            // smbus2 opening a /dev/i2c-N that does not exist: FileNotFoundError.
            Code::NotFound => os_error(ENOENT, message),
            Code::PermissionDenied | Code::Unauthenticated => os_error(Errno::EACCES.0, message),
            // Another session holds the bus exclusively.
            Code::Aborted => os_error(Errno::EBUSY.0, message),
            // The server's session limits, the remote twin of running out of file descriptors.
            Code::ResourceExhausted => os_error(EMFILE, message),
            Code::DeadlineExceeded => PyTimeoutError::new_err(message),
            Code::Unavailable => PyConnectionError::new_err(message),
            _ => os_error(Errno::EIO.0, message),
        },
        Error::Connect { .. }
        | Error::OutcomeUnknown { .. }
        | Error::Disconnected { .. }
        | Error::LinkDown { .. }
        | Error::SessionLost { .. } => PyConnectionError::new_err(message),
        Error::TimedOut { .. } => PyTimeoutError::new_err(message),
        Error::Protocol { .. } => os_error(Errno::EPROTO.0, message),
        _ => os_error(Errno::EIO.0, message),
    }
}

/// The client names a bad argument by its field in the request (`ops[0].smbus.addr: 0x80 is out
/// of range …`); a Python caller made one call and knows smbus2's names for its arguments
/// (`i2c_addr`, `register`, `length`) and `i2c_msg`'s. Other messages are left as they are.
fn argument_names(message: &str) -> String {
    let Some((path, rest)) = message.split_once(": ") else { return message.to_owned() };
    let Some(field) = path.strip_prefix("ops[0].") else { return message.to_owned() };
    let name = if let Some(command) = field.strip_prefix("smbus.") {
        match command.rsplit('.').next() {
            Some("addr") => "i2c_addr".to_owned(),
            Some("reg") => "register".to_owned(),
            Some("len") => "length".to_owned(),
            Some(other) => other.to_owned(),
            None => return message.to_owned(),
        }
    } else if let Some(msg) = field.strip_prefix("transfer.msgs[") {
        // `msgs[1].addr`: the second i2c_msg given to i2c_rdwr.
        match msg.split_once("].") {
            Some((index, "addr")) => format!("i2c_msg {index}: addr"),
            Some((index, "write")) => format!("i2c_msg {index}: buf"),
            Some((index, "read")) => format!("i2c_msg {index}: len"),
            Some((index, other)) => format!("i2c_msg {index}: {other}"),
            None => return message.to_owned(),
        }
    } else if field == "transfer.msgs" {
        "i2c_rdwr".to_owned()
    } else {
        return message.to_owned();
    };
    format!("{name}: {rest}")
}

/// An operation on an `SMBus` that is not open, as an operation on a closed descriptor.
pub fn not_open() -> PyErr {
    os_error(EBADF, "the bus is not open: give SMBus a bus number, or call open()")
}
