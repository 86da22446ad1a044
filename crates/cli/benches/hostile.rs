//! What hostile and careless peers make the server hold: its resident memory idle, after
//! 50,000 HTTP/2 streams attempted on one connection, after 5,000 idle connections from 100
//! hosts, and how much CPU it spends while out of descriptors. The server is this package's
//! `smbus-proxy serve --simulate`, a process of its own with its default limits; every peer is
//! on loopback, and every flood is bounded.
//!
//!     cargo bench -p smbus-proxy --bench hostile

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Serving, raw_h2};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn connect_from(source: [u8; 4], server: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::from((source, 0))).ok()?;
    socket.connect(server).await.ok()
}

#[tokio::main]
async fn main() {
    let server = Serving::start(&["--simulate"]);
    let addr: SocketAddr = server.addr.parse().unwrap();
    // The listener, and the pair tokio's signal handling uses.
    let own_sockets = server.sockets();
    println!("server RSS idle: {}", mib(server.rss_kib()));

    let started = Instant::now();
    let answers = raw_h2::flood(addr, "/smbus.v1.Smbus/ExecuteStream", 50_000).await;
    println!(
        "50,000 streams attempted on one connection in {:.1} s: {} served, {} refused; server RSS {}",
        started.elapsed().as_secs_f64(),
        answers.headers.load(Ordering::Relaxed),
        answers.refused.load(Ordering::Relaxed),
        mib(server.rss_kib())
    );

    let mut idle = Vec::new();
    for i in 0..5_000u32 {
        let host = [127, 0, 4, (i % 100 + 1) as u8];
        idle.extend(connect_from(host, addr).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!(
        "5,000 idle connections from 100 hosts: the server holds {} of them (--max-connections 512); RSS {}",
        server.sockets() - own_sockets,
        mib(server.rss_kib())
    );
    drop(idle);
    drop(server);

    let server = Serving::start_with_nofile(
        256,
        &["--simulate", "--max-connections", "100000", "--max-connections-per-peer", "100000"],
    );
    let addr: SocketAddr = server.addr.parse().unwrap();
    let phase = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..1_000 {
        idle.extend(TcpStream::connect(addr).await.ok());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ticks, at) = (server.cpu_ticks(), Instant::now());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = (server.cpu_ticks() - ticks) as f64 / 100.0 / at.elapsed().as_secs_f64();
    println!(
        "out of descriptors (ulimit -n 256, 1,000 connections waiting): the server used {:.1} % of a core, \
         and warned {} times in {:.0} s",
        busy * 100.0,
        server.logged("cannot accept connections").len(),
        phase.elapsed().as_secs_f64()
    );
}
