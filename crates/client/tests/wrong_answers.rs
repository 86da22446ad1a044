//! A server that answers with the wrong shape or length: the client says so instead of handing
//! on a value its caller did not ask for.

use smbus_proxy_client::{Error, Msg, Report, blocking::Client};
use smbus_proxy_wire::pb::{self, smbus_server::Smbus, smbus_server::SmbusServer};
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::{Request, Response, Status};

/// Answers every operation with the same three bytes.
struct ThreeBytes;

type Answer<T> = Result<Response<T>, Status>;

fn answer(req: &pb::ExecuteRequest) -> pb::StreamReply {
    let block = pb::OpResult { result: Some(pb::op_result::Result::Block(vec![1, 2, 3].into())) };
    let response = pb::ExecuteResponse { results: vec![block; req.ops.len()], error: None };
    pb::StreamReply { reply: Some(pb::stream_reply::Reply::Response(response)) }
}

/// The replies to a stream of requests, one each.
struct Replies(tonic::Streaming<pb::ExecuteRequest>);

impl tokio_stream::Stream for Replies {
    type Item = Result<pb::StreamReply, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx).map(|r| r.map(|r| r.map(|req| answer(&req))))
    }
}

#[tonic::async_trait]
impl Smbus for ThreeBytes {
    async fn list_buses(&self, _: Request<pb::ListBusesRequest>) -> Answer<pb::ListBusesResponse> {
        Err(Status::unimplemented("not here"))
    }
    async fn open(&self, _: Request<pb::OpenRequest>) -> Answer<pb::OpenResponse> {
        let bus =
            pb::BusInfo { number: 1, name: "liar".into(), funcs: u64::from(u32::MAX), ..Default::default() };
        Ok(Response::new(pb::OpenResponse {
            session: "0".repeat(32),
            bus: Some(bus),
            lease_ms: 5000,
            ..Default::default()
        }))
    }
    async fn close(&self, _: Request<pb::CloseRequest>) -> Answer<pb::CloseResponse> {
        Ok(Response::new(pb::CloseResponse {}))
    }
    async fn keep_alive(&self, _: Request<pb::KeepAliveRequest>) -> Answer<pb::KeepAliveResponse> {
        Ok(Response::new(pb::KeepAliveResponse { lease_ms: 5000 }))
    }
    async fn resume(&self, _: Request<pb::ResumeRequest>) -> Answer<pb::ResumeResponse> {
        Err(Status::unimplemented("not here"))
    }
    async fn lock(&self, _: Request<pb::LockRequest>) -> Answer<pb::LockResponse> {
        Err(Status::unimplemented("not here"))
    }
    async fn unlock(&self, _: Request<pb::UnlockRequest>) -> Answer<pb::UnlockResponse> {
        Err(Status::unimplemented("not here"))
    }
    async fn execute(&self, _: Request<pb::ExecuteRequest>) -> Answer<pb::ExecuteResponse> {
        Err(Status::unimplemented("not here"))
    }
    type ExecuteStreamStream = Replies;
    async fn execute_stream(&self, req: Request<tonic::Streaming<pb::ExecuteRequest>>) -> Answer<Replies> {
        Ok(Response::new(Replies(req.into_inner())))
    }
    type WatchStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::WatchEvent, Status>> + Send>>;
    async fn watch(&self, _: Request<pb::WatchRequest>) -> Answer<Self::WatchStream> {
        Err(Status::unimplemented("nothing to watch"))
    }
    async fn status(&self, _: Request<pb::StatusRequest>) -> Answer<pb::StatusResponse> {
        Err(Status::unimplemented("no status"))
    }
    async fn request_lines(&self, _: Request<pb::RequestLinesRequest>) -> Answer<pb::RequestLinesResponse> {
        Err(Status::unimplemented("no lines"))
    }
    async fn release_lines(&self, _: Request<pb::ReleaseLinesRequest>) -> Answer<pb::ReleaseLinesResponse> {
        Err(Status::unimplemented("no lines"))
    }
    type LineEventsStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::LineEvent, Status>> + Send>>;
    async fn line_events(&self, _: Request<pb::LineEventsRequest>) -> Answer<Self::LineEventsStream> {
        Err(Status::unimplemented("no lines"))
    }
}

fn liar() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            tonic::transport::Server::builder()
                .add_service(SmbusServer::new(ThreeBytes))
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await
                .unwrap();
        });
    });
    url
}

fn protocol_error<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
    match result {
        Err(e @ Error::Protocol { .. }) => Report(&e).to_string(),
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn replies_of_the_wrong_shape_or_length_are_refused() {
    let client = Client::connect(liar()).unwrap();
    let mut bus = client.bus(1).unwrap();
    // Three bytes are a block read's answer, within its 32...
    assert_eq!(&bus.read_block_data(0x48, 0).unwrap()[..], [1, 2, 3]);
    // ...but not two bytes, a byte, or a write's acknowledgement.
    let longer = protocol_error(bus.read_i2c_block_data(0x48, 0, 2));
    assert!(longer.contains("read_i2c_block_data answered [01 02 03]"), "{longer}");
    protocol_error(bus.read_byte_data(0x48, 0));
    protocol_error(bus.write_byte_data(0x48, 0, 1));
    // A batch is checked as a whole before any result is handed out.
    let mut batch = bus.batch();
    batch.read_block_data(0x48, 0);
    batch.read_word_data(0x48, 0);
    protocol_error(bus.run(batch));
    // A transfer's answer is its reads, not a block.
    protocol_error(bus.i2c_rdwr(vec![Msg::read(0x50, 3)]));
}
