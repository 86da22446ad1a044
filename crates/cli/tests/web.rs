//! `smbus-proxy web` as a process of its own, in front of a real server on the simulator, over
//! real sockets: the page and its files, the feed of what the bus did and its downloads, reads
//! and writes, and every request that does not come from the page itself refused.

use smbus_proxy_client::blocking::Client;
use smbus_proxy_testkit::{Loopback, lab};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The page's process, stopped when the test ends.
struct Page {
    child: Child,
    addr: SocketAddr,
}

impl Page {
    fn start(server: &str, extra: &[&str]) -> Page {
        let mut child = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
            .args(["web", "--server", server, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
        let addr = url.trim().trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
        Page { child, addr }
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    /// A request with these headers (Host among them, or not), and its status and body.
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response");
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let mut body = response[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, body)
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        self.request("GET", path, &[("Host", &self.host())], "")
    }

    /// A POST as the page's own script sends it.
    fn post(&self, path: &str, json: &str) -> (u16, String) {
        let origin = format!("http://{}", self.host());
        let headers =
            [("Host", self.host()), ("Origin", origin), ("Content-Type", "application/json".into())];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (status, body) = self.request("POST", path, &headers, json);
        (status, String::from_utf8(body).unwrap())
    }

    fn events(&self) -> serde_json::Value {
        serde_json::from_slice(&self.get("/api/events?after=0").1).unwrap()
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line + 2..line + 2 + size]);
        body = &body[line + 2 + size + 2..];
    }
}

/// Probes the bus until the page's feed has an event: the watch starts with the page, and
/// operations before it pass unseen.
fn until_the_feed_sees(page: &Page, bus: &mut smbus_proxy_client::blocking::Bus) {
    let start = Instant::now();
    while page.events()["events"].as_array().unwrap().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "the page's watch never started");
        bus.write_quick(0x48).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the page's feed holds `count` events (the watch starts with the page).
fn wait_for_events(page: &Page, count: usize) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let events = page.events();
        if events["events"].as_array().unwrap().len() >= count {
            return events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the feed has {} events",
            events["events"].as_array().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_page_and_its_files_come_from_the_binary() {
    let server = lab().on_loopback();
    let page = Page::start(&server.url(), &[]);
    let (status, html) = page.get("/");
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains(r#"<script src="/app.js" defer></script>"#), "{html}");
    for path in ["/app.js", "/style.css"] {
        let (status, body) = page.get(path);
        assert_eq!(status, 200, "{path}");
        assert!(!body.is_empty());
    }
    let info: serde_json::Value = serde_json::from_slice(&page.get("/api/info").1).unwrap();
    assert_eq!(info["writes"], false);
    assert_eq!(info["buses"][0]["number"], 1);
}

#[test]
fn what_the_bus_does_reaches_the_feed_and_the_downloads() {
    let server = lab().on_loopback();
    let page = Page::start(&server.url(), &[]);
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    until_the_feed_sees(&page, &mut bus);
    let before = page.events()["events"].as_array().unwrap().len();
    bus.write_byte_data(0x48, 0x10, 0xAB).unwrap();
    assert!(bus.read_byte_data(0x33, 0x00).is_err(), "nothing at 0x33");
    let events = wait_for_events(&page, before + 2);
    let events = events["events"].as_array().unwrap();
    let (write, nack) = (&events[before], &events[before + 1]);
    assert_eq!(
        (write["addr"].as_u64(), write["register"].as_u64(), write["write"].as_bool(), write["data"].clone()),
        (Some(0x48), Some(0x10), Some(true), serde_json::json!([0xAB]))
    );
    assert_eq!(write["op"], "write_byte_data 0x48 reg=0x10 value=0xab");
    assert_eq!(
        (nack["addr"].as_u64(), nack["ok"].as_bool(), nack["nack"].as_bool()),
        (Some(0x33), Some(false), Some(true))
    );
    assert_eq!(nack["result"], "ENXIO");

    let (status, trace) = page.get("/api/capture.trace");
    assert_eq!(status, 200);
    let trace = smbus_proxy_wire::trace::parse(std::str::from_utf8(&trace).unwrap()).unwrap();
    assert_eq!(trace.len(), before + 2, "the download holds what the feed does");
    let (status, pcapng) = page.get("/api/capture.pcapng");
    assert_eq!(status, 200);
    assert_eq!(pcapng[..4], [0x0A, 0x0D, 0x0D, 0x0A], "a pcapng section header");
    let later: serde_json::Value =
        serde_json::from_slice(&page.get(&format!("/api/events?after={}", events.last().unwrap()["seq"])).1)
            .unwrap();
    assert_eq!(later["events"].as_array().unwrap().len(), 0, "a page reads on from where it left off");
}

#[test]
fn requests_that_do_not_come_from_the_page_are_refused() {
    let server = lab().on_loopback();
    let page = Page::start(&server.url(), &["--allow-writes"]);
    let port = page.addr.port();
    // DNS rebinding: a page of another name that resolves to 127.0.0.1.
    let evil = format!("evil.example:{port}");
    let (status, body) = page.request("GET", "/api/events", &[("Host", &evil)], "");
    assert_eq!(
        (status, String::from_utf8(body).unwrap().trim()),
        (403, "this page answers only to its own address (Host)")
    );
    let localhost = format!("localhost:{port}");
    assert_eq!(page.request("GET", "/", &[("Host", &localhost)], "").0, 200, "localhost is its own name");
    assert_eq!(page.request("GET", "/", &[], "").0, 403, "no Host at all");

    let write = r#"{"bus":1,"addr":72,"register":32,"value":90}"#;
    let own = format!("http://{}", page.host());
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[
                ("Host", &page.host()),
                ("Origin", "http://evil.example"),
                ("Content-Type", "application/json"),
            ],
            "changes come only from this page itself (Origin)",
        ),
        (
            &[("Host", &page.host()), ("Content-Type", "application/json")],
            "changes come only from this page itself (Origin)",
        ),
        (
            &[("Host", &page.host()), ("Origin", &own), ("Content-Type", "text/plain")],
            "changes come as application/json",
        ),
        (
            &[("Host", &evil), ("Origin", &format!("http://{evil}")), ("Content-Type", "application/json")],
            "this page answers only to its own address (Host)",
        ),
    ];
    for (headers, why) in cases {
        let (status, body) = page.request("POST", "/api/write", headers, write);
        assert_eq!((status, String::from_utf8(body).unwrap().trim()), (403, why), "{headers:?}");
    }
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    assert_eq!(bus.read_byte_data(0x48, 32).unwrap(), 0, "nothing written");
    // The page itself may, as it was started with --allow-writes.
    assert_eq!(page.post("/api/write", write).0, 200);
    assert_eq!(bus.read_byte_data(0x48, 32).unwrap(), 90);
}

#[test]
fn writes_are_off_unless_allowed_and_reads_are_bounded() {
    let server = lab().on_loopback();
    let page = Page::start(&server.url(), &[]);
    let (status, body) = page.post("/api/write", r#"{"bus":1,"addr":72,"register":0,"value":1}"#);
    assert_eq!((status, body.as_str()), (403, "writes are off: start the page with --allow-writes"));
    let (status, body) = page.post("/api/read", r#"{"bus":1,"addr":72,"register":0,"count":4}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"].as_array().unwrap().len(),
        4
    );
    let (status, body) = page.post("/api/read", r#"{"bus":1,"addr":72,"register":0,"count":33}"#);
    assert_eq!((status, body.as_str()), (400, "count 33 is out of range 1–32"));
    let (status, body) = page.post("/api/read", r#"{"bus":9,"addr":72,"register":0}"#);
    assert_eq!(status, 502, "{body}");
    // What the page's script never sends: a clear refusal, the parser's words clipped.
    let long = "x".repeat(100_000);
    let (status, body) = page.post("/api/read", &format!(r#"{{"bus":"{long}","addr":72,"register":0}}"#));
    assert_eq!(status, 400);
    assert!(
        body.len() <= 600 && body.contains("bus"),
        "{} bytes: {}",
        body.len(),
        &body[..body.len().min(200)]
    );
    let (status, body) = page.get("/api/events?after=minus-one");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn the_page_serves_loopback_only() {
    let out = Command::new(env!("CARGO_BIN_EXE_smbus-proxy"))
        .args(["web", "--server", "http://127.0.0.1:1", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("Error: --listen 0.0.0.0:0: the page serves loopback only (127.0.0.1, ::1)"),
        "{stderr}"
    );
}

#[test]
fn peers_that_stop_reading_hold_a_bounded_share() {
    let server = lab().on_loopback();
    let page = Page::start(&server.url(), &[]);
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    // The feed full of the largest events: 8 KiB reads, about 40 KB of JSON each.
    until_the_feed_sees(&page, &mut bus);
    for _ in 0..600 {
        bus.i2c_rdwr(vec![smbus_proxy_client::Msg::read(0x50, 8192)]).unwrap();
    }
    // Read the feed to its end, as a page would, until it has the last read.
    let (start, mut after) = (Instant::now(), 0);
    while after < 600 {
        assert!(start.elapsed() < Duration::from_secs(10), "the feed took every read");
        let read: serde_json::Value =
            serde_json::from_slice(&page.get(&format!("/api/events?after={after}")).1).unwrap();
        after = read["next"].as_u64().unwrap();
    }
    let rss = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", page.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().to_owned();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
    };
    let before = rss();
    // 64 peers ask for the whole feed, or a download, and read nothing.
    let mut stalled = Vec::new();
    for i in 0..64 {
        let mut stream = TcpStream::connect(page.addr).unwrap();
        let path = if i % 8 == 0 { "/api/capture.pcapng" } else { "/api/events?after=0" };
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", page.host()).unwrap();
        stalled.push(stream);
    }
    std::thread::sleep(Duration::from_secs(2));
    let during = rss();
    // Each answer is at most 1 MiB, one download is made at a time, and 32 connections are
    // served at once: without those bounds, 64 × 8 MB.
    assert!(during < before + 64, "RSS {before} MiB before, {during} MiB with 64 peers not reading");
    drop(stalled);
    let start = Instant::now();
    while page.request("GET", "/api/info", &[("Host", &page.host())], "").0 != 200 {
        assert!(start.elapsed() < Duration::from_secs(10), "the page answers again once they go");
    }
}
