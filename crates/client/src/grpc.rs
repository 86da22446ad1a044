//! The gRPC stub every call goes through, with the token on each request, and the one rule
//! for repeating a call the connection lost.

use smbus_proxy_wire::pb::smbus_client::SmbusClient;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::{Channel, Endpoint};

/// The gRPC client, with the token on every request.
pub(crate) type Grpc = SmbusClient<InterceptedService<Channel, Bearer>>;

/// The stub for `channel`, with the token on every request.
pub(crate) fn stub(channel: Channel, bearer: Bearer) -> Grpc {
    // A server sends replies up to its --max-message-bytes, and checks that a transaction's
    // replies fit before running it; accept all that it may send.
    SmbusClient::with_interceptor(channel, bearer)
        .max_decoding_message_size(smbus_proxy_wire::op::MAX_MESSAGE_BYTES)
}

/// How to connect to the server anew: for a link taking its session up again after the
/// connection broke. A channel whose connection went silent (a network that drops packets
/// rather than refusing them) keeps waiting on it until HTTP/2's pings give up; a new
/// connection goes through as soon as the network does.
#[derive(Clone)]
pub(crate) struct Dialer {
    pub(crate) endpoint: Endpoint,
    pub(crate) bearer: Bearer,
}

impl Dialer {
    pub(crate) async fn dial(&self) -> Result<Grpc, tonic::transport::Error> {
        Ok(stub(self.endpoint.connect().await?, self.bearer.clone()))
    }

    /// Makes `attempt` on a new connection, over and over with [`Backoff`], each within
    /// [`ATTEMPT`], until one settles (`Some`) or `limit` has passed since `since`: then how
    /// long it has been. Each on a new connection, since the one that broke may only have gone
    /// silent.
    pub(crate) async fn again<T>(
        &self,
        since: tokio::time::Instant,
        limit: Duration,
        mut attempt: impl AsyncFnMut(Grpc) -> Option<T>,
    ) -> Result<T, Duration> {
        let mut backoff = Backoff::default();
        loop {
            let tried = async {
                let grpc = self.dial().await.ok()?;
                attempt(grpc).await
            };
            if let Ok(Some(settled)) = tokio::time::timeout(ATTEMPT, tried).await {
                return Ok(settled);
            }
            let after = since.elapsed();
            if after >= limit {
                return Err(after);
            }
            tokio::time::sleep(backoff.next().min(limit - after)).await;
        }
    }
}

/// How long one attempt to reach the server again may take: over a link that drops packets
/// silently, an attempt waits for an answer that never comes, and the next attempt starts on a
/// new connection.
const ATTEMPT: Duration = Duration::from_secs(2);

/// The pauses between attempts to reach the server again: none before the second (a server
/// that was restarting, a connection refused once), then from 50 ms, doubling, to 1 s.
#[derive(Default)]
struct Backoff(Duration);

impl Backoff {
    /// The pause before the next attempt.
    fn next(&mut self) -> Duration {
        const FIRST: Duration = Duration::from_millis(50);
        const LONGEST: Duration = Duration::from_secs(1);
        let pause = self.0;
        self.0 = (pause * 2).clamp(FIRST, LONGEST);
        pause
    }
}

/// Adds `authorization: Bearer <token>` to each request, if there is a token.
#[derive(Clone)]
pub(crate) struct Bearer(pub(crate) Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

/// Runs a call that may safely reach the server twice, once more if the connection broke under
/// it. A server closes a connection that has had no call in flight for its idle timeout (or
/// none at all since the handshake); the next call finds it closed, and tonic connects again
/// for the call after. Only calls with no session on the connection meet this: a bus's stream
/// is a call in flight. An error from the transport carries its cause; one from the server
/// does not.
pub(crate) async fn again_if_connection_broke<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    match call().await {
        Err(status) if std::error::Error::source(&status).is_some() => call().await,
        done => done,
    }
}
