//! What a call through smbus-proxy costs, beside the floors it cannot go below.
//!
//! Starts this package's `smbus-proxy serve --simulate` as a process of its own (so its memory
//! and CPU are its own) on simulated buses without injected latency, and measures, on loopback:
//! - single operations, one sequential client, blocking and async: p50 and p99;
//! - the floors: raw TCP ping-pong, and a bare echo over the same transport (the client's
//!   ExecuteStream against a service that answers without a bus);
//! - a transaction of 32 operations;
//! - 1, 4, 16 and 32 concurrent clients on one bus and on distinct buses: operations per second;
//! - the server's RSS idle and with 32 clients, and its CPU time per operation;
//! - `read_byte_data` and the server's CPU per operation again with one watcher reading every
//!   event (`smbus-proxy monitor`);
//! - the server's memory per session whose record of unacknowledged answers (exactly once) is
//!   full: 32 sessions, each with as many 8 KiB reads unacknowledged as it may keep.
//!
//!     cargo bench -p smbus-proxy --bench proxy [-- --json]

use embedded_hal::i2c::I2c;
use smbus_proxy_client::{Client, blocking};
use smbus_proxy_wire::pb::{self, smbus_server::Smbus, smbus_server::SmbusServer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

mod common;
use common::{ServerProcess, cpu_time, percentiles};

const RF: u16 = 0x48;
const BUSES: u32 = 32;

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let n: usize = std::env::var("SMBUS_PROXY_BENCH_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let mut report = Report::default();

    let mut toml = String::new();
    for n in 1..=BUSES {
        toml += &format!("[[bus]]\nnumber = {n}\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\n\n");
    }
    let server = ServerProcess::start(&toml);
    report.rss_idle_kib = server.rss_kib();

    // The floors.
    report.latency("raw TCP ping-pong, 16-byte messages", tcp_ping_pong(n));
    let echo = EchoServer::start();
    let client = blocking::Client::connect(echo.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    report.latency(
        "bare echo over the same transport",
        sample(n, || {
            bus.read_byte_data(RF, 0).unwrap();
        }),
    );
    let cpu_before = echo.cpu_time();
    for _ in 0..4 * n {
        bus.read_byte_data(RF, 0).unwrap();
    }
    report.echo_cpu_us_per_op = (echo.cpu_time() - cpu_before).as_secs_f64() * 1e6 / (4 * n) as f64;
    drop((bus, client));

    // Single operations through the proxy.
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    report.latency(
        "read_byte_data, blocking",
        sample(n, || {
            bus.read_byte_data(RF, 0).unwrap();
        }),
    );
    report.latency("write_byte_data, blocking", sample(n, || bus.write_byte_data(RF, 1, 2).unwrap()));
    report.latency(
        "read_word_data, blocking",
        sample(n, || {
            bus.read_word_data(RF, 0).unwrap();
        }),
    );
    report.latency(
        "read_i2c_block_data(32), blocking",
        sample(n, || drop(bus.read_i2c_block_data(RF, 0, 32).unwrap())),
    );
    let mut buf = [0u8; 2];
    report.latency(
        "embedded-hal write_read(1, 2), blocking",
        sample(n, || bus.write_read(0x48u8, &[0], &mut buf).unwrap()),
    );
    let batch = || {
        let mut b = smbus_proxy_client::Batch::default();
        for i in 0..16u8 {
            b.write_byte_data(RF, i, i);
            b.read_byte_data(RF, i);
        }
        b
    };
    let tx = sample(n / 4, || drop(bus.run(batch()).unwrap()));
    report.transaction = Some(percentiles(&tx));

    // Server CPU per operation, over a sequential run.
    let cpu_before = server.cpu_time();
    let ops = 4 * n;
    for _ in 0..ops {
        bus.read_byte_data(RF, 0).unwrap();
    }
    report.cpu_us_per_op = (server.cpu_time() - cpu_before).as_secs_f64() * 1e6 / ops as f64;

    // The same with someone watching every operation (`smbus-proxy monitor`), reading as fast
    // as events come.
    let watcher = blocking::Client::connect(server.url()).unwrap().watch(&[]).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            for _ in watcher {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        })
    };
    report.latency(
        "read_byte_data, blocking, one watcher",
        sample(n, || {
            bus.read_byte_data(RF, 0).unwrap();
        }),
    );
    let cpu_before = server.cpu_time();
    for _ in 0..ops {
        bus.read_byte_data(RF, 0).unwrap();
    }
    report.cpu_us_per_op_watched = (server.cpu_time() - cpu_before).as_secs_f64() * 1e6 / ops as f64;
    // The watcher goes before anything else is measured: its next event ends it, and with it
    // the watch.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    bus.read_byte_data(RF, 0).unwrap();
    watching.join().unwrap();
    drop((bus, client));

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let async_samples = rt.block_on(async {
        let client = Client::connect(server.url()).await.unwrap();
        let mut bus = client.bus(1).await.unwrap();
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + n / 10 {
            let t = Instant::now();
            bus.read_byte_data(RF, 0).await.unwrap();
            if i >= n / 10 {
                samples.push(t.elapsed());
            }
        }
        samples
    });
    report.latency("read_byte_data, async", async_samples);

    // Concurrency.
    for clients in [1, 4, 16, 32] {
        let one = throughput(&server.url(), clients, |_| 1);
        let distinct = throughput(&server.url(), clients, |i| 1 + i as u32 % BUSES);
        report.throughput.push((clients, one, distinct));
        if clients == 32 {
            report.rss_32_kib = server.peak_rss_kib();
        }
    }

    drop(server);
    // On a server of its own, so that the allocator has nothing freed by the runs above to
    // hand out again.
    report.full_record_kib = full_records(&ServerProcess::start(&toml));

    if json { report.print_json() } else { report.print_table() }
}

/// The server's RSS grown per session whose record is full: 32 sessions on one connection, each
/// sending numbered 8 KiB reads and acknowledging none, until the server refuses the next.
fn full_records(server: &ServerProcess) -> f64 {
    use smbus_proxy_wire::{Msg, Op, encode};
    const SESSIONS: usize = 32;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let before = server.rss_kib();
    let _sessions = rt.block_on(async {
        let mut c = pb::smbus_client::SmbusClient::connect(server.url()).await.unwrap();
        let read = encode::op(&Op::Transfer(vec![Msg::read(RF, 8192)]));
        let mut sessions = Vec::new();
        for bus in 1..=SESSIONS as u64 {
            let open = pb::OpenRequest { bus, resume_window_ms: 60_000, ..Default::default() };
            let session = c.open(open).await.unwrap().into_inner().session;
            for seq in 1.. {
                let request = pb::ExecuteRequest {
                    session: session.clone(),
                    ops: vec![read.clone()],
                    seq,
                    ..Default::default()
                };
                match c.execute(request).await {
                    Ok(_) => {}
                    Err(full) if full.code() == tonic::Code::ResourceExhausted => break,
                    Err(other) => panic!("{other}"),
                }
            }
            sessions.push(session);
        }
        (c, sessions)
    });
    (server.rss_kib().saturating_sub(before)) as f64 / SESSIONS as f64
}

fn sample(n: usize, mut call: impl FnMut()) -> Vec<Duration> {
    for _ in 0..n / 10 {
        call();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            call();
            t.elapsed()
        })
        .collect()
}

/// `clients` threads, each with its own connection and session on `bus(i)`, each doing
/// sequential read_byte_data for a second: total operations per second.
fn throughput(url: &str, clients: usize, bus: impl Fn(usize) -> u32) -> f64 {
    let run_for = Duration::from_secs(1);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (url, number, barrier) = (url.to_owned(), bus(i), barrier.clone());
            std::thread::spawn(move || {
                let client = blocking::Client::connect(url).unwrap();
                let mut bus = client.bus(number).unwrap();
                barrier.wait();
                let start = Instant::now();
                let mut ops = 0u64;
                while start.elapsed() < run_for {
                    bus.read_byte_data(RF, 0).unwrap();
                    ops += 1;
                }
                (ops, start.elapsed())
            })
        })
        .collect();
    let results: Vec<(u64, Duration)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ops: u64 = results.iter().map(|r| r.0).sum();
    let wall = results.iter().map(|r| r.1).max().unwrap();
    ops as f64 / wall.as_secs_f64()
}

fn tcp_ping_pong(n: usize) -> Vec<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = [0u8; 16];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf).unwrap();
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = [7u8; 16];
    sample(n, || {
        s.write_all(&buf).unwrap();
        s.read_exact(&mut buf).unwrap();
    })
}

/// The server under test, as its own process.
/// A service that answers every transaction at once, without a bus: the transport alone.
#[derive(Clone)]
struct Echo;

struct EchoServer {
    addr: std::net::SocketAddr,
    /// The echo's one thread, whose CPU time is the transport's share of the server's.
    thread: i32,
}

impl EchoServer {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let (tid, thread) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tid.send(unsafe { nix::libc::gettid() }).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let incoming = tonic::transport::server::TcpIncoming::from(
                    tokio::net::TcpListener::from_std(listener).unwrap(),
                )
                .with_nodelay(Some(true));
                tonic::transport::Server::builder()
                    .add_service(SmbusServer::new(Echo))
                    .serve_with_incoming(incoming)
                    .await
                    .unwrap();
            });
        });
        EchoServer { addr, thread: thread.recv().unwrap() }
    }

    fn cpu_time(&self) -> Duration {
        cpu_time(&format!("/proc/self/task/{}/stat", self.thread))
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

type Res<T> = Result<tonic::Response<T>, tonic::Status>;
type EchoStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::StreamReply, tonic::Status>> + Send>>;

fn answer(req: &pb::ExecuteRequest) -> pb::ExecuteResponse {
    let byte = pb::OpResult { result: Some(pb::op_result::Result::Byte(0)) };
    pb::ExecuteResponse { results: vec![byte; req.ops.len()], error: None }
}

#[tonic::async_trait]
impl Smbus for Echo {
    async fn list_buses(&self, _: tonic::Request<pb::ListBusesRequest>) -> Res<pb::ListBusesResponse> {
        Ok(tonic::Response::new(pb::ListBusesResponse::default()))
    }
    async fn open(&self, _: tonic::Request<pb::OpenRequest>) -> Res<pb::OpenResponse> {
        let bus =
            pb::BusInfo { number: 1, name: "echo".into(), funcs: u64::from(u32::MAX), ..Default::default() };
        let session = "0".repeat(32);
        Ok(tonic::Response::new(pb::OpenResponse {
            session,
            bus: Some(bus),
            lease_ms: 5000,
            ..Default::default()
        }))
    }
    async fn close(&self, _: tonic::Request<pb::CloseRequest>) -> Res<pb::CloseResponse> {
        Ok(tonic::Response::new(pb::CloseResponse {}))
    }
    async fn keep_alive(&self, _: tonic::Request<pb::KeepAliveRequest>) -> Res<pb::KeepAliveResponse> {
        Ok(tonic::Response::new(pb::KeepAliveResponse { lease_ms: 5000 }))
    }
    async fn resume(&self, _: tonic::Request<pb::ResumeRequest>) -> Res<pb::ResumeResponse> {
        Err(tonic::Status::unimplemented("the echo service's sessions cannot be resumed"))
    }
    async fn lock(&self, _: tonic::Request<pb::LockRequest>) -> Res<pb::LockResponse> {
        Err(tonic::Status::unimplemented("the echo service has no bus to lock"))
    }
    async fn unlock(&self, _: tonic::Request<pb::UnlockRequest>) -> Res<pb::UnlockResponse> {
        Err(tonic::Status::unimplemented("the echo service has no bus to lock"))
    }
    async fn execute(&self, req: tonic::Request<pb::ExecuteRequest>) -> Res<pb::ExecuteResponse> {
        Ok(tonic::Response::new(answer(req.get_ref())))
    }
    type ExecuteStreamStream = EchoStream;
    async fn execute_stream(
        &self,
        req: tonic::Request<tonic::Streaming<pb::ExecuteRequest>>,
    ) -> Res<EchoStream> {
        use tokio_stream::StreamExt;
        let replies = req.into_inner().map(|r| {
            r.map(|r| pb::StreamReply { reply: Some(pb::stream_reply::Reply::Response(answer(&r))) })
        });
        Ok(tonic::Response::new(Box::pin(replies)))
    }
    type WatchStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::WatchEvent, tonic::Status>> + Send>>;
    async fn watch(&self, _: tonic::Request<pb::WatchRequest>) -> Res<Self::WatchStream> {
        Err(tonic::Status::unimplemented("the echo service has no bus to watch"))
    }
    async fn status(&self, _: tonic::Request<pb::StatusRequest>) -> Res<pb::StatusResponse> {
        Err(tonic::Status::unimplemented("the echo service has no status"))
    }
    async fn request_lines(
        &self,
        _: tonic::Request<pb::RequestLinesRequest>,
    ) -> Res<pb::RequestLinesResponse> {
        Err(tonic::Status::unimplemented("the echo service has no lines"))
    }
    async fn release_lines(
        &self,
        _: tonic::Request<pb::ReleaseLinesRequest>,
    ) -> Res<pb::ReleaseLinesResponse> {
        Err(tonic::Status::unimplemented("the echo service has no lines"))
    }
    type LineEventsStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::LineEvent, tonic::Status>> + Send>>;
    async fn line_events(&self, _: tonic::Request<pb::LineEventsRequest>) -> Res<Self::LineEventsStream> {
        Err(tonic::Status::unimplemented("the echo service has no lines"))
    }
}

#[derive(Default)]
struct Report {
    latencies: Vec<(String, f64, f64)>,
    transaction: Option<(f64, f64)>,
    throughput: Vec<(usize, f64, f64)>,
    rss_idle_kib: u64,
    rss_32_kib: u64,
    cpu_us_per_op: f64,
    cpu_us_per_op_watched: f64,
    echo_cpu_us_per_op: f64,
    full_record_kib: f64,
}

impl Report {
    fn latency(&mut self, what: &str, samples: Vec<Duration>) {
        let (p50, p99) = percentiles(&samples);
        self.latencies.push((what.to_owned(), p50, p99));
    }

    fn p50(&self, what: &str) -> f64 {
        self.latencies.iter().find(|l| l.0.starts_with(what)).map_or(f64::NAN, |l| l.1)
    }

    fn print_table(&self) {
        let floor = self.p50("raw TCP");
        let echo = self.p50("bare echo");
        println!(
            "{:<42} {:>9} {:>9} {:>9} {:>9}",
            "one sequential client", "p50 µs", "p99 µs", "÷ TCP", "÷ echo"
        );
        for (what, p50, p99) in &self.latencies {
            println!("{what:<42} {p50:>9.1} {p99:>9.1} {:>9.2} {:>9.2}", p50 / floor, p50 / echo);
        }
        if let Some((p50, p99)) = self.transaction {
            let single = self.p50("read_byte_data, blocking");
            println!(
                "{:<42} {p50:>9.1} {p99:>9.1}   = {:.1} µs per op, {:.2}× a single op",
                "transaction of 32 ops, blocking",
                p50 / 32.0,
                p50 / single
            );
        }
        println!(
            "\n{:<42} {:>12} {:>15}",
            "concurrent clients (read_byte_data)", "one bus op/s", "own buses op/s"
        );
        for (clients, one, distinct) in &self.throughput {
            println!("{clients:<42} {one:>12.0} {distinct:>15.0}");
        }
        println!("\nserver RSS idle {} KiB, peak with 32 clients {} KiB", self.rss_idle_kib, self.rss_32_kib);
        println!("server RSS per session with a full record: {:.0} KiB", self.full_record_kib);
        println!(
            "server CPU per operation {:.1} µs (the bare echo's: {:.1} µs), {:.1} µs with one watcher",
            self.cpu_us_per_op, self.echo_cpu_us_per_op, self.cpu_us_per_op_watched
        );
    }

    fn print_json(&self) {
        let latencies: Vec<String> = self
            .latencies
            .iter()
            .map(|(w, p50, p99)| format!("{{\"what\":{w:?},\"p50_us\":{p50:.1},\"p99_us\":{p99:.1}}}"))
            .collect();
        let throughput: Vec<String> = self
            .throughput
            .iter()
            .map(|(c, one, d)| {
                format!("{{\"clients\":{c},\"one_bus_ops\":{one:.0},\"distinct_buses_ops\":{d:.0}}}")
            })
            .collect();
        let (tx50, tx99) = self.transaction.unwrap_or((f64::NAN, f64::NAN));
        println!(
            "{{\"latency\":[{}],\"transaction_32\":{{\"p50_us\":{tx50:.1},\"p99_us\":{tx99:.1}}},\"throughput\":[{}],\"rss_idle_kib\":{},\"rss_peak_32_clients_kib\":{},\"server_cpu_us_per_op\":{:.1},\"server_cpu_us_per_op_one_watcher\":{:.1},\"echo_cpu_us_per_op\":{:.1},\"rss_per_full_record_kib\":{:.0}}}",
            latencies.join(","),
            throughput.join(","),
            self.rss_idle_kib,
            self.rss_32_kib,
            self.cpu_us_per_op,
            self.cpu_us_per_op_watched,
            self.echo_cpu_us_per_op,
            self.full_record_kib
        );
    }
}
