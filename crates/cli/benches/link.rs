//! What the network costs a driver, and what hides it.
//!
//! A relay inside this bench delays each direction by 0.25, 1 and 2.5 ms (Ethernet to Wi-Fi;
//! these machines have no traffic shaping) between the client and `smbus-proxy serve`, run as a
//! process of its own on a simulated bus at 400 kHz. The raw TCP round trip through the relay
//! is the floor. Driver workloads run through it, and the same workloads run on the simulated
//! bus itself with no network, which is what they cost on the Pi:
//! - a display: 10 frames of 1,024 bytes in 32-byte writes;
//! - a sensor read 50 times: trigger a conversion (an INA219's configuration register), poll
//!   its conversion-ready bit, read its four result registers (8 bytes); "sensor" needs each
//!   sample before the next, "sensor log" wants them together;
//! - programming 4 KiB of a 24C32 page by page, ACK polling through each write cycle;
//! - a dump of 256 registers.
//!
//! Each runs three ways: one call per operation, polling from the client ("sync", as smbus2
//! drivers do); the same calls on a pipelined handle ("pipelined": writes return once sent);
//! and on a pipelined handle with the waiting done on the bus ("on bus": `poll` steps, and the
//! operations whose results are wanted together in one transaction). Pipelined times include
//! the flush that waits for the last write. Nothing can do better than the local time plus one
//! round trip, hence the last column.
//!
//! First, on loopback with no relay: `write_byte_data` calls per second, sync and pipelined.
//!
//!     cargo bench -p smbus-proxy --bench link [-- --json]

use smbus_proxy_client::{BusOptions, Bytes, blocking};
use smbus_proxy_sim::{Config, SimBus};
use smbus_proxy_wire::step::MIN_POLL_INTERVAL;
use smbus_proxy_wire::{Command, Errno, Match, Msg, Op, Poll, Reply, Step};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{Relay, ServerProcess, percentiles};

const ONE_WAY_US: [u64; 3] = [250, 1000, 2500];
/// Each workload runs this many times; the median counts.
const RUNS: usize = 3;

const DISPLAY: u16 = 0x3C;
const SENSOR: u16 = 0x40;
const REGISTERS: u16 = 0x48;
const EEPROM: u16 = 0x50;

const LAB: &str = r#"
[[bus]]
number = 1
speed_khz = 400

[[bus.device]]            # a display controller's data port, as a register file
model = "register-file"
addr = 0x3C

[[bus.device]]
model = "ina219"
addr = 0x40
bus_volts = 12.0
current_amps = 0.25

[[bus.device]]
model = "register-file"
addr = 0x48
registers = [0, 1, 2, 3, 4, 5, 6, 7]

[[bus.device]]
model = "eeprom-24c32"
addr = 0x50

[[bus]]                   # no wire time: for the proxy's own rate
number = 2

[[bus.device]]
model = "register-file"
addr = 0x48
"#;

fn main() {
    let json = std::env::args().any(|a| a == "--json");
    let server = ServerProcess::start(LAB);
    let server_addr: SocketAddr = server.url().trim_start_matches("http://").parse().unwrap();

    let loopback = loopback_writes(&server.url());

    let local: Vec<Duration> = WORKLOADS
        .iter()
        .map(|w| median(|| (w.run)(&mut Local(Config::parse(LAB).unwrap().build().remove(0)), Mode::Sync)))
        .collect();

    let mut rows = Vec::new();
    for one_way in ONE_WAY_US.map(Duration::from_micros) {
        let echo = Relay::start(tcp_echo(), one_way);
        let floor = percentiles(&(0..50).map(|_| ping_pong(echo.addr)).collect::<Vec<_>>()).0;
        let relay = Relay::start(server_addr, one_way);
        let client = blocking::Client::connect(format!("http://{}", relay.addr)).unwrap();
        let mut remote = Remote(client.bus(1).unwrap());
        let mut pipelined = Remote(client.bus_with(1, PIPELINED).unwrap());
        for (w, local) in WORKLOADS.iter().zip(&local) {
            let sync = median(|| (w.run)(&mut remote, Mode::Sync));
            let mut on = |mode| {
                median(|| {
                    (w.run)(&mut pipelined, mode);
                    pipelined.0.flush().unwrap();
                })
            };
            let (pipelined, on_bus) = (on(Mode::Sync), on(Mode::OnBus));
            rows.push(Row {
                one_way,
                floor_us: floor,
                workload: w.name,
                local: *local,
                sync,
                pipelined,
                on_bus,
            });
        }
    }
    if json { print_json(loopback, &rows) } else { print_table(loopback, &rows) }
}

const PIPELINED: BusOptions = BusOptions { pipeline: 64, ..BusOptions::DEFAULT };

/// `write_byte_data` calls per second on loopback, sync and pipelined, on a bus without wire
/// time (bus 2), so that the proxy is what is measured.
fn loopback_writes(url: &str) -> (f64, f64) {
    const N: u32 = 20_000;
    let client = blocking::Client::connect(url).unwrap();
    let rate = |bus: &mut blocking::Bus| {
        let start = Instant::now();
        for i in 0..N {
            bus.write_byte_data(REGISTERS, 0x10, i as u8).unwrap();
        }
        bus.flush().unwrap();
        f64::from(N) / start.elapsed().as_secs_f64()
    };
    let sync = rate(&mut client.bus(2).unwrap());
    let pipelined = rate(&mut client.bus_with(2, PIPELINED).unwrap());
    (sync, pipelined)
}

struct Workload {
    name: &'static str,
    run: fn(&mut dyn Target, Mode),
}

/// How a workload is written.
#[derive(Clone, Copy)]
enum Mode {
    /// One call per operation, polling from the client, as drivers are written today.
    Sync,
    /// Waiting done on the bus (`wait` and `poll` steps), and operations grouped where the
    /// program needs their results together.
    OnBus,
}

const WORKLOADS: [Workload; 5] = [
    Workload { name: "display, 10 frames", run: display },
    Workload { name: "sensor, 50 reads", run: sensor },
    Workload { name: "sensor log, 50 reads", run: sensor_log },
    Workload { name: "EEPROM, 4 KiB", run: eeprom },
    Workload { name: "dump, 256 registers", run: dump },
];

/// Where a workload's steps run: through the proxy, or on the simulated bus itself.
trait Target {
    /// One transaction: the steps in order, stopping at the first that fails.
    fn run(&mut self, steps: &[Step]) -> Result<Vec<Reply>, Errno>;

    fn one(&mut self, op: Op) -> Result<Reply, Errno> {
        Ok(self.run(&[Step::Op(op)])?.remove(0))
    }
}

/// The simulated bus with no network: what the workload costs on the Pi, where a driver's
/// own loop does the polling.
struct Local(SimBus);

impl Target for Local {
    fn run(&mut self, steps: &[Step]) -> Result<Vec<Reply>, Errno> {
        steps
            .iter()
            .map(|step| match step {
                Step::Op(op) => self.0.execute(op).map_err(|failure| failure.errno),
                Step::Wait(time) => {
                    spin_sleep::sleep(*time);
                    Ok(Reply::Done)
                }
                Step::Poll(poll) => loop {
                    match self.0.execute(&poll.op) {
                        Ok(reply) if poll.until.is_none_or(|m| m.matches(&reply)) => break Ok(reply),
                        _ => spin_sleep::sleep(poll.interval),
                    }
                },
                // The workloads here use no lines.
                Step::Line(_) => Err(Errno::EINVAL),
            })
            .collect()
    }
}

struct Remote(blocking::Bus);

impl Target for Remote {
    fn run(&mut self, steps: &[Step]) -> Result<Vec<Reply>, Errno> {
        self.0.execute_steps(steps).map_err(|e| e.errno().unwrap_or_else(|| panic!("{e}")))
    }
}

fn run_all(t: &mut dyn Target, ops: Vec<Op>, mode: Mode) -> Vec<Reply> {
    match mode {
        Mode::OnBus => t.run(&ops.into_iter().map(Step::Op).collect::<Vec<_>>()).unwrap(),
        Mode::Sync => ops.into_iter().map(|op| t.one(op).unwrap()).collect(),
    }
}

fn display(t: &mut dyn Target, _: Mode) {
    let line = Bytes::from(vec![0xA5; 32]);
    for _ in 0..10 {
        for _ in 0..32 {
            t.one(Op::smbus(DISPLAY, Command::WriteI2cBlockData { reg: 0x40, data: line.clone() })).unwrap();
        }
    }
}

/// Shunt and bus voltage, triggered, 12 bits: 2 × 532 µs.
fn trigger() -> Op {
    Op::smbus(SENSOR, Command::WriteI2cBlockData { reg: 0x00, data: Bytes::from_static(&[0x39, 0x9B]) })
}

fn sensor_read(reg: u8) -> Op {
    Op::smbus(SENSOR, Command::ReadI2cBlockData { reg, len: 2 })
}

/// One sample as steps: trigger, poll the conversion-ready bit on the bus, read the results.
fn sample_steps() -> Vec<Step> {
    // As an SMBus word the register's bytes swap: the ready bit is bit 9.
    let ready = Poll {
        op: Op::smbus(SENSOR, Command::ReadWordData { reg: 0x02 }),
        interval: MIN_POLL_INTERVAL,
        timeout: Duration::from_millis(10),
        until: Some(Match { mask: 0x0200, value: 0x0200 }),
    };
    [Step::Op(trigger()), Step::Poll(ready)]
        .into_iter()
        .chain((1..=4).map(|reg| Step::Op(sensor_read(reg))))
        .collect()
}

fn check_sample(results: &[Reply]) {
    assert_eq!(block(results[0].clone()), [0x09, 0xC4], "25 mV across the shunt");
}

/// The program needs each sample before it takes the next.
fn sensor(t: &mut dyn Target, mode: Mode) {
    for _ in 0..50 {
        match mode {
            Mode::Sync => {
                t.one(trigger()).unwrap();
                // The ready bit is bit 1 of the bus voltage register's low byte, its second.
                while block(t.one(sensor_read(0x02)).unwrap())[1] & 0x02 == 0 {}
                check_sample(&run_all(t, (1..=4).map(sensor_read).collect(), Mode::Sync));
            }
            Mode::OnBus => check_sample(&t.run(&sample_steps()).unwrap()[2..]),
        }
    }
}

/// A logger: the samples are wanted together.
fn sensor_log(t: &mut dyn Target, mode: Mode) {
    match mode {
        Mode::Sync => sensor(t, mode),
        Mode::OnBus => {
            let steps: Vec<Step> = (0..50).flat_map(|_| sample_steps()).collect();
            let results = t.run(&steps).unwrap();
            results.chunks(6).for_each(|sample| check_sample(&sample[2..]));
        }
    }
}

fn eeprom(t: &mut dyn Target, mode: Mode) {
    for page in 0..128u16 {
        let at = page * 32;
        let data: Vec<u8> = [&at.to_be_bytes()[..], &[page as u8; 32]].concat();
        let write = Op::Transfer(vec![Msg::write(EEPROM, data)]);
        let ack = Op::smbus(EEPROM, Command::WriteQuick { bit: 0 });
        match mode {
            Mode::Sync => {
                t.one(write).unwrap();
                loop {
                    match t.one(ack.clone()) {
                        Ok(_) => break,
                        Err(Errno::ENXIO) => continue,
                        Err(e) => panic!("ACK polling: {e:?}"),
                    }
                }
            }
            Mode::OnBus => {
                let acked = Poll {
                    op: ack,
                    interval: MIN_POLL_INTERVAL,
                    timeout: Duration::from_millis(10),
                    until: None,
                };
                t.run(&[Step::Op(write), Step::Poll(acked)]).unwrap();
            }
        }
    }
}

fn dump(t: &mut dyn Target, mode: Mode) {
    let ops = (0..=255).map(|reg| Op::smbus(REGISTERS, Command::ReadByteData { reg })).collect();
    let replies = run_all(t, ops, mode);
    assert_eq!(replies[7], Reply::Byte(7));
}

fn block(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::Block(b) => b.to_vec(),
        other => panic!("expected a block, got {other:?}"),
    }
}

fn median(mut run: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

/// A TCP relay on loopback that delivers each direction's bytes `one_way` after they arrived,
/// in order, however many are in flight, as a long link does.
/// A TCP echo server on loopback: its address.
fn tcp_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            stream.set_nodelay(true).unwrap();
            thread::spawn(move || {
                let mut buf = [0; 16];
                while stream.read_exact(&mut buf).is_ok() && stream.write_all(&buf).is_ok() {}
            });
        }
    });
    addr
}

/// One 16-byte round trip on a fresh connection's steady state.
fn ping_pong(addr: SocketAddr) -> Duration {
    thread_local! {
        static STREAMS: std::cell::RefCell<Vec<(SocketAddr, TcpStream)>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    STREAMS.with_borrow_mut(|streams| {
        if !streams.iter().any(|(a, _)| *a == addr) {
            let s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            streams.push((addr, s));
        }
        let (_, s) = streams.iter_mut().find(|(a, _)| *a == addr).unwrap();
        let mut buf = [7u8; 16];
        let start = Instant::now();
        s.write_all(&buf).unwrap();
        s.read_exact(&mut buf).unwrap();
        start.elapsed()
    })
}

struct Row {
    one_way: Duration,
    floor_us: f64,
    workload: &'static str,
    local: Duration,
    sync: Duration,
    pipelined: Duration,
    on_bus: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_table((sync_ops, pipelined_ops): (f64, f64), rows: &[Row]) {
    println!(
        "loopback, write_byte_data: {sync_ops:.0} calls/s sync, {pipelined_ops:.0} pipelined ({:.1}×)",
        pipelined_ops / sync_ops
    );
    let mut last = None;
    for r in rows {
        if last != Some(r.one_way) {
            last = Some(r.one_way);
            println!(
                "\n{} ms each way; TCP round trip through the relay {:.2} ms (p50)",
                ms(r.one_way),
                r.floor_us / 1e3
            );
            println!(
                "{:<22} {:>9} {:>9} {:>8} {:>10} {:>8} {:>10} {:>8} {:>15}",
                "workload",
                "local ms",
                "sync ms",
                "÷ local",
                "pipelined",
                "÷ local",
                "on bus",
                "÷ local",
                "÷ (local + RTT)"
            );
        }
        let (local, rtt) = (ms(r.local), r.floor_us / 1e3);
        let (sync, pipelined, on_bus) = (ms(r.sync), ms(r.pipelined), ms(r.on_bus));
        println!(
            "{:<22} {local:>9.1} {sync:>9.1} {:>8.2} {pipelined:>10.1} {:>8.2} {on_bus:>10.1} {:>8.2} {:>15.2}",
            r.workload,
            sync / local,
            pipelined / local,
            on_bus / local,
            on_bus / (local + rtt)
        );
    }
}

fn print_json((sync_ops, pipelined_ops): (f64, f64), rows: &[Row]) {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"one_way_ms\":{},\"rtt_floor_ms\":{:.3},\"workload\":{:?},\"local_ms\":{:.2},\"sync_ms\":{:.2},\"pipelined_ms\":{:.2},\"on_bus_ms\":{:.2}}}",
                ms(r.one_way),
                r.floor_us / 1e3,
                r.workload,
                ms(r.local),
                ms(r.sync),
                ms(r.pipelined),
                ms(r.on_bus)
            )
        })
        .collect();
    println!(
        "{{\"loopback_write_byte_data\":{{\"sync_per_s\":{sync_ops:.0},\"pipelined_per_s\":{pipelined_ops:.0}}},\"link\":[{}]}}",
        rows.join(",")
    );
}
