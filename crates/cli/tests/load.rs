//! A bounded load test: 32 clients × 10,000 operations against the server binary on the
//! simulator, all on one register, in transactions of a write and a read. Every read must see
//! its own transaction's write: a reply lost, mismatched or interleaved with another client's
//! transaction would show. The server's memory must stay flat.

mod common;

use common::Serving;
use smbus_proxy_client::blocking::Client;
use std::time::{Duration, Instant};

const CLIENTS: usize = 32;
const OPS_PER_CLIENT: usize = 10_000;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn thirty_two_clients_ten_thousand_operations_each() {
    let server = Serving::start(&["--simulate"]);
    let url = server.url();

    let start = Instant::now();
    let run = |round: usize| {
        let threads: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let client = Client::connect(url).unwrap();
                    let mut bus = client.bus(1).unwrap();
                    let (mut lost, mut mismatched) = (0, 0);
                    for n in 0..OPS_PER_CLIENT / 4 {
                        // A tag only this client writes in this round.
                        let tag = ((i * 7 + n + round) % 251) as u8;
                        let mut batch = bus.batch();
                        batch.write_byte_data(0x48, 0x10, tag);
                        let read = batch.read_byte_data(0x48, 0x10);
                        match bus.run(batch) {
                            Ok(results) if results.get(read) == tag => {}
                            Ok(_) => mismatched += 1,
                            Err(_) => lost += 1,
                        }
                    }
                    (lost, mismatched)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    // Two rounds of 2 × 2,500 operations per client; memory after the first is the baseline.
    let first = run(0);
    let rss_after_first = rss_kib(server.pid());
    let second = run(1);
    let rss_after_second = rss_kib(server.pid());
    let elapsed = start.elapsed();
    server.kill();

    assert_eq!(first, (0, 0), "lost and mismatched replies, first round");
    assert_eq!(second, (0, 0), "lost and mismatched replies, second round");
    assert!(elapsed < Duration::from_secs(60), "{CLIENTS} × {OPS_PER_CLIENT} operations took {elapsed:?}");
    assert!(
        rss_after_second <= rss_after_first + 2048,
        "server RSS grew from {rss_after_first} KiB to {rss_after_second} KiB"
    );
    eprintln!(
        "{CLIENTS} clients × {OPS_PER_CLIENT} operations in {elapsed:?}; server RSS {rss_after_first} → {rss_after_second} KiB"
    );
}
