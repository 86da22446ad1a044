//! `smbus-proxy transfer`: i2ctransfer over the network, one combined I2C transfer.

use super::{Args, ask, chip_address, connect_bus, fail, strerror};
use smbus_proxy_client::Report;
use smbus_proxy_client::{Bytes, Dir, Msg};
use smbus_proxy_wire::op::{MAX_MSG_LEN, MAX_MSGS};
use std::process::ExitCode;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy transfer [-f] [-y] [-v] [-b] [-V] [-a] I2CBUS DESC [DATA] [DESC [DATA]]...
  -b prints the bytes read as they are (binary), not as hex
  I2CBUS is an integer or an I2C bus name
  DESC describes the transfer in the form: {r|w}LENGTH[@address]
    1) read/write-flag 2) LENGTH (range 0-65535, or '?' for a read whose
       length the device sends first: I2C_M_RECV_LEN)
    3) I2C address (use last one if omitted)
  DATA are LENGTH bytes for a write message. They can be shortened by a suffix:
    = (keep value constant until LENGTH)
    + (increase value by 1 until LENGTH)
    - (decrease value by 1 until LENGTH)
    p (use pseudo random generator until LENGTH with value as seed)
",
    remote_usage!(),
    "

Example (bus 0, read 8 byte at offset 0x64 from EEPROM at 0x50):
  # smbus-proxy transfer 0 w1@0x50 0x64 r8
Example (same EEPROM, at offset 0x42 write 0xff 0xfe ... 0xf0):
  # smbus-proxy transfer 0 w17@0x50 0x42 0xff-"
);

/// `strtoul(s, &end, 0)`: the number at the start of `s` and what follows it.
fn leading_number(s: &str) -> Option<(u64, &str)> {
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if s.len() > 1 && s.starts_with('0') {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return (radix == 8).then_some((0, &s[1..]));
    }
    u64::from_str_radix(&digits[..end], radix).ok().map(|n| (n, &digits[end..]))
}

/// The messages a command line describes, or the error and the argument at fault.
fn parse(args: &[String], all: bool) -> Result<Vec<Msg>, (String, Option<String>)> {
    let faulty = |msg: &str, arg: &str| (msg.to_owned(), Some(arg.to_owned()));
    let mut msgs: Vec<Msg> = Vec::new();
    let mut address: Option<u16> = None;
    let mut pending: Option<(u16, usize, Vec<u8>)> = None;
    for arg in args {
        if msgs.len() >= MAX_MSGS {
            return Err((format!("Error: Too many messages (max: {})", MAX_MSGS), None));
        }
        if let Some((addr, len, mut buf)) = pending.take() {
            let Some((first, suffix)) = leading_number(arg).filter(|(n, _)| *n <= 0xff) else {
                return Err(faulty("Error: Invalid data byte", arg));
            };
            let mut data = first as u8;
            while buf.len() < len {
                buf.push(data);
                let Some(c) = suffix.chars().next() else { break };
                data = match c {
                    // An 8-bit add-xor-rotate generator, as i2ctransfer's.
                    'p' => ((data ^ 27).wrapping_add(13)).rotate_left(1),
                    '+' => data.wrapping_add(1),
                    '-' => data.wrapping_sub(1),
                    '=' => data,
                    _ => return Err(faulty("Error: Invalid data byte suffix", arg)),
                };
            }
            if buf.len() == len {
                msgs.push(Msg::write(addr, buf));
            } else {
                pending = Some((addr, len, buf));
            }
            continue;
        }
        let read = match arg.chars().next() {
            Some('r') => true,
            Some('w') => false,
            _ => return Err(faulty("Error: Invalid direction", arg)),
        };
        let rest = &arg[1..];
        // `r?`: the device sends the length first (I2C_M_RECV_LEN).
        let counted = read && rest.starts_with('?');
        let Some((len, rest)) = (if counted { Some((0, &rest[1..])) } else { leading_number(rest) })
            .filter(|(n, _)| *n <= 0xffff)
        else {
            return Err(faulty("Error: Length invalid", arg));
        };
        if !rest.is_empty() {
            let Some(addr) = rest.strip_prefix('@') else {
                return Err(faulty("Error: Unknown separator after length", arg));
            };
            match chip_address(addr, all) {
                Ok(a) => address = Some(a),
                Err(e) => return Err(faulty(&e, arg)),
            }
        }
        let Some(addr) = address else { return Err(faulty("Error: No address given", arg)) };
        if len > MAX_MSG_LEN as u64 {
            return Err(faulty(
                &format!("Error: Length {len} is more than the {} bytes i2c-dev allows", MAX_MSG_LEN),
                arg,
            ));
        }
        match (read, len) {
            (true, _) if counted => msgs.push(Msg::read_counted(addr)),
            (true, _) => msgs.push(Msg::read(addr, len as u16)),
            (false, 0) => msgs.push(Msg::write(addr, Vec::new())),
            (false, _) => pending = Some((addr, len as usize, Vec::with_capacity(len as usize))),
        }
    }
    if pending.is_some() || msgs.is_empty() {
        return Err(("Error: Incomplete message".into(), None));
    }
    Ok(msgs)
}

/// Messages as i2ctransfer prints them: a header each (verbose), and their bytes.
fn print_msgs(msgs: &[Msg], reads: &[Bytes], header: bool, write_bufs: bool, read_bufs: bool) -> String {
    let mut out = String::new();
    let mut reads = reads.iter();
    for (i, m) in msgs.iter().enumerate() {
        let (read, len, buf) = match &m.dir {
            Dir::Read(n) => (true, usize::from(*n), reads.next().cloned()),
            Dir::Write(data) => (false, data.len(), Some(data.clone())),
        };
        if header {
            // A counted read's length is known once the device has sent it.
            let len = match &buf {
                _ if !m.counted() => len.to_string(),
                Some(buf) => buf.len().to_string(),
                None => "TBD".into(),
            };
            out += &format!(
                "msg {i}: addr 0x{:02x}, {}, len {len}",
                m.addr,
                if read { "read" } else { "write" }
            );
        }
        let print = if read { read_bufs } else { write_bufs };
        match buf.filter(|b| print && !b.is_empty()) {
            Some(buf) => {
                if header {
                    out += ", buf ";
                }
                out += &super::hex_bytes(&buf);
                out.push('\n');
            }
            None if header => out.push('\n'),
            None => {}
        }
    }
    out
}

pub fn run(args: Vec<String>) -> ExitCode {
    let args = match Args::parse("transfer", "fyvbVa", args) {
        Ok(args) => args,
        Err(stop) => return stop.exit(USAGE),
    };
    if args.has('V') {
        eprintln!("smbus-proxy transfer version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let Some((bus_arg, descs)) = args.positional.split_first() else {
        return super::usage_only(USAGE);
    };
    let (client, info) = match connect_bus(&args, bus_arg) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let msgs = match parse(descs, args.has('a')) {
        Ok(msgs) => msgs,
        Err((message, arg)) => {
            return fail(&match arg {
                Some(arg) => format!("{message}\nError: faulty argument is '{arg}'"),
                None => message,
            });
        }
    };
    let file = format!("/dev/i2c-{}", info.number);
    if !args.has('y') {
        eprintln!("WARNING! This program can confuse your I2C bus, cause data loss and worse!");
        eprintln!("I will send the following messages to device file {file} on {}:", args.server);
        eprint!("{}", print_msgs(&msgs, &[], true, true, false));
        if !ask(false) {
            return ExitCode::SUCCESS;
        }
    }
    let mut bus = match client.bus(info.number) {
        Ok(bus) => bus,
        Err(e) => return fail(&format!("Error: Could not open {file}: {}", Report(&e))),
    };
    match bus.i2c_rdwr(msgs.clone()) {
        Ok(reads) if args.has('b') => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            match reads.iter().try_for_each(|r| out.write_all(r)).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&format!("Error: cannot write the bytes read: {}", Report(&e))),
            }
        }
        Ok(reads) => {
            print!("{}", print_msgs(&msgs, &reads, args.has('v'), args.has('v'), true));
            ExitCode::SUCCESS
        }
        Err(e) => match e.errno() {
            Some(errno) => fail(&format!("Error: Sending messages failed: {}", strerror(errno))),
            None => fail(&format!("Error: Sending messages failed: {}", Report(&e))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn counted_reads() {
        let msgs = parse(&args("w1@0x48 0x40 r?"), false).unwrap();
        assert_eq!(msgs, [Msg::write(0x48, vec![0x40]), Msg::read_counted(0x48)]);
        // Before the transfer its length is not known yet; after, it is the bytes read.
        assert_eq!(print_msgs(&msgs[1..], &[], true, true, false), "msg 0: addr 0x48, read, len TBD\n");
        let read = [Bytes::from_static(&[2, 7, 8])];
        assert_eq!(
            print_msgs(&msgs[1..], &read, true, true, true),
            "msg 0: addr 0x48, read, len 3, buf 0x02 0x07 0x08\n"
        );
    }

    #[test]
    fn data_suffixes() {
        let msgs = parse(&args("w5@0x50 0x10 0xff- w4 0x01= w3 0x20+ w4 0x01p"), false).unwrap();
        let data = |i: usize| match &msgs[i].dir {
            Dir::Write(d) => d.to_vec(),
            Dir::Read(_) => unreachable!(),
        };
        assert_eq!(data(0), [0x10, 0xff, 0xfe, 0xfd, 0xfc]);
        assert_eq!(data(1), [0x01; 4]);
        assert_eq!(data(2), [0x20, 0x21, 0x22]);
        assert_eq!(data(3), [0x01, 0x4e, 0xc4, 0xd9], "(x ^ 27) + 13, rotated left by one");
        assert!(msgs.iter().all(|m| m.addr == 0x50), "the last address carries over");
    }

    #[test]
    fn grammar_errors() {
        let err = |s: &str| parse(&args(s), false).unwrap_err();
        assert_eq!(err("r1"), ("Error: No address given".into(), Some("r1".into())));
        assert_eq!(err("x1@0x50"), ("Error: Invalid direction".into(), Some("x1@0x50".into())));
        assert_eq!(err("w2@0x50 0x00"), ("Error: Incomplete message".into(), None));
        assert_eq!(err("w1@0x50 0x100"), ("Error: Invalid data byte".into(), Some("0x100".into())));
        assert_eq!(err("w2@0x50 0x01x"), ("Error: Invalid data byte suffix".into(), Some("0x01x".into())));
        assert_eq!(err("r1#0x50"), ("Error: Unknown separator after length".into(), Some("r1#0x50".into())));
        assert_eq!(err("rz@0x50"), ("Error: Length invalid".into(), Some("rz@0x50".into())));
        assert_eq!(err("r1@0x80").0, "Error: Chip address out of range (0x08-0x77)!");
        assert_eq!(err(""), ("Error: Incomplete message".into(), None));
    }
}
