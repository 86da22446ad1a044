//! GPIO lines through a real server on a real socket: requesting and holding them, values and
//! edges of simulated lines a test drives from outside, lines in transactions with bus
//! operations, embedded-hal's pins, and every refusal (a line not offered, held by another,
//! released twice, absurd settings, the policy).

use smbus_proxy_client::embedded_hal::digital::{InputPin, OutputPin, StatefulOutputPin};
use smbus_proxy_client::embedded_hal_async::digital::Wait;
use smbus_proxy_client::{Client, Code, Edge, Edges, Errno, Error, LineSettings, blocking};
use smbus_proxy_server::Policy;
use smbus_proxy_sim::SimLines;
use smbus_proxy_testkit::{LAB, Loopback, simulated_with_lines};
use smbus_proxy_wire::pb;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

fn lab() -> (smbus_proxy_server::Running, SimLines) {
    let (server, lines) = simulated_with_lines(LAB);
    (server.on_loopback(), lines)
}

fn rejected(err: Error) -> (Code, String) {
    match err {
        Error::Rejected { code, message } => (code, message),
        other => panic!("not a refusal: {other:?}"),
    }
}

/// An interrupt output: active low, pulled up, both edges.
fn interrupt() -> LineSettings {
    LineSettings { active_low: true, ..LineSettings::input().with_edges(Edges::Both) }
}

#[test]
fn the_server_lists_the_lines_it_offers_and_who_holds_them() {
    let (server, _lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let lines = client.list_lines().unwrap();
    let names: Vec<_> = lines.iter().map(|l| (l.name.as_str(), l.chip.as_str(), l.offset)).collect();
    assert_eq!(
        names,
        [
            ("lab-int", "sim-gpio", 0),
            ("lab-reset", "sim-gpio", 1),
            ("lab-led", "sim-gpio", 2),
            ("lab-button", "sim-gpio", 3)
        ]
    );
    assert!(lines.iter().all(|l| !l.used && l.session.is_empty() && l.value.is_none()));

    let mut bus = client.bus(1).unwrap();
    let _led = bus.line("lab-led", LineSettings::output(true)).unwrap();
    let status = client.status().unwrap();
    let led = status.lines.iter().find(|l| l.name == "lab-led").unwrap();
    assert!(led.used && led.session.len() == 8, "{led:?}");
    assert_eq!((led.direction(), led.value), (pb::Direction::Output, Some(true)));
}

#[test]
fn an_output_drives_the_line_and_remembers_what_it_set() {
    let (server, lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut led = bus.line("lab-led", LineSettings::output(false)).unwrap();
    let sim = lines.line("lab-led").unwrap();
    assert!(!sim.level());
    led.set_high().unwrap();
    assert!(sim.level());
    assert!(led.is_set_high().unwrap());
    led.set_low().unwrap();
    assert!(!sim.level() && led.is_set_low().unwrap());
    assert!(!led.get().unwrap(), "an output reads what it drives");

    // Active low inverts what the program says, not what the line does.
    led.reconfigure(LineSettings { active_low: true, ..LineSettings::output(true) }).unwrap();
    assert!(!sim.level());
    led.release().unwrap();
    assert!(!sim.level(), "given back, nothing drives it and it is pulled down");
    assert!(lines.line("lab-led").unwrap().settings().is_none());
}

#[test]
fn a_line_outlives_the_bus_it_came_from() {
    let (server, lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut led = client.bus(1).unwrap().line("lab-led", LineSettings::output(true)).unwrap();
    led.set_low().unwrap();
    assert!(!lines.line("lab-led").unwrap().level(), "the session lives on with its line");
    drop(led);
    let start = Instant::now();
    while client.list_lines().unwrap().iter().any(|l| l.used) {
        assert!(start.elapsed() < Duration::from_secs(5), "the last line gone, the session ends");
        std::thread::sleep(10 * MS);
    }
}

#[test]
fn an_input_reads_what_the_circuit_drives() {
    let (server, lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut button = bus.line("lab-button", LineSettings::input()).unwrap();
    assert!(button.is_high().unwrap(), "pulled up");
    lines.line("lab-button").unwrap().drive(Some(false));
    assert!(button.is_low().unwrap());
    let err = button.set(true).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EPERM), "{err}");
}

#[test]
fn no_edge_is_lost_between_two_waits() {
    let (server, lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut int = bus.line("lab-int", interrupt()).unwrap();
    let sim = lines.line("lab-int").unwrap();
    // Three edges before anyone waits.
    sim.drive(Some(false));
    sim.drive(Some(true));
    sim.drive(Some(false));
    let seen: Vec<_> = (0..3).map(|_| int.wait_edge(Edges::Both, 100 * MS).unwrap()).collect();
    let edges: Vec<_> = seen.iter().map(|e| (e.edge, e.seqno, e.lost)).collect();
    assert_eq!(edges, [(Edge::Rising, 1, 0), (Edge::Falling, 2, 0), (Edge::Rising, 3, 0)]);
    assert!(seen.windows(2).all(|w| w[0].timestamp_ns <= w[1].timestamp_ns));
    assert!(seen.iter().all(|e| e.line == "lab-int"));

    // A wait for a rising edge passes over a falling one.
    sim.drive(Some(true));
    sim.drive(Some(false));
    let e = int.wait_edge(Edges::Rising, 100 * MS).unwrap();
    assert_eq!((e.edge, e.seqno), (Edge::Rising, 5));

    let started = Instant::now();
    let err = int.wait_edge(Edges::Both, 50 * MS).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::ETIMEDOUT), "{err}");
    assert!(started.elapsed() >= 50 * MS);

    // Levels: at once when the line has it; else at the edge that gives it.
    int.wait_level(true, 10 * MS).unwrap();
    let driver = std::thread::spawn({
        let sim = sim.clone();
        move || {
            std::thread::sleep(30 * MS);
            sim.drive(Some(true));
        }
    });
    int.wait_level(false, 2000 * MS).unwrap();
    driver.join().unwrap();
}

#[test]
fn a_wait_for_edges_the_line_does_not_detect_is_refused() {
    let (server, _lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let mut int = bus.line("lab-int", LineSettings::input().with_edges(Edges::Falling)).unwrap();
    let err = int.wait_edge(Edges::Rising, 10 * MS).unwrap_err();
    assert_eq!(err.errno(), Some(Errno::EINVAL));
    assert!(
        err.to_string().contains("the line detects falling edges only; request it with edges rising"),
        "{err}"
    );
}

#[test]
fn one_transaction_waits_for_data_ready_then_reads() {
    let (server, lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    bus.write_byte_data(0x48, 0x10, 0xA5).unwrap();
    let _drdy = bus.line("lab-int", interrupt()).unwrap();
    let sim = lines.line("lab-int").unwrap().clone();
    let driver = std::thread::spawn(move || {
        std::thread::sleep(20 * MS);
        sim.drive(Some(false));
    });
    let mut batch = bus.batch();
    let edge = batch.wait_edge("lab-int", Edges::Rising, 500 * MS);
    let data = batch.read_byte_data(0x48, 0x10);
    let results = bus.run(batch).unwrap();
    driver.join().unwrap();
    assert_eq!(results.get(edge).edge, Edge::Rising);
    assert_eq!(results.get(data), 0xA5);
}

#[test]
fn a_line_is_one_sessions_at_a_time() {
    let (server, _lines) = lab();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut first = client.bus(1).unwrap();
    let mut second = client.bus(2).unwrap();
    let reset = first.line("lab-reset", LineSettings::output(false)).unwrap();
    let err = second.line("lab-reset", LineSettings::input()).err().unwrap();
    let (code, message) = rejected(err);
    assert_eq!(code, Code::Aborted, "{message}");
    assert!(message.contains("\"lab-reset\" is held by session") && message.contains("EBUSY"), "{message}");

    // Given back, it is anyone's; so is a line whose session closed.
    reset.release().unwrap();
    let taken = second.line("lab-reset", LineSettings::input()).unwrap();
    drop(second);
    drop(taken);
    first.line("lab-reset", LineSettings::output(true)).unwrap();
    first.close().unwrap();
    let mut third = client.bus(1).unwrap();
    third.line("lab-reset", LineSettings::output(true)).unwrap();
}

#[tokio::test]
async fn requests_that_cannot_be_met_are_refused_with_the_reason() {
    let (server, _lines) = lab();
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();

    let err = bus.line("gpio17", LineSettings::input()).await.err().unwrap();
    let (code, message) = rejected(err);
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(
        message,
        "lines[0].line: \"gpio17\" is not a line this server offers; it offers \"lab-int\", \"lab-reset\", \"lab-led\", \"lab-button\""
    );

    let long = "x".repeat(65);
    let (code, message) = rejected(bus.line(&long, LineSettings::input()).await.err().unwrap());
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(message, "lines[0].line: 65 bytes is out of range 1–64");

    let absurd = LineSettings { debounce: Duration::from_secs(2), ..LineSettings::input() };
    let (_, message) = rejected(bus.line("lab-int", absurd).await.err().unwrap());
    assert_eq!(message, "lines[0].settings.debounce_us: 2000000 µs is out of range 0–1000000");

    let output_edges = LineSettings::output(false).with_edges(Edges::Rising);
    let (_, message) = rejected(bus.line("lab-int", output_edges).await.err().unwrap());
    assert_eq!(message, "lines[0].settings.edges: RISING: an output detects no edges");

    // A step on a line the session does not hold, or that does not exist.
    let mut batch = bus.batch();
    batch.set_line("lab-led", true);
    let (code, message) = rejected(bus.run(batch).await.err().unwrap());
    assert_eq!(code, Code::FailedPrecondition);
    assert_eq!(
        message,
        "ops[0].set_line.line: \"lab-led\" is not held by this session; request it first (RequestLines)"
    );
    let mut batch = bus.batch();
    batch.get_line("nope");
    let (code, _) = rejected(bus.run(batch).await.err().unwrap());
    assert_eq!(code, Code::InvalidArgument);

    // A wait of zero, and more than a transaction of line steps may wait in all.
    let mut batch = bus.batch();
    batch.wait_edge("lab-int", Edges::Both, Duration::ZERO);
    let (_, message) = rejected(bus.run(batch).await.err().unwrap());
    assert_eq!(message, "ops[0].wait_edge.timeout_micros: 0 µs is out of range 1–60000000");
    let _int = bus.line("lab-int", interrupt()).await.unwrap();
    let mut batch = bus.batch();
    batch.wait_edge("lab-int", Edges::Both, Duration::from_secs(40));
    batch.wait_edge("lab-int", Edges::Both, Duration::from_secs(40));
    let (code, message) = rejected(bus.run(batch).await.err().unwrap());
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    // With a bus operation, the server's limit on holding the bus applies.
    let mut batch = bus.batch();
    batch.wait_edge("lab-int", Edges::Both, Duration::from_secs(2));
    batch.read_byte_data(0x48, 0);
    let (code, message) = rejected(bus.run(batch).await.err().unwrap());
    assert_eq!(code, Code::ResourceExhausted, "{message}");
    assert!(message.contains("holds the bus for at most 1000000 µs"), "{message}");
}

#[tokio::test]
async fn a_line_released_twice_is_refused_the_second_time() {
    let (server, _lines) = lab();
    let url = server.url();
    let client = Client::connect(url.clone()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();
    let led = bus.line("lab-led", LineSettings::output(false)).await.unwrap();
    led.release().await.unwrap();
    // Straight to the server, as a careless client would.
    let mut raw = pb::smbus_client::SmbusClient::connect(url).await.unwrap();
    let opened = raw.open(pb::OpenRequest { bus: 1, ..Default::default() }).await.unwrap().into_inner();
    let request = |lines: Vec<&str>| pb::ReleaseLinesRequest {
        session: opened.session.clone(),
        lines: lines.into_iter().map(str::to_owned).collect(),
    };
    let err = raw.release_lines(request(vec!["lab-led"])).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        err.message(),
        "lines[0]: \"lab-led\" is not held by this session (released already, or never requested)"
    );
    let err = raw.release_lines(request(vec!["lab-led", "lab-led"])).await.unwrap_err();
    assert_eq!(err.message(), "lines: \"lab-led\" is named twice");
    raw.release_lines(request(vec![])).await.unwrap();
}

#[test]
fn the_policy_decides_who_may_read_drive_or_watch_a_line() {
    let policy = Policy::parse(
        r#"
        [lines]
        drive = false
        [line.lab-led]
        drive = true
        edges = false
        "#,
    )
    .unwrap();
    let (server, _lines) = simulated_with_lines(LAB);
    let server = server.policy(policy).on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let err = bus.line("lab-reset", LineSettings::output(false)).err().unwrap();
    let (code, message) = rejected(err);
    assert_eq!(code, Code::PermissionDenied);
    assert_eq!(
        message,
        "lines[0]: policy: line \"lab-reset\" has drive = false; it cannot be requested as an output"
    );
    let _reset = bus.line("lab-reset", LineSettings::input()).unwrap();
    let _int = bus.line("lab-int", interrupt()).expect("edges follow [lines], which allows them");
    let mut led = bus.line("lab-led", LineSettings::output(true)).unwrap();
    let err = led.reconfigure(LineSettings::input().with_edges(Edges::Rising)).unwrap_err();
    let (code, message) = rejected(err);
    assert_eq!(code, Code::PermissionDenied);
    assert_eq!(message, "lines[0]: policy: line \"lab-led\" has edges = false; its edges cannot be detected");
    led.reconfigure(LineSettings::input()).unwrap();

    // A policy naming a line the server does not offer is refused at start.
    let (server, _lines) = simulated_with_lines(LAB);
    let wrong = server.policy(Policy::parse("[line.nope]\nread = false\n").unwrap());
    let started = wrong.spawn("127.0.0.1:0".parse().unwrap()).unwrap().stop().unwrap_err();
    assert_eq!(started.to_string(), "policy names line \"nope\", which this server does not offer");
}

#[tokio::test]
async fn an_async_driver_waits_for_its_interrupt() {
    let (server, lines) = lab();
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();
    let mut int = bus.line("lab-int", interrupt()).await.unwrap();
    let sim = lines.line("lab-int").unwrap().clone();
    let circuit = std::thread::spawn(move || {
        for level in [false, true, false] {
            std::thread::sleep(10 * MS);
            sim.drive(Some(level));
        }
    });
    int.wait_for_rising_edge().await.unwrap();
    int.wait_for_falling_edge().await.unwrap();
    int.wait_for_high().await.unwrap();
    circuit.join().unwrap();
    int.wait_for_high().await.unwrap();
}

#[tokio::test]
async fn the_event_stream_brings_every_edge_with_its_number() {
    use tokio_stream::StreamExt;
    let (server, lines) = lab();
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();
    let button = bus.line("lab-button", LineSettings::input().with_edges(Edges::Both)).await.unwrap();
    let mut events = button.events().await.unwrap();
    let sim = lines.line("lab-button").unwrap();
    for _ in 0..5 {
        sim.drive(Some(false));
        sim.drive(None);
    }
    let mut seen = Vec::new();
    while seen.len() < 10 {
        seen.push(events.next().await.unwrap().unwrap());
    }
    let numbers: Vec<_> = seen.iter().map(|e| e.seqno).collect();
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    assert!(seen.iter().step_by(2).all(|e| e.edge == Edge::Falling) && seen.iter().all(|e| e.lost == 0));
}

#[tokio::test]
async fn a_flood_of_edges_is_bounded_and_counted_as_lost() {
    use tokio_stream::StreamExt;
    let (server, lines) = lab();
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();
    let mut button = bus.line("lab-button", LineSettings::input().with_edges(Edges::Both)).await.unwrap();
    let sim = lines.line("lab-button").unwrap();
    // 10,000 edges nobody reads: the server keeps the last 256.
    for _ in 0..5000 {
        sim.drive(Some(false));
        sim.drive(None);
    }
    let first = button.wait_edge(Edges::Both, 100 * MS).await.unwrap();
    assert_eq!((first.seqno, first.lost), (10_000 - 255, 10_000 - 256));
    let mut events = button.events().await.unwrap();
    let next = events.next().await.unwrap().unwrap();
    assert_eq!((next.seqno, next.lost), (10_000 - 254, 0));
}

#[tokio::test]
async fn one_stream_follows_several_lines_and_ends_when_they_are_given_back() {
    use tokio_stream::StreamExt;
    let (server, lines) = lab();
    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();
    let edges = LineSettings::input().with_edges(Edges::Both);
    let button = bus.line("lab-button", edges).await.unwrap();
    let int = bus.line("lab-int", edges).await.unwrap();
    // Each line's own stream; both see their edges, none taken twice.
    let mut of_button = button.events().await.unwrap();
    let mut of_int = int.events().await.unwrap();
    for _ in 0..3 {
        lines.line("lab-button").unwrap().drive(Some(false));
        lines.line("lab-int").unwrap().drive(Some(false));
        lines.line("lab-button").unwrap().drive(None);
        lines.line("lab-int").unwrap().drive(None);
    }
    for stream in [&mut of_button, &mut of_int] {
        let mut numbers = Vec::new();
        while numbers.len() < 6 {
            numbers.push(stream.next().await.unwrap().unwrap().seqno);
        }
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
    }
    // Given back, the line is free at once, however long its stream lasts, and the stream ends.
    button.release().await.unwrap();
    assert!(lines.line("lab-button").unwrap().settings().is_none());
    assert!(of_button.next().await.is_none());
    drop(int);
}

/// Chips with a /RESET and an enable input wired to lines the test drives.
const WIRED: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
registers = [0x5A]
reset = "rst"
[[bus.device]]
model = "register-file"
addr = 0x49
enable = "en"

[[line]]
name = "rst"
pull = "up"
[[line]]
name = "en"
pull = "up"
"#;

#[test]
fn a_chip_forgets_its_registers_in_reset_and_ignores_its_address_shut_down() {
    let (server, _lines) = simulated_with_lines(WIRED);
    let server = server.on_loopback();
    let client = blocking::Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let _rst = bus.line("rst", LineSettings::output(true)).unwrap();
    let mut en = bus.line("en", LineSettings::output(true)).unwrap();
    bus.write_byte_data(0x48, 0x00, 0xA5).unwrap();
    bus.write_byte_data(0x49, 0x00, 0xC3).unwrap();

    // "Pulse reset, wait, read the ID": one transaction, one round trip.
    let mut batch = bus.batch();
    batch.set_line("rst", false);
    batch.read_byte_data(0x48, 0x00);
    let err = bus.run(batch).err().unwrap();
    assert_eq!(err.errno(), Some(Errno::ENXIO), "held in reset, it does not acknowledge: {err}");
    let mut batch = bus.batch();
    batch.set_line("rst", true);
    batch.wait(10 * MS);
    let id = batch.read_byte_data(0x48, 0x00);
    assert_eq!(bus.run(batch).unwrap().get(id), 0x5A, "as at power-on");

    en.set(false).unwrap();
    assert_eq!(bus.read_byte_data(0x49, 0x00).unwrap_err().errno(), Some(Errno::ENXIO), "shut down");
    en.set(true).unwrap();
    assert_eq!(bus.read_byte_data(0x49, 0x00).unwrap(), 0xC3, "awake again, with its registers");
}

/// A client that sends the most waits it may: each is a task on the server, not a thread, so
/// another client's transaction that waits on the bus (which does take a thread) is not held
/// up behind them. On threads, 600 waits took the blocking pool's 512 and the other waited
/// for them to time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_waits_holds_no_threads() {
    let (server, _lines) = simulated_with_lines(LAB);
    let server = server.on_loopback();
    let mut raw = pb::smbus_client::SmbusClient::connect(server.url()).await.unwrap();
    let session =
        raw.open(pb::OpenRequest { bus: 1, ..Default::default() }).await.unwrap().into_inner().session;
    let settings = smbus_proxy_wire::encode::line_settings(&LineSettings::input().with_edges(Edges::Both));
    let request = pb::RequestLinesRequest {
        session: session.clone(),
        lines: vec![pb::LineRequest { line: "lab-int".into(), settings: Some(settings) }],
    };
    raw.request_lines(request).await.unwrap();
    let wait = smbus_proxy_wire::Step::Line(smbus_proxy_wire::LineStep::WaitEdge {
        line: "lab-int".into(),
        edge: Edges::Both,
        timeout: Duration::from_secs(3),
    });
    // Five connections of 120 calls, within the server's 128 streams per connection.
    let mut connections = Vec::new();
    for _ in 0..5 {
        connections.push(pb::smbus_client::SmbusClient::connect(server.url()).await.unwrap());
    }
    let waits: Vec<_> = (0..600)
        .map(|i| {
            let mut raw = connections[i % 5].clone();
            let request = pb::ExecuteRequest {
                session: session.clone(),
                ops: vec![smbus_proxy_wire::encode::step(&wait)],
                ..Default::default()
            };
            tokio::spawn(async move { raw.execute(request).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let client = Client::connect(server.url()).await.unwrap();
    let mut bus = client.bus(1).await.unwrap();
    let started = Instant::now();
    let mut batch = bus.batch();
    batch.wait(MS);
    let read = batch.read_byte_data(0x48, 0);
    bus.run(batch).await.unwrap().get(read);
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    for wait in waits {
        let answer = wait.await.unwrap().unwrap().into_inner();
        assert_eq!(answer.error.unwrap().errno, Errno::ETIMEDOUT.0, "no edge came");
    }
}
