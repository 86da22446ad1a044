//! Surviving a broken connection: a relay on loopback between the client and a real server
//! resets every connection through it, over and over, while a driver loop writes and reads
//! back; the program sees no error, and every write reached the device exactly once: the
//! simulator's write log holds each in order, none twice and none missing, and the server's
//! `Status` counts each operation once (one answered from the record is not run, so not
//! counted). A server that restarted meanwhile is `faults.rs`'s.

use smbus_proxy_client::{BusOptions, Command, Error, Msg, Op, WatchEvent, blocking::Client};
use smbus_proxy_testkit::{Loopback, lab, simulated};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const RF: u16 = 0x48;
const LOG: u16 = 0x60;

/// A register file, and a write log that keeps every byte written to it.
const LAB: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
[[bus.device]]
model = "write-log"
addr = 0x60
"#;

/// What the write log holds, from the start.
fn logged(bus: &mut smbus_proxy_client::blocking::Bus, len: u16) -> Vec<u8> {
    bus.write_quick(LOG).unwrap();
    bus.i2c_rdwr(vec![Msg::read(LOG, len)]).unwrap().remove(0).to_vec()
}

/// Forwards connections to `server`; `reset` breaks every connection open through it (each
/// end sees it reset), as a Wi-Fi drop or a sleeping laptop does to TCP.
struct Relay {
    addr: SocketAddr,
    resets: watch::Sender<u64>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Relay {
    fn start(server: SocketAddr) -> Relay {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let (resets, reset) = watch::channel(0u64);
        runtime.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let mut reset = reset.clone();
                reset.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(server).await else { return };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = reset.changed() => {
                            // Closed with RST rather than FIN, as a peer that lost its state.
                            let _ = client.set_zero_linger();
                            let _ = server.set_zero_linger();
                        }
                    }
                });
            }
        });
        Relay { addr, resets, runtime: Some(runtime) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn reset(&self) {
        self.resets.send_modify(|n| *n += 1);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The operations the server ran for the only session on bus 1.
fn operations_ran(client: &Client) -> u64 {
    let status = client.status().unwrap();
    let bus = status.buses.iter().find(|b| b.bus.as_ref().is_some_and(|i| i.number == 1)).unwrap();
    assert_eq!(bus.sessions.len(), 1, "{bus:?}");
    bus.sessions[0].operations
}

/// Resets the relay's connections every `every` until told to stop; how many it made.
fn resetting(relay: &Arc<Relay>, every: Duration, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let (relay, stop) = (relay.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut made = 0;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            relay.reset();
            made += 1;
        }
        made
    })
}

#[test]
fn a_sync_driver_loop_sees_no_error_and_each_write_runs_once() {
    let server = simulated(LAB).on_loopback();
    let relay = Arc::new(Relay::start(server.addr()));
    let client = Client::connect(relay.url()).unwrap();
    let mut bus = client.bus(1).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let resets = resetting(&relay, Duration::from_millis(30), &stop);
    for i in 0..300u32 {
        let value = i as u8;
        bus.write_byte_data(LOG, (i >> 8) as u8, value).unwrap();
        bus.write_byte_data(RF, 0x10, value).unwrap();
        assert_eq!(bus.read_byte_data(RF, 0x10).unwrap(), value);
    }
    stop.store(true, Ordering::Relaxed);
    let resets = resets.join().unwrap();
    assert!(resets > 5, "only {resets} resets");
    let watcher = Client::connect(server.url()).unwrap();
    assert_eq!(operations_ran(&watcher), 900, "every write and read ran once, through {resets} resets");
    let expected: Vec<u8> = (0..300u32).flat_map(|i| [(i >> 8) as u8, i as u8]).collect();
    assert_eq!(logged(&mut bus, 601)[..], [&expected[..], &[0xFF]].concat()[..], "each write once, in order");
}

#[test]
fn a_pipelined_driver_loop_sees_no_error_and_each_write_runs_once() {
    let server = simulated(LAB).on_loopback();
    let relay = Arc::new(Relay::start(server.addr()));
    let client = Client::connect(relay.url()).unwrap();
    let mut bus = client.bus_with(1, BusOptions { pipeline: 16, ..BusOptions::DEFAULT }).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let resets = resetting(&relay, Duration::from_millis(30), &stop);
    let written = AtomicUsize::new(0);
    for round in 0..20u8 {
        for reg in 0..32u8 {
            bus.write_byte_data(RF, 0x40 + reg, round.wrapping_mul(32).wrapping_add(reg)).unwrap();
            bus.write_byte_data(LOG, round, reg).unwrap();
            written.fetch_add(2, Ordering::Relaxed);
        }
        let back = bus.read_i2c_block_data(RF, 0x40, 32).unwrap();
        let expected: Vec<u8> = (0..32u8).map(|reg| round.wrapping_mul(32).wrapping_add(reg)).collect();
        assert_eq!(&back[..], &expected[..], "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    let resets = resets.join().unwrap();
    assert!(resets > 5, "only {resets} resets");
    let watcher = Client::connect(server.url()).unwrap();
    let ran = written.load(Ordering::Relaxed) as u64 + 20;
    assert_eq!(operations_ran(&watcher), ran, "every write and read ran once, through {resets} resets");
    let expected: Vec<u8> = (0..20u8).flat_map(|round| (0..32u8).flat_map(move |reg| [round, reg])).collect();
    assert_eq!(logged(&mut bus, 1280), expected, "each write once, in order");
}

#[test]
fn an_outage_longer_than_the_program_waits_says_so() {
    let server = lab().on_loopback();
    let relay = Relay::start(server.addr());
    let client = Client::connect(relay.url()).unwrap();
    let options = BusOptions { outage_wait: Some(Duration::from_millis(300)), ..BusOptions::DEFAULT };
    let mut bus = client.bus_with(1, options).unwrap();
    bus.write_byte_data(RF, 0x11, 1).unwrap();
    // The relay goes: nothing listens where the client connects.
    drop(relay);
    let e = bus.write_byte_data(RF, 0x11, 2).unwrap_err();
    let Error::LinkDown { op, after, .. } = &e else { panic!("{e:?}") };
    assert_eq!(*op, "write_byte_data");
    assert!(*after >= Duration::from_millis(300), "{after:?}");
    assert!(e.to_string().starts_with("the connection to the server has been down for 0."), "{e}");
    assert!(e.to_string().ends_with(" s; write_byte_data may or may not have run"), "{e}");
}

/// A watch outlives its connection: when the relay resets it, the watcher subscribes again by
/// itself, and before the bus's next event says how many of its operations it missed, so that
/// what it saw and what it was told it missed add up to every operation that ran.
#[test]
fn a_watch_subscribes_again_and_counts_what_it_missed() {
    let server = simulated(LAB).on_loopback();
    let relay = Relay::start(server.addr());
    let mut watcher = Client::connect(relay.url()).unwrap().watch(&[1]).unwrap();
    let direct = Client::connect(server.url()).unwrap();
    let mut bus = direct.bus(1).unwrap();
    bus.write_byte_data(RF, 0x12, 0).unwrap();
    assert!(matches!(watcher.next(), Some(Ok(WatchEvent::Op(_)))));
    relay.reset();
    std::thread::sleep(Duration::from_millis(100));
    // While the watch is down: operations it cannot see.
    for value in 1..=3 {
        bus.write_byte_data(RF, 0x12, value).unwrap();
    }
    // Then one every 20 ms until the watcher is back, and a last one it knows.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut ran = 3;
            while !stop.load(Ordering::Relaxed) {
                bus.write_byte_data(RF, 0x12, 4).unwrap();
                ran += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            bus.write_byte_data(RF, 0x12, 0xFF).unwrap();
            ran + 1
        })
    };
    let (mut seen, mut missed) = (0u64, 0u64);
    for event in watcher.by_ref() {
        match event.unwrap() {
            WatchEvent::Lost(n) => missed += n,
            WatchEvent::Op(op) => {
                seen += 1;
                stop.store(true, Ordering::Relaxed);
                if matches!(op.op, Op::Smbus { command: Command::WriteByteData { value: 0xFF, .. }, .. }) {
                    break;
                }
            }
        }
    }
    let ran = writer.join().unwrap();
    assert!(missed >= 3, "missed {missed}, seen {seen}");
    assert_eq!(seen + missed, ran, "every operation since the reset, seen or counted as missed");
}
