//! Wire messages → the operation model. This is the one place arguments are validated: every
//! check names the field and the allowed range, and nothing is truncated, clamped or wrapped.

use crate::event::{OpEvent, WatchEvent};
use crate::line::*;
use crate::op::*;
use crate::pb;
use crate::quote::quote;
use crate::step::{MAX_WAIT, MIN_POLL_INTERVAL, Match, Poll, Step};
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// A bad argument: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError {
    /// The field's path in the request, outermost first: `ops[3]`, `smbus`, `addr`.
    path: Vec<Cow<'static, str>>,
    /// What is wrong with it, with the allowed range.
    pub problem: String,
}

impl ArgError {
    /// A bad `field`, whose path is dotted (`read_byte_data.reg`) where the field is nested.
    pub fn new(field: &'static str, problem: impl Into<String>) -> Self {
        ArgError { path: field.split('.').map(Cow::Borrowed).collect(), problem: problem.into() }
    }

    fn within(mut self, parent: impl Into<Cow<'static, str>>) -> Self {
        self.path.insert(0, parent.into());
        self
    }

    /// The field's path in the request, such as `ops[3].smbus.addr`.
    pub fn field(&self) -> String {
        self.path.join(".")
    }

    /// The field's own name, without the messages around it: `addr`.
    pub fn name(&self) -> &str {
        self.path.last().map_or("", |name| name)
    }

    /// The path, outermost first.
    pub fn path(&self) -> impl Iterator<Item = &str> {
        self.path.iter().map(|segment| &**segment)
    }
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field(), self.problem)
    }
}

impl std::error::Error for ArgError {}

type Result<T> = std::result::Result<T, ArgError>;

/// A byte-sized value such as a register or data byte, shown in hex.
fn byte(field: &'static str, v: u64) -> Result<u8> {
    u8::try_from(v).map_err(|_| ArgError::new(field, format!("{v:#x} is out of range 0x00–0xFF")))
}

fn word(field: &'static str, v: u64) -> Result<u16> {
    u16::try_from(v).map_err(|_| ArgError::new(field, format!("{v:#x} is out of range 0x0000–0xFFFF")))
}

/// A count checked against an inclusive range, shown in decimal.
fn count(field: &'static str, v: u64, lo: u64, hi: u64, what: &str) -> Result<u64> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(ArgError::new(field, format!("{v} {what} is out of range {lo}–{hi}")))
    }
}

fn address(field: &'static str, v: u64, ten_bit: bool) -> Result<u16> {
    let (max, kind) = if ten_bit { (MAX_ADDR_10, "10-bit") } else { (MAX_ADDR_7, "7-bit") };
    match u16::try_from(v) {
        Ok(a) if a <= max => Ok(a),
        _ => Err(ArgError::new(field, format!("{v:#x} is out of range for a {kind} address 0x00–{max:#x}"))),
    }
}

fn block(field: &'static str, data: Bytes) -> Result<Bytes> {
    count(field, data.len() as u64, 1, BLOCK_MAX as u64, "bytes")?;
    Ok(data)
}

/// Validates a transaction's steps.
pub fn steps(ops: Vec<pb::Op>) -> Result<Vec<Step>> {
    count("ops", ops.len() as u64, 1, MAX_OPS as u64, "operations")?;
    ops.into_iter().enumerate().map(|(i, o)| step(o).map_err(|e| e.within(format!("ops[{i}]")))).collect()
}

/// Validates one step of a transaction; field paths are relative to it.
pub fn step(op: pb::Op) -> Result<Step> {
    match op.op {
        Some(pb::op::Op::Wait(w)) => Ok(Step::Wait(micros("wait.micros", w.micros, 1)?)),
        Some(pb::op::Op::Poll(p)) => poll(*p).map(Step::Poll).map_err(|e| e.within("poll")),
        Some(pb::op::Op::SetLine(s)) => {
            Ok(Step::Line(LineStep::Set { line: line_name("set_line.line", s.line)?, value: s.value }))
        }
        Some(pb::op::Op::GetLine(g)) => {
            Ok(Step::Line(LineStep::Get { line: line_name("get_line.line", g.line)? }))
        }
        Some(pb::op::Op::WaitEdge(w)) => {
            let edge = match edges("edge", w.edge)? {
                Edges::None => {
                    return Err(ArgError::new("wait_edge.edge", "NONE: wait for RISING, FALLING or BOTH"));
                }
                edge => edge,
            };
            Ok(Step::Line(LineStep::WaitEdge {
                line: line_name("wait_edge.line", w.line)?,
                edge,
                timeout: micros("wait_edge.timeout_micros", w.timeout_micros, 1)?,
            }))
        }
        Some(pb::op::Op::WaitLevel(w)) => Ok(Step::Line(LineStep::WaitLevel {
            line: line_name("wait_level.line", w.line)?,
            value: w.value,
            timeout: micros("wait_level.timeout_micros", w.timeout_micros, 1)?,
        })),
        Some(other) => self::op(pb::Op { op: Some(other) }).map(Step::Op),
        None => Err(ArgError::new(
            "op",
            "missing: set `smbus`, `transfer`, `wait`, `poll`, `set_line`, `get_line`, `wait_edge` or `wait_level`",
        )),
    }
}

/// Validates one bus operation; field paths are relative to the operation.
pub fn op(op: pb::Op) -> Result<Op> {
    match op.op {
        Some(pb::op::Op::Smbus(s)) => smbus(s).map_err(|e| e.within("smbus")),
        Some(pb::op::Op::Transfer(t)) => transfer(t).map_err(|e| e.within("transfer")),
        Some(pb::op::Op::Wait(_) | pb::op::Op::Poll(_)) => Err(ArgError::new(
            "op",
            "a `wait` or `poll` here: set the `smbus` or `transfer` operation to run",
        )),
        Some(
            pb::op::Op::SetLine(_)
            | pb::op::Op::GetLine(_)
            | pb::op::Op::WaitEdge(_)
            | pb::op::Op::WaitLevel(_),
        ) => Err(ArgError::new("op", "a line's step here: set the `smbus` or `transfer` operation to run")),
        None => Err(ArgError::new("op", "missing: set `smbus` or `transfer`")),
    }
}

/// A duration in µs, from `min` to [`MAX_WAIT`].
fn micros(field: &'static str, us: u64, min: u64) -> Result<Duration> {
    Ok(Duration::from_micros(count(field, us, min, MAX_WAIT.as_micros() as u64, "µs")?))
}

fn poll(p: pb::Poll) -> Result<Poll> {
    let op = match p.op {
        Some(op) => self::op(*op).map_err(|e| e.within("op"))?,
        None => {
            return Err(ArgError::new("op", "missing: set the `smbus` or `transfer` operation to repeat"));
        }
    };
    let timeout = micros("timeout_micros", p.timeout_micros, 1)?;
    let least = MIN_POLL_INTERVAL.as_micros() as u64;
    let interval = count(
        "interval_micros",
        p.interval_micros,
        least,
        p.timeout_micros.max(least),
        "µs (up to the timeout)",
    )?;
    let until = match p.until {
        None => None,
        Some(m) => {
            let (mask, value) = (word("until.mask", m.mask)?, word("until.value", m.value)?);
            if value & !mask != 0 {
                return Err(ArgError::new(
                    "until.value",
                    format!("{value:#x} has bits outside the mask {mask:#x}, so it can never match"),
                ));
            }
            Some(Match { mask, value })
        }
    };
    Ok(Poll { op, interval: Duration::from_micros(interval), timeout, until })
}

fn smbus(s: pb::SmbusOp) -> Result<Op> {
    use pb::smbus_op::Command as C;
    let target =
        Target { addr: address("addr", s.addr, s.ten_bit)?, ten_bit: s.ten_bit, pec: s.pec, force: s.force };
    let command = match s.command {
        None => return Err(ArgError::new("command", "missing: set one operation such as `read_byte_data`")),
        Some(C::WriteQuick(q)) => {
            if q.bit > 1 {
                return Err(ArgError::new("write_quick.bit", format!("{} is out of range 0–1", q.bit)));
            }
            Command::WriteQuick { bit: q.bit as u8 }
        }
        Some(C::ReadByte(_)) => Command::ReadByte,
        Some(C::WriteByte(v)) => Command::WriteByte { value: byte("write_byte.value", v.value)? },
        Some(C::ReadByteData(r)) => Command::ReadByteData { reg: byte("read_byte_data.reg", r.reg)? },
        Some(C::WriteByteData(r)) => Command::WriteByteData {
            reg: byte("write_byte_data.reg", r.reg)?,
            value: byte("write_byte_data.value", r.value)?,
        },
        Some(C::ReadWordData(r)) => Command::ReadWordData { reg: byte("read_word_data.reg", r.reg)? },
        Some(C::WriteWordData(r)) => Command::WriteWordData {
            reg: byte("write_word_data.reg", r.reg)?,
            value: word("write_word_data.value", r.value)?,
        },
        Some(C::ProcessCall(r)) => Command::ProcessCall {
            reg: byte("process_call.reg", r.reg)?,
            value: word("process_call.value", r.value)?,
        },
        Some(C::ReadBlockData(r)) => Command::ReadBlockData { reg: byte("read_block_data.reg", r.reg)? },
        Some(C::WriteBlockData(r)) => Command::WriteBlockData {
            reg: byte("write_block_data.reg", r.reg)?,
            data: block("write_block_data.data", r.data)?,
        },
        Some(C::BlockProcessCall(r)) => Command::BlockProcessCall {
            reg: byte("block_process_call.reg", r.reg)?,
            data: block("block_process_call.data", r.data)?,
        },
        Some(C::ReadI2cBlockData(r)) => Command::ReadI2cBlockData {
            reg: byte("read_i2c_block_data.reg", r.reg)?,
            len: count("read_i2c_block_data.len", r.len, 1, BLOCK_MAX as u64, "bytes")? as u8,
        },
        Some(C::WriteI2cBlockData(r)) => Command::WriteI2cBlockData {
            reg: byte("write_i2c_block_data.reg", r.reg)?,
            data: block("write_i2c_block_data.data", r.data)?,
        },
    };
    Ok(Op::Smbus { target, command })
}

fn transfer(t: pb::Transfer) -> Result<Op> {
    count("msgs", t.msgs.len() as u64, 1, MAX_MSGS as u64, "messages")?;
    let msgs =
        t.msgs.into_iter().enumerate().map(|(i, m)| msg(m).map_err(|e| e.within(format!("msgs[{i}]"))));
    Ok(Op::Transfer(msgs.collect::<Result<_>>()?))
}

fn msg(m: pb::Msg) -> Result<Msg> {
    use pb::msg::Dir as D;
    let flags = u16::try_from(m.flags).ok().filter(|f| f & !msg_flags::ALLOWED == 0).ok_or_else(|| {
        let hint = if m.flags & u64::from(msg_flags::RD) != 0 {
            "; the direction is set by `read` or `write`, not I2C_M_RD"
        } else {
            ""
        };
        ArgError::new(
            "flags",
            format!(
                "{:#x} has bits outside TEN 0x10 | RECV_LEN 0x400 | NO_RD_ACK 0x800 | IGNORE_NAK 0x1000 | REV_DIR_ADDR 0x2000 | NOSTART 0x4000 | STOP 0x8000{hint}",
                m.flags
            ),
        )
    })?;
    let addr = address("addr", m.addr, flags & msg_flags::TEN != 0)?;
    let dir = match m.dir {
        None => return Err(ArgError::new("dir", "missing: set `read` (a length) or `write` (the bytes)")),
        Some(D::Read(0)) => Dir::Read(0),
        Some(D::Read(n)) if flags & msg_flags::RECV_LEN != 0 => {
            return Err(ArgError::new(
                "read",
                format!("{n} bytes with I2C_M_RECV_LEN; the device gives the length, so `read` must be 0"),
            ));
        }
        Some(D::Read(n)) => Dir::Read(count("read", n, 0, MAX_MSG_LEN as u64, "bytes")? as u16),
        Some(D::Write(_)) if flags & msg_flags::RECV_LEN != 0 => {
            return Err(ArgError::new("flags", "I2C_M_RECV_LEN 0x400 is for read messages only"));
        }
        Some(D::Write(data)) => {
            count("write", data.len() as u64, 0, MAX_MSG_LEN as u64, "bytes")?;
            Dir::Write(data)
        }
    };
    Ok(Msg { addr, flags, dir })
}

/// Parses a session id: 32 hex digits.
pub fn session_id(field: &'static str, s: &str) -> Result<u128> {
    if s.is_empty() {
        return Err(ArgError::new(field, "missing: pass the id that Open returned"));
    }
    let not_an_id = || ArgError::new(field, format!("{} is not a session id (32 hex digits)", quote(s)));
    if s.len() != 32 {
        return Err(not_an_id());
    }
    // Every call names its session, so this runs once per call: one pass, no allocation.
    s.chars().try_fold(0u128, |id, c| Some(id << 4 | u128::from(c.to_digit(16)?))).ok_or_else(not_an_id)
}

/// The adapter timeout in milliseconds: the kernel counts in 10 ms units.
pub fn timeout_ms(v: u64) -> Result<u32> {
    if !(10..=60_000).contains(&v) || !v.is_multiple_of(10) {
        return Err(ArgError::new(
            "timeout_ms",
            format!("{v} is out of range 10–60000 in steps of 10 (the kernel counts in 10 ms units)"),
        ));
    }
    Ok(v as u32)
}

/// The adapter's retries on arbitration loss: 0–16.
pub fn retries(v: u64) -> Result<u32> {
    count("retries", v, 0, 16, "retries").map(|n| n as u32)
}

/// How long a `Lock` may wait for the bus, in milliseconds: 0–60000.
pub fn wait_ms(v: u64) -> Result<u32> {
    count("wait_ms", v, 0, 60_000, "ms").map(|n| n as u32)
}

/// A reply as the server sent it; for clients.
pub fn reply(r: pb::OpResult) -> Result<Reply> {
    use pb::op_result::Result as R;
    Ok(match r.result {
        Some(R::Done(_)) => Reply::Done,
        Some(R::Byte(b)) => Reply::Byte(byte("byte", b.into())?),
        Some(R::Word(w)) => Reply::Word(word("word", w.into())?),
        Some(R::Block(b)) => Reply::Block(b),
        Some(R::Transfer(t)) => Reply::Transfer(t.reads),
        Some(R::Level(v)) => Reply::Level(v),
        Some(R::Edge(e)) => Reply::Edge(Box::new(line_event(e)?)),
        Some(R::Failed(_)) => return Err(ArgError::new("result", "a failure where a value was expected")),
        None => return Err(ArgError::new("result", "missing")),
    })
}

/// A line's name as a client sends it: 1 to [`MAX_LINE_NAME`] bytes. Whether the server offers
/// it is the server's to say.
pub fn line_name(field: &'static str, name: String) -> Result<String> {
    if name.is_empty() {
        return Err(ArgError::new(field, "missing: name a line the server offers (ListBuses lists them)"));
    }
    count(field, name.len() as u64, 1, MAX_LINE_NAME as u64, "bytes")?;
    Ok(name)
}

fn edges(field: &'static str, v: i32) -> Result<Edges> {
    match pb::Edges::try_from(v) {
        Ok(pb::Edges::None) => Ok(Edges::None),
        Ok(pb::Edges::Rising) => Ok(Edges::Rising),
        Ok(pb::Edges::Falling) => Ok(Edges::Falling),
        Ok(pb::Edges::Both) => Ok(Edges::Both),
        Err(_) => Err(ArgError::new(field, format!("{v} is not one of NONE 0, RISING 1, FALLING 2, BOTH 3"))),
    }
}

/// Validates a line's settings; field paths are relative to them.
pub fn line_settings(s: pb::LineSettings) -> Result<LineSettings> {
    let output = match pb::Direction::try_from(s.direction) {
        Ok(pb::Direction::Input) => false,
        Ok(pb::Direction::Output) => true,
        _ => {
            return Err(ArgError::new(
                "direction",
                format!("{} is not one of INPUT 1, OUTPUT 2", s.direction),
            ));
        }
    };
    let bias = match pb::Bias::try_from(s.bias) {
        Ok(pb::Bias::AsIs) => Bias::AsIs,
        Ok(pb::Bias::PullUp) => Bias::PullUp,
        Ok(pb::Bias::PullDown) => Bias::PullDown,
        Ok(pb::Bias::Disabled) => Bias::Disabled,
        Err(_) => {
            return Err(ArgError::new(
                "bias",
                format!("{} is not one of AS_IS 0, PULL_UP 1, PULL_DOWN 2, DISABLED 3", s.bias),
            ));
        }
    };
    let drive = match pb::Drive::try_from(s.drive) {
        Ok(pb::Drive::PushPull) => Drive::PushPull,
        Ok(pb::Drive::OpenDrain) => Drive::OpenDrain,
        Ok(pb::Drive::OpenSource) => Drive::OpenSource,
        Err(_) => {
            return Err(ArgError::new(
                "drive",
                format!("{} is not one of PUSH_PULL 0, OPEN_DRAIN 1, OPEN_SOURCE 2", s.drive),
            ));
        }
    };
    let edges = edges("edges", s.edges)?;
    let event_clock = match pb::EventClock::try_from(s.event_clock) {
        Ok(pb::EventClock::Monotonic) => EventClock::Monotonic,
        Ok(pb::EventClock::Realtime) => EventClock::Realtime,
        Err(_) => {
            return Err(ArgError::new(
                "event_clock",
                format!("{} is not one of MONOTONIC 0, REALTIME 1", s.event_clock),
            ));
        }
    };
    let max = MAX_DEBOUNCE.as_micros() as u64;
    let debounce = Duration::from_micros(count("debounce_us", s.debounce_us, 0, max, "µs")?);
    // What the kernel would refuse with a bare EINVAL, refused here with the reason.
    if output && edges != Edges::None {
        return Err(ArgError::new(
            "edges",
            format!("{}: an output detects no edges", edges.name().to_uppercase()),
        ));
    }
    if output && !debounce.is_zero() {
        return Err(ArgError::new("debounce_us", format!("{}: an output is not debounced", s.debounce_us)));
    }
    if !output && drive != Drive::PushPull {
        return Err(ArgError::new("drive", "open drain or source is for outputs"));
    }
    Ok(LineSettings {
        direction: if output { Direction::Output(s.value) } else { Direction::Input },
        active_low: s.active_low,
        bias,
        drive,
        edges,
        debounce,
        event_clock,
    })
}

/// Validates a request for lines: 1 to [`MAX_LINES_PER_REQUEST`], each once, each with
/// settings.
pub fn line_requests(lines: Vec<pb::LineRequest>) -> Result<Vec<(String, LineSettings)>> {
    count("lines", lines.len() as u64, 1, MAX_LINES_PER_REQUEST as u64, "lines")?;
    let mut out: Vec<(String, LineSettings)> = Vec::with_capacity(lines.len());
    for (i, l) in lines.into_iter().enumerate() {
        let at = |e: ArgError| e.within(format!("lines[{i}]"));
        let name = line_name("line", l.line).map_err(at)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(at(ArgError::new("line", format!("{} is named twice", quote(&name)))));
        }
        let settings = l.settings.ok_or_else(|| ArgError::new("settings", "missing")).map_err(at)?;
        out.push((name, line_settings(settings).map_err(|e| at(e.within("settings")))?));
    }
    Ok(out)
}

/// Validates the names of lines to release or to follow: none (all), or each once.
pub fn line_names(lines: Vec<String>) -> Result<Vec<String>> {
    count("lines", lines.len() as u64, 0, MAX_LINES_PER_REQUEST as u64, "lines")?;
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    for (i, name) in lines.into_iter().enumerate() {
        let name = line_name("lines", name)
            .map_err(|e| ArgError { path: vec![format!("lines[{i}]").into()], ..e })?;
        if out.contains(&name) {
            return Err(ArgError::new("lines", format!("{} is named twice", quote(&name))));
        }
        out.push(name);
    }
    Ok(out)
}

/// An edge event, as the server sent it; for clients.
pub fn line_event(e: pb::LineEvent) -> Result<LineEvent> {
    let edge = match edges("edge", e.edge)? {
        Edges::Rising => Edge::Rising,
        Edges::Falling => Edge::Falling,
        other => {
            return Err(ArgError::new("edge", format!("{}: an event is RISING or FALLING", other.name())));
        }
    };
    Ok(LineEvent { line: e.line, edge, timestamp_ns: e.timestamp_ns, seqno: e.seqno, lost: e.lost })
}

/// An event of a watch, as the server sent it; for clients.
pub fn watch_event(event: pb::WatchEvent) -> Result<WatchEvent> {
    use pb::watch_event::Event as E;
    let e = match event.event {
        Some(E::Lost(n)) => return Ok(WatchEvent::Lost(n)),
        Some(E::Op(e)) => e,
        None => return Err(ArgError::new("event", "missing")),
    };
    let within = |e: ArgError| e.within("op");
    let op = self::op(e.op.ok_or_else(|| ArgError::new("op.op", "missing"))?).map_err(within)?;
    let ran_as = e.ran_as.map(self::op).transpose().map_err(|e| e.within("ran_as"))?;
    let result = match e.result {
        Some(pb::OpResult { result: Some(pb::op_result::Result::Failed(f)) }) => Err(crate::Errno(f.errno)),
        Some(result) => Ok(reply(result).map_err(within)?),
        None => return Err(ArgError::new("op.result", "missing")),
    };
    Ok(WatchEvent::Op(Box::new(OpEvent {
        bus: e.bus,
        time: std::time::SystemTime::UNIX_EPOCH + Duration::from_micros(e.time_micros),
        took: Duration::from_micros(e.micros),
        session: e.session,
        peer: Some(e.peer).filter(|p| !p.is_empty()),
        op,
        ran_as,
        result,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode;

    #[test]
    fn every_command_round_trips() {
        let b = Bytes::from_static(&[1, 2, 3]);
        let commands = [
            Command::WriteQuick { bit: 1 },
            Command::ReadByte,
            Command::WriteByte { value: 0xAB },
            Command::ReadByteData { reg: 0xFF },
            Command::WriteByteData { reg: 1, value: 2 },
            Command::ReadWordData { reg: 3 },
            Command::WriteWordData { reg: 4, value: 0xBEEF },
            Command::ProcessCall { reg: 5, value: 0x1234 },
            Command::ReadBlockData { reg: 6 },
            Command::WriteBlockData { reg: 7, data: b.clone() },
            Command::BlockProcessCall { reg: 8, data: b.clone() },
            Command::ReadI2cBlockData { reg: 9, len: 32 },
            Command::WriteI2cBlockData { reg: 10, data: b.clone() },
        ];
        for command in commands {
            let o =
                Op::Smbus { target: Target { addr: 0x3FF, ten_bit: true, pec: true, force: true }, command };
            assert_eq!(op(encode::op(&o)).unwrap(), o);
        }
        let t = Op::Transfer(vec![
            Msg { addr: 0x50, flags: msg_flags::STOP, dir: Dir::Write(b) },
            Msg { addr: 0x2AA, flags: msg_flags::TEN, dir: Dir::Read(8192) },
        ]);
        assert_eq!(op(encode::op(&t)).unwrap(), t);
    }

    fn err(o: Op, patch: impl FnOnce(&mut pb::Op)) -> String {
        let mut p = encode::op(&o);
        patch(&mut p);
        steps(vec![encode::op(&Op::smbus(1, Command::ReadByte)), p]).unwrap_err().to_string()
    }

    fn smbus_mut(p: &mut pb::Op) -> &mut pb::SmbusOp {
        match &mut p.op {
            Some(pb::op::Op::Smbus(s)) => s,
            _ => unreachable!(),
        }
    }

    #[test]
    fn bad_arguments_name_field_and_range() {
        let rbd = Op::smbus(0x48, Command::ReadByteData { reg: 0 });
        assert_eq!(
            err(rbd.clone(), |p| smbus_mut(p).addr = 0x80),
            "ops[1].smbus.addr: 0x80 is out of range for a 7-bit address 0x00–0x7f"
        );
        assert_eq!(
            err(rbd.clone(), |p| {
                let s = smbus_mut(p);
                s.addr = 0x400;
                s.ten_bit = true
            }),
            "ops[1].smbus.addr: 0x400 is out of range for a 10-bit address 0x00–0x3ff"
        );
        assert_eq!(
            err(rbd, |p| smbus_mut(p).command =
                Some(pb::smbus_op::Command::ReadByteData(pb::Reg { reg: 0x100 }))),
            "ops[1].smbus.read_byte_data.reg: 0x100 is out of range 0x00–0xFF"
        );
        let w = Op::smbus(0x48, Command::WriteI2cBlockData { reg: 0, data: Bytes::from(vec![0; 33]) });
        assert_eq!(err(w, |_| {}), "ops[1].smbus.write_i2c_block_data.data: 33 bytes is out of range 1–32");
        let r = Op::smbus(0x48, Command::ReadI2cBlockData { reg: 0, len: 0 });
        assert_eq!(err(r, |_| {}), "ops[1].smbus.read_i2c_block_data.len: 0 bytes is out of range 1–32");
        let t = Op::Transfer(vec![Msg::read(0x50, 1); 43]);
        assert_eq!(err(t, |_| {}), "ops[1].transfer.msgs: 43 messages is out of range 1–42");
        let t = Op::Transfer(vec![Msg::write(0x50, vec![0; 8193])]);
        assert_eq!(err(t, |_| {}), "ops[1].transfer.msgs[0].write: 8193 bytes is out of range 0–8192");
        assert!(
            steps(vec![]).unwrap_err().to_string().starts_with("ops: 0 operations is out of range 1–1024")
        );
        assert_eq!(op(pb::Op { op: None }).unwrap_err().field(), "op");
    }

    #[test]
    fn line_steps_and_settings_round_trip() {
        let line = |n: &str| n.to_owned();
        let steps = [
            Step::Line(LineStep::Set { line: line("reset"), value: true }),
            Step::Line(LineStep::Get { line: line("x".repeat(MAX_LINE_NAME).as_str()) }),
            Step::Line(LineStep::WaitEdge { line: line("int"), edge: Edges::Falling, timeout: MAX_WAIT }),
            Step::Line(LineStep::WaitLevel {
                line: line("drdy"),
                value: false,
                timeout: Duration::from_micros(1),
            }),
        ];
        for s in steps {
            assert_eq!(step(encode::step(&s)).unwrap(), s);
        }
        let settings = [
            LineSettings::output(true),
            LineSettings {
                active_low: true,
                bias: Bias::PullUp,
                debounce: MAX_DEBOUNCE,
                event_clock: EventClock::Realtime,
                ..LineSettings::input().with_edges(Edges::Both)
            },
            LineSettings { drive: Drive::OpenDrain, bias: Bias::Disabled, ..LineSettings::output(false) },
        ];
        for s in settings {
            assert_eq!(line_settings(encode::line_settings(&s)).unwrap(), s);
        }
        let event =
            LineEvent { line: line("int"), edge: Edge::Falling, timestamp_ns: u64::MAX, seqno: 7, lost: 2 };
        assert_eq!(line_event(encode::line_event(&event)).unwrap(), event);
    }

    #[test]
    fn bad_line_arguments_name_field_and_range() {
        let bad = |patch: fn(&mut pb::LineSettings)| {
            let mut s = encode::line_settings(&LineSettings::input());
            patch(&mut s);
            line_settings(s).unwrap_err().to_string()
        };
        assert_eq!(bad(|s| s.direction = 0), "direction: 0 is not one of INPUT 1, OUTPUT 2");
        assert_eq!(bad(|s| s.bias = 9), "bias: 9 is not one of AS_IS 0, PULL_UP 1, PULL_DOWN 2, DISABLED 3");
        assert_eq!(bad(|s| s.drive = -1), "drive: -1 is not one of PUSH_PULL 0, OPEN_DRAIN 1, OPEN_SOURCE 2");
        assert_eq!(bad(|s| s.drive = 1), "drive: open drain or source is for outputs");
        assert_eq!(bad(|s| s.edges = 4), "edges: 4 is not one of NONE 0, RISING 1, FALLING 2, BOTH 3");
        assert_eq!(bad(|s| s.event_clock = 2), "event_clock: 2 is not one of MONOTONIC 0, REALTIME 1");
        assert_eq!(
            bad(|s| s.debounce_us = u64::MAX),
            "debounce_us: 18446744073709551615 µs is out of range 0–1000000"
        );
        let output = |patch: fn(&mut pb::LineSettings)| {
            let mut s = encode::line_settings(&LineSettings::output(true));
            patch(&mut s);
            line_settings(s).unwrap_err().to_string()
        };
        assert_eq!(output(|s| s.debounce_us = 5), "debounce_us: 5: an output is not debounced");

        let wait = |edge: i32, timeout_micros: u64| {
            step(pb::Op {
                op: Some(pb::op::Op::WaitEdge(pb::WaitEdge { line: "int".into(), edge, timeout_micros })),
            })
            .unwrap_err()
            .to_string()
        };
        assert_eq!(wait(0, 10), "wait_edge.edge: NONE: wait for RISING, FALLING or BOTH");
        assert_eq!(wait(1, 60_000_001), "wait_edge.timeout_micros: 60000001 µs is out of range 1–60000000");
        let get =
            |line: &str| step(pb::Op { op: Some(pb::op::Op::GetLine(pb::GetLine { line: line.into() })) });
        assert_eq!(
            get("").unwrap_err().to_string(),
            "get_line.line: missing: name a line the server offers (ListBuses lists them)"
        );
        assert_eq!(
            get(&"é".repeat(40)).unwrap_err().to_string(),
            "get_line.line: 80 bytes is out of range 1–64"
        );

        let request =
            |line: &str, settings: Option<pb::LineSettings>| pb::LineRequest { line: line.into(), settings };
        let input = Some(encode::line_settings(&LineSettings::input()));
        assert_eq!(line_requests(vec![]).unwrap_err().to_string(), "lines: 0 lines is out of range 1–64");
        assert_eq!(
            line_requests(vec![request("a", input), request("a", input)]).unwrap_err().to_string(),
            "lines[1].line: \"a\" is named twice"
        );
        assert_eq!(
            line_requests(vec![request("a", None)]).unwrap_err().to_string(),
            "lines[0].settings: missing"
        );
        assert_eq!(
            line_requests(vec![request("a", input); 65]).unwrap_err().to_string(),
            "lines: 65 lines is out of range 1–64"
        );
        assert_eq!(line_names(vec!["".into()]).unwrap_err().field(), "lines[0]");
    }

    #[test]
    fn waits_and_polls_round_trip() {
        let read = Op::smbus(0x40, Command::ReadI2cBlockData { reg: 2, len: 2 });
        let cases = [
            Step::Wait(Duration::from_micros(1)),
            Step::Wait(MAX_WAIT),
            Step::Poll(Poll {
                op: read,
                interval: Duration::from_micros(100),
                timeout: Duration::from_millis(50),
                until: Some(Match { mask: 0x0200, value: 0x0200 }),
            }),
            Step::Poll(Poll {
                op: Op::smbus(0x50, Command::WriteQuick { bit: 0 }),
                interval: MIN_POLL_INTERVAL,
                timeout: Duration::from_micros(10),
                until: None,
            }),
        ];
        for step in cases {
            assert_eq!(self::step(encode::step(&step)).unwrap(), step);
        }
    }

    #[test]
    fn bad_waits_and_polls_name_field_and_range() {
        let bad = |step: pb::Op| steps(vec![step]).unwrap_err().to_string();
        let wait = |micros| pb::Op { op: Some(pb::op::Op::Wait(pb::Wait { micros })) };
        assert_eq!(bad(wait(0)), "ops[0].wait.micros: 0 µs is out of range 1–60000000");
        assert_eq!(bad(wait(60_000_001)), "ops[0].wait.micros: 60000001 µs is out of range 1–60000000");
        let quick = encode::op(&Op::smbus(0x50, Command::WriteQuick { bit: 0 }));
        let poll = |op: Option<pb::Op>, interval_micros, timeout_micros, until| pb::Op {
            op: Some(pb::op::Op::Poll(Box::new(pb::Poll {
                op: op.map(Box::new),
                interval_micros,
                timeout_micros,
                until,
            }))),
        };
        assert_eq!(
            bad(poll(None, 100, 10, None)),
            "ops[0].poll.op: missing: set the `smbus` or `transfer` operation to repeat"
        );
        assert_eq!(
            bad(poll(Some(wait(5)), 100, 10, None)),
            "ops[0].poll.op.op: a `wait` or `poll` here: set the `smbus` or `transfer` operation to run"
        );
        assert_eq!(
            bad(poll(Some(quick.clone()), 100, 0, None)),
            "ops[0].poll.timeout_micros: 0 µs is out of range 1–60000000"
        );
        assert_eq!(
            bad(poll(Some(quick.clone()), 1001, 1000, None)),
            "ops[0].poll.interval_micros: 1001 µs (up to the timeout) is out of range 100–1000"
        );
        // "Again at once" spun a core for the whole timeout: tries are 100 µs apart at least.
        assert_eq!(
            bad(poll(Some(quick.clone()), 0, 1_000_000, None)),
            "ops[0].poll.interval_micros: 0 µs (up to the timeout) is out of range 100–1000000"
        );
        let until = |mask, value| Some(pb::Match { mask, value });
        assert_eq!(
            bad(poll(Some(quick.clone()), 100, 10, until(0x10000, 0))),
            "ops[0].poll.until.mask: 0x10000 is out of range 0x0000–0xFFFF"
        );
        assert_eq!(
            bad(poll(Some(quick.clone()), 100, 10, until(0x02, 0x06))),
            "ops[0].poll.until.value: 0x6 has bits outside the mask 0x2, so it can never match"
        );
        let bad_inner = Op::smbus(0x48, Command::ReadByteData { reg: 0 });
        let mut inner = encode::op(&bad_inner);
        smbus_mut(&mut inner).addr = 0x80;
        assert_eq!(
            bad(poll(Some(inner), 100, 10, None)),
            "ops[0].poll.op.smbus.addr: 0x80 is out of range for a 7-bit address 0x00–0x7f"
        );
        assert_eq!(
            steps(vec![pb::Op { op: None }]).unwrap_err().to_string(),
            "ops[0].op: missing: set `smbus`, `transfer`, `wait`, `poll`, `set_line`, `get_line`, `wait_edge` or `wait_level`"
        );
    }

    #[test]
    fn session_ids() {
        assert_eq!(
            session_id("session", &"0f".repeat(16)).unwrap(),
            0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f
        );
        assert_eq!(
            session_id("session", "").unwrap_err().to_string(),
            "session: missing: pass the id that Open returned"
        );
        assert!(session_id("session", &"g".repeat(32)).is_err());
        assert!(session_id("session", "+0000000000000000000000000000001").is_err());
        // Long input is quoted by a prefix of whole characters, and its length.
        let long = "é".repeat(50_000);
        assert_eq!(
            session_id("session", &long).unwrap_err().problem,
            format!("{:?}… (100000 bytes) is not a session id (32 hex digits)", "é".repeat(40))
        );
    }
}
