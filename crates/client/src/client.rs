//! [`Client`]: one connection to a server, and the keep-alive that serves every bus opened
//! through it.

use crate::bus::Bus;
use crate::discover;
use crate::error::{Error, Result};
use crate::grpc::{Bearer, Dialer, again_if_connection_broke};
use crate::session::{BusOptions, Connection, Sessions, keep_alive};
use smbus_proxy_wire::discovery;
use smbus_proxy_wire::pb;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The environment variable that names the server when no URL is given.
pub const SERVER_ENV: &str = "SMBUS_PROXY_SERVER";
/// The environment variable that holds the server's token when none is given.
pub const TOKEN_ENV: &str = "SMBUS_PROXY_TOKEN";
/// The environment variable naming the CA file that signed an `https://` server's certificate.
pub const CA_ENV: &str = "SMBUS_PROXY_CA";
/// The environment variable naming this client's certificate, for mutual TLS.
pub const CERT_ENV: &str = "SMBUS_PROXY_CERT";
/// The environment variable naming the key of this client's certificate.
pub const KEY_ENV: &str = "SMBUS_PROXY_KEY";

/// How the client proves who it is, and how it checks the server: a bearer token, and for
/// `https://` URLs the CA behind the server's certificate (the system's roots if none) and a
/// certificate of its own for servers that require mutual TLS. Files are PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The bearer token.
    pub token: Option<String>,
    /// The CA file that signed the server's certificate.
    pub ca: Option<PathBuf>,
    /// This client's certificate.
    pub cert: Option<PathBuf>,
    /// That certificate's key.
    pub key: Option<PathBuf>,
}

impl Credentials {
    /// From `$SMBUS_PROXY_TOKEN`, `$SMBUS_PROXY_CA`, `$SMBUS_PROXY_CERT` and `$SMBUS_PROXY_KEY`.
    pub fn from_env() -> Credentials {
        let path = |var| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        Credentials { token: token(None), ca: path(CA_ENV), cert: path(CERT_ENV), key: path(KEY_ENV) }
    }

    /// The same, with this token or none.
    pub fn with_token(self, token: Option<String>) -> Credentials {
        Credentials { token, ..self }
    }

    /// The bearer header, and for `https://` the TLS settings, checking the server's
    /// certificate against `host` if given, else against the URL's host.
    fn apply(
        &self,
        url: &str,
        host: Option<&str>,
    ) -> Result<(Option<MetadataValue<Ascii>>, Option<ClientTlsConfig>)> {
        let refused = |reason: String| Error::connect(url, Some(reason), None);
        let bearer = match &self.token {
            None => None,
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse::<MetadataValue<Ascii>>()
                    .map_err(|_| refused("the token has characters an HTTP header cannot carry".into()))?,
            ),
        };
        let read = |what: &str, path: &Path| {
            read_pem(path)
                .map_err(|e| Error::connect(url, Some(format!("{what} {}", path.display())), Some(e.into())))
        };
        if !url.starts_with("https://") {
            if self.ca.is_some() || self.cert.is_some() {
                return Err(refused(format!(
                    "a CA or client certificate is set ({CA_ENV}, {CERT_ENV} or their options), \
                     but the URL is not https://"
                )));
            }
            return Ok((bearer, None));
        }
        let mut tls = match &self.ca {
            Some(ca) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("CA file", ca)?)),
            None => ClientTlsConfig::new().with_native_roots(),
        };
        if let Some(host) = host {
            tls = tls.domain_name(host);
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                tls = tls.identity(Identity::from_pem(read("certificate", cert)?, read("key", key)?));
            }
            (None, None) => {}
            _ => return Err(refused("a client certificate needs its key, and a key its certificate".into())),
        }
        Ok((bearer, Some(tls)))
    }
}

/// The token: the one given, else `$SMBUS_PROXY_TOKEN`, else none.
pub fn token(explicit: Option<&str>) -> Option<String> {
    explicit.map(str::to_owned).or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()))
}
/// The server when neither a URL nor [`SERVER_ENV`] says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
/// The port a server listens on unless told otherwise, and so the port of a URL without one.
pub const DEFAULT_PORT: u16 = 50051;

/// Where the server is, by the one convention every tool of this project follows: the
/// explicit URL if there is one, else `$SMBUS_PROXY_SERVER`, else [`DEFAULT_SERVER`], in the
/// form [`normalize_url`] gives it (a URL it refuses is returned as it is, and refused when
/// used).
pub fn server_url(explicit: Option<&str>) -> String {
    let url = match explicit {
        Some(url) => url.to_owned(),
        None => {
            std::env::var(SERVER_ENV).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEFAULT_SERVER.into())
        }
    };
    normalize_url(&url).unwrap_or(url)
}

/// A server's address as the client connects to it: `http://` or `https://`, the host, and the
/// port, [`DEFAULT_PORT`] if none is given. A bare `host` or `host:port` means `http://`, and a
/// bare `PORT` this machine's loopback, as `serve --listen` takes it.
/// `mdns://NAME` is the server announced on the local network as NAME (`smbus-proxy servers`
/// lists them), looked up when the client connects. Anything else (another scheme, a path)
/// is refused, saying what is expected, rather than guessed at.
pub fn normalize_url(url: &str) -> std::result::Result<String, UrlError> {
    if let Some(name) = discovery::discovered_name(url) {
        if name.is_empty() {
            return Err(UrlError::NoName { url: url.to_owned() });
        }
        return Ok(format!("{}{name}", discovery::SCHEME));
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None => ("http".to_owned(), url),
    };
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::Scheme { scheme });
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if !authority.is_empty() && authority.bytes().all(|b| b.is_ascii_digit()) {
        return match authority.parse::<u16>() {
            Ok(port) if port != 0 => Ok(format!("{scheme}://127.0.0.1:{port}")),
            _ => Err(UrlError::BarePort { given: rest.to_owned() }),
        };
    }
    let authority: tonic::codegen::http::uri::Authority =
        authority.parse().map_err(|_| UrlError::NotHostPort { given: rest.to_owned() })?;
    if authority.as_str().contains('@') {
        return Err(UrlError::UserName { given: rest.to_owned() });
    }
    let has_port = authority.as_str().len() > authority.host().len();
    match authority.port_u16() {
        Some(_) => Ok(format!("{scheme}://{authority}")),
        None if !has_port => Ok(format!("{scheme}://{authority}:{DEFAULT_PORT}")),
        None => Err(UrlError::Port { given: rest.to_owned() }),
    }
}

/// Why [`normalize_url`] refuses a URL, in words that say what it expects instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// `mdns://` with no name after it.
    #[error(
        "`{url}` names no server: give the name it announces, such as {}raspberrypi \
         (`smbus-proxy servers` lists them)",
        discovery::SCHEME
    )]
    NoName {
        /// The URL as given.
        url: String,
    },
    /// A scheme other than `http`, `https` and `mdns`.
    #[error(
        "`{scheme}://` is not a scheme the server speaks: use http:// or https://, or mdns://NAME for a \
         server found on the network"
    )]
    Scheme {
        /// The scheme, in lower case.
        scheme: String,
    },
    /// A bare number that is no port.
    #[error("`{given}`: a bare number is a port on this machine, from 1 to 65535")]
    BarePort {
        /// What came after the scheme.
        given: String,
    },
    /// Neither `HOST` nor `HOST:PORT` (a path, a space, …).
    #[error("`{given}` is not HOST or HOST:PORT (such as raspberrypi.local:{})", DEFAULT_PORT)]
    NotHostPort {
        /// What came after the scheme.
        given: String,
    },
    /// A user name before the host.
    #[error("`{given}`: a server address has no user name; give HOST or HOST:PORT")]
    UserName {
        /// What came after the scheme.
        given: String,
    },
    /// A port that is not a number from 1 to 65535.
    #[error("`{given}`: the port must be a number from 1 to 65535")]
    Port {
        /// What came after the scheme.
        given: String,
    },
}

/// How long an open connection with calls or streams on it may hear nothing from the server
/// before it asks whether the server is there, and how long the server has to answer. A bus's
/// session keeps a stream open, so an idle program pings every 2 s (a few dozen bytes); a
/// busy one never does, since answers arriving are proof enough. A connection gone silent (a
/// Wi-Fi drop, a cable pulled) is given up within 5 s of the last thing heard, and a bus
/// handle's link starts taking its session up again on a new one.
const PING_INTERVAL: Duration = Duration::from_secs(2);
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection to an smbus-proxy server. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Connection>,
}

impl Client {
    /// Connects to the server at `url` (`http://host:port` or `https://host:port`) with the
    /// [`Credentials`] the environment gives, and keeps the sessions of the buses opened
    /// through it alive from a task on the current tokio runtime.
    pub async fn connect(url: impl Into<String>) -> Result<Client> {
        Self::connect_with(url, Credentials::from_env()).await
    }

    /// Connects with this token (`authorization: Bearer <token>` on every call), or none, and
    /// the TLS settings of the environment.
    pub async fn connect_with_token(url: impl Into<String>, token: Option<String>) -> Result<Client> {
        Self::connect_with(url, Credentials::from_env().with_token(token)).await
    }

    /// Connects with these credentials.
    pub async fn connect_with(url: impl Into<String>, credentials: Credentials) -> Result<Client> {
        let client = Self::connect_quietly(url.into(), &credentials).await?;
        tokio::spawn(keep_alive(Arc::downgrade(&client.inner)));
        Ok(client)
    }

    /// Connects to the server [`server_url`] names when given no URL.
    pub async fn connect_default() -> Result<Client> {
        Self::connect(server_url(None)).await
    }

    /// Connects without starting the keep-alive task; the blocking client runs it itself.
    pub(crate) async fn connect_quietly(url: String, credentials: &Credentials) -> Result<Client> {
        let url = normalize_url(&url).map_err(|e| Error::connect(&url, None, Some(e.into())))?;
        // A name is looked up once: the connection keeps the address it found, as it would
        // a host name's.
        let found = match discovery::discovered_name(&url) {
            Some(name) => {
                let name = name.to_owned();
                let found = tokio::task::spawn_blocking(move || discover::find(&name, discover::FIND_WAIT))
                    .await
                    .map_err(|e| Error::connect(&url, Some("the search stopped".into()), Some(e.into())))??;
                let address = found.url().ok_or_else(|| {
                    Error::connect(
                        &url,
                        Some(format!("it announced no address a URL can hold: {:?}", found.addresses)),
                        None,
                    )
                })?;
                // Errors name the server as the caller did, and where it was found.
                (address.clone(), Some(found.host), format!("{url} ({address})"))
            }
            None => (url.clone(), None, url),
        };
        let (url, host, shown) = found;
        if let Some(e) = unresolved_local_name(&url).await {
            return Err(e);
        }
        let (bearer, tls) = credentials.apply(&url, host.as_deref())?;
        let mut endpoint = Channel::from_shared(url.clone())
            .map_err(|e| Error::connect(&shown, Some("not a URL".into()), Some(e.into())))?;
        // A peer that vanished (power cut, cable pulled) is noticed by HTTP/2 pings within
        // seconds, rather than when TCP's retransmissions give up many minutes later.
        endpoint = endpoint.http2_keep_alive_interval(PING_INTERVAL).keep_alive_timeout(PING_TIMEOUT);
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| Error::connect(&shown, Some("the TLS settings".into()), Some(e.into())))?;
        }
        let dialer = Dialer { endpoint, bearer: Bearer(bearer) };
        let grpc = dialer.dial().await.map_err(|e| Error::connect(&shown, None, Some(e.into())))?;
        let inner = Connection { grpc, dialer, sessions: Sessions::default() };
        Ok(Client { inner: Arc::new(inner) })
    }

    /// Watches `buses` (none: every bus the server lets this client watch): every
    /// operation anyone runs on them, as it completes.
    pub async fn watch(&self, buses: &[u32]) -> Result<crate::Watcher> {
        let request = pb::WatchRequest { buses: buses.to_vec() };
        crate::Watcher::subscribe(self.inner.grpc.clone(), &self.inner.dialer, request).await
    }

    /// The buses the server exposes, with their adapter names and I2C_FUNCS bits.
    pub async fn list_buses(&self) -> Result<Vec<pb::BusInfo>> {
        Ok(self.listing().await?.buses)
    }

    /// The GPIO lines the server offers, in the order its operator configured them: who holds
    /// each, its direction and, where a session of the server holds it, its value.
    pub async fn list_lines(&self) -> Result<Vec<pb::LineInfo>> {
        Ok(self.listing().await?.lines)
    }

    /// `ListBuses`, asked again if the connection broke (it changes nothing).
    async fn listing(&self) -> Result<pb::ListBusesResponse> {
        let grpc = &self.inner.grpc;
        let response = again_if_connection_broke(|| {
            let mut grpc = grpc.clone();
            async move { grpc.list_buses(pb::ListBusesRequest {}).await }
        })
        .await
        .map_err(Error::status)?;
        Ok(response.into_inner())
    }

    /// Who is using the server's buses: its version and uptime, and each bus's sessions
    /// (address, age, last activity, the lock held or awaited, operations and errors).
    pub async fn status(&self) -> Result<pb::StatusResponse> {
        let grpc = &self.inner.grpc;
        let response = again_if_connection_broke(|| {
            let mut grpc = grpc.clone();
            async move { grpc.status(pb::StatusRequest {}).await }
        })
        .await
        .map_err(Error::status)?;
        Ok(response.into_inner())
    }

    /// Opens bus `number` (the N of /dev/i2c-N on the server).
    pub async fn bus(&self, number: u32) -> Result<Bus> {
        self.bus_with(number, BusOptions::default()).await
    }

    /// Opens bus `number` with adapter settings for this session.
    pub async fn bus_with(&self, number: u32, options: BusOptions) -> Result<Bus> {
        Bus::open(self.inner.clone(), number, options).await
    }
}

/// A PEM file (a CA, a certificate or a key): at most 1 MiB, which any real one is far below,
/// so that a path to something endless fails instead of filling memory.
fn read_pem(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    const MAX: u64 = 1 << 20;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {MAX} bytes"),
        ));
    }
    Ok(bytes)
}

/// A `.local` name is multicast DNS, which many resolvers do not look up (Linux without
/// nss-mdns, most containers, WSL). It is looked up here first, so that a failure can say what
/// works instead ([`connect_hint`]), rather than leave that to a connector's wording.
async fn unresolved_local_name(url: &str) -> Option<Error> {
    let uri: tonic::codegen::http::Uri = url.parse().ok()?;
    let host = uri.host()?;
    local_name(host)?;
    let e = tokio::net::lookup_host((host, uri.port_u16()?)).await.err()?;
    Some(Error::connect(url, Some(format!("cannot look up {host}")), Some(e.into())))
}

/// `pi` of `pi.local` (in any case).
fn local_name(host: &str) -> Option<&str> {
    let at = host.len().checked_sub(".local".len())?;
    let (name, suffix) = host.split_at_checked(at)?;
    (suffix.eq_ignore_ascii_case(".local") && !name.is_empty()).then_some(name)
}

/// What to do about a connection to `url` that failed with `cause`, where the cause says: a
/// new user's first mistakes are a server that is not running, http:// and https:// the
/// wrong way round, and a `.local` name where multicast DNS is not looked up.
pub(crate) fn connect_hint(url: &str, cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    // Only the look-up before connecting fails with a bare I/O error; the connector wraps its
    // own.
    if cause.is::<std::io::Error>() {
        let host = url.parse::<tonic::codegen::http::Uri>().ok()?.host()?.to_owned();
        let name = local_name(&host)?;
        return Some(format!(
            "Where .local names do not resolve (they are multicast DNS: on Linux, Avahi's \
             libnss-mdns; not in most containers, nor in WSL), mdns://{name} finds a server that \
             announces itself as {name}; `smbus-proxy servers` lists them"
        ));
    }
    let mut causes = std::iter::successors(Some(cause), |e| e.source());
    let refused = causes.clone().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    });
    if refused {
        return Some(format!(
            "Is `smbus-proxy serve` running there? The server is the URL given (--server; server= in \
             Python), else ${SERVER_ENV}, else {DEFAULT_SERVER}"
        ));
    }
    // A plaintext answer to the TLS handshake, as rustls types it (inside the I/O error the
    // connection reports it as, whose own source() skips it). Only a client that speaks TLS
    // gets it.
    let plaintext = |e: &(dyn std::error::Error + 'static)| {
        let rustls =
            e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).map_or(e, |inner| inner as _);
        matches!(
            rustls.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType))
        )
    };
    if causes.any(plaintext) {
        return Some(
            "The server does not speak TLS there: use http://, or start it with --tls-cert and --tls-key"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme_and_a_port() {
        assert_eq!(server_url(Some("raspberrypi.local:50052")), "http://raspberrypi.local:50052");
        assert_eq!(server_url(Some("https://pi:50051")), "https://pi:50051");
        assert_eq!(normalize_url("localhost").unwrap(), "http://localhost:50051");
        assert_eq!(normalize_url("HTTPS://pi/").unwrap(), "https://pi:50051");
        assert_eq!(normalize_url("[::1]").unwrap(), "http://[::1]:50051");
        assert_eq!(normalize_url("http://10.0.0.7:8080").unwrap(), "http://10.0.0.7:8080");
        // A bare port is this machine's, as `serve --listen` reads one.
        assert_eq!(normalize_url("50052").unwrap(), "http://127.0.0.1:50052");
        assert_eq!(normalize_url("https://50052").unwrap(), "https://127.0.0.1:50052");
        for port in ["0", "65536", "99999999999"] {
            let refused = normalize_url(port).unwrap_err();
            assert_eq!(refused, UrlError::BarePort { given: port.into() });
            assert_eq!(
                refused.to_string(),
                format!("`{port}`: a bare number is a port on this machine, from 1 to 65535")
            );
        }
        assert_eq!(
            normalize_url("htp://pi:50051").unwrap_err().to_string(),
            "`htp://` is not a scheme the server speaks: use http:// or https://, or mdns://NAME for a \
             server found on the network"
        );
        assert_eq!(normalize_url("MDNS://lab-pi/").unwrap(), "mdns://lab-pi");
        assert_eq!(
            normalize_url("mdns://").unwrap_err().to_string(),
            "`mdns://` names no server: give the name it announces, such as mdns://raspberrypi \
             (`smbus-proxy servers` lists them)"
        );
        assert_eq!(normalize_url("http://me@pi").unwrap_err(), UrlError::UserName { given: "me@pi".into() });
        assert!(
            normalize_url("http://pi:50051/smbus")
                .unwrap_err()
                .to_string()
                .contains("is not HOST or HOST:PORT")
        );
        assert!(normalize_url("pi:port").unwrap_err().to_string().contains("the port must be a number"));
        // An unusable URL is left for the connection to refuse, with that message.
        assert_eq!(server_url(Some("htp://pi")), "htp://pi");
    }

    #[test]
    fn tls_settings_need_https_and_a_certificate_needs_its_key() {
        let ca = Credentials { ca: Some("ca.pem".into()), ..Credentials::default() };
        assert!(
            ca.apply("http://pi:50051", None).unwrap_err().to_string().contains("the URL is not https://")
        );
        let half = Credentials { cert: Some("me.pem".into()), ..Credentials::default() };
        assert!(half.apply("https://pi:50051", None).unwrap_err().to_string().contains("needs its key"));
        let token = Credentials { token: Some("bad\ntoken".into()), ..Credentials::default() };
        let refused = token.apply("http://pi:50051", None).unwrap_err().to_string();
        assert!(refused.contains("characters an HTTP header cannot carry"));
    }
}
