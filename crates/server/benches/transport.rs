//! Which transport should a call use? Measures one `read_byte_data` round trip on loopback
//! against the simulator, as a unary `Execute` and as a message on a long-lived
//! `ExecuteStream`, with the raw TCP ping-pong floor beside them, for a single-thread and a
//! multi-thread server runtime. The client runs on a current-thread runtime, as the blocking
//! client does.
//!
//!     cargo bench -p smbus-proxy-server --bench transport [-- ITERATIONS]

use smbus_proxy_server::Server;
use smbus_proxy_sim::Config;
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient};
use smbus_proxy_wire::{Command, Op, encode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

fn main() {
    let iterations: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5000);
    println!("{iterations} sequential round trips each, loopback, client on a current-thread runtime\n");
    println!("{:<48} {:>9} {:>9}", "what", "p50 µs", "p99 µs");
    report("raw TCP ping-pong, 16-byte messages", tcp_floor(iterations));
    for threads in [1, 2] {
        let addr = start_server(threads);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (unary, stream) =
            rt.block_on(async { (unary(addr, iterations).await, stream(addr, iterations).await) });
        let kind = if threads == 1 { "single-thread" } else { "multi-thread" };
        report(&format!("unary Execute, {kind} server"), unary);
        report(&format!("ExecuteStream, {kind} server"), stream);
    }
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!("{what:<48} {:>9.1} {:>9.1}", pct(0.50), pct(0.99));
}

fn tcp_floor(n: usize) -> Vec<Duration> {
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
    (0..n + n / 10)
        .map(|_| {
            let t = Instant::now();
            s.write_all(&buf).unwrap();
            s.read_exact(&mut buf).unwrap();
            t.elapsed()
        })
        .skip(n / 10)
        .collect()
}

fn start_server(threads: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = if threads == 1 {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        } else {
            tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
        }
        .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            Server::simulated(&Config::demo()).serve(listener, std::future::pending()).await.unwrap();
        });
    });
    addr
}

fn request(session: &str) -> pb::ExecuteRequest {
    let op = Op::smbus(0x48, Command::ReadByteData { reg: 0 });
    pb::ExecuteRequest { session: session.into(), ops: vec![encode::op(&op)], ..Default::default() }
}

async fn connect(addr: SocketAddr) -> (SmbusClient<tonic::transport::Channel>, String) {
    let mut client = SmbusClient::connect(format!("http://{addr}")).await.unwrap();
    let session =
        client.open(pb::OpenRequest { bus: 1, ..Default::default() }).await.unwrap().into_inner().session;
    (client, session)
}

async fn unary(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let (mut client, session) = connect(addr).await;
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        let r = client.execute(request(&session)).await.unwrap().into_inner();
        assert!(r.error.is_none());
        if i >= n / 10 {
            samples.push(t.elapsed());
        }
    }
    samples
}

async fn stream(addr: SocketAddr, n: usize) -> Vec<Duration> {
    let (mut client, session) = connect(addr).await;
    let (tx, rx) = mpsc::channel(1);
    let mut replies =
        client.execute_stream(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        tx.send(request(&session)).await.unwrap();
        let r = replies.next().await.unwrap().unwrap();
        assert!(matches!(r.reply, Some(pb::stream_reply::Reply::Response(_))));
        if i >= n / 10 {
            samples.push(t.elapsed());
        }
    }
    samples
}
