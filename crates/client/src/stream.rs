//! The stream a bus's calls travel on: one long-lived `ExecuteStream`, opened on first use, a
//! message each way per call instead of a new HTTP/2 stream per call, which measured about
//! twice as fast.

use crate::grpc::Grpc;
use smbus_proxy_wire::pb;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

/// The most a cancelled call waits for HTTP/2 to let go of its stream.
const RELEASE_WAIT: Duration = Duration::from_millis(100);

pub(crate) struct Stream {
    requests: mpsc::Sender<pb::ExecuteRequest>,
    replies: tonic::Streaming<pb::StreamReply>,
    /// Fires when HTTP/2 has let go of the requests, which it does as it ends the stream.
    released: oneshot::Receiver<()>,
}

impl Stream {
    pub(crate) async fn open(grpc: &Grpc) -> Result<Stream, Status> {
        let (requests, queue) = mpsc::channel(1);
        let (on_release, released) = oneshot::channel();
        let queue = Requests { queue, _on_release: on_release };
        let replies = grpc.clone().execute_stream(queue).await?.into_inner();
        Ok(Stream { requests, replies, released })
    }

    /// One request and its reply. An error means the connection broke, or the server ended
    /// the stream: the request may or may not have run.
    pub(crate) async fn call(&mut self, request: pb::ExecuteRequest) -> Result<pb::StreamReply, Status> {
        self.send(request).await?;
        self.reply().await
    }

    /// Sends a request without waiting for its reply; the server answers in order.
    pub(crate) async fn send(&mut self, request: pb::ExecuteRequest) -> Result<(), Status> {
        self.requests.send(request).await.map_err(|_| Status::unavailable("the stream closed"))
    }

    /// The reply to the oldest request not yet answered.
    pub(crate) async fn reply(&mut self) -> Result<pb::StreamReply, Status> {
        match self.replies.message().await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(Status::unavailable("the server ended the stream")),
            Err(status) => Err(status),
        }
    }

    /// Ends the stream and waits until HTTP/2 has the cancellation in hand: the server drops a
    /// transaction still waiting for the bus when its stream is cancelled. Without this, the
    /// blocking client, whose runtime only runs during its calls, would send the cancellation
    /// with its next call, perhaps after the transaction ran.
    pub(crate) async fn cancel(self) {
        let Stream { requests, replies, released } = self;
        // Dropping both halves ends the stream; HTTP/2 then drops the requests, resets the
        // stream and wakes the connection's task to send that.
        drop((requests, replies));
        // Bounded only in case a layer below ever holds on to them; the call has failed already.
        let _ = tokio::time::timeout(RELEASE_WAIT, released).await;
        // The connection's task was woken before the requests were dropped, so it runs
        // before this task does again: the reset is on its way when this returns.
        tokio::task::yield_now().await;
    }
}

/// The requests of a stream, as HTTP/2 takes them; dropping them says it is done with them.
struct Requests {
    queue: mpsc::Receiver<pb::ExecuteRequest>,
    _on_release: oneshot::Sender<()>,
}

impl tokio_stream::Stream for Requests {
    type Item = pb::ExecuteRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.queue.poll_recv(cx)
    }
}
