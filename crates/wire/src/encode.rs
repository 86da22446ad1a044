//! The operation model → wire messages. Infallible: the model only holds valid values.

use crate::line::*;
use crate::op::*;
use crate::pb;
use crate::step::Step;
use pb::smbus_op::Command as C;
use std::time::Duration;

/// A transaction's step, as a request carries it.
pub fn step(step: &Step) -> pb::Op {
    let micros = |d: &Duration| d.as_micros() as u64;
    match step {
        Step::Op(o) => op(o),
        Step::Wait(d) => pb::Op { op: Some(pb::op::Op::Wait(pb::Wait { micros: micros(d) })) },
        Step::Line(l) => pb::Op { op: Some(line_step(l)) },
        Step::Poll(p) => pb::Op {
            op: Some(pb::op::Op::Poll(Box::new(pb::Poll {
                op: Some(Box::new(op(&p.op))),
                interval_micros: micros(&p.interval),
                timeout_micros: micros(&p.timeout),
                until: p.until.map(|m| pb::Match { mask: m.mask.into(), value: m.value.into() }),
            }))),
        },
    }
}

fn line_step(step: &LineStep) -> pb::op::Op {
    let micros = |d: &Duration| d.as_micros() as u64;
    match step {
        LineStep::Set { line, value } => {
            pb::op::Op::SetLine(pb::SetLine { line: line.clone(), value: *value })
        }
        LineStep::Get { line } => pb::op::Op::GetLine(pb::GetLine { line: line.clone() }),
        LineStep::WaitEdge { line, edge, timeout } => pb::op::Op::WaitEdge(pb::WaitEdge {
            line: line.clone(),
            edge: edges(*edge).into(),
            timeout_micros: micros(timeout),
        }),
        LineStep::WaitLevel { line, value, timeout } => pb::op::Op::WaitLevel(pb::WaitLevel {
            line: line.clone(),
            value: *value,
            timeout_micros: micros(timeout),
        }),
    }
}

/// Which edges, as the protocol names them.
pub fn edges(e: Edges) -> pb::Edges {
    match e {
        Edges::None => pb::Edges::None,
        Edges::Rising => pb::Edges::Rising,
        Edges::Falling => pb::Edges::Falling,
        Edges::Both => pb::Edges::Both,
    }
}

/// A line's settings, as a request carries them.
pub fn line_settings(s: &LineSettings) -> pb::LineSettings {
    let (direction, value) = match s.direction {
        Direction::Input => (pb::Direction::Input, false),
        Direction::Output(v) => (pb::Direction::Output, v),
    };
    pb::LineSettings {
        direction: direction.into(),
        value,
        active_low: s.active_low,
        bias: bias(s.bias).into(),
        drive: drive(s.drive).into(),
        edges: edges(s.edges).into(),
        debounce_us: s.debounce.as_micros() as u64,
        event_clock: event_clock(s.event_clock).into(),
    }
}

/// An event clock, as the protocol names it.
pub fn event_clock(c: EventClock) -> pb::EventClock {
    match c {
        EventClock::Monotonic => pb::EventClock::Monotonic,
        EventClock::Realtime => pb::EventClock::Realtime,
    }
}

/// A pull resistor, as the protocol names it.
pub fn bias(b: Bias) -> pb::Bias {
    match b {
        Bias::AsIs => pb::Bias::AsIs,
        Bias::PullUp => pb::Bias::PullUp,
        Bias::PullDown => pb::Bias::PullDown,
        Bias::Disabled => pb::Bias::Disabled,
    }
}

/// An output's drive, as the protocol names it.
pub fn drive(d: Drive) -> pb::Drive {
    match d {
        Drive::PushPull => pb::Drive::PushPull,
        Drive::OpenDrain => pb::Drive::OpenDrain,
        Drive::OpenSource => pb::Drive::OpenSource,
    }
}

/// An edge event, as a response or the event stream carries it.
pub fn line_event(e: &LineEvent) -> pb::LineEvent {
    pb::LineEvent {
        line: e.line.clone(),
        edge: match e.edge {
            Edge::Rising => pb::Edges::Rising,
            Edge::Falling => pb::Edges::Falling,
        }
        .into(),
        timestamp_ns: e.timestamp_ns,
        seqno: e.seqno,
        lost: e.lost,
    }
}

/// A bus operation, as a request carries it.
pub fn op(op: &Op) -> pb::Op {
    let inner = match op {
        Op::Smbus { target, command } => pb::op::Op::Smbus(pb::SmbusOp {
            addr: target.addr.into(),
            ten_bit: target.ten_bit,
            pec: target.pec,
            force: target.force,
            command: Some(self::command(command)),
        }),
        Op::Transfer(msgs) => pb::op::Op::Transfer(pb::Transfer { msgs: msgs.iter().map(msg).collect() }),
    };
    pb::Op { op: Some(inner) }
}

fn command(c: &Command) -> C {
    let reg = |reg: &u8| pb::Reg { reg: (*reg).into() };
    let reg_value = |reg: &u8, value: u64| pb::RegValue { reg: (*reg).into(), value };
    let reg_data = |reg: &u8, data: &bytes::Bytes| pb::RegData { reg: (*reg).into(), data: data.clone() };
    match c {
        Command::WriteQuick { bit } => C::WriteQuick(pb::Quick { bit: (*bit).into() }),
        Command::ReadByte => C::ReadByte(pb::Empty {}),
        Command::WriteByte { value } => C::WriteByte(pb::Value { value: (*value).into() }),
        Command::ReadByteData { reg: r } => C::ReadByteData(reg(r)),
        Command::WriteByteData { reg, value } => C::WriteByteData(reg_value(reg, (*value).into())),
        Command::ReadWordData { reg: r } => C::ReadWordData(reg(r)),
        Command::WriteWordData { reg, value } => C::WriteWordData(reg_value(reg, (*value).into())),
        Command::ProcessCall { reg, value } => C::ProcessCall(reg_value(reg, (*value).into())),
        Command::ReadBlockData { reg: r } => C::ReadBlockData(reg(r)),
        Command::WriteBlockData { reg, data } => C::WriteBlockData(reg_data(reg, data)),
        Command::BlockProcessCall { reg, data } => C::BlockProcessCall(reg_data(reg, data)),
        Command::ReadI2cBlockData { reg, len } => {
            C::ReadI2cBlockData(pb::RegLen { reg: (*reg).into(), len: (*len).into() })
        }
        Command::WriteI2cBlockData { reg, data } => C::WriteI2cBlockData(reg_data(reg, data)),
    }
}

fn msg(m: &Msg) -> pb::Msg {
    let dir = match &m.dir {
        Dir::Read(n) => pb::msg::Dir::Read((*n).into()),
        Dir::Write(data) => pb::msg::Dir::Write(data.clone()),
    };
    pb::Msg { addr: m.addr.into(), flags: m.flags.into(), dir: Some(dir) }
}

/// A successful operation's result, as a response carries it.
pub fn reply(r: Reply) -> pb::OpResult {
    use pb::op_result::Result as R;
    let result = match r {
        Reply::Done => R::Done(pb::Empty {}),
        Reply::Byte(b) => R::Byte(b.into()),
        Reply::Word(w) => R::Word(w.into()),
        Reply::Block(b) => R::Block(b),
        Reply::Transfer(reads) => R::Transfer(pb::Reads { reads }),
        Reply::Level(v) => R::Level(v),
        Reply::Edge(e) => R::Edge(line_event(&e)),
    };
    pb::OpResult { result: Some(result) }
}

/// A failed operation in the results of a transaction that keeps going.
pub fn failed(index: usize, failure: &crate::Failure) -> pb::OpResult {
    pb::OpResult { result: Some(pb::op_result::Result::Failed(op_error(index, failure))) }
}

/// A failed operation, as the wire carries it: its message is the errno's text and the
/// failure's detail.
pub fn op_error(index: usize, failure: &crate::Failure) -> pb::OpError {
    let errno = failure.errno;
    pb::OpError {
        index: index as u32,
        errno: errno.0,
        kind: kind(errno.kind()) as i32,
        message: failure.to_string(),
    }
}

/// An error kind, as the wire names it.
pub fn kind(k: crate::ErrorKind) -> pb::ErrorKind {
    use crate::ErrorKind as K;
    match k {
        K::NoAcknowledgeAddress => pb::ErrorKind::NoAcknowledgeAddress,
        K::NoAcknowledgeData => pb::ErrorKind::NoAcknowledgeData,
        K::ArbitrationLoss => pb::ErrorKind::ArbitrationLoss,
        K::Bus => pb::ErrorKind::Bus,
        K::Other => pb::ErrorKind::Other,
    }
}

/// A session id as it goes on the wire: 32 lower-case hex digits.
pub fn session_id(id: u128) -> String {
    format!("{id:032x}")
}

/// What anyone but its owner is shown of a session id (in `Status`, the watch and traces): its
/// first 8 hex digits, enough to tell sessions apart. The whole id is its owner's credential.
pub fn session_tag(id: u128) -> String {
    format!("{:08x}", id >> 96)
}

/// The most bytes an `OpError` takes, framing included. Its message is the errno's text,
/// bounded by the longest in the errno table or the fallback for an unknown number, and the
/// failure's detail, bounded by `Failure::MAX_DETAIL`; the test below holds every errno with
/// the longest detail to it.
const OP_ERROR_MAX: usize = 128 + crate::Failure::MAX_DETAIL;

/// The most bytes a field of a message takes on the wire, key and length included, for a
/// body of `len` bytes: every field here has a number below 16, so its key is one byte.
fn field(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// The most bytes `op`'s entry in `ExecuteResponse.results` can take, framing included: what
/// the server checks a transaction against before it runs, so that no reply it builds can be
/// larger than the message limit it promises.
fn result_bound(returns: Returns<'_>, keep_going: bool) -> usize {
    let success = match returns {
        Returns::Done => field(0),
        // A byte is a varint of at most 2 bytes, a word of at most 3.
        Returns::Byte => 1 + 2,
        Returns::Word => 1 + 3,
        Returns::Block(max) => field(max),
        Returns::Reads(msgs) => field(msgs.iter().filter_map(Msg::reads_at_most).map(field).sum()),
        // A bool is one byte.
        Returns::Level => 1 + 1,
        // The line's name, the edge (1 byte), and three varints of at most 10 bytes.
        Returns::Edge(name) => field(field(name) + 2 + 3 * 11),
    };
    let failure = if keep_going { field(OP_ERROR_MAX) } else { 0 };
    field(success.max(failure))
}

/// What a server's record of a session's unacknowledged numbered transactions counts a
/// transaction at: its reply's bound, each result as the server holds it, and its slot. The
/// client counts the same, to keep what it pipelines within the record's bound.
pub fn kept_bytes<'a>(returns: impl IntoIterator<Item = Returns<'a>>, keep_going: bool) -> usize {
    let (mut results, mut steps) = (0, 0);
    for returns in returns {
        results += result_bound(returns, keep_going);
        steps += 1;
    }
    with_error(results, keep_going) + steps * KEPT_PER_STEP + KEPT_OVERHEAD
}

/// A kept result in a server's memory, beyond the reply's bytes.
pub const KEPT_PER_STEP: usize = 64;
/// A kept transaction's slot in a server's memory.
pub const KEPT_OVERHEAD: usize = 192;

/// The most bytes the reply to a transaction of `ops` can take as one message: the larger of
/// `Execute`'s `ExecuteResponse` and `ExecuteStream`'s `StreamReply` around it.
pub fn response_bound(steps: &[Step], keep_going: bool) -> usize {
    let results: usize = steps.iter().map(|step| result_bound(step.returns(), keep_going)).sum();
    with_error(results, keep_going)
}

/// The response around results of `results` bytes.
fn with_error(results: usize, keep_going: bool) -> usize {
    // Without keep_going, a failure ends the transaction and is reported once, in `error`.
    let error = if keep_going { 0 } else { field(OP_ERROR_MAX) };
    field(results + error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Errno, Reply};
    use bytes::Bytes;
    use prost::Message;

    fn stream_reply(response: pb::ExecuteResponse) -> usize {
        pb::StreamReply { reply: Some(pb::stream_reply::Reply::Response(response)) }.encoded_len()
    }

    #[test]
    fn every_op_error_fits_its_bound() {
        let errnos = crate::errno::TABLE.iter().map(|e| Errno(e.0)).chain([Errno(i32::MIN), Errno(i32::MAX)]);
        for errno in errnos {
            let plain = op_error(MAX_OPS - 1, &errno.into());
            assert!(field(plain.encoded_len()) <= OP_ERROR_MAX - crate::Failure::MAX_DETAIL, "{errno}");
            // A replay quoting a client's whole 8 KiB transfer, and three-byte characters.
            for detail in ["x".repeat(9000), "€".repeat(3000)] {
                let error = op_error(MAX_OPS - 1, &crate::Failure::detailed(errno, detail));
                assert!(field(error.encoded_len()) <= OP_ERROR_MAX, "{errno}");
            }
        }
    }

    /// The largest replies each op can get, encoded as the server sends them, against the bound.
    #[test]
    fn replies_fit_the_bound_exactly() {
        let zeros = |n: usize| Bytes::from(vec![0xFF; n]);
        let cases: Vec<(Op, Reply)> = vec![
            (Op::smbus(0x48, Command::ReadByteData { reg: 0 }), Reply::Byte(0xFF)),
            (Op::smbus(0x48, Command::ProcessCall { reg: 0, value: 1 }), Reply::Word(0xFFFF)),
            (Op::smbus(0x48, Command::WriteByteData { reg: 0, value: 1 }), Reply::Done),
            (Op::smbus(0x48, Command::ReadBlockData { reg: 0 }), Reply::Block(zeros(BLOCK_MAX))),
            (Op::smbus(0x48, Command::ReadI2cBlockData { reg: 0, len: 7 }), Reply::Block(zeros(7))),
            (Op::Transfer(vec![Msg::read(0x50, 0); MAX_MSGS]), Reply::Transfer(vec![Bytes::new(); MAX_MSGS])),
            (
                Op::Transfer(vec![Msg::write(0x50, vec![0]), Msg::read(0x50, 8192), Msg::read_counted(0x50)]),
                Reply::Transfer(vec![zeros(8192), zeros(1 + BLOCK_MAX)]),
            ),
        ];
        for (op, reply) in cases {
            // Each result exactly, and the message around three of them with a failure after.
            let step = Step::Op(op.clone());
            assert_eq!(
                field(self::reply(reply.clone()).encoded_len()),
                result_bound(step.returns(), false),
                "{op}"
            );
            let ops = vec![step; 3];
            let worst_error =
                op_error(MAX_OPS - 1, &crate::Failure::detailed(Errno(i32::MIN), "x".repeat(9000)));
            let response = pb::ExecuteResponse {
                results: vec![self::reply(reply.clone()); 3],
                error: Some(worst_error.clone()),
            };
            assert!(stream_reply(response) <= response_bound(&ops, false), "{op}");
            // With keep_going each result may be a failure instead, whichever is larger.
            let response = |result| pb::ExecuteResponse { results: vec![result; 3], error: None };
            assert!(
                stream_reply(response(pb::OpResult {
                    result: Some(pb::op_result::Result::Failed(worst_error.clone()))
                })) <= response_bound(&ops, true)
            );
            assert!(stream_reply(response(self::reply(reply))) <= response_bound(&ops, true), "{op}");
        }
        // A line's value, and the largest edge: the longest name, every number at its widest.
        let get = Step::Line(LineStep::Get { line: "l".into() });
        assert_eq!(field(self::reply(Reply::Level(true)).encoded_len()), result_bound(get.returns(), false));
        let name = "x".repeat(MAX_LINE_NAME);
        let wait =
            Step::Line(LineStep::WaitEdge { line: name.clone(), edge: Edges::Both, timeout: Duration::MAX });
        let edge = LineEvent {
            line: name,
            edge: Edge::Falling,
            timestamp_ns: u64::MAX,
            seqno: u64::MAX,
            lost: u64::MAX,
        };
        assert!(
            field(self::reply(Reply::Edge(Box::new(edge))).encoded_len())
                <= result_bound(wait.returns(), false)
        );
    }
}
