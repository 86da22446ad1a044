//! [`Client`]: one connection to a server, and the keep-alive that serves every bus opened
//! through it.

use crate::bus::{Bus, BusOptions, Session};
use crate::error::{Error, Result};
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::Channel;

/// The environment variable that names the server when no URL is given.
pub const SERVER_ENV: &str = "SMBUS_PROXY_SERVER";
/// The environment variable that holds the server's token when none is given.
pub const TOKEN_ENV: &str = "SMBUS_PROXY_TOKEN";

/// The gRPC client, with the token on every request.
pub(crate) type Grpc = SmbusClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer <token>` to each request, if there is a token.
#[derive(Clone)]
pub(crate) struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            req.metadata_mut().insert("authorization", value.clone());
        }
        Ok(req)
    }
}

/// The token: the one given, else `$SMBUS_PROXY_TOKEN`, else none.
pub fn token(explicit: Option<&str>) -> Option<String> {
    explicit.map(str::to_owned).or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()))
}
/// The server when neither a URL nor [`SERVER_ENV`] says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// Where the server is, by the one convention every tool of this project follows: the
/// explicit URL if there is one, else `$SMBUS_PROXY_SERVER`, else [`DEFAULT_SERVER`].
pub fn server_url(explicit: Option<&str>) -> String {
    match explicit {
        Some(url) => url.to_owned(),
        None => {
            std::env::var(SERVER_ENV).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_SERVER.into())
        }
    }
}

/// A connection to an smbus-proxy server. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) grpc: Grpc,
    /// The sessions of the buses opened through this client, for the keep-alive.
    sessions: Mutex<Vec<Weak<Session>>>,
}

impl Client {
    /// Connects to the server at `url` (`http://host:port`), with the token in
    /// `$SMBUS_PROXY_TOKEN` if there is one, and keeps the sessions of the buses opened
    /// through it alive from a task on the current tokio runtime.
    pub async fn connect(url: impl Into<String>) -> Result<Client> {
        Self::connect_with_token(url, token(None)).await
    }

    /// Connects with this token (`authorization: Bearer <token>` on every call), or none.
    pub async fn connect_with_token(url: impl Into<String>, token: Option<String>) -> Result<Client> {
        let client = Self::connect_quietly(url.into(), token).await?;
        tokio::spawn(keep_alive(Arc::downgrade(&client.inner)));
        Ok(client)
    }

    /// Connects to the server [`server_url`] names when given no URL.
    pub async fn connect_default() -> Result<Client> {
        Self::connect(server_url(None)).await
    }

    /// Connects without starting the keep-alive task; the blocking client runs it itself.
    pub(crate) async fn connect_quietly(url: String, token: Option<String>) -> Result<Client> {
        let bearer = match token {
            None => None,
            Some(t) => {
                Some(format!("Bearer {t}").parse::<MetadataValue<Ascii>>().map_err(|_| Error::Connect {
                    url: url.clone(),
                    reason: "the token has characters an HTTP header cannot carry".into(),
                })?)
            }
        };
        let endpoint = Channel::from_shared(url.clone())
            .map_err(|e| Error::Connect { url: url.clone(), reason: format!("not a URL: {e}") })?;
        let channel =
            endpoint.connect().await.map_err(|e| Error::Connect { url, reason: source_chain(&e) })?;
        let grpc = SmbusClient::with_interceptor(channel, Bearer(bearer));
        let inner = Inner { grpc, sessions: Mutex::new(Vec::new()) };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// The buses the server exposes, with their adapter names and I2C_FUNCS bits.
    pub async fn list_buses(&self) -> Result<Vec<pb::BusInfo>> {
        let response =
            self.inner.grpc.clone().list_buses(pb::ListBusesRequest {}).await.map_err(Error::status)?;
        Ok(response.into_inner().buses)
    }

    /// Opens bus `number` (the N of /dev/i2c-N on the server).
    pub async fn bus(&self, number: u32) -> Result<Bus> {
        self.bus_with(number, BusOptions::default()).await
    }

    /// Opens bus `number` with adapter settings for this session.
    pub async fn bus_with(&self, number: u32, options: BusOptions) -> Result<Bus> {
        let bus = Bus::open(self.clone(), number, options).await?;
        let mut sessions = self.inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.retain(|s| s.strong_count() > 0);
        sessions.push(Arc::downgrade(bus.session()));
        Ok(bus)
    }
}

impl Inner {
    /// Renews every session that has been quiet for a third of its lease, and returns how
    /// long to wait before looking again.
    pub(crate) async fn keep_alive_round(&self) -> Duration {
        let live: Vec<Arc<Session>> = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions.retain(|s| s.strong_count() > 0);
            sessions.iter().filter_map(Weak::upgrade).collect()
        };
        let mut next = Duration::from_secs(1);
        for session in live {
            if session.quiet_for() >= session.lease / 3 {
                session.keep_alive(self.grpc.clone()).await;
            }
            next = next.min(session.lease / 4);
        }
        next.max(Duration::from_millis(10))
    }
}

async fn keep_alive(client: Weak<Inner>) {
    let mut wait = Duration::from_millis(10);
    loop {
        tokio::time::sleep(wait).await;
        let Some(inner) = client.upgrade() else { return };
        wait = inner.keep_alive_round().await;
    }
}

/// An error with its causes, as one line ("transport error: connection refused").
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Layers often repeat their cause's words; say each once.
        let more = s.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}
