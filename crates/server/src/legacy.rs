//! The original Python smbus-proxy's service, `SmbusRcp`, as a thin adapter over the same
//! sessions, buses, validation and logging as `smbus.v1`: its clients keep working.
//!
//! What differs is only the old interface: the session id travels as metadata `client_id`
//! (in the trailers of `open`'s answer, in the headers of every later request), and every
//! failure is an answer `operation_status { code: 1, exception }`, never a gRPC error.

use crate::service::{Origin, Rejected, Service};
use crate::session::{Owner, Params};
use smbus_proxy_wire::legacy::{self as rcp, smbus_rcp_server::SmbusRcp};
use smbus_proxy_wire::pb::{self, smbus_op::Command as C};
use smbus_proxy_wire::{ArgError, Errno, Reply, decode, encode};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::codegen::{Service as TowerService, http};
use tonic::{Request, Response, Status};

/// The metadata key that carries the session id.
const CLIENT_ID: &str = "client_id";

pub struct Legacy {
    core: Service,
}

impl Legacy {
    pub fn new(core: Service) -> Self {
        Legacy { core }
    }

    fn client_id<T>(req: &Request<T>) -> Result<String, String> {
        let id =
            req.metadata().get(CLIENT_ID).ok_or("no client_id in the request metadata: call open first")?;
        id.to_str().map(str::to_owned).map_err(|_| "client_id: not text".to_owned())
    }

    /// Runs one SMBus command for the session the request names.
    async fn run<T>(&self, req: &Request<T>, addr: i32, command: C) -> Result<Reply, String> {
        let session = Self::client_id(req)?;
        let addr = unsigned("i2c_addr", addr)?;
        let op = pb::Op {
            op: Some(pb::op::Op::Smbus(pb::SmbusOp { addr, command: Some(command), ..Default::default() })),
        };
        let response = self
            .core
            .execute_one(
                pb::ExecuteRequest { session, ops: vec![op], keep_going: false, ..Default::default() },
                &Origin::of(req),
            )
            .await
            .map_err(|rejected| match rejected {
                Rejected::Argument(e) => argument(&e),
                Rejected::Status(s) => s.message().to_owned(),
            })?
            .response;
        if let Some(e) = response.error {
            return Err(os_error(Errno(e.errno)));
        }
        let result = response.results.into_iter().next().ok_or("no result")?;
        decode::reply(result).map_err(|e| e.to_string())
    }
}

fn ok() -> rcp::OperationStatus {
    rcp::OperationStatus { code: 0, exception: String::new() }
}

fn failed(exception: String) -> rcp::OperationStatus {
    rcp::OperationStatus { code: 1, exception }
}

fn status(result: Result<(), String>) -> Response<rcp::OperationStatus> {
    Response::new(result.map_or_else(failed, |()| ok()))
}

/// As Python's OSError prints, which is what the original server passed on.
fn os_error(errno: Errno) -> String {
    let text = errno.to_string();
    let meaning = text.split_once(": ").map_or(text.as_str(), |(_, m)| m);
    match errno.name() {
        Some(name) => format!("[Errno {}] {meaning} ({name})", errno.0),
        None => format!("[Errno {}] {meaning}", errno.0),
    }
}

/// A bad argument, with the field named as the old interface names it.
fn argument(e: &ArgError) -> String {
    let field = match e.name() {
        "addr" => "i2c_addr",
        "reg" => "register",
        "len" => "length",
        other => other,
    };
    format!("{field}: {}", e.problem)
}

fn unsigned(field: &str, v: i32) -> Result<u64, String> {
    u64::try_from(v).map_err(|_| format!("{field}: {v} is negative"))
}

fn reg_value(reg: i32, value: i32) -> Result<pb::RegValue, String> {
    Ok(pb::RegValue { reg: unsigned("register", reg)?, value: unsigned("value", value)? })
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl SmbusRcp for Legacy {
    async fn open(&self, req: Request<rcp::OpenRequest>) -> Answer<rcp::OperationStatus> {
        let owner = Owner::of(&req);
        let opened = unsigned("i2c_bus", req.get_ref().i2c_bus).and_then(|bus| {
            self.core
                .open_session(bus, owner, Params::default(), Duration::ZERO)
                .map_err(|s| s.message().to_owned())
        });
        let session = match opened {
            Ok(session) => session,
            Err(e) => return Ok(Response::new(failed(e))),
        };
        let mut response = Response::new(ok());
        let id = encode::session_id(session.id).parse().expect("hex digits are valid metadata");
        // A header here; `ToTrailers` moves it where the old clients look for it.
        response.metadata_mut().insert(CLIENT_ID, id);
        Ok(response)
    }

    async fn close(&self, req: Request<rcp::CloseRequest>) -> Answer<rcp::OperationStatus> {
        Ok(status(Self::client_id(&req).and_then(|id| {
            self.core.close_session(&id, &Owner::of(&req)).map_err(|s| s.message().to_owned())
        })))
    }

    async fn ping(&self, req: Request<rcp::KeepAlive>) -> Answer<rcp::OperationStatus> {
        Ok(status(Self::client_id(&req).and_then(|id| {
            self.core.session(&id, &Owner::of(&req)).map(drop).map_err(|s| s.message().to_owned())
        })))
    }

    async fn read_byte(&self, req: Request<rcp::ReadByteRequest>) -> Answer<rcp::ReadByteResponse> {
        let r = self.run(&req, req.get_ref().i2c_addr, C::ReadByte(pb::Empty {})).await;
        Ok(Response::new(match r {
            Ok(Reply::Byte(b)) => rcp::ReadByteResponse { status: Some(ok()), data: b.into() },
            Ok(other) => {
                rcp::ReadByteResponse { status: Some(failed(format!("unexpected {other}"))), data: 0 }
            }
            Err(e) => rcp::ReadByteResponse { status: Some(failed(e)), data: 0 },
        }))
    }

    async fn write_byte(&self, req: Request<rcp::WriteByteRequest>) -> Answer<rcp::OperationStatus> {
        let r = req.get_ref();
        let command = unsigned("value", r.value).map(|value| C::WriteByte(pb::Value { value }));
        let result = match command {
            Ok(command) => self.run(&req, r.i2c_addr, command).await.map(drop),
            Err(e) => Err(e),
        };
        Ok(status(result))
    }

    async fn read_byte_data(
        &self,
        req: Request<rcp::ReadByteDataRequest>,
    ) -> Answer<rcp::ReadByteDataResponse> {
        let r = req.get_ref();
        let result = match unsigned("register", r.register) {
            Ok(reg) => self.run(&req, r.i2c_addr, C::ReadByteData(pb::Reg { reg })).await,
            Err(e) => Err(e),
        };
        Ok(Response::new(match result {
            Ok(Reply::Byte(b)) => rcp::ReadByteDataResponse { status: Some(ok()), data: b.into() },
            Ok(other) => {
                rcp::ReadByteDataResponse { status: Some(failed(format!("unexpected {other}"))), data: 0 }
            }
            Err(e) => rcp::ReadByteDataResponse { status: Some(failed(e)), data: 0 },
        }))
    }

    async fn write_byte_data(&self, req: Request<rcp::WriteByteDataRequest>) -> Answer<rcp::OperationStatus> {
        let r = req.get_ref();
        let result = match reg_value(r.register, r.value) {
            Ok(rv) => self.run(&req, r.i2c_addr, C::WriteByteData(rv)).await.map(drop),
            Err(e) => Err(e),
        };
        Ok(status(result))
    }

    async fn read_word_data(
        &self,
        req: Request<rcp::ReadWordDataRequest>,
    ) -> Answer<rcp::ReadWordDataResponse> {
        let r = req.get_ref();
        let result = match unsigned("register", r.register) {
            Ok(reg) => self.run(&req, r.i2c_addr, C::ReadWordData(pb::Reg { reg })).await,
            Err(e) => Err(e),
        };
        Ok(Response::new(match result {
            Ok(Reply::Word(w)) => rcp::ReadWordDataResponse { status: Some(ok()), data: w.into() },
            Ok(other) => {
                rcp::ReadWordDataResponse { status: Some(failed(format!("unexpected {other}"))), data: 0 }
            }
            Err(e) => rcp::ReadWordDataResponse { status: Some(failed(e)), data: 0 },
        }))
    }

    async fn write_word_data(&self, req: Request<rcp::WriteWordDataRequest>) -> Answer<rcp::OperationStatus> {
        let r = req.get_ref();
        let result = match reg_value(r.register, r.value) {
            Ok(rv) => self.run(&req, r.i2c_addr, C::WriteWordData(rv)).await.map(drop),
            Err(e) => Err(e),
        };
        Ok(status(result))
    }

    async fn read_i2c_block_data(
        &self,
        req: Request<rcp::ReadI2cBlockDataRequest>,
    ) -> Answer<rcp::ReadI2cBlockDataResponse> {
        let r = req.get_ref();
        // The old client never sends a length: 0 means a whole block.
        let len = if r.length == 0 { Ok(32) } else { unsigned("length", r.length) };
        let result = match unsigned("register", r.register).and_then(|reg| Ok((reg, len?))) {
            Ok((reg, len)) => self.run(&req, r.i2c_addr, C::ReadI2cBlockData(pb::RegLen { reg, len })).await,
            Err(e) => Err(e),
        };
        let empty = |status| rcp::ReadI2cBlockDataResponse {
            status: Some(status),
            data: Default::default(),
            length: 0,
        };
        Ok(Response::new(match result {
            Ok(Reply::Block(data)) => {
                rcp::ReadI2cBlockDataResponse { status: Some(ok()), length: data.len() as i32, data }
            }
            Ok(other) => empty(failed(format!("unexpected {other}"))),
            Err(e) => empty(failed(e)),
        }))
    }

    async fn write_i2c_block_data(
        &self,
        req: Request<rcp::WriteI2cBlockDataRequest>,
    ) -> Answer<rcp::OperationStatus> {
        let r = req.get_ref();
        let result = match unsigned("register", r.register) {
            Ok(reg) => {
                let command = C::WriteI2cBlockData(pb::RegData { reg, data: r.data.clone() });
                self.run(&req, r.i2c_addr, command).await.map(drop)
            }
            Err(e) => Err(e),
        };
        Ok(status(result))
    }
}

/// Wraps the generated service so that a `client_id` header of a response goes out in its
/// trailers instead, where the original clients read it. tonic sends a unary response's
/// metadata as headers and has no way to add trailers to a successful one.
#[derive(Clone)]
pub struct ToTrailers<S>(pub S);

impl<S: tonic::server::NamedService> tonic::server::NamedService for ToTrailers<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> TowerService<http::Request<B>> for ToTrailers<S>
where
    S: TowerService<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let answer = self.0.call(req);
        Box::pin(async move {
            let mut response = answer.await?;
            Ok(match response.headers_mut().remove(CLIENT_ID) {
                Some(id) => response.map(|body| tonic::body::Body::new(WithTrailer { body, id: Some(id) })),
                None => response,
            })
        })
    }
}

/// A response body with one more trailer.
struct WithTrailer {
    body: tonic::body::Body,
    id: Option<http::HeaderValue>,
}

impl http_body::Body for WithTrailer {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
        let frame = std::task::ready!(Pin::new(&mut self.body).poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) if frame.is_trailers() => {
                let mut trailers = frame.into_trailers().unwrap_or_default();
                if let Some(id) = self.id.take() {
                    trailers.insert(CLIENT_ID, id);
                }
                Some(Ok(http_body::Frame::trailers(trailers)))
            }
            None => self.id.take().map(|id| {
                let mut trailers = http::HeaderMap::new();
                trailers.insert(CLIENT_ID, id);
                Ok(http_body::Frame::trailers(trailers))
            }),
            other => other,
        })
    }
}
