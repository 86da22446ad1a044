//! `smbus-proxy set`: i2cset over the network.

use super::{Args, ask, chip_address, connect_bus, data_address, fail, parse_int, strerror};
use smbus_proxy_client::Report;
use smbus_proxy_client::{Bytes, Command, Errno, Op, Reply, Target, funcs};
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy set [-f] [-y] [-m MASK] [-r] [-a] I2CBUS CHIP-ADDRESS DATA-ADDRESS [VALUE] ... [MODE]
  I2CBUS is an integer or an I2C bus name
  ADDRESS is an integer (0x08 - 0x77, or 0x00 - 0x7f if -a is given)
  MODE is one of:
    c (byte, no value)
    b (byte data, default)
    w (word data)
    i (I2C block data)
    s (SMBus block data)
    Append p for SMBus PEC
",
    remote_usage!()
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Byte,
    ByteData,
    Word,
    Block,
    I2cBlock,
}

fn usage_error(message: &str) -> ExitCode {
    super::usage_error(message, USAGE)
}

/// The width i2cset prints a value with.
fn width(mode: Mode) -> usize {
    if mode == Mode::Word { 4 } else { 2 }
}

pub fn run(args: Vec<String>) -> ExitCode {
    let (args, values) = match Args::parse_with_values("set", "fyraV", "m", args) {
        Ok(parsed) => parsed,
        Err(stop) => return stop.exit(USAGE),
    };
    if args.has('V') {
        eprintln!("smbus-proxy set version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let mask = values.iter().rev().find(|(c, _)| *c == 'm').map(|(_, v)| v.clone());
    let p = &args.positional;
    if p.len() < 3 {
        return super::usage_only(USAGE);
    }
    let addr = match chip_address(&p[1], args.has('a')) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    let Some(daddress) = data_address(&p[2]) else {
        return usage_error("Error: Data address invalid!");
    };

    // What follows DATA-ADDRESS: nothing (a plain byte write of it), one value, or values
    // ended by a mode letter.
    // As i2cset reads it: a MODE is one letter, with p appended for PEC. Alone after
    // DATA-ADDRESS only c (which takes no value) is a mode, anything else is a value for
    // mode b; after values, the last argument must be a mode that takes them.
    let rest = &p[3..];
    let mode_of = |m: &str| {
        let (letter, pec) = m.strip_suffix('p').map_or((m, false), |l| (l, true));
        let mode = match letter {
            "c" => Mode::Byte,
            "b" => Mode::ByteData,
            "w" => Mode::Word,
            "s" => Mode::Block,
            "i" => Mode::I2cBlock,
            _ => return None,
        };
        Some((mode, pec))
    };
    let (mode, pec, given) = match rest {
        [] => (Mode::Byte, false, rest),
        [only] => match mode_of(only) {
            Some((Mode::Byte, pec)) => (Mode::Byte, pec, &rest[..0]),
            _ => (Mode::ByteData, false, rest),
        },
        [values @ .., m] => match mode_of(m) {
            Some((mode, pec)) if mode != Mode::Byte => (mode, pec, values),
            _ => return usage_error(&format!("Error: Invalid mode '{m}'!")),
        },
    };
    let mut block = Vec::new();
    let mut value: i64 = -1;
    match mode {
        Mode::Block | Mode::I2cBlock => {
            if pec && mode == Mode::I2cBlock {
                return usage_error("Error: PEC not supported for I2C block writes!");
            }
            if mask.is_some() {
                return usage_error("Error: Mask not supported for block writes!");
            }
            if given.is_empty() {
                return usage_error("Error: Missing data value(s)!");
            }
            if given.len() > 32 {
                return usage_error("Error: Too many arguments!");
            }
            for v in given {
                match parse_int(v) {
                    Some(v) if v < 0 => return usage_error("Error: Data value invalid!"),
                    Some(v) if v > 0xff => return usage_error("Error: Data value out of range!"),
                    Some(v) => block.push(v as u8),
                    None => return usage_error("Error: Data value invalid!"),
                }
            }
        }
        Mode::Byte => {
            if !given.is_empty() {
                return usage_error("Error: Too many arguments!");
            }
        }
        Mode::ByteData | Mode::Word => {
            let [v] = given else {
                return usage_error(if given.is_empty() {
                    "Error: Missing data value!"
                } else {
                    "Error: Too many arguments!"
                });
            };
            let max = if mode == Mode::Word { 0xffff } else { 0xff };
            value = match parse_int(v) {
                Some(v) if v < 0 => return usage_error("Error: Data value invalid!"),
                Some(v) if v > max => return usage_error("Error: Data value out of range!"),
                Some(v) => v,
                None => return usage_error("Error: Data value invalid!"),
            };
        }
    }
    let vmask = match &mask {
        None => None,
        Some(m) => match parse_int(m) {
            Some(0) | None => return usage_error("Error: Data value mask invalid!"),
            Some(v) if v > if mode == Mode::Word { 0xffff } else { 0xff } => {
                return usage_error("Error: Data value mask out of range!");
            }
            Some(v) => Some(v),
        },
    };

    let (client, info) = match connect_bus(&args, &p[0]) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (needs, name) = match mode {
        Mode::Byte => (funcs::SMBUS_WRITE_BYTE, "SMBus send byte"),
        Mode::ByteData => (funcs::SMBUS_WRITE_BYTE_DATA, "SMBus write byte"),
        Mode::Word => (funcs::SMBUS_WRITE_WORD_DATA, "SMBus write word"),
        Mode::Block => (funcs::SMBUS_WRITE_BLOCK_DATA, "SMBus block write"),
        Mode::I2cBlock => (funcs::SMBUS_WRITE_I2C_BLOCK, "I2C block write"),
    };
    if info.funcs & needs == 0 {
        return fail(&format!("Error: Adapter does not have {name} capability"));
    }
    let file = format!("/dev/i2c-{}", info.number);
    let mut bus = match client.bus(info.number) {
        Ok(bus) => bus,
        Err(e) => return fail(&format!("Error: Could not open {file}: {}", Report(&e))),
    };
    let target = Target { addr, ten_bit: false, pec, force: args.has('f') };
    let read_back = |mode| match mode {
        Mode::Byte => Command::ReadByte,
        Mode::Word => Command::ReadWordData { reg: daddress },
        _ => Command::ReadByteData { reg: daddress },
    };
    let run = |bus: &mut smbus_proxy_client::blocking::Bus, command| {
        bus.execute(&[Op::Smbus { target, command }]).map(|mut r| r.pop())
    };
    if !args.has('y')
        && !confirm(&format!("{file} on {}", args.server), addr, daddress, mode, value, &block, pec)
    {
        return ExitCode::SUCCESS;
    }
    if let Some(vmask) = vmask {
        let old = match run(&mut bus, read_back(mode)) {
            Ok(Some(Reply::Byte(b))) => i64::from(b),
            Ok(Some(Reply::Word(w))) => i64::from(w),
            Err(e) if e.errno() == Some(Errno::EBUSY) => return busy(addr),
            _ => return fail("Error: Failed to read old value"),
        };
        value = (value & vmask) | (old & !vmask);
        if !args.has('y') {
            let w = width(mode);
            eprintln!("Old value 0x{old:0w$x}, write mask 0x{vmask:0w$x}: Will write 0x{value:0w$x}");
            if !ask(true) {
                return ExitCode::SUCCESS;
            }
        }
    }
    let write = match mode {
        Mode::Byte => Command::WriteByte { value: daddress },
        Mode::ByteData => Command::WriteByteData { reg: daddress, value: value as u8 },
        Mode::Word => Command::WriteWordData { reg: daddress, value: value as u16 },
        Mode::Block => Command::WriteBlockData { reg: daddress, data: Bytes::from(block) },
        Mode::I2cBlock => Command::WriteI2cBlockData { reg: daddress, data: Bytes::from(block) },
    };
    match run(&mut bus, write) {
        Ok(_) => {}
        Err(e) if e.errno() == Some(Errno::EBUSY) => return busy(addr),
        Err(e) if e.errno().is_some() => return fail("Error: Write failed"),
        // Refused before the bus (policy, authentication): say why.
        Err(e) => return fail(&format!("Error: Write failed: {}", Report(&e))),
    }
    if !args.has('r') {
        return ExitCode::SUCCESS;
    }
    if mode == Mode::Byte {
        value = daddress.into();
    }
    let w = width(mode);
    // i2cset prints a block write's "value" as -1 in 32 bits; so do we.
    let wrote = if value < 0 { format!("{:x}", value as u32) } else { format!("{value:0w$x}") };
    match run(&mut bus, read_back(mode)) {
        Ok(Some(Reply::Byte(b))) if i64::from(b) == value => {
            println!("Value 0x{wrote} written, readback matched")
        }
        Ok(Some(Reply::Word(x))) if i64::from(x) == value => {
            println!("Value 0x{wrote} written, readback matched")
        }
        Ok(Some(Reply::Byte(b))) => {
            println!("Warning - data mismatch - wrote 0x{wrote}, read back 0x{b:0w$x}")
        }
        Ok(Some(Reply::Word(x))) => {
            println!("Warning - data mismatch - wrote 0x{wrote}, read back 0x{x:0w$x}")
        }
        _ => println!("Warning - readback failed"),
    }
    ExitCode::SUCCESS
}

fn busy(addr: u16) -> ExitCode {
    fail(&format!("Error: Could not set address to 0x{addr:02x}: {}", strerror(Errno::EBUSY)))
}

fn confirm(file: &str, addr: u16, daddress: u8, mode: Mode, value: i64, block: &[u8], pec: bool) -> bool {
    eprintln!("WARNING! This program can confuse your I2C bus, cause data loss and worse!");
    let mut dont = false;
    if (0x50..=0x57).contains(&addr) {
        eprintln!(
            "DANGEROUS! Writing to a serial EEPROM on a memory DIMM\nmay render your memory USELESS and make your system UNBOOTABLE!"
        );
        dont = true;
    }
    let mut line = format!(
        "I will write to device file {file}, chip address 0x{addr:02x},\ndata address 0x{daddress:02x}, "
    );
    match mode {
        Mode::Byte => line += "no data",
        Mode::Block | Mode::I2cBlock => {
            line += "data";
            if !block.is_empty() {
                line += " ";
                line += &super::hex_bytes(block);
            }
        }
        Mode::ByteData | Mode::Word => line += &format!("data 0x{value:0w$x}", w = width(mode)),
    }
    let name = match mode {
        Mode::Byte => "byte",
        Mode::ByteData => "byte",
        Mode::Word => "word",
        Mode::Block => "SMBus block",
        Mode::I2cBlock => "I2C block",
    };
    eprintln!("{line}, mode {name}.");
    if pec {
        eprintln!("PEC checking enabled.");
    }
    ask(!dont)
}
