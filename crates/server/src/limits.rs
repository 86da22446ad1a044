//! What one server will take on: sessions, transaction sizes, message sizes and how long an
//! operation may hold the bus. Past a limit, a call gets RESOURCE_EXHAUSTED saying which.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sessions open at once.
    pub sessions: usize,
    /// Sessions per client host (IP address), so one client cannot take every session.
    pub sessions_per_peer: usize,
    /// Operations in one transaction, at most the protocol's own 1024.
    pub ops_per_transaction: usize,
    /// Bytes in one request message.
    pub message_bytes: usize,
    /// The adapter timeout every operation runs under (`I2C_TIMEOUT`); sessions may ask for
    /// less, not more. `None` leaves the adapter's own.
    pub op_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions: 256,
            sessions_per_peer: 64,
            ops_per_transaction: smbus_proxy_wire::op::MAX_OPS,
            // tonic's default, and room for the largest transaction anyone sends in practice.
            message_bytes: 4 << 20,
            op_timeout: None,
        }
    }
}

/// Gives an oversized request the status gRPC's own implementations give it.
///
/// tonic refuses a message over the size limit with OUT_OF_RANGE; gRPC's status code guide
/// and its C++, Java and Go implementations use RESOURCE_EXHAUSTED, which is what a client
/// checking for a limit looks for. The refusal is a trailers-only response, so the status is
/// in the headers.
pub(crate) fn standard_status<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    if headers.get("grpc-status").is_some_and(|code| code.as_bytes() == b"11")
        && let Some(status) = tonic::Status::from_header_map(headers)
        && let Some(status) = message_too_large(&status)
    {
        let _ = status.add_header(headers);
    }
    response
}

/// The RESOURCE_EXHAUSTED for tonic's message-too-large refusal, if `status` is that one.
pub(crate) fn message_too_large(status: &tonic::Status) -> Option<tonic::Status> {
    (status.code() == tonic::Code::OutOfRange && status.message().contains("message length too large"))
        .then(|| tonic::Status::resource_exhausted(format!("message size: {}", status.message())))
}
