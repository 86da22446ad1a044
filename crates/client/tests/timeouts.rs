//! `BusOptions::call_timeout`: a call that gets no answer in time fails with `TimedOut`, a
//! transaction still queued for the bus then never runs, and the bus handle goes on working.

use smbus_proxy_client::blocking::Client;
use smbus_proxy_client::{BusOptions, Error};
use smbus_proxy_server::Server;
use smbus_proxy_sim::Config;
use smbus_proxy_testkit::{Loopback, simulated};
use std::time::{Duration, Instant};

/// At 1 kHz, a 32-byte block read takes about 0.35 s on the wire.
const SLOW: &str =
    "[[bus]]\nnumber = 1\nspeed_khz = 1\n[[bus.device]]\nmodel = \"register-file\"\naddr = 0x48\n";
const LIMIT: Duration = Duration::from_millis(100);

fn server() -> smbus_proxy_server::Running {
    simulated(SLOW).on_loopback()
}

fn impatient() -> BusOptions {
    BusOptions { call_timeout: Some(LIMIT), ..BusOptions::default() }
}

#[test]
fn a_slow_call_times_out_and_the_bus_goes_on() {
    let server = server();
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus_with(1, impatient()).unwrap();
    let started = Instant::now();
    match bus.read_i2c_block_data(0x48, 0, 32) {
        Err(Error::TimedOut { op, after }) => assert_eq!((op, after), ("read_i2c_block_data", LIMIT)),
        other => panic!("a 0.35 s read with a 0.1 s limit gave {other:?}"),
    }
    let took = started.elapsed();
    assert!(took < LIMIT + Duration::from_millis(100), "returned after {took:?}");
    // The read goes on to its end; a patient handle waits for that, and then the impatient
    // one works again.
    assert_eq!(client.bus(1).unwrap().read_byte_data(0x48, 0).unwrap(), 0);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the bus was free after {:?}",
        started.elapsed()
    );
    assert_eq!(bus.read_byte_data(0x48, 0).unwrap(), 0);
}

#[test]
fn a_call_that_times_out_in_the_queue_never_reaches_the_bus() {
    let server = server();
    let url = server.url();
    // Another client keeps the bus busy for about 0.35 s.
    let busy = std::thread::spawn(move || {
        let client = Client::connect(url).unwrap();
        let mut bus = client.bus(1).unwrap();
        bus.read_i2c_block_data(0x48, 0, 32).unwrap();
    });
    std::thread::sleep(Duration::from_millis(50));
    let client = Client::connect(server.url()).unwrap();
    let mut bus = client.bus_with(1, impatient()).unwrap();
    assert!(matches!(bus.write_byte_data(0x48, 0x10, 0xAA), Err(Error::TimedOut { .. })));
    busy.join().unwrap();
    let mut patient = client.bus(1).unwrap();
    assert_eq!(patient.read_byte_data(0x48, 0x10).unwrap(), 0, "the write that timed out never ran");
}

/// A loopback relay to the server that can stop passing bytes, as a network does when a cable
/// is pulled: the connection stays open and nothing arrives.
fn relay(to: std::net::SocketAddr) -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cut = std::sync::Arc::new(AtomicBool::new(false));
    let cut_seen = cut.clone();
    std::thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = std::net::TcpStream::connect(to).unwrap();
        for (mut from, mut to) in
            [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
        {
            let cut = cut_seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 << 10];
                while let Ok(n @ 1..) = from.read(&mut buf) {
                    if cut.load(Ordering::Relaxed) {
                        continue;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, cut)
}

#[test]
fn a_call_over_a_dead_network_times_out_instead_of_hanging() {
    let server = Server::simulated(&Config::demo()).on_loopback();
    let (url, cut) = relay(server.addr());
    let client = Client::connect(url).unwrap();
    let mut bus = client.bus_with(1, impatient()).unwrap();
    assert_eq!(bus.read_byte_data(0x48, 0).unwrap(), 0);
    cut.store(true, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    assert!(matches!(bus.read_byte_data(0x48, 0), Err(Error::TimedOut { .. })));
    assert!(started.elapsed() < LIMIT + Duration::from_millis(100));
    // Dropping the bus over the dead network waits a bounded time for its goodbye.
    let dropped = Instant::now();
    drop(bus);
    assert!(dropped.elapsed() < Duration::from_millis(1500), "the goodbye took {:?}", dropped.elapsed());
}
