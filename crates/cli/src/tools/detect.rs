//! `smbus-proxy detect`: i2cdetect over the network. The whole scan is one transaction that
//! keeps going past addresses nobody answers, so it costs one round trip.

use super::{Args, confirm, connect, connect_bus, fail, parse_int};
use smbus_proxy_client::Report;
use smbus_proxy_client::{Command, Errno, Op, Target, funcs};
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy detect [-y] [-a] [-q|-r] I2CBUS [FIRST LAST]
       smbus-proxy detect -F I2CBUS
       smbus-proxy detect -l
  I2CBUS is an integer or an I2C bus name
  If provided, FIRST and LAST limit the probing range.
",
    remote_usage!()
);

/// The names i2cdetect -F gives the functionality bits, in its order.
const FUNCS: &[(u64, &str)] = &[
    (funcs::I2C, "I2C"),
    (funcs::SMBUS_QUICK, "SMBus Quick Command"),
    (funcs::SMBUS_WRITE_BYTE, "SMBus Send Byte"),
    (funcs::SMBUS_READ_BYTE, "SMBus Receive Byte"),
    (funcs::SMBUS_WRITE_BYTE_DATA, "SMBus Write Byte"),
    (funcs::SMBUS_READ_BYTE_DATA, "SMBus Read Byte"),
    (funcs::SMBUS_WRITE_WORD_DATA, "SMBus Write Word"),
    (funcs::SMBUS_READ_WORD_DATA, "SMBus Read Word"),
    (funcs::SMBUS_PROC_CALL, "SMBus Process Call"),
    (funcs::SMBUS_WRITE_BLOCK_DATA, "SMBus Block Write"),
    (funcs::SMBUS_READ_BLOCK_DATA, "SMBus Block Read"),
    (funcs::SMBUS_BLOCK_PROC_CALL, "SMBus Block Process Call"),
    (funcs::SMBUS_PEC, "SMBus PEC"),
    (funcs::SMBUS_WRITE_I2C_BLOCK, "I2C Block Write"),
    (funcs::SMBUS_READ_I2C_BLOCK, "I2C Block Read"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    Quick,
    Read,
}

fn usage_error(message: &str) -> ExitCode {
    super::usage_error(message, USAGE)
}

pub fn run(args: Vec<String>) -> ExitCode {
    let args = match Args::parse("detect", "FalqryV", args) {
        Ok(args) => args,
        Err(stop) => return stop.exit(USAGE),
    };
    if args.has('V') {
        eprintln!("smbus-proxy detect version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let mode = match (args.has('q'), args.has('r')) {
        (true, true) => return fail("Error: Different modes specified!"),
        (true, false) => Mode::Quick,
        (false, true) => Mode::Read,
        (false, false) => Mode::Auto,
    };
    let (mut first, mut last) = if args.has('a') { (0x00, 0x7F) } else { (0x08, 0x77) };

    if args.has('l') {
        let client = match connect(&args) {
            Ok(c) => c,
            Err(code) => return code,
        };
        return match client.list_buses() {
            Ok(buses) => {
                for b in buses {
                    let (kind, algo) = if b.funcs & funcs::I2C != 0 {
                        ("i2c", "I2C adapter")
                    } else {
                        ("smbus", "SMBus adapter")
                    };
                    println!("i2c-{}\t{kind:<10}\t{:<32}\t{algo}", b.number, b.name);
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("Error: {}", Report(&e))),
        };
    }

    let Some(bus_arg) = args.positional.first() else {
        return usage_error("Error: No i2c-bus specified!");
    };
    // FIRST and LAST come together or not at all.
    if !matches!(args.positional.len(), 1 | 3) {
        return super::usage_only(USAGE);
    }
    for (i, which) in [(1, "FIRST"), (2, "LAST")] {
        let Some(arg) = args.positional.get(i) else { break };
        let Some(value) = parse_int(arg) else {
            // (sic) i2cdetect's own spelling, which scripts may match.
            return usage_error(&format!("Error: {which} argment not a number!"));
        };
        if value < first || value > last {
            return usage_error(&format!(
                "Error: {which} argument out of range (0x{first:02x}-0x{last:02x})!"
            ));
        }
        if i == 1 { first = value } else { last = value }
    }

    let (client, info) = match connect_bus(&args, bus_arg) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let file = format!("/dev/i2c-{}", info.number);
    if args.has('F') {
        println!("Functionalities implemented by {file}:");
        for (bit, name) in FUNCS {
            println!("{name:<32} {}", if info.funcs & bit != 0 { "yes" } else { "no" });
        }
        return ExitCode::SUCCESS;
    }

    let (quick, read) = (info.funcs & funcs::SMBUS_QUICK != 0, info.funcs & funcs::SMBUS_READ_BYTE != 0);
    if !quick && !read {
        return fail("Error: Bus doesn't support detection commands");
    }
    if mode == Mode::Quick && !quick {
        return fail("Error: Can't use SMBus Quick Write command on this bus");
    }
    if mode == Mode::Read && !read {
        return fail("Error: Can't use SMBus Receive Byte command on this bus");
    }
    if mode == Mode::Auto {
        if !quick {
            eprintln!("Warning: Can't use SMBus Quick Write command, will skip some addresses");
        }
        if !read {
            eprintln!("Warning: Can't use SMBus Receive Byte command, will skip some addresses");
        }
    }
    if !args.has('y') {
        eprintln!("WARNING! This program can confuse your I2C bus, cause data loss and worse!");
        let how = match mode {
            Mode::Quick => " using quick write commands",
            Mode::Read => " using receive byte commands",
            Mode::Auto => "",
        };
        eprintln!("I will probe file {file}{how} on {}.", args.server);
        eprintln!("I will probe address range 0x{first:02x}-0x{last:02x}.");
        if !confirm() {
            return ExitCode::SUCCESS;
        }
    }

    let probes: Vec<(i64, Op)> = (0..128u16)
        .filter(|&a| (first..=last).contains(&i64::from(a)))
        .filter_map(|a| probe(mode, a, info.funcs).map(|op| (i64::from(a), op)))
        .collect();
    let mut bus = match client.bus(info.number) {
        Ok(bus) => bus,
        Err(e) => return fail(&format!("Error: Could not open {file}: {}", Report(&e))),
    };
    let ops: Vec<Op> = probes.iter().map(|(_, op)| op.clone()).collect();
    let results = match bus.execute_each(&ops) {
        Ok(results) => results.into_iter().map(Probed::from).collect(),
        // The server's policy refuses some of these probes, and so the whole scan: probe the
        // addresses one by one, marking those it refuses, so the scan shows what it may see.
        Err(smbus_proxy_client::Error::Rejected {
            code: smbus_proxy_client::Code::PermissionDenied, ..
        }) => {
            let mut results = Vec::with_capacity(ops.len());
            for op in &ops {
                results.push(match bus.execute_each(std::slice::from_ref(op)) {
                    Ok(mut one) => Probed::from(one.remove(0)),
                    Err(smbus_proxy_client::Error::Rejected {
                        code: smbus_proxy_client::Code::PermissionDenied,
                        ..
                    }) => Probed::Refused,
                    Err(e) => return fail(&format!("Error: {}", Report(&e))),
                });
            }
            results
        }
        Err(e) => return fail(&format!("Error: {}", Report(&e))),
    };
    let mut answers = [None; 128];
    for ((addr, _), result) in probes.iter().zip(results) {
        answers[*addr as usize] = Some(result);
    }

    let mut out = String::from("     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f\n");
    for (row, answers) in answers.chunks(16).enumerate() {
        out += &format!("{:02x}: ", row * 16);
        for (addr, answer) in (row * 16..).zip(answers) {
            out += &match answer {
                None => "   ".to_owned(),
                Some(Probed::Answered) => format!("{addr:02x} "),
                // A kernel driver owns the address.
                Some(Probed::Failed(Errno::EBUSY)) => "UU ".to_owned(),
                Some(Probed::Failed(_)) => "-- ".to_owned(),
                Some(Probed::Refused) => "PD ".to_owned(),
            };
        }
        out.push('\n');
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// The probe of `addr` on a bus with adapter functionality `funcs`, as i2cdetect chooses it:
/// receive byte where a quick write could corrupt an EEPROM (0x50–0x5F) or lock up some chips
/// (0x30–0x37), else a quick write, each only where the adapter can send it. `web`'s scan
/// probes the same way.
pub fn probe(mode: Mode, addr: u16, funcs: u64) -> Option<Op> {
    let command = match mode {
        Mode::Quick => Command::WriteQuick { bit: 0 },
        Mode::Read => Command::ReadByte,
        Mode::Auto if (0x30..=0x37).contains(&addr) || (0x50..=0x5F).contains(&addr) => Command::ReadByte,
        Mode::Auto => Command::WriteQuick { bit: 0 },
    };
    let needs =
        if matches!(command, Command::ReadByte) { funcs::SMBUS_READ_BYTE } else { funcs::SMBUS_QUICK };
    (funcs & needs != 0).then_some(Op::Smbus { target: Target::new(addr), command })
}

/// What probing one address found.
#[derive(Clone, Copy)]
enum Probed {
    Answered,
    Failed(Errno),
    /// The server's access policy does not let this client probe it (`PD` in the table).
    Refused,
}

impl From<Result<smbus_proxy_client::Reply, Errno>> for Probed {
    fn from(result: Result<smbus_proxy_client::Reply, Errno>) -> Probed {
        match result {
            Ok(_) => Probed::Answered,
            Err(errno) => Probed::Failed(errno),
        }
    }
}
