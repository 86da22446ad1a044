//! `smbus-proxy monitor`: every operation on the server's buses, live, one line each, and as a
//! trace file or a Wireshark capture.

use super::{Args, connect, fail, find_bus, parse_int};
use smbus_proxy_client::Report;
use smbus_proxy_client::WatchEvent;
use smbus_proxy_client::capture::Capture;
use smbus_proxy_wire::trace;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy monitor [-d ADDRESS]... [--record FILE] [--pcap FILE|-] [I2CBUS]...
  Prints every operation anyone runs on the server's buses (all, or those named), as it
  completes: the time (UTC), the bus, the operation and its result, how long the bus took, and
  the client's address and session. What it prints is a trace, which the simulator replays.
  I2CBUS is a bus number or an adapter's name
  -d ADDRESS shows only operations on this device (repeatable; 0x00 - 0x3ff)
  --record FILE writes the trace to FILE too
  --pcap FILE writes a capture Wireshark opens (pcapng, one packet per I2C message; - for
    stdout, which then has only the capture: smbus-proxy monitor --pcap - | wireshark -k -i -)
",
    remote_usage!()
);

pub fn run(args: Vec<String>) -> ExitCode {
    let (args, values) = match Args::parse_with_long("monitor", "", "d", &["record", "pcap"], args) {
        Ok(parsed) => parsed,
        Err(stop) => return stop.exit(USAGE),
    };
    let mut devices = Vec::new();
    for (_, value) in &values {
        match parse_int(value).and_then(|a| u16::try_from(a).ok()).filter(|&a| a <= 0x3FF) {
            Some(a) => devices.push(a),
            None => return super::usage_error(&format!("Error: Device address invalid: {value}"), USAGE),
        }
    }
    let pcap_on_stdout = args.long("pcap") == Some("-");
    let mut outputs = Outputs {
        lines: (!pcap_on_stdout).then(|| Box::new(std::io::stdout().lock()) as Box<dyn Write>),
        record: None,
        capture: None,
    };
    if let Some(path) = args.long("record") {
        match File::create(path) {
            Ok(f) => outputs.record = Some(BufWriter::new(f)),
            Err(e) => return fail(&format!("Error: cannot create {path}: {}", Report(&e))),
        }
    }
    if let Some(path) = args.long("pcap") {
        let out: Box<dyn Write> = match path {
            "-" => Box::new(std::io::stdout().lock()),
            path => match File::create(path) {
                Ok(f) => Box::new(BufWriter::new(f)),
                Err(e) => return fail(&format!("Error: cannot create {path}: {}", Report(&e))),
            },
        };
        match Capture::new(out) {
            Ok(capture) => outputs.capture = Some(capture),
            Err(e) => return fail(&format!("Error: cannot write the capture: {}", Report(&e))),
        }
    }
    let client = match connect(&args) {
        Ok(client) => client,
        Err(code) => return code,
    };
    // The buses named, found as every tool finds its I2CBUS: a number or an adapter's name.
    let mut buses = Vec::new();
    if !args.positional.is_empty() {
        let present = match client.list_buses() {
            Ok(present) => present,
            Err(e) => return fail(&format!("Error: {}", Report(&e))),
        };
        for arg in &args.positional {
            match find_bus(arg, &present) {
                Ok(bus) => buses.push(bus.number),
                Err(e) => return fail(&e),
            }
        }
    }
    let watcher = match client.watch(&buses) {
        Ok(watcher) => watcher,
        Err(e) => return fail(&format!("Error: {}", Report(&e))),
    };
    let header = format!(
        "{}\n# from {}, {}\n",
        trace::HEADER,
        args.server,
        match &buses[..] {
            [] => "every bus".to_owned(),
            buses => format!("buses {}", buses.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")),
        }
    );
    if outputs.text(&header).is_err() {
        return ExitCode::SUCCESS;
    }
    for event in watcher {
        let event = match event {
            Ok(WatchEvent::Op(e))
                if !devices.is_empty() && !e.op.addresses().any(|(a, _)| devices.contains(&a)) =>
            {
                continue;
            }
            Ok(event) => event,
            Err(e) => return fail(&format!("Error: {}", Report(&e))),
        };
        // Each event as it happens; a closed pipe (`| head`, Wireshark quitting) ends the monitor.
        if let Err(e) = outputs.add(&event) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                break;
            }
            return fail(&format!("Error: {}", Report(&e)));
        }
    }
    ExitCode::SUCCESS
}

/// Where the monitor writes: lines on stdout (unless the capture goes there), a trace file, a
/// capture.
struct Outputs {
    lines: Option<Box<dyn Write>>,
    record: Option<BufWriter<File>>,
    capture: Option<Capture<Box<dyn Write>>>,
}

impl Outputs {
    fn text(&mut self, text: &str) -> std::io::Result<()> {
        // Files first: a line on the screen is a line already kept.
        if let Some(out) = &mut self.record {
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        if let Some(out) = &mut self.lines {
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }

    fn add(&mut self, event: &WatchEvent) -> std::io::Result<()> {
        if let Some(capture) = &mut self.capture {
            capture.add(event)?;
        }
        self.text(&format!("{event}\n"))
    }
}
