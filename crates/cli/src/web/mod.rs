//! `smbus-proxy web`: the bus in a browser. This process serves a page on the laptop's
//! loopback and is an ordinary client of the server behind it: it watches the buses, asks the
//! status, and reads (and, only with `--allow-writes`, writes) registers with the server's
//! authentication and policy as they are. Nothing new listens on the Pi.
//!
//! - `feed.rs`: the watch, kept in a ring bounded in events and bytes, which pages read from;
//! - `guard.rs`: only the page itself may call (Host, and Origin for changes);
//! - `limit.rs`: how many connections, and how long one may stall;
//! - `page/`: the page, built into the binary (no CDN, no build step).

mod feed;
mod guard;
mod limit;

use crate::tools::{Args, fail};
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use feed::Feed;
use smbus_proxy_client::Report;
use smbus_proxy_client::blocking::{Bus, Client};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy web [--listen ADDR] [--open] [--allow-writes]
  Serves a page that shows the server's buses live: an address map that glows with traffic,
  every operation as it happens, who holds each bus, and a device's registers.
  --listen ADDR    where the page is served, a loopback address (default 127.0.0.1:7750; port 0
                   picks one); it prints its URL
  --open           opens the page in the browser (xdg-open)
  --allow-writes   lets the page write registers (off: it only reads)
",
    remote_usage!()
);

/// Where the page is served unless `--listen` says otherwise.
const DEFAULT_LISTEN: &str = "127.0.0.1:7750";

/// What every handler shares. The client is the blocking one, called from the runtime's
/// blocking threads: its calls are the server's round trips, and the page makes few.
struct Shared {
    client: Client,
    server: String,
    feed: Arc<Feed>,
    writes: bool,
    /// A session per bus the page has read or written, opened on first use.
    buses: Mutex<HashMap<u32, Bus>>,
    /// One download is made at a time: each is a snapshot of the ring.
    download: Arc<tokio::sync::Semaphore>,
}

/// Bytes a capture writes, taken as they come.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type App = Arc<Shared>;

pub fn run(args: Vec<String>) -> ExitCode {
    // The two switches of this tool alone, taken out before the grammar every tool shares.
    let (mut open, mut writes) = (false, false);
    let args = args
        .into_iter()
        .filter(|arg| match arg.as_str() {
            "--open" => {
                open = true;
                false
            }
            "--allow-writes" => {
                writes = true;
                false
            }
            _ => true,
        })
        .collect();
    let args = match Args::parse_with_long("web", "", "", &["listen"], args) {
        Ok((args, _)) => args,
        Err(stop) => return stop.exit(USAGE),
    };
    if let Some(extra) = args.positional.first() {
        return crate::tools::usage_error(&format!("Error: unexpected argument: {extra}"), USAGE);
    }
    let listen = args.long("listen").unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = match listen.parse() {
        Ok(addr) => addr,
        Err(_) => {
            return crate::tools::usage_error(
                &format!("Error: --listen {listen}: not an address:port"),
                USAGE,
            );
        }
    };
    if !listen.ip().is_loopback() {
        return crate::tools::usage_error(
            &format!("Error: --listen {listen}: the page serves loopback only (127.0.0.1, ::1)"),
            USAGE,
        );
    }
    let client = match Client::connect_with(&args.server, args.credentials.clone()) {
        Ok(client) => client,
        Err(e) => return fail(&format!("Error: {}", Report(&e))),
    };
    let (addr, serving) = match start(client, args.server.clone(), writes, listen) {
        Ok(started) => started,
        Err(e) => return fail(&format!("Error: {}", Report(&*e))),
    };
    let url = format!("http://{addr}/");
    println!("{url}");
    if open {
        let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
    }
    match serving.join() {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(&format!("Error: {}", Report(&e))),
        Err(_) => fail("Error: the page's server stopped"),
    }
}

type Started = (SocketAddr, std::thread::JoinHandle<std::io::Result<()>>);

/// Starts the watch and the page's server on `listen`, each on a thread of its own: the
/// address it serves on, and the thread that serves.
fn start(
    client: Client,
    server: String,
    writes: bool,
    listen: SocketAddr,
) -> Result<Started, Box<dyn std::error::Error + Send + Sync>> {
    let feed = Arc::new(Feed::default());
    let watcher = client.watch(&[])?;
    std::thread::Builder::new().name("web feed".into()).spawn({
        let feed = feed.clone();
        move || {
            for event in watcher {
                match event {
                    Ok(event) => feed.push(event),
                    Err(e) => {
                        tracing::warn!(error = %Report(&e), "the watch ended");
                        return;
                    }
                }
            }
        }
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(listen))
        .map_err(|e| format!("cannot listen on {listen}: {}", Report(&e)))?;
    let addr = listener.local_addr()?;
    let app = Arc::new(Shared {
        client,
        server,
        feed,
        writes,
        buses: Mutex::default(),
        download: Arc::new(tokio::sync::Semaphore::new(1)),
    });
    let router = Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", include_str!("page/index.html")) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("page/app.js")) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("page/style.css")) }),
        )
        .route("/api/info", get(info))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/capture.trace", get(trace))
        .route("/api/capture.pcapng", get(pcapng))
        .route("/api/scan", post(scan))
        .route("/api/read", post(read))
        .route("/api/write", post(write))
        .with_state(app)
        .layer(axum::middleware::from_fn_with_state(guard::Hosts::for_addr(addr), guard::only_the_page));
    let serving = std::thread::Builder::new().name("web".into()).spawn(move || {
        runtime.block_on(async move { axum::serve(limit::Limited::new(listener), router).await })
    })?;
    Ok((addr, serving))
}

/// A file of the page: never cached (a new binary may bring a new page), never sniffed, and
/// allowed to load nothing but this process's own files.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; frame-ancestors 'none'"),
        ],
        body,
    )
        .into_response()
}

fn failed(status: StatusCode, e: &(dyn std::error::Error + 'static)) -> Response {
    (status, Report(e).to_string()).into_response()
}

/// Runs a blocking client call off the runtime's threads.
async fn blocking<T: Send + 'static>(
    app: &App,
    call: impl FnOnce(&Shared) -> smbus_proxy_client::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let app = app.clone();
    match tokio::task::spawn_blocking(move || call(&app)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(failed(StatusCode::BAD_GATEWAY, &e)),
        Err(e) => Err(failed(StatusCode::INTERNAL_SERVER_ERROR, &e)),
    }
}

async fn info(State(app): State<App>) -> Response {
    let (buses, lines) = match blocking(&app, |app| {
        Ok((app.client.list_buses()?, app.client.list_lines().unwrap_or_default()))
    })
    .await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    axum::Json(serde_json::json!({
        "server": app.server,
        "writes": app.writes,
        "buses": buses.iter().map(|b| serde_json::json!({
            "number": b.number, "name": b.name, "claimed": b.claimed,
        })).collect::<Vec<_>>(),
        "lines": lines.iter().map(|l| &l.name).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn status(State(app): State<App>) -> Response {
    let status = match blocking(&app, |app| app.client.status()).await {
        Ok(status) => status,
        Err(response) => return response,
    };
    let buses: Vec<_> = status
        .buses
        .iter()
        .map(|b| {
            let bus = b.bus.clone().unwrap_or_default();
            serde_json::json!({
                "number": bus.number,
                "name": bus.name,
                "hidden": b.sessions_hidden,
                "sessions": b.sessions.iter().map(|s| serde_json::json!({
                    "session": s.session, "peer": s.peer, "age_ms": s.age_ms, "idle_ms": s.idle_ms,
                    "lock_held_ms": s.lock_held_ms, "lock_wait_ms": s.lock_wait_ms,
                    "operations": s.operations, "errors": s.errors,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    axum::Json(serde_json::json!({
        "version": status.version, "uptime_ms": status.uptime_ms, "buses": buses,
        "feed_bytes": app.feed.bytes(),
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct After {
    #[serde(default)]
    after: u64,
}

/// The events after the page's last, as one JSON object written by hand around the ring's
/// pre-rendered events.
/// A request the page's own script would not send: its rejection in the project's words, the
/// parser's message clipped as every outside library's is.
fn refused(rejection: impl IntoResponse + std::fmt::Display) -> Response {
    let message = rejection.to_string();
    (StatusCode::BAD_REQUEST, smbus_proxy_wire::quote::clip(&message).into_owned()).into_response()
}

async fn events(State(app): State<App>, query: Result<Query<After>, QueryRejection>) -> Response {
    let Query(After { after }) = match query {
        Ok(query) => query,
        Err(rejection) => return refused(rejection),
    };
    let read = app.feed.read(after);
    let mut body =
        format!("{{\"next\":{},\"missed\":{},\"lost\":{},\"events\":[", read.next, read.missed, read.lost);
    for (i, entry) in read.entries.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&entry.json);
    }
    body.push_str("]}");
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// What the page has seen, as `monitor --record` writes it.
async fn trace(State(app): State<App>) -> Response {
    let Ok(one) = app.download.clone().try_acquire_owned() else { return busy() };
    let header = format!("{}\n", smbus_proxy_wire::trace::HEADER).into_bytes();
    let lines = app.feed.all().into_iter().map(|entry| format!("{}\n", entry.event).into_bytes());
    download("text/plain; charset=utf-8", "smbus-proxy.trace", one, std::iter::once(header).chain(lines))
}

/// What the page has seen, as `monitor --pcap` writes it: a capture Wireshark reads.
async fn pcapng(State(app): State<App>) -> Response {
    let Ok(one) = app.download.clone().try_acquire_owned() else { return busy() };
    let out = Buffer::default();
    let mut capture = match smbus_proxy_client::capture::Capture::new(out.clone()) {
        Ok(capture) => capture,
        Err(e) => return failed(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    let header = out.take();
    let packets = app.feed.all().into_iter().map(move |entry| {
        // An event that cannot be written (the writer only appends to memory) is left out.
        let _ = capture.add(&entry.event);
        out.take()
    });
    download(
        "application/vnd.tcpdump.pcap",
        "smbus-proxy.pcapng",
        one,
        std::iter::once(header).chain(packets),
    )
}

fn busy() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], "a download is being made: try again")
        .into_response()
}

/// A download, made as it is sent from a snapshot of the ring (`chunks` renders it): it holds
/// the one download slot until its last chunk is taken, so a peer that stops reading holds one
/// snapshot and a chunk, and only until its connection stalls out.
fn download(
    content_type: &'static str,
    name: &str,
    slot: tokio::sync::OwnedSemaphorePermit,
    chunks: impl Iterator<Item = Vec<u8>> + Send + 'static,
) -> Response {
    let mut chunks = chunks;
    // About 64 KiB to a chunk, made when the connection takes the last.
    let batched = std::iter::from_fn(move || {
        let _slot = &slot;
        let mut chunk = chunks.next()?;
        while chunk.len() < 64 << 10 {
            match chunks.next() {
                Some(more) => chunk.extend_from_slice(&more),
                None => break,
            }
        }
        Some(Ok::<_, std::convert::Infallible>(chunk))
    });
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::body::Body::from_stream(futures_util::stream::iter(batched)),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct Scan {
    bus: u32,
}

/// Probes 0x08–0x77 as `smbus-proxy detect` does by default: the addresses that answered, and
/// those a kernel driver owns (EBUSY, i2cdetect's `UU`).
async fn scan(State(app): State<App>, body: Result<axum::Json<Scan>, JsonRejection>) -> Response {
    let axum::Json(Scan { bus }) = match body {
        Ok(body) => body,
        Err(rejection) => return refused(rejection),
    };
    let scanned = blocking(&app, move |app| {
        let funcs = app.client.list_buses()?.iter().find(|b| b.number == bus).map_or(0, |b| b.funcs);
        let probes: Vec<(u16, smbus_proxy_client::Op)> = (0x08..=0x77)
            .filter_map(|addr| {
                crate::tools::detect::probe(crate::tools::detect::Mode::Auto, addr, funcs)
                    .map(|op| (addr, op))
            })
            .collect();
        let ops: Vec<_> = probes.iter().map(|(_, op)| op.clone()).collect();
        let results = session(app, bus, |b| b.execute_each(&ops))?;
        let mut found = Vec::new();
        let mut claimed = Vec::new();
        for ((addr, _), result) in probes.iter().zip(results) {
            match result {
                Ok(_) => found.push(*addr),
                Err(smbus_proxy_client::Errno::EBUSY) => claimed.push(*addr),
                Err(_) => {}
            }
        }
        Ok((found, claimed))
    });
    match scanned.await {
        Ok((found, claimed)) => {
            axum::Json(serde_json::json!({ "found": found, "claimed": claimed })).into_response()
        }
        Err(response) => response,
    }
}

#[derive(serde::Deserialize)]
struct Access {
    bus: u32,
    addr: u16,
    register: u8,
    /// Bytes to read, 1–32.
    #[serde(default)]
    count: Option<u8>,
    /// The byte to write.
    #[serde(default)]
    value: Option<u8>,
}

/// Reads `count` registers from `register` on (an I2C block read): what the register view
/// shows on demand.
async fn read(State(app): State<App>, body: Result<axum::Json<Access>, JsonRejection>) -> Response {
    let axum::Json(access) = match body {
        Ok(body) => body,
        Err(rejection) => return refused(rejection),
    };
    let count = access.count.unwrap_or(1);
    if !(1..=32).contains(&count) {
        return (StatusCode::BAD_REQUEST, format!("count {count} is out of range 1–32")).into_response();
    }
    let read = blocking(&app, move |app| {
        session(app, access.bus, |bus| bus.read_i2c_block_data(access.addr, access.register, count))
    });
    match read.await {
        Ok(bytes) => axum::Json(serde_json::json!({ "data": bytes.to_vec() })).into_response(),
        Err(response) => response,
    }
}

/// Writes a register, only when the page was started with `--allow-writes`.
async fn write(State(app): State<App>, body: Result<axum::Json<Access>, JsonRejection>) -> Response {
    let axum::Json(access) = match body {
        Ok(body) => body,
        Err(rejection) => return refused(rejection),
    };
    if !app.writes {
        return (StatusCode::FORBIDDEN, "writes are off: start the page with --allow-writes").into_response();
    }
    let Some(value) = access.value else {
        return (StatusCode::BAD_REQUEST, "value (0–255) is missing").into_response();
    };
    let written = blocking(&app, move |app| {
        session(app, access.bus, |bus| bus.write_byte_data(access.addr, access.register, value))
    });
    match written.await {
        Ok(()) => axum::Json(serde_json::json!({})).into_response(),
        Err(response) => response,
    }
}

/// Runs `call` on the page's session on bus `number`, opened the first time.
fn session<T>(
    app: &Shared,
    number: u32,
    call: impl FnOnce(&mut Bus) -> smbus_proxy_client::Result<T>,
) -> smbus_proxy_client::Result<T> {
    let mut buses = app.buses.lock().unwrap_or_else(|e| e.into_inner());
    let bus = match buses.entry(number) {
        std::collections::hash_map::Entry::Occupied(open) => open.into_mut(),
        std::collections::hash_map::Entry::Vacant(new) => new.insert(app.client.bus(number)?),
    };
    call(bus)
}
