//! The gRPC stub every call goes through, with the token on each request, and the one rule
//! for repeating a call the connection lost.

use smbus_proxy_wire::pb::smbus_client::SmbusClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::Channel;

/// The gRPC client, with the token on every request.
pub(crate) type Grpc = SmbusClient<InterceptedService<Channel, Bearer>>;

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
