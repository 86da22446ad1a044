//! `smbus-proxy dump`: i2cdump over the network. The whole dump is one transaction that keeps
//! going past registers that fail, so it costs one round trip.

use super::{Args, ask, chip_address, connect_bus, fail, parse_int};
use smbus_proxy_client::Report;
use smbus_proxy_client::{Command, Errno, Op, Reply, Target, funcs};
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy dump [-f] [-y] [-r first-last] [-a] I2CBUS ADDRESS [MODE]
  I2CBUS is an integer or an I2C bus name
  ADDRESS is an integer (0x08 - 0x77, or 0x00 - 0x7f if -a is given)
  MODE is one of:
    b (byte, default)
    w (word)
    W (word on even register addresses)
    s (SMBus block, deprecated)
    i (I2C block)
    c (consecutive byte)
    Append p for SMBus PEC
",
    remote_usage!()
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Byte,
    Word,
    EvenWord,
    Block,
    I2cBlock,
    Consecutive,
}

fn usage_error(message: &str) -> ExitCode {
    super::usage_error(message, USAGE)
}

/// `-r first-last`.
fn range(arg: &str) -> Option<(usize, usize)> {
    let (first, last) = arg.split_once('-')?;
    let first = parse_int(first).filter(|f| (0..=0xff).contains(f))?;
    let last = parse_int(last).filter(|l| (first..=0xff).contains(l))?;
    Some((first as usize, last as usize))
}

pub fn run(args: Vec<String>) -> ExitCode {
    let (args, values) = match Args::parse_with_values("dump", "fyaV", "r", args) {
        Ok(parsed) => parsed,
        Err(stop) => return stop.exit(USAGE),
    };
    if args.has('V') {
        eprintln!("smbus-proxy dump version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let p = &args.positional;
    let Some(bus_arg) = p.first() else { return usage_error("Error: No i2c-bus specified!") };
    let Some(addr_arg) = p.get(1) else { return usage_error("Error: No address specified!") };
    let addr = match chip_address(addr_arg, args.has('a')) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    let (mode, pec) = match p.get(2) {
        None => {
            eprintln!("No size specified (using byte-data access)");
            (Mode::Byte, false)
        }
        Some(m) => {
            let mode = match m.chars().next() {
                Some('b') => Mode::Byte,
                Some('w') => Mode::Word,
                Some('W') => Mode::EvenWord,
                Some('s') => Mode::Block,
                Some('i') => Mode::I2cBlock,
                Some('c') => Mode::Consecutive,
                _ => return usage_error("Error: Invalid mode!"),
            };
            if mode == Mode::Block {
                eprintln!("SMBus block mode is deprecated, please use i2cget instead");
            }
            let pec = m[1..].starts_with('p');
            // I2C block reads carry no PEC, so i2cdump has no such mode.
            if mode == Mode::I2cBlock && pec {
                return usage_error("Error: Invalid mode!");
            }
            (mode, pec)
        }
    };
    if p.len() > 3 {
        return usage_error("Error: Banks (BANK, BANKREG) are not supported by smbus-proxy dump");
    }
    let range_arg = values.iter().rev().find(|(c, _)| *c == 'r').map(|(_, v)| v.as_str());
    let (first, last) = match range_arg {
        None => (0x00, 0xff),
        // i2cdump says these without its usage.
        Some(r) => match range(r) {
            None => return fail("Error: Invalid range parameter!"),
            Some((f, l)) if mode == Mode::Block || (mode == Mode::EvenWord && (f % 2 == 1 || l % 2 == 0)) => {
                return fail("Error: Range parameter not compatible with selected mode!");
            }
            Some(r) => r,
        },
    };

    let (client, info) = match connect_bus(&args, bus_arg) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (needs, name) = match mode {
        Mode::Byte => (funcs::SMBUS_READ_BYTE_DATA, "SMBus read byte"),
        Mode::Word | Mode::EvenWord => (funcs::SMBUS_READ_WORD_DATA, "SMBus read word"),
        Mode::Block => (funcs::SMBUS_READ_BLOCK_DATA, "SMBus block read"),
        Mode::I2cBlock => (funcs::SMBUS_READ_I2C_BLOCK, "I2C block read"),
        Mode::Consecutive => (funcs::SMBUS_BYTE, "SMBus send byte and receive byte"),
    };
    if info.funcs & needs != needs {
        return fail(&format!("Error: Adapter does not have {name} capability"));
    }
    let file = format!("/dev/i2c-{}", info.number);
    if !args.has('y') {
        eprintln!("WARNING! This program can confuse your I2C bus, cause data loss and worse!");
        let how = match mode {
            Mode::Byte => "byte",
            Mode::Word | Mode::EvenWord => "word",
            Mode::Block => "smbus block",
            Mode::I2cBlock => "i2c block",
            Mode::Consecutive => "byte consecutive read",
        };
        eprintln!("I will probe file {file} on {}, address 0x{addr:02x}, mode {how}", args.server);
        if pec {
            eprintln!("PEC checking enabled.");
        }
        if mode == Mode::EvenWord {
            eprintln!("Only probing even register addresses.");
        }
        if range_arg.is_some() {
            eprintln!("Probe range limited to 0x{first:02x}-0x{last:02x}.");
        }
        if !ask(true) {
            return ExitCode::SUCCESS;
        }
    }

    let target = Target { addr, ten_bit: false, pec, force: args.has('f') };
    let op = |command| Op::Smbus { target, command };
    let regs = first..=last;
    let ops: Vec<Op> = match mode {
        Mode::Byte => regs.map(|r| op(Command::ReadByteData { reg: r as u8 })).collect(),
        Mode::Word => regs.map(|r| op(Command::ReadWordData { reg: r as u8 })).collect(),
        Mode::EvenWord => regs.step_by(2).map(|r| op(Command::ReadWordData { reg: r as u8 })).collect(),
        Mode::Block => vec![op(Command::ReadBlockData { reg: 0 })],
        Mode::I2cBlock => (first..=last)
            .step_by(32)
            .map(|r| op(Command::ReadI2cBlockData { reg: r as u8, len: (last + 1 - r).min(32) as u8 }))
            .collect(),
        Mode::Consecutive => std::iter::once(op(Command::WriteByte { value: first as u8 }))
            .chain(regs.map(|_| op(Command::ReadByte)))
            .collect(),
    };
    let mut bus = match client.bus(info.number) {
        Ok(bus) => bus,
        Err(e) => return fail(&format!("Error: Could not open {file}: {}", Report(&e))),
    };
    let results = match bus.execute_each(&ops) {
        Ok(results) => results,
        Err(e) => return fail(&format!("Error: {}", Report(&e))),
    };
    // A kernel driver owns the address: every operation says so; i2cdump stops at the first.
    if let Some(Err(Errno::EBUSY)) = results.first() {
        return fail(&format!(
            "Error: Could not set address to 0x{addr:02x}: {}",
            super::strerror(Errno::EBUSY)
        ));
    }

    // Every register's value, or None where its read failed; and how far a block went.
    let mut block: [Option<u8>; 256] = [None; 256];
    let mut block_len = 256;
    match mode {
        Mode::Byte => {
            for (r, result) in (first..=last).zip(&results) {
                block[r] = byte(result);
            }
        }
        Mode::Consecutive => {
            if let Err(errno) = &results[0] {
                return fail(&format!("Error: Write start address failed, return code -{}", errno.0));
            }
            for (r, result) in (first..=last).zip(&results[1..]) {
                block[r] = byte(result);
            }
        }
        Mode::EvenWord => {
            for (r, result) in (first..=last).step_by(2).zip(&results) {
                if let Ok(Reply::Word(w)) = result {
                    [block[r], block[r + 1]] = w.to_le_bytes().map(Some);
                }
            }
        }
        Mode::Block | Mode::I2cBlock => {
            for (start, result) in (first..=last).step_by(32).zip(&results) {
                match result {
                    Ok(Reply::Block(data)) => {
                        for (i, b) in data.iter().enumerate() {
                            block[start + i] = Some(*b);
                        }
                        if mode == Mode::Block {
                            block_len = data.len();
                        }
                    }
                    Err(errno) => {
                        return fail(&format!("Error: Block read failed, return code -{}", errno.0));
                    }
                    Ok(other) => return fail(&format!("Error: unexpected answer {other}")),
                }
            }
        }
        Mode::Word => {
            print!("{}", word_table(first, last, &results));
            return ExitCode::SUCCESS;
        }
    }
    print!("{}", byte_table(first, last, &block, block_len, mode == Mode::EvenWord));
    ExitCode::SUCCESS
}

fn byte(result: &Result<Reply, Errno>) -> Option<u8> {
    match result {
        Ok(Reply::Byte(b)) => Some(*b),
        _ => None,
    }
}

/// i2cdump's table of bytes with their ASCII: `XX` and `X` where a read failed.
fn byte_table(first: usize, last: usize, block: &[Option<u8>; 256], len: usize, words: bool) -> String {
    let mut out = String::from("     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f    0123456789abcdef\n");
    for row in (0..256).step_by(16) {
        if row >= len && len < 256 {
            break;
        }
        if row / 16 < first / 16 {
            continue;
        }
        if row / 16 > last / 16 {
            break;
        }
        out += &format!("{row:02x}: ");
        let mut j = 0;
        while j < 16 {
            let r = row + j;
            let width = if words { 2 } else { 1 };
            if r < first || r > last {
                out += &"   ".repeat(width);
            } else if r >= len {
                out += "   ";
            } else {
                for k in 0..width {
                    out += &match block[r + k] {
                        Some(b) => format!("{b:02x} "),
                        None => "XX ".to_owned(),
                    };
                }
            }
            j += width;
        }
        out += "   ";
        for j in 0..16 {
            let r = row + j;
            if r >= len {
                break;
            }
            out.push(if r < first || r > last {
                ' '
            } else {
                match block[r] {
                    None => 'X',
                    Some(0x00 | 0xff) => '.',
                    Some(b) if !(32..127).contains(&b) => '?',
                    Some(b) => b as char,
                }
            });
        }
        out.push('\n');
    }
    out
}

/// i2cdump's word table: eight words a row, `XXXX` where a read failed.
fn word_table(first: usize, last: usize, results: &[Result<Reply, Errno>]) -> String {
    let mut out = String::from("     0,8  1,9  2,a  3,b  4,c  5,d  6,e  7,f\n");
    let mut results = results.iter();
    for row in (0..256).step_by(8) {
        if row / 8 < first / 8 {
            continue;
        }
        if row / 8 > last / 8 {
            break;
        }
        out += &format!("{row:02x}: ");
        for r in row..row + 8 {
            if r < first || r > last {
                out += "     ";
                continue;
            }
            out += &match results.next() {
                Some(Ok(Reply::Word(w))) => format!("{w:04x} "),
                _ => "XXXX ".to_owned(),
            };
        }
        out.push('\n');
    }
    out
}
