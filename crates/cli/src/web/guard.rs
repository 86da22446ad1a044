//! Only the page itself may call this process. A page from anywhere else in the same browser
//! can send requests to loopback: with a host name of its own that it points at 127.0.0.1 (DNS
//! rebinding), its requests carry that name in `Host`; cross-site, they carry its origin in
//! `Origin`. So every request must name this process in `Host` (an address it listens on, or
//! `localhost` with its port), and a request that changes anything (any POST) must also come
//! with `Origin` naming it, and as JSON, which a cross-site form cannot send without the
//! browser asking first (a CORS preflight, which this process never grants).

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The names this process answers to: `host:port` for each.
#[derive(Clone, Debug)]
pub struct Hosts(Arc<Vec<String>>);

impl Hosts {
    /// The names a page on `addr` is reached by.
    pub fn for_addr(addr: SocketAddr) -> Hosts {
        let port = addr.port();
        let mut names = vec![format!("localhost:{port}")];
        names.push(match addr {
            SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
            SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
        });
        Hosts(Arc::new(names))
    }

    fn knows(&self, host: &str) -> bool {
        self.0.iter().any(|name| name.eq_ignore_ascii_case(host))
    }
}

fn refuse(why: &str) -> Response {
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n"))
        .into_response()
}

/// The middleware: passes a request from the page, refuses anything else with 403.
pub async fn only_the_page(State(hosts): State<Hosts>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match host {
        Some(host) if hosts.knows(host) => {}
        Some(_) => return refuse("this page answers only to its own address (Host)"),
        None => return refuse("a request must name this page's address (Host)"),
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let from_the_page = origin
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|o| hosts.knows(o) && host.is_some_and(|h| h.eq_ignore_ascii_case(o)));
        if !from_the_page {
            return refuse("changes come only from this page itself (Origin)");
        }
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|c| c.to_str().ok())
            .is_some_and(|c| c.split(';').next().is_some_and(|t| t.trim() == "application/json"));
        if !json {
            return refuse("changes come as application/json");
        }
    }
    next.run(request).await
}
