//! The client's errors as the exceptions smbus2 raises for the same failure.
//!
//! smbus2 calls the kernel, so a failed operation is an `OSError` whose `errno` is the
//! kernel's. Here the kernel is the server's: its errno arrives untouched (Linux numbering,
//! whatever the client's platform). Python turns `OSError(errno, msg)` into the matching
//! subclass itself (EAGAIN is a `BlockingIOError`, ETIMEDOUT a `TimeoutError`), exactly as for
//! a local bus.

use pyo3::exceptions::{PyConnectionError, PyOSError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use smbus_proxy_client::{Code, Errno, Error};

const ENOENT: i32 = 2;
const EBADF: i32 = 9;
const EMFILE: i32 = 24;

/// `OSError(errno, message)`, which Python narrows to the subclass for that errno.
pub fn os_error(errno: i32, message: impl Into<String>) -> PyErr {
    PyOSError::new_err((errno, message.into()))
}

/// What smbus2 would have raised.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
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
            Code::InvalidArgument | Code::OutOfRange => PyValueError::new_err(message),
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
        Error::Connect { .. } | Error::OutcomeUnknown { .. } => PyConnectionError::new_err(message),
        Error::TimedOut { .. } => PyTimeoutError::new_err(message),
        Error::Protocol { .. } => os_error(Errno::EPROTO.0, message),
        _ => os_error(Errno::EIO.0, message),
    }
}

/// An operation on an `SMBus` that is not open, as an operation on a closed descriptor.
pub fn not_open() -> PyErr {
    os_error(EBADF, "the bus is not open: give SMBus a bus number, or call open()")
}
