//! Authentication: with a token configured, every call to the bus services must carry
//! `authorization: Bearer <token>`; with mutual TLS, it must come over a connection whose
//! client presented a certificate the client CA signed (the TLS handshake has checked the
//! signature by then). Health stays open, so a load balancer can probe it; reflection needs the
//! credentials too. A call that shows them marks its connection as a client's (`conn`).

use crate::throttle::{Refusal, Refusals};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tonic::{Request, Status, service::Interceptor};

/// Checks each request's bearer token, if the server has one.
#[derive(Clone)]
pub struct Auth {
    token: Option<Arc<[u8]>>,
    client_cert: bool,
    refusals: Arc<Refusals>,
}

impl Auth {
    /// Requires this token, if any, and a client certificate if `client_cert`; refusals are
    /// logged through `refusals`.
    pub(crate) fn new(token: Option<&str>, client_cert: bool, refusals: Arc<Refusals>) -> Self {
        Auth { token: token.map(|t| Arc::from(t.as_bytes())), client_cert, refusals }
    }

    fn check(&self, req: &Request<()>) -> Result<(), Status> {
        if self.client_cert && crate::conn::peer_certs(req).is_none_or(|certs| certs.is_empty()) {
            return Err(Status::unauthenticated(
                "client certificate: none presented; this server requires one signed by its client CA",
            ));
        }
        let Some(token) = &self.token else { return Ok(()) };
        let given = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Compared in constant time, so the answer's timing says nothing about the token.
        match given {
            Some(given) if bool::from(given.as_bytes().ct_eq(token)) => Ok(()),
            Some(_) => Err(Status::unauthenticated("authorization: wrong token")),
            None => {
                Err(Status::unauthenticated("authorization: missing; send `authorization: Bearer <token>`"))
            }
        }
    }
}

impl Interceptor for Auth {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        match self.check(&req) {
            Ok(()) => {
                crate::conn::authenticated(&req);
                Ok(req)
            }
            Err(status) => {
                self.refusals.log(Refusal::Auth, req.remote_addr(), None, &status);
                Err(status)
            }
        }
    }
}
