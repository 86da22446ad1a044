//! Hostile and careless peers against the server binary: floods of HTTP/2 streams, idle and
//! half-open connections, too many connections, running out of descriptors, bursts of Opens.
//! Throughout, a normal client must be served within a second and the server's memory must
//! stay bounded. Each flood is bounded in count and time, and stays on loopback.
//!
//! `cargo test -p smbus-proxy --test hostile -- --nocapture` prints the figures measured.

mod common;

use common::{Serving, raw_h2 as raw};
use smbus_proxy_client::blocking::Client;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const RSS_LIMIT_KIB: u64 = 64 << 10;

/// A normal client reading a register every 50 ms until `stop`, asserting each read is answered
/// within a second; returns how many it made and the slowest.
fn normal_client(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(u32, Duration)> {
    std::thread::spawn(move || {
        let client = Client::connect(&url).unwrap();
        let mut bus = client.bus(1).unwrap();
        let (mut reads, mut slowest) = (0, Duration::ZERO);
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            bus.read_byte_data(0x48, 0x00).expect("a normal client is served");
            let took = started.elapsed();
            assert!(took < Duration::from_secs(1), "a normal client waited {took:?}");
            slowest = slowest.max(took);
            reads += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        (reads, slowest)
    })
}

fn addr(server: &Serving) -> SocketAddr {
    server.addr.parse().unwrap()
}

/// A connection from a chosen loopback address (127.0.0.0/8 is all loopback on Linux).
async fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    socket.connect(server).await.unwrap()
}

/// Whether the server has closed `conn` (EOF or reset), waiting up to `within`.
async fn closed_by_server(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue, // the server's SETTINGS and the like
        }
    }
}

/// How many of `conns` the server closes at once (within 300 ms).
async fn closed_at_once(conns: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for conn in conns {
        if closed_by_server(conn, Duration::from_millis(300)).await {
            closed += 1;
        }
    }
    closed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_per_connection_are_bounded() {
    let server = Serving::start(&["--simulate", "--max-streams-per-connection", "64"]);
    let rss_before = server.rss_kib();
    let stop = Arc::new(AtomicBool::new(false));
    let client = normal_client(server.url(), stop.clone());
    let answers = raw::flood(addr(&server), "/smbus.v1.Smbus/ExecuteStream", 50_000).await;
    let rss_after = server.rss_kib();
    stop.store(true, Ordering::Relaxed);
    let (reads, slowest) = client.join().unwrap();
    println!(
        "50,000 streams on one connection: {} answered, {} refused (REFUSED_STREAM), {} other resets, \
         GOAWAY {}; server RSS {rss_before} KiB before, {rss_after} KiB after; a normal client made {reads} \
         reads meanwhile, the slowest in {slowest:?}",
        answers.headers.load(Ordering::Relaxed),
        answers.refused.load(Ordering::Relaxed),
        answers.other_resets.load(Ordering::Relaxed),
        answers.goaway.load(Ordering::Relaxed),
    );
    assert!(answers.headers.load(Ordering::Relaxed) <= 64, "{answers:?}");
    assert!(answers.refused.load(Ordering::Relaxed) > 0, "{answers:?}");
    assert!(rss_after < RSS_LIMIT_KIB, "server RSS {rss_after} KiB");
}

/// Health needs no credentials, and is bounded like everything else; reflection needs them on a
/// server that has them, so each of its streams is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_without_credentials_cannot_exhaust_memory() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "secret\n").unwrap();
    let server = Serving::start(&["--simulate", "--token-file", token.to_str().unwrap()]);
    for path in ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"]
    {
        let answers = raw::flood(addr(&server), path, 20_000).await;
        let rss = server.rss_kib();
        println!("20,000 streams to {path} without a token: {answers:?}; server RSS {rss} KiB");
        if path.contains("Health") {
            assert!(answers.headers.load(Ordering::Relaxed) <= 128, "{answers:?}");
        } else {
            assert!(answers.headers.load(Ordering::Relaxed) > 128, "refused at once: {answers:?}");
        }
        assert!(rss < RSS_LIMIT_KIB, "server RSS {rss} KiB");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_do_nothing_are_closed() {
    let server =
        Serving::start(&["--simulate", "--handshake-timeout-ms", "1000", "--idle-timeout-ms", "1500"]);
    let sockets_at_start = server.sockets();
    let mut idle = Vec::new();
    for i in 0..100u8 {
        // Silent TCP connections, and ones that send the HTTP/2 preface and nothing more,
        // from a few hosts so that the per-host limit is not what stops them.
        let mut conn = connect_from([127, 0, 1, i % 4 + 1], addr(&server)).await;
        if i % 2 == 1 {
            conn.write_all(raw::PREFACE).await.unwrap();
            conn.write_all(&raw::frame(0x4, 0, 0, &[])).await.unwrap();
        }
        idle.push(conn);
    }
    // A real client that made a call and then has nothing to do.
    let url = server.url();
    let client = tokio::task::spawn_blocking(move || {
        let client = Client::connect(&url).unwrap();
        client.list_buses().unwrap();
        client
    })
    .await
    .unwrap();
    let opened = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.sockets(), sockets_at_start + 101, "all connections are open at first");
    for conn in &mut idle {
        assert!(closed_by_server(conn, Duration::from_secs(3)).await, "an idle connection is still open");
    }
    let handshake_closed = opened.elapsed();
    // The client that made a call is closed after the idle timeout instead, and reconnects.
    tokio::time::sleep(Duration::from_millis(2000).saturating_sub(opened.elapsed())).await;
    assert_eq!(server.sockets(), sockets_at_start, "the idle client's connection is closed too");
    let buses = tokio::task::spawn_blocking(move || client.list_buses()).await.unwrap();
    assert!(buses.is_ok(), "the client reconnects: {buses:?}");
    println!("100 connections that never made a call were closed within {handshake_closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_host_and_in_all() {
    let server =
        Serving::start(&["--simulate", "--max-connections", "30", "--max-connections-per-peer", "10"]);
    let from = |host: u8, n: usize| {
        let server = addr(&server);
        async move {
            let mut conns = Vec::new();
            for _ in 0..n {
                conns.push(connect_from([127, 0, 2, host], server).await);
            }
            conns
        }
    };
    let mut one = from(1, 12).await;
    assert_eq!(closed_at_once(&mut one).await, 2, "a host gets 10 connections");
    let _two = from(2, 10).await;
    let mut three = from(3, 10).await;
    assert_eq!(closed_at_once(&mut three).await, 0, "30 in all: 10 from each of three hosts");
    let mut fourth = from(4, 1).await;
    assert!(closed_by_server(&mut fourth[0], Duration::from_millis(300)).await, "the 31st is refused");
    drop(one);
    // A place freed is a place for someone else.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = server.url();
    let served = tokio::task::spawn_blocking(move || Client::connect(&url).and_then(|c| c.list_buses()))
        .await
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
    assert!(!server.logged("closed new connections at once").is_empty());
}

/// At the descriptor limit the accept loop backs off and says so, instead of spinning a core;
/// once idle connections are closed, new clients are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_backs_off_and_recovers() {
    let server = Serving::start_with_nofile(
        64,
        &[
            "--simulate",
            "--max-connections",
            "1000",
            "--max-connections-per-peer",
            "1000",
            "--handshake-timeout-ms",
            "2000",
        ],
    );
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ticks, at) = (server.cpu_ticks(), Instant::now());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let busy = (server.cpu_ticks() - ticks) as f64 / 100.0 / at.elapsed().as_secs_f64();
    println!("at the descriptor limit the server used {:.0} % of a core", busy * 100.0);
    assert!(busy < 0.2, "the server spins at the descriptor limit: {:.0} % of a core", busy * 100.0);
    let warned = server.logged("cannot accept connections");
    assert!(!warned.is_empty(), "no warning at the descriptor limit");
    assert!(warned[0].contains("WARN") && warned[0].contains("Too many open files"), "{}", warned[0]);
    // The connections it took time out; those waiting in the backlog are taken and time out
    // too, and then a client gets in.
    let url = server.url();
    let served = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Client::connect(&url).and_then(|c| c.list_buses()) {
                Ok(buses) => return Ok(buses),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    })
    .await
    .unwrap();
    assert!(served.is_ok(), "{served:?}");
    drop(idle);
}

/// All at once and bounded: idle connections, a stream flood and a burst of Opens, with a
/// normal client served within a second throughout and the server's memory under 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress() {
    let server = Serving::start(&["--simulate"]);
    let stop = Arc::new(AtomicBool::new(false));
    let client = normal_client(server.url(), stop.clone());
    let started = Instant::now();
    let mut idle = Vec::new();
    for i in 0..500u32 {
        idle.push(connect_from([127, 0, 3, (i % 10 + 1) as u8], addr(&server)).await);
    }
    let floods: Vec<_> = (0..4)
        .map(|_| tokio::spawn(raw::flood(addr(&server), "/smbus.v1.Smbus/ExecuteStream", 10_000)))
        .collect();
    let url = server.url();
    let opens = tokio::task::spawn_blocking(move || {
        let client = Client::connect(&url).unwrap();
        let (mut opened, mut refused) = (0, 0);
        let mut buses = Vec::new();
        for _ in 0..10_000 {
            match client.bus(1) {
                Ok(bus) => {
                    opened += 1;
                    buses.push(bus);
                }
                Err(_) => refused += 1,
            }
        }
        (opened, refused)
    });
    for flood in floods {
        flood.await.unwrap();
    }
    let (opened, refused) = opens.await.unwrap();
    let rss = server.rss_kib();
    stop.store(true, Ordering::Relaxed);
    let (reads, slowest) = client.join().unwrap();
    println!(
        "stress: 500 idle connections, 4 × 10,000 streams, 10,000 Opens ({opened} opened, {refused} refused) in \
         {:?}; server RSS {rss} KiB; a normal client made {reads} reads, the slowest in {slowest:?}",
        started.elapsed()
    );
    assert!(rss < RSS_LIMIT_KIB, "server RSS {rss} KiB");
    assert_eq!(opened, 64, "a connection gets 64 sessions");
    drop(idle);
}

/// A bus handle of its own that waits `wait` on bus 1 (a transaction that holds the bus that
/// long), from a thread, after `after`.
fn hold_bus(url: String, after: Duration, wait: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client = Client::connect(&url).unwrap();
        let mut bus = client.bus(1).unwrap();
        std::thread::sleep(after);
        bus.wait(wait).unwrap();
    })
}

/// A read on bus 1 by a new client, which must be answered; how long it took.
fn timed_read(url: &str) -> Result<Duration, smbus_proxy_client::Error> {
    let client = Client::connect(url)?;
    let options =
        smbus_proxy_client::BusOptions { call_timeout: Some(Duration::from_secs(3)), ..Default::default() };
    let mut bus = client.bus_with(1, options)?;
    let started = Instant::now();
    bus.read_byte_data(0x48, 0x00)?;
    Ok(started.elapsed())
}

/// A client that pipelines reads on an `ExecuteStream` and grants no window for the replies.
/// The stream's transactions used to run inside the reply stream, which HTTP/2 polls only
/// while the client grants window: a transaction handed the bus while its stream was not
/// polled held the bus until the connection closed, and every other client of the bus timed
/// out. Here the moment is made certain: three other clients hold the bus in turn for 600 ms
/// each; the stream's first read (64 KiB) uses up its window; its second waits behind the
/// second holder and its third behind the third, so the third is handed the bus when the
/// second's reply is stuck for lack of window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stops_reading_does_not_freeze_the_bus() {
    use smbus_proxy_wire::{Msg, Op, encode, pb};
    let server = Serving::start(&["--simulate"]);
    let mut raw = raw::Grpc::connect(addr(&server)).await;
    raw.start(1, "/smbus.v1.Smbus/Open").await;
    raw.send(1, &pb::OpenRequest { bus: 1, ..Default::default() }, true).await;
    let session = raw.receive::<pb::OpenResponse>(1).await.session;
    let read = |n: usize, len: u16| {
        let request = pb::ExecuteRequest {
            session: session.clone(),
            ops: vec![encode::op(&Op::Transfer(vec![Msg::read(0x50, len); n]))],
            keep_going: false,
            fence: 0,
            ..Default::default()
        };
        raw::Grpc::message(3, &request, false)
    };
    raw.start(3, "/smbus.v1.Smbus/ExecuteStream").await;
    let hold = Duration::from_millis(600);
    let holders = [
        hold_bus(server.url(), Duration::ZERO, hold),
        hold_bus(server.url(), Duration::from_millis(300), hold),
        hold_bus(server.url(), Duration::from_millis(900), hold),
    ];
    tokio::time::sleep(Duration::from_millis(150)).await;
    // 64 KiB and more of reply: the client's window is used up, and it never grants more.
    raw.write(&[read(8, 8192), read(1, 1), read(1, 1)].concat()).await;
    let url = server.url();
    let reads = tokio::task::spawn_blocking(move || {
        holders.into_iter().for_each(|h| h.join().unwrap());
        // Every other client of the bus is served, one after another.
        (0..5).map(|_| timed_read(&url)).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for read in &reads {
        let took = read.as_ref().expect("another client is served");
        assert!(*took < Duration::from_millis(500), "another client waited {took:?}");
    }
    println!("with a stream that stopped reading holding its replies, other clients read in {reads:?}");
    drop(raw);
}

/// Eight 1 s waits from one client, all in flight at once, used to make another client's read
/// wait behind all eight (7.7 s), far past `--max-bus-wait-ms`: the bus served its queue first
/// come, first served. Client hosts take turns now (on loopback, each connection is one), so
/// the other client waits for one of them at most.
#[test]
fn one_client_cannot_hold_the_bus_past_its_share() {
    let server = Serving::start(&["--simulate"]);
    let url = server.url();
    let greedy = std::thread::spawn(move || {
        let client = Client::connect(&url).unwrap();
        let waits: Vec<_> = (0..8)
            .map(|_| {
                let mut bus = client.bus(1).unwrap();
                std::thread::spawn(move || bus.wait(Duration::from_secs(1)).unwrap())
            })
            .collect();
        waits.into_iter().for_each(|w| w.join().unwrap());
    });
    std::thread::sleep(Duration::from_millis(300));
    let took = timed_read(&server.url()).expect("another client is served");
    println!("behind eight 1 s waits of one client, another client's read took {took:?}");
    assert!(took < Duration::from_millis(1500), "another client waited {took:?}");
    greedy.join().unwrap();
}

/// A gRPC client whose connections come from `source`, a loopback address of its own: another
/// client host.
async fn smbus_from(
    source: [u8; 4],
    server: SocketAddr,
) -> smbus_proxy_wire::pb::smbus_client::SmbusClient<tonic::transport::Channel> {
    let connect = tower::service_fn(move |_: tonic::transport::Uri| async move {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        socket.connect(server).await.map(hyper_util::rt::TokioIo::new)
    });
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{server}")).unwrap();
    let channel = endpoint.connect_with_connector(connect).await.unwrap();
    smbus_proxy_wire::pb::smbus_client::SmbusClient::new(channel)
}

/// A watcher sees whose operation it was by the first 8 characters of the session's id, as
/// `status` and traces show it: the watch used to carry the whole id, which is the session's
/// credential. And a session is of use only to the client that opened it: another client
/// host with the whole id gets what an unknown id gets, while the owner, on a new connection,
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_its_owners_alone() {
    use smbus_proxy_wire::{Command, Op, encode, pb};
    let server = Serving::start(&["--simulate"]);
    let url = server.url();
    let watcher = tokio::task::spawn_blocking(move || {
        let client = Client::connect(&url).unwrap();
        let mut watch = client.watch(&[1]).unwrap();
        match watch.next().unwrap().unwrap() {
            smbus_proxy_client::WatchEvent::Op(event) => event.session,
            other => panic!("{other:?}"),
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut owner = smbus_from([127, 0, 0, 1], addr(&server)).await;
    let session =
        owner.open(pb::OpenRequest { bus: 1, ..Default::default() }).await.unwrap().into_inner().session;
    owner.lock(pb::LockRequest { session: session.clone(), wait_ms: 0 }).await.unwrap();
    let write = |session: &str| pb::ExecuteRequest {
        session: session.into(),
        ops: vec![encode::op(&Op::smbus(0x48, Command::WriteByteData { reg: 0x30, value: 0x5A }))],
        keep_going: false,
        fence: 0,
        ..Default::default()
    };
    owner.execute(write(&session)).await.unwrap();
    let seen = watcher.await.unwrap();
    assert_eq!(seen, session[..8], "the watcher sees the first 8 characters of the id");

    let mut other = smbus_from([127, 0, 0, 2], addr(&server)).await;
    for refused in [
        other.execute(write(&session)).await.map(drop),
        other.keep_alive(pb::KeepAliveRequest { session: session.clone() }).await.map(drop),
        other.unlock(pb::UnlockRequest { session: session.clone() }).await.map(drop),
        other.close(pb::CloseRequest { session: session.clone() }).await.map(drop),
    ] {
        let status = refused.unwrap_err();
        assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
        assert!(status.message().contains("unknown or expired"), "{}", status.message());
    }
    assert!(!server.logged("opened by another client").is_empty(), "the administrator is told");
    // The owner, on a connection of its own, still holds the bus and goes on.
    let mut again = smbus_from([127, 0, 0, 1], addr(&server)).await;
    again.execute(write(&session)).await.expect("the owner's session lives, from a new connection");
    again.unlock(pb::UnlockRequest { session }).await.unwrap();
}

/// Replies nobody reads: 32 `ExecuteStream`s and 32 `Execute`s, each asking for 3.8 MB of
/// reads, from one client that never reads a byte. They used to be kept whole, 130 MB for the
/// streams and as much again for the unary calls (and 4 GiB at the 1,024 calls a host may
/// have); now the replies a host has not read count against its budget (16 MiB), and the
/// calls past it are refused before they run. A client on another host is served meanwhile.
///
/// The calls are spread over 8 connections, 8 to each: a client that reads nothing never
/// sees the server's WINDOW_UPDATEs, so it keeps within the 64 KiB it may send on a
/// connection before any (the 64 requests are 300 KB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_replies_are_bounded() {
    use smbus_proxy_wire::{Msg, Op, encode, pb};
    let server = Serving::start(&["--simulate"]);
    let rss_before = server.rss_kib();
    let client = [127, 0, 5, 2];
    let mut opener = raw::Grpc::connect_from(client, addr(&server)).await;
    opener.start(1, "/smbus.v1.Smbus/Open").await;
    opener.send(1, &pb::OpenRequest { bus: 1, ..Default::default() }, true).await;
    let session = opener.receive::<pb::OpenResponse>(1).await.session;
    let big = pb::ExecuteRequest {
        session,
        ops: vec![encode::op(&Op::Transfer(vec![Msg::read(0x50, 8192); 42])); 11],
        keep_going: false,
        fence: 0,
        ..Default::default()
    };
    let mut connections = Vec::new();
    for _ in 0..8 {
        let mut raw = raw::Grpc::connect_from(client, addr(&server)).await;
        for i in 0..8 {
            let (path, end) = match i < 4 {
                true => ("/smbus.v1.Smbus/ExecuteStream", false),
                false => ("/smbus.v1.Smbus/Execute", true),
            };
            raw.start(1 + 2 * i, path).await;
            raw.send(1 + 2 * i, &big, end).await;
        }
        connections.push(raw);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = server.rss_kib();
    let url = server.url();
    let other = tokio::task::spawn_blocking(move || timed_read(&url)).await.unwrap();
    println!(
        "64 calls of 3.8 MB of reads each, never read: server RSS {rss_before} KiB before, {rss} KiB after; \
         another host read in {other:?}"
    );
    assert!(rss - rss_before < 40 << 10, "the server holds {} KiB more", rss - rss_before);
    assert!(other.is_ok());
    drop((opener, connections));
}

/// Request messages that never end: each declares 4 MiB and sends 1 MiB, on 64 calls from one
/// client that keeps HTTP/2's flow control (h2 sends as the server's window allows). tonic
/// kept each partial message, 64 MB here and 4 GiB at 1,024 calls; now each message is
/// counted, by the length it declares, from its first bytes, and those past the host's budget
/// are refused before their bytes are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_requests_are_bounded() {
    let server = Serving::start(&["--simulate"]);
    let rss_before = server.rss_kib();
    let tcp = connect_from([127, 0, 5, 1], addr(&server)).await;
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let mut calls = Vec::new();
    for _ in 0..64 {
        let request = grpc_request(&server, "/smbus.v1.Smbus/Execute");
        let (answer, mut body) = client.send_request(request, false).unwrap();
        let mut message = vec![0u8];
        message.extend_from_slice(&(4u32 << 20).to_be_bytes());
        message.resize(5 + (1 << 20), 0);
        let _ = body.send_data(message.into(), false);
        calls.push((answer, body));
        client = client.ready().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = server.rss_kib();
    let url = server.url();
    let other = tokio::task::spawn_blocking(move || timed_read(&url)).await.unwrap();
    println!(
        "64 requests of 4 MiB that stop at 1 MiB: server RSS {rss_before} KiB before, {rss} KiB after; \
         another host read in {other:?}"
    );
    assert!(rss - rss_before < 40 << 10, "the server holds {} KiB more", rss - rss_before);
    assert!(other.is_ok());
    drop(calls);
}

/// Watchers that never read, granted all the window HTTP/2 allows, while a client writes
/// 8 × 8 KiB transfers as fast as it can. One such watcher made the server hold 280 MB, and
/// 500 of them 306 MB; now the ring holds at most 4 MiB of events, each watcher's stream at
/// most 256 KiB waiting to be written, and watchers are limited (8 per host, 32 in all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_watchers_are_bounded() {
    use smbus_proxy_wire::pb;
    let server = Serving::start(&["--simulate"]);
    let rss_before = server.rss_kib();
    let mut watchers = Vec::new();
    let mut refused = 0;
    for i in 0..48u8 {
        let mut raw = raw::Grpc::connect_from([127, 0, 4, i % 6 + 1], addr(&server)).await;
        raw.grant_all().await;
        raw.start(1, "/smbus.v1.Smbus/Watch").await;
        raw.send(1, &pb::WatchRequest::default(), true).await;
        watchers.push(raw);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = server.url();
    let (writes, took) = tokio::task::spawn_blocking(move || {
        let client = Client::connect(&url).unwrap();
        let mut bus = client.bus(1).unwrap();
        let page = smbus_proxy_client::Msg::write(0x50, vec![0xA5; 8192]);
        let started = Instant::now();
        let mut writes = 0;
        while started.elapsed() < Duration::from_secs(3) {
            bus.i2c_rdwr(vec![page.clone(); 8]).unwrap();
            writes += 1;
        }
        (writes, started.elapsed())
    })
    .await
    .unwrap();
    let rss = server.rss_kib();
    for line in server.logged("watchers:") {
        refused += line.matches("refused").count();
    }
    println!(
        "48 stalled watchers (32 admitted) while a client wrote {writes} × 64 KiB in {took:?}: server RSS \
         {rss_before} KiB before, {rss} KiB after"
    );
    assert!(refused > 0, "watchers past the limit are refused");
    assert!(rss - rss_before < 40 << 10, "the server holds {} KiB more", rss - rss_before);
    drop(watchers);
}

/// On a server with a token, peers without it open every connection they may, each with a
/// health watch in flight (health needs no credentials) and answering pings. They used to
/// survive every timeout and fill `--max-connections`, so that a client with the token was
/// refused. Now a connection that has made no call with credentials is closed at the handshake
/// timeout whatever it has in flight, and such connections have a share of their own: a new
/// one past it closes the oldest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_without_credentials_cannot_fill_the_connections() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "secret\n").unwrap();
    let server = Serving::start(&[
        "--simulate",
        "--token-file",
        token.to_str().unwrap(),
        "--max-connections",
        "60",
        "--max-connections-per-peer",
        "20",
        "--max-unauthenticated-connections",
        "8",
        "--handshake-timeout-ms",
        "1500",
    ]);
    let sockets_at_start = server.sockets();
    let mut watches = Vec::new();
    for i in 0..60u8 {
        let tcp = connect_from([127, 0, 6, i % 3 + 1], addr(&server)).await;
        let Ok((client, connection)) = h2::client::handshake(tcp).await else { continue };
        tokio::spawn(connection);
        let Ok(mut client) = client.ready().await else { continue };
        let request = grpc_request(&server, "/grpc.health.v1.Health/Watch");
        if let Ok((answer, mut body)) = client.send_request(request, false) {
            let _ = body.send_data(vec![0, 0, 0, 0, 0].into(), true);
            watches.push((client, answer, body));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open = server.sockets() - sockets_at_start;
    let url = server.url();
    let served = tokio::task::spawn_blocking(move || {
        Client::connect_with_token(&url, Some("secret".into())).and_then(|c| c.list_buses())
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let left = server.sockets() - sockets_at_start;
    println!(
        "60 connections without the token, each with a health watch: {open} open at once, {left} after \
         the handshake timeout; a client with the token: {:?}",
        served.as_ref().map(|b| b.len())
    );
    assert!(open <= 8, "{open} connections without credentials are open");
    assert_eq!(left, 0, "connections without credentials outlive the handshake timeout");
    assert!(served.is_ok(), "{served:?}");
    drop(watches);
}

/// Requests a server has not read yet wait in HTTP/2's receive window. A client whose streams'
/// transactions wait for the bus (another client holds it with long waits) sends a megabyte
/// of requests on each of 32 connections: with hyper's 1 MiB windows the server held all of it
/// (32 MB here, 512 MB at the connection limit); with HTTP/2's own 64 KiB it holds 2 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_requests_are_bounded_by_the_window() {
    use smbus_proxy_wire::{Command, Op, encode, pb};
    let server = Serving::start(&["--simulate"]);
    let url = server.url();
    let stop = Arc::new(AtomicBool::new(false));
    let holder = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let client = Client::connect(&url).unwrap();
            let mut bus = client.bus(1).unwrap();
            while !stop.load(Ordering::Relaxed) {
                bus.wait(Duration::from_millis(900)).unwrap();
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = server.rss_kib();
    let mut streams = Vec::new();
    for i in 0..32u8 {
        let tcp = connect_from([127, 0, 7, i % 4 + 1], addr(&server)).await;
        let (client, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        let mut client = client.ready().await.unwrap();
        let open = grpc_request(&server, "/smbus.v1.Smbus/Open");
        let (answer, mut body) = client.send_request(open, false).unwrap();
        let _ = body.send_data(grpc_message(&pb::OpenRequest { bus: 1, ..Default::default() }).into(), true);
        let mut answer = answer.await.unwrap().into_body();
        let mut reply = Vec::new();
        while reply.len() < 5
            || reply.len() < 5 + u32::from_be_bytes(reply[1..5].try_into().unwrap()) as usize
        {
            let chunk = answer.data().await.unwrap().unwrap();
            let _ = answer.flow_control().release_capacity(chunk.len());
            reply.extend_from_slice(&chunk);
        }
        let session = <pb::OpenResponse as prost::Message>::decode(&reply[5..]).unwrap().session;
        let read = pb::ExecuteRequest {
            session,
            ops: vec![encode::op(&Op::smbus(0x48, Command::ReadByteData { reg: 0 }))],
            keep_going: false,
            fence: 0,
            ..Default::default()
        };
        let one = grpc_message(&read);
        let megabyte: Vec<u8> =
            one.iter().copied().cycle().take(one.len() * ((1 << 20) / one.len())).collect();
        let mut client = client.ready().await.unwrap();
        let stream = grpc_request(&server, "/smbus.v1.Smbus/ExecuteStream");
        let (answer, mut body) = client.send_request(stream, false).unwrap();
        let _ = body.send_data(megabyte.into(), false);
        streams.push((client, answer, body));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = server.rss_kib();
    stop.store(true, Ordering::Relaxed);
    println!(
        "32 streams with 1 MiB of requests each, behind a bus held by 0.9 s waits: server RSS {rss_before} KiB \
         before, {rss} KiB after"
    );
    assert!(rss - rss_before < 12 << 10, "the server holds {} KiB more", rss - rss_before);
    drop(streams);
    holder.join().unwrap();
}

/// The headers of a gRPC call to `path`, for h2's client.
fn grpc_request(server: &Serving, path: &str) -> http::Request<()> {
    http::Request::post(format!("{}{path}", server.url()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// A gRPC message: the flag, the length, the protobuf.
fn grpc_message(message: &impl prost::Message) -> Vec<u8> {
    let body = message.encode_to_vec();
    let mut framed = vec![0];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed
}
