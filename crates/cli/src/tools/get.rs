//! `smbus-proxy get`: i2cget over the network.

use super::{Args, ask, chip_address, connect_bus, data_address, fail, parse_int};
use smbus_proxy_client::Report;
use smbus_proxy_client::{Command, Errno, Error, Op, Reply, Target, blocking::Bus, funcs};
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy get [-f] [-y] [-a] I2CBUS CHIP-ADDRESS [DATA-ADDRESS [MODE [LENGTH]]]
  I2CBUS is an integer or an I2C bus name
  ADDRESS is an integer (0x08 - 0x77, or 0x00 - 0x7f if -a is given)
  MODE is one of:
    b (read byte data, default)
    w (read word data)
    c (write byte/read byte)
    s (read SMBus block data)
    i (read I2C block data)
    Append p for SMBus PEC
  LENGTH is the I2C block data length (between 1 and 32, default 32)
",
    remote_usage!()
);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Receive byte, after a send byte of the data address if there is one.
    Byte,
    ByteData,
    Word,
    Block,
    I2cBlock(u8),
}

fn usage_error(message: &str) -> ExitCode {
    super::usage_error(message, USAGE)
}

pub fn run(args: Vec<String>) -> ExitCode {
    let args = match Args::parse("get", "fyaV", args) {
        Ok(args) => args,
        Err(stop) => return stop.exit(USAGE),
    };
    if args.has('V') {
        eprintln!("smbus-proxy get version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let p = &args.positional;
    if p.len() < 2 {
        return super::usage_only(USAGE);
    }
    let addr = match chip_address(&p[1], args.has('a')) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    let daddress = match p.get(2) {
        None => None,
        Some(arg) => match data_address(arg) {
            Some(d) => Some(d),
            None => return usage_error("Error: Data address invalid!"),
        },
    };
    let mut mode = if daddress.is_some() { Mode::ByteData } else { Mode::Byte };
    let mut pec = false;
    if let Some(m) = p.get(3) {
        mode = match m.chars().next() {
            Some('b') => Mode::ByteData,
            Some('w') => Mode::Word,
            Some('c') => Mode::Byte,
            Some('s') => Mode::Block,
            Some('i') => Mode::I2cBlock(32),
            _ => return usage_error("Error: Invalid mode!"),
        };
        pec = m[1..].starts_with('p');
    }
    match (mode, p.get(4)) {
        (_, None) => {}
        (Mode::I2cBlock(_), Some(len)) => match parse_int(len).filter(|n| (1..=32).contains(n)) {
            Some(n) => mode = Mode::I2cBlock(n as u8),
            None => return usage_error("Error: Length invalid!"),
        },
        (_, Some(_)) => return usage_error("Error: Length only valid for I2C block data!"),
    }

    let (client, info) = match connect_bus(&args, &p[0]) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let (needs, name) = match (mode, daddress) {
        (Mode::Byte, None) => (funcs::SMBUS_READ_BYTE, "SMBus receive byte"),
        (Mode::Byte, Some(_)) => (funcs::SMBUS_BYTE, "SMBus send byte and receive byte"),
        (Mode::ByteData, _) => (funcs::SMBUS_READ_BYTE_DATA, "SMBus read byte"),
        (Mode::Word, _) => (funcs::SMBUS_READ_WORD_DATA, "SMBus read word"),
        (Mode::Block, _) => (funcs::SMBUS_READ_BLOCK_DATA, "SMBus block read"),
        (Mode::I2cBlock(_), _) => (funcs::SMBUS_READ_I2C_BLOCK, "I2C block read"),
    };
    if info.funcs & needs != needs {
        return fail(&format!("Error: Adapter does not have {name} capability"));
    }
    if pec && info.funcs & funcs::SMBUS_PEC == 0 {
        eprintln!("Warning: Adapter does not seem to support PEC");
    }
    let file = format!("/dev/i2c-{}", info.number);
    if !args.has('y') && !confirm(&format!("{file} on {}", args.server), addr, mode, daddress, pec) {
        return ExitCode::SUCCESS;
    }

    let mut bus = match client.bus(info.number) {
        Ok(bus) => bus,
        Err(e) => return fail(&format!("Error: Could not open {file}: {}", Report(&e))),
    };
    match read(&mut bus, Target { addr, ten_bit: false, pec, force: args.has('f') }, mode, daddress) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) if e.errno() == Some(Errno::EBUSY) => {
            fail(&format!("Error: Could not set address to 0x{addr:02x}: {}", super::strerror(Errno::EBUSY)))
        }
        Err(e) => {
            match e.errno() {
                // i2cget's words, then what it cannot say: which errno the bus gave.
                Some(_) => eprintln!("Error: Read failed\n{}", Report(&e)),
                // Refused before the bus (policy, authentication): say why.
                None => eprintln!("Error: Read failed: {}", Report(&e)),
            }
            ExitCode::from(2)
        }
    }
}

/// The read, as i2cget prints its result.
fn read(bus: &mut Bus, target: Target, mode: Mode, daddress: Option<u8>) -> Result<String, Error> {
    let reg = daddress.unwrap_or(0);
    let command = match mode {
        Mode::Byte => Command::ReadByte,
        Mode::ByteData => Command::ReadByteData { reg },
        Mode::Word => Command::ReadWordData { reg },
        Mode::Block => Command::ReadBlockData { reg },
        Mode::I2cBlock(len) => Command::ReadI2cBlockData { reg, len },
    };
    let command_name = command.name();
    let mut ops = Vec::new();
    if let (Mode::Byte, Some(value)) = (mode, daddress) {
        ops.push(Op::Smbus { target, command: Command::WriteByte { value } });
    }
    ops.push(Op::Smbus { target, command });
    // One transaction, so nobody else's operation comes between the write and the read; it
    // keeps going, as i2cget reads even after a failed write.
    let mut results = bus.execute_each(&ops)?;
    if ops.len() == 2 && results[0].is_err() {
        eprintln!("Warning - write failed");
    }
    let last = results.pop().expect("one result per operation");
    Ok(
        match last.map_err(|errno| Error::Bus {
            errno,
            op: command_name,
            addr: Some(target.addr),
            index: ops.len() - 1,
            detail: None,
        })? {
            Reply::Byte(b) => format!("0x{b:02x}"),
            Reply::Word(w) => format!("0x{w:04x}"),
            Reply::Block(data) => super::hex_bytes(&data),
            other => format!("{other}"),
        },
    )
}

fn confirm(file: &str, addr: u16, mode: Mode, daddress: Option<u8>, pec: bool) -> bool {
    eprintln!("WARNING! This program can confuse your I2C bus, cause data loss and worse!");
    if (0x50..=0x57).contains(&addr) && pec {
        eprintln!(
            "STOP! EEPROMs are I2C devices, not SMBus devices. Using PEC\n\
             on I2C devices may result in unexpected results, such as\n\
             trashing the contents of EEPROMs. We can't let you do that, sorry."
        );
        return false;
    }
    let mut dont = false;
    if mode == Mode::Byte && daddress.is_some() && pec {
        eprintln!(
            "WARNING! All I2C chips and some SMBus chips will interpret a write\n\
             byte command with PEC as a write byte data command, effectively writing a\n\
             value into a register!"
        );
        dont = true;
    }
    let what = match daddress {
        None => "current data\naddress".to_owned(),
        Some(d) => format!("data address\n0x{d:02x}"),
    };
    let how = match (mode, daddress) {
        (Mode::Byte, None) => "read byte",
        (Mode::Byte, Some(_)) => "write byte/read byte",
        (Mode::ByteData, _) => "read byte data",
        (Mode::Word, _) => "read word data",
        (Mode::Block, _) => "read SMBus block data",
        (Mode::I2cBlock(_), _) => "read I2C block data",
    };
    eprintln!("I will read from device file {file}, chip address 0x{addr:02x}, {what}, using {how}.");
    if pec {
        eprintln!("PEC checking enabled.");
    }
    ask(!dont)
}
