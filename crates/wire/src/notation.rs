//! The text notation of operations and replies, both ways: what logs, the monitor and traces
//! print, and what a trace is read back from.
//!
//! An SMBus command is its smbus2 name, the address and its arguments
//! (`read_byte_data 0x48 reg=0x00`, `write_i2c_block_data 0x50 reg=0x10 data=[01 02] pec`); a
//! transfer is its messages in i2ctransfer's style (`transfer w1@0x50 [00] r4@0x50`, `r?` for a
//! read whose length the device sends). A reply is `done`, a byte (`0x19`), a word
//! (`0xbeef`), a block (`[01 02]`) or a transfer's reads (`[01 02] [03]`).
//!
//! Parsing goes through [`decode`](crate::decode), so text is held to exactly the limits a
//! request is.

use crate::decode;
use crate::errno::Errno;
use crate::op::{Command, Dir, Op, Reply, Returns};
use crate::pb;
use crate::quote::quote;
use bytes::Bytes;
use std::fmt;
use std::str::FromStr;

/// Text that is not an operation, reply or errno: what was expected, and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotationError(pub String);

impl fmt::Display for NotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotationError {}

type Result<T> = std::result::Result<T, NotationError>;

fn error<T>(message: impl Into<String>) -> Result<T> {
    Err(NotationError(message.into()))
}

/// Bytes as i2c-tools prints them: `[01 02 ff]`, the one way bytes are shown in logs, traces
/// and messages.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, b) in self.0.iter().enumerate() {
            write!(f, "{}{b:02x}", if i == 0 { "" } else { " " })?;
        }
        f.write_str("]")
    }
}

/// One line: `read_byte_data 0x48 reg=0x00`, `transfer w1@0x50 [00] r4@0x50`.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (target, command) = match self {
            Op::Smbus { target, command } => (target, command),
            Op::Transfer(msgs) => {
                f.write_str("transfer")?;
                for m in msgs {
                    match &m.dir {
                        Dir::Read(_) if m.counted() => write!(f, " r?@{:#04x}", m.addr)?,
                        Dir::Read(n) => write!(f, " r{n}@{:#04x}", m.addr)?,
                        Dir::Write(data) => write!(f, " w{}@{:#04x} {}", data.len(), m.addr, Hex(data))?,
                    }
                    if m.flags != 0 {
                        write!(f, " flags={:#06x}", m.flags)?;
                    }
                }
                return Ok(());
            }
        };
        write!(f, "{} {:#04x}", command.name(), target.addr)?;
        match command {
            Command::WriteQuick { bit } => write!(f, " bit={bit}")?,
            Command::ReadByte => {}
            Command::WriteByte { value } => write!(f, " value={value:#04x}")?,
            Command::ReadByteData { reg }
            | Command::ReadWordData { reg }
            | Command::ReadBlockData { reg } => write!(f, " reg={reg:#04x}")?,
            Command::WriteByteData { reg, value } => write!(f, " reg={reg:#04x} value={value:#04x}")?,
            Command::WriteWordData { reg, value } | Command::ProcessCall { reg, value } => {
                write!(f, " reg={reg:#04x} value={value:#06x}")?
            }
            Command::WriteBlockData { reg, data }
            | Command::BlockProcessCall { reg, data }
            | Command::WriteI2cBlockData { reg, data } => write!(f, " reg={reg:#04x} data={}", Hex(data))?,
            Command::ReadI2cBlockData { reg, len } => write!(f, " reg={reg:#04x} len={len}")?,
        }
        for (on, name) in [(target.ten_bit, TEN_BIT), (target.pec, PEC), (target.force, FORCE)] {
            if on {
                write!(f, " {name}")?;
            }
        }
        Ok(())
    }
}

const TEN_BIT: &str = "10-bit";
const PEC: &str = "pec";
const FORCE: &str = "force";

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Done => f.write_str("done"),
            // A transfer without reads, like a write, answers only that it is done.
            Reply::Transfer(reads) if reads.is_empty() => f.write_str("done"),
            Reply::Byte(b) => write!(f, "{b:#04x}"),
            Reply::Word(w) => write!(f, "{w:#06x}"),
            Reply::Block(data) => write!(f, "{}", Hex(data)),
            Reply::Transfer(reads) => {
                for (i, r) in reads.iter().enumerate() {
                    write!(f, "{}{}", if i == 0 { "" } else { " " }, Hex(r))?;
                }
                Ok(())
            }
            Reply::Level(v) => write!(f, "{}", u8::from(*v)),
            Reply::Edge(e) => write!(f, "{e}"),
        }
    }
}

impl Reply {
    /// Parses a reply of the shape `returns`, as [`Reply`]'s `Display` prints it.
    pub fn parse(text: &str, returns: Returns<'_>) -> Result<Reply> {
        let text = text.trim();
        let reply = match returns {
            Returns::Done if text == "done" => Reply::Done,
            Returns::Byte => Reply::Byte(number(text).and_then(|n| fits("a byte", n))?),
            Returns::Word => Reply::Word(number(text).and_then(|n| fits("a word", n))?),
            Returns::Block(_) => Reply::Block(hex_bytes(text)?),
            Returns::Reads(_) if text == "done" => Reply::Transfer(Vec::new()),
            Returns::Reads(_) => {
                Reply::Transfer(tokens(text)?.into_iter().map(hex_bytes).collect::<Result<_>>()?)
            }
            Returns::Level => match text {
                "0" => Reply::Level(false),
                "1" => Reply::Level(true),
                _ => return error(format!("expected a line's value 0 or 1, found {}", quote(text))),
            },
            Returns::Done => return error(format!("expected done, found {}", quote(text))),
            Returns::Edge(_) => return error("an edge event has no notation of its own".to_owned()),
        };
        if !reply.fits(returns) {
            return error(format!("{} is not what the operation returns", quote(text)));
        }
        Ok(reply)
    }
}

/// An errno as the notation writes it: its name (`ENXIO`), or `errno 4242` for one without.
pub fn errno(errno: Errno) -> String {
    errno.name().map_or_else(|| format!("errno {}", errno.0), str::to_owned)
}

/// Parses what [`errno`] writes.
pub fn parse_errno(text: &str) -> Result<Errno> {
    let text = text.trim();
    let parsed = match text.strip_prefix("errno ") {
        Some(n) => n.trim().parse().ok().filter(|&n| n > 0).map(Errno),
        None if text.starts_with('E') => Errno::parse(text),
        None => None,
    };
    parsed.ok_or_else(|| NotationError(format!("{} is not an errno name (ENXIO) or `errno N`", quote(text))))
}

impl FromStr for Op {
    type Err = NotationError;

    fn from_str(text: &str) -> Result<Op> {
        let tokens = tokens(text)?;
        let Some((name, rest)) = tokens.split_first() else { return error("an empty operation") };
        let op = if *name == "transfer" { transfer(rest)? } else { smbus(name, rest)? };
        decode::op(pb::Op { op: Some(op) }).map_err(|e| NotationError(format!("{}: {e}", quote(text))))
    }
}

fn transfer(tokens: &[&str]) -> Result<pb::op::Op> {
    let mut msgs: Vec<pb::Msg> = Vec::new();
    let mut rest = tokens.iter();
    while let Some(&token) = rest.next() {
        if let Some(flags) = token.strip_prefix("flags=") {
            let Some(m) = msgs.last_mut() else { return error("flags= before any message") };
            m.flags = number(flags)?;
            continue;
        }
        let (head, addr) = token.split_once('@').ok_or_else(|| {
            NotationError(format!("expected a message (w2@0x50, r4@0x50, r?@0x50), found {}", quote(token)))
        })?;
        let addr = number(addr)?;
        let msg = |flags, dir| pb::Msg { addr, flags, dir: Some(dir) };
        // `r4`: the direction, then the length; whatever the head holds, even nothing.
        let mut chars = head.chars();
        msgs.push(match (chars.next(), chars.as_str()) {
            (Some('r'), "?") => msg(u64::from(crate::op::msg_flags::RECV_LEN), pb::msg::Dir::Read(0)),
            (Some('r'), n) => msg(0, pb::msg::Dir::Read(number(n)?)),
            (Some('w'), n) => {
                let data = hex_bytes(rest.next().copied().unwrap_or(""))?;
                if number(n)? != data.len() as u64 {
                    return error(format!("{} is followed by {} bytes", quote(token), data.len()));
                }
                msg(0, pb::msg::Dir::Write(data))
            }
            _ => {
                return error(format!(
                    "expected a message (w2@0x50, r4@0x50, r?@0x50), found {}",
                    quote(token)
                ));
            }
        });
    }
    Ok(pb::op::Op::Transfer(pb::Transfer { msgs }))
}

fn smbus(name: &str, tokens: &[&str]) -> Result<pb::op::Op> {
    use pb::smbus_op::Command as C;
    let Some((addr, rest)) = tokens.split_first() else { return error(format!("{name} without an address")) };
    let mut op = pb::SmbusOp { addr: number(addr)?, ..pb::SmbusOp::default() };
    let mut fields = Vec::new();
    for &token in rest {
        match token {
            TEN_BIT => op.ten_bit = true,
            PEC => op.pec = true,
            FORCE => op.force = true,
            _ => match token.split_once('=') {
                Some(field) => fields.push(field),
                None => return error(format!("{}: unexpected {}", quote(name), quote(token))),
            },
        }
    }
    let mut f = Fields { name, fields, used: 0 };
    let command = match name {
        "write_quick" => C::WriteQuick(pb::Quick { bit: f.num("bit")? }),
        "read_byte" => C::ReadByte(pb::Empty {}),
        "write_byte" => C::WriteByte(pb::Value { value: f.num("value")? }),
        "read_byte_data" => C::ReadByteData(pb::Reg { reg: f.num("reg")? }),
        "write_byte_data" => C::WriteByteData(f.reg_value()?),
        "read_word_data" => C::ReadWordData(pb::Reg { reg: f.num("reg")? }),
        "write_word_data" => C::WriteWordData(f.reg_value()?),
        "process_call" => C::ProcessCall(f.reg_value()?),
        "read_block_data" => C::ReadBlockData(pb::Reg { reg: f.num("reg")? }),
        "write_block_data" => C::WriteBlockData(f.reg_data()?),
        "block_process_call" => C::BlockProcessCall(f.reg_data()?),
        "read_i2c_block_data" => C::ReadI2cBlockData(pb::RegLen { reg: f.num("reg")?, len: f.num("len")? }),
        "write_i2c_block_data" => C::WriteI2cBlockData(f.reg_data()?),
        _ => return error(format!("{} is not an SMBus command or transfer", quote(name))),
    };
    if f.used != f.fields.len() {
        return error(format!("{name}: unexpected arguments in {}", quote(&tokens.join(" "))));
    }
    op.command = Some(command);
    Ok(pb::op::Op::Smbus(op))
}

/// A command's `key=value` arguments, each to be used once.
struct Fields<'a> {
    name: &'a str,
    fields: Vec<(&'a str, &'a str)>,
    used: usize,
}

impl Fields<'_> {
    fn get(&mut self, key: &str) -> Result<&str> {
        self.used += 1;
        let found = self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        found.ok_or_else(|| NotationError(format!("{}: {key}= missing", quote(self.name))))
    }

    fn num(&mut self, key: &str) -> Result<u64> {
        self.get(key).and_then(number)
    }

    fn reg_value(&mut self) -> Result<pb::RegValue> {
        Ok(pb::RegValue { reg: self.num("reg")?, value: self.num("value")? })
    }

    fn reg_data(&mut self) -> Result<pb::RegData> {
        Ok(pb::RegData { reg: self.num("reg")?, data: self.get("data").and_then(hex_bytes)? })
    }
}

/// Splits on spaces, keeping `[..]` together.
fn tokens(text: &str) -> Result<Vec<&str>> {
    let mut tokens = Vec::new();
    let mut start = None;
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' if depth == 0 => return error(format!("an unmatched ] in {}", quote(text))),
            ']' => depth -= 1,
            c if c.is_whitespace() && depth == 0 => {
                if let Some(s) = start.take() {
                    tokens.push(&text[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if depth != 0 {
        return error(format!("an unmatched [ in {}", quote(text)));
    }
    tokens.extend(start.map(|s| &text[s..]));
    Ok(tokens)
}

/// A number in hex (`0x48`) or decimal.
fn number(text: &str) -> Result<u64> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| NotationError(format!("expected a number (0x48 or 72), found {}", quote(text))))
}

fn fits<T: TryFrom<u64>>(what: &str, n: u64) -> Result<T> {
    T::try_from(n).map_err(|_| NotationError(format!("{n:#x} is not {what}")))
}

/// `[01 02 ff]` as bytes.
fn hex_bytes(text: &str) -> Result<Bytes> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| NotationError(format!("expected bytes as [01 02 ff], found {}", quote(text))))?;
    inner
        .split_whitespace()
        .map(|b| {
            u8::from_str_radix(b, 16)
                .map_err(|_| NotationError(format!("{} in {} is not a hex byte", quote(b), quote(text))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Msg, Target, msg_flags};

    fn every_op() -> Vec<(Op, Reply)> {
        let data = Bytes::from_static(&[1, 0xAB]);
        let smbus = |command| Op::smbus(0x48, command);
        vec![
            (smbus(Command::WriteQuick { bit: 1 }), Reply::Done),
            (smbus(Command::ReadByte), Reply::Byte(0x19)),
            (smbus(Command::WriteByte { value: 7 }), Reply::Done),
            (smbus(Command::ReadByteData { reg: 0 }), Reply::Byte(0)),
            (smbus(Command::WriteByteData { reg: 1, value: 0xFF }), Reply::Done),
            (smbus(Command::ReadWordData { reg: 2 }), Reply::Word(0xBEEF)),
            (smbus(Command::WriteWordData { reg: 2, value: 0x1234 }), Reply::Done),
            (smbus(Command::ProcessCall { reg: 3, value: 1 }), Reply::Word(2)),
            (smbus(Command::ReadBlockData { reg: 4 }), Reply::Block(data.clone())),
            (smbus(Command::WriteBlockData { reg: 4, data: data.clone() }), Reply::Done),
            (smbus(Command::BlockProcessCall { reg: 5, data: data.clone() }), Reply::Block(data.clone())),
            (smbus(Command::ReadI2cBlockData { reg: 6, len: 2 }), Reply::Block(data.clone())),
            (
                Op::Smbus {
                    target: Target { addr: 0x148, ten_bit: true, pec: true, force: true },
                    command: Command::WriteI2cBlockData { reg: 1, data: data.clone() },
                },
                Reply::Done,
            ),
            (
                Op::Transfer(vec![
                    Msg::write(0x50, vec![0, 0x10]),
                    Msg::read(0x50, 2),
                    Msg::read_counted(0x50),
                ]),
                Reply::Transfer(vec![data.clone(), Bytes::from_static(&[1, 9])]),
            ),
            (
                Op::Transfer(vec![Msg {
                    flags: msg_flags::TEN | msg_flags::STOP,
                    ..Msg::write(0x150, vec![])
                }]),
                Reply::Transfer(vec![]),
            ),
            (Op::Transfer(vec![Msg::read(0x50, 0)]), Reply::Transfer(vec![Bytes::new()])),
        ]
    }

    #[test]
    fn every_op_and_reply_reads_back_as_printed() {
        for (op, reply) in every_op() {
            let text = op.to_string();
            assert_eq!(text.parse::<Op>(), Ok(op.clone()), "{text}");
            let printed = reply.to_string();
            assert_eq!(Reply::parse(&printed, op.returns()), Ok(reply), "{text} -> {printed}");
        }
    }

    #[test]
    fn printed_as_people_read_them() {
        let w = Op::Smbus {
            target: Target { addr: 0x48, pec: true, ..Target::default() },
            command: Command::WriteI2cBlockData { reg: 1, data: Bytes::from_static(&[1, 0xAB]) },
        };
        assert_eq!(w.to_string(), "write_i2c_block_data 0x48 reg=0x01 data=[01 ab] pec");
        let t = Op::Transfer(vec![Msg::write(0x50, vec![0]), Msg::read(0x50, 4)]);
        assert_eq!(t.to_string(), "transfer w1@0x50 [00] r4@0x50");
        assert_eq!(Reply::Transfer(vec![Bytes::from_static(&[0xff, 1])]).to_string(), "[ff 01]");
        assert_eq!(Reply::Transfer(vec![]).to_string(), "done");
        assert_eq!(Reply::Word(0xBEEF).to_string(), "0xbeef");
    }

    #[test]
    fn bad_text_says_what_is_wrong() {
        let err = |text: &str| text.parse::<Op>().unwrap_err().0;
        assert!(err("read_byte_data 0x80 reg=0").contains("addr"), "{}", err("read_byte_data 0x80 reg=0"));
        assert!(err("read_byte_data 0x48 reg=0x100").contains("reg"));
        assert!(err("read_byte_data 0x48").contains("reg= missing"));
        assert!(err("read_byte_data 0x48 reg=1 value=2").contains("unexpected"));
        assert!(err("read_quad 0x48").contains("not an SMBus command"));
        assert!(err("transfer w2@0x50 [00]").contains("followed by 1 bytes"));
        assert!(err("transfer w1@0x50 [00").contains("unmatched"));
        assert!(Reply::parse("0x100", Returns::Byte).is_err());
        assert!(Reply::parse("[01 02 03]", Returns::Block(2)).is_err(), "longer than asked");
    }

    /// A message with no direction, or one that starts with a multi-byte character, used to
    /// slice the token at byte 1 and panic.
    #[test]
    fn any_message_head_is_an_error_not_a_panic() {
        for text in
            ["transfer @0x10", "transfer é@0x10", "transfer r@0x10", "transfer w@0x10 []", "transfer ☃"]
        {
            let err = text.parse::<Op>().unwrap_err().0;
            assert!(err.contains("expected") || err.contains("number"), "{text}: {err}");
        }
    }

    /// Whatever comes from a file is quoted by at most 40 characters.
    #[test]
    fn long_text_is_quoted_short() {
        let long = "x".repeat(1 << 20);
        for text in [
            format!("transfer {long}@0x10"),
            format!("{long} 0x48"),
            format!("read_byte_data 0x48 reg={long}"),
            format!("write_block_data 0x48 reg=1 data=[{long}]"),
            format!("read_byte_data 0x48 reg=1 {long}"),
            format!("read_byte_data 0x48 reg=1 {long}=1"),
        ] {
            let err = text.parse::<Op>().unwrap_err().0;
            assert!(err.len() < 200, "{} bytes: {}", err.len(), &err[..200]);
        }
        for (text, returns) in [(long.clone(), Returns::Byte), (format!("[{long}]"), Returns::Block(2))] {
            let err = Reply::parse(&text, returns).unwrap_err().0;
            assert!(err.len() < 200, "{} bytes: {}", err.len(), &err[..200]);
        }
        assert!(parse_errno(&long).unwrap_err().0.len() < 200);
    }

    #[test]
    fn errnos() {
        assert_eq!(errno(Errno::ENXIO), "ENXIO");
        assert_eq!(errno(Errno(4242)), "errno 4242");
        assert_eq!(parse_errno("ENXIO"), Ok(Errno::ENXIO));
        assert_eq!(parse_errno("errno 4242"), Ok(Errno(4242)));
        assert!(parse_errno("6").is_err() && parse_errno("ENOPE").is_err());
    }
}
