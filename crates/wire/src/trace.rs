//! What happened on a bus, as the watch reports it and a trace file keeps it: one line per
//! operation, in the [`notation`](crate::notation), that reads back into the same events.
//!
//! ```text
//! # smbus-proxy trace 1
//! 2026-12-02T03:12:02.123456Z i2c-1 read_byte_data 0x48 reg=0x00 -> 0x19 (105 us) 127.0.0.1:40312 1a2b3c4d
//! 2026-12-02T03:12:02.124001Z i2c-1 write_byte_data 0x49 reg=0x01 value=0x60 -> ENXIO (98 us) 127.0.0.1:40312 1a2b3c4d
//! -- 3 events lost: the watcher fell behind --
//! ```
//!
//! The first line names the format and its version; other lines starting with `#` are
//! comments. A line holds when the operation ended (UTC), the bus, the operation as the client
//! sent it (and `(ran as …)` what went on the wire instead, when that differs), its reply or
//! errno, the bus time it took, the client's address (`-` where unknown) and the first eight
//! characters of its session.

use crate::event::{OpEvent, WatchEvent};
use crate::notation::{self, NotationError};
use crate::op::{Op, Reply};
use crate::quote::quote;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The version of the format this crate writes and reads.
pub const VERSION: u32 = 1;
/// The first line of a trace of this version (a test keeps it naming [`VERSION`]: a constant
/// string cannot be formatted from it).
pub const HEADER: &str = "# smbus-proxy trace 1";
const HEADER_PREFIX: &str = "# smbus-proxy trace ";

/// How many characters of a session's ID a line keeps: enough to tell sessions apart.
const SESSION_CHARS: usize = 8;

impl fmt::Display for OpEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} i2c-{} {}", humantime::format_rfc3339_micros(self.time), self.bus, self.op)?;
        if let Some(ran_as) = &self.ran_as {
            write!(f, " (ran as {ran_as})")?;
        }
        let result = match &self.result {
            Ok(reply) => reply.to_string(),
            Err(errno) => notation::errno(*errno),
        };
        let session = self.session.get(..SESSION_CHARS).unwrap_or(&self.session);
        let peer = self.peer.as_deref().unwrap_or("-");
        write!(f, " -> {result} ({} us) {peer} {session}", self.took.as_micros())
    }
}

impl fmt::Display for WatchEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchEvent::Op(op) => op.fmt(f),
            WatchEvent::Lost(n) => write!(f, "-- {n} events lost: the watcher fell behind --"),
        }
    }
}

impl FromStr for WatchEvent {
    type Err = NotationError;

    fn from_str(line: &str) -> Result<WatchEvent, NotationError> {
        let bad = |what: &str| NotationError(format!("expected {what}"));
        if let Some(lost) = line.strip_prefix("-- ") {
            let n = lost.split_once(' ').and_then(|(n, _)| n.parse().ok());
            return n.map(WatchEvent::Lost).ok_or_else(|| bad("-- N events lost: … --"));
        }
        let (left, right) = line.split_once(" -> ").ok_or_else(|| bad("OPERATION -> RESULT"))?;
        let mut left_parts = left.splitn(3, ' ');
        let time = left_parts.next().unwrap_or_default();
        let time =
            humantime::parse_rfc3339(time).map_err(|e| NotationError(format!("{}: {e}", quote(time))))?;
        let bus = left_parts
            .next()
            .and_then(|b| b.strip_prefix("i2c-")?.parse().ok())
            .ok_or_else(|| bad("i2c-N"))?;
        let op = left_parts.next().ok_or_else(|| bad("an operation"))?;
        let (op, ran_as) = match op.split_once(" (ran as ") {
            Some((op, ran_as)) => {
                (op, Some(ran_as.strip_suffix(')').ok_or_else(|| bad("(ran as …)"))?.parse()?))
            }
            None => (op, None),
        };
        let op: Op = op.parse()?;
        let mut right_parts = right.rsplitn(3, ' ');
        let (session, peer, rest) = (right_parts.next(), right_parts.next(), right_parts.next());
        let (session, peer, rest) =
            session.zip(peer).zip(rest).map(|((s, p), r)| (s, p, r)).ok_or_else(|| bad("PEER SESSION"))?;
        // Each is one word of visible characters, so that the line it prints reads back.
        let visible =
            |word: &str| !word.is_empty() && !word.chars().any(|c| c.is_whitespace() || c.is_control());
        if !visible(peer) || !visible(session) {
            return Err(bad("PEER SESSION in visible characters"));
        }
        let (result, took) = rest.rsplit_once(" (").ok_or_else(|| bad("(N us)"))?;
        let took = took.strip_suffix(" us)").and_then(|us| us.parse().ok()).ok_or_else(|| bad("(N us)"))?;
        let result = match result.starts_with('E') || result.starts_with("errno ") {
            true => Err(notation::parse_errno(result)?),
            false => Ok(Reply::parse(result, op.returns())?),
        };
        Ok(WatchEvent::Op(Box::new(OpEvent {
            bus,
            time,
            took: Duration::from_micros(took),
            session: session.to_owned(),
            peer: (peer != "-").then(|| peer.to_owned()),
            op,
            ran_as,
            result,
        })))
    }
}

/// A trace that could not be read: the line, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for TraceError {}

/// Reads a trace: its events, each with its line number.
pub fn parse(text: &str) -> Result<Vec<(usize, WatchEvent)>, TraceError> {
    let mut lines = text.lines().enumerate().map(|(i, line)| (i + 1, line.trim_end()));
    match lines.next() {
        Some((_, HEADER)) => {}
        Some((_, line)) if line.starts_with(HEADER_PREFIX) => {
            let problem = format!(
                "this is a trace of version {}; this smbus-proxy reads version {VERSION}",
                quote(&line[HEADER_PREFIX.len()..])
            );
            return Err(TraceError { line: 1, problem });
        }
        _ => {
            return Err(TraceError {
                line: 1,
                problem: format!("not a trace: the first line must be {HEADER:?}"),
            });
        }
    }
    lines
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(n, line)| {
            line.parse().map(|e| (n, e)).map_err(|e: NotationError| TraceError { line: n, problem: e.0 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;
    use std::time::SystemTime;

    #[test]
    fn the_header_names_the_version() {
        assert_eq!(HEADER, format!("{HEADER_PREFIX}{VERSION}"));
    }
    use crate::op::{Command, Msg};
    use bytes::Bytes;

    fn event(op: Op, result: Result<Reply, Errno>) -> OpEvent {
        OpEvent {
            bus: 1,
            time: SystemTime::UNIX_EPOCH + Duration::from_micros(1_764_645_122_123_456),
            took: Duration::from_micros(105),
            session: "1a2b3c4d".into(),
            peer: Some("127.0.0.1:40312".into()),
            op,
            ran_as: None,
            result,
        }
    }

    #[test]
    fn lines_read_back_as_written() {
        let read = event(Op::smbus(0x48, Command::ReadByteData { reg: 0 }), Ok(Reply::Byte(0x19)));
        assert_eq!(
            read.to_string(),
            "2025-12-02T03:12:02.123456Z i2c-1 read_byte_data 0x48 reg=0x00 -> 0x19 (105 us) 127.0.0.1:40312 1a2b3c4d"
        );
        let transfer = Op::Transfer(vec![Msg::write(0x48, vec![0]), Msg::read(0x48, 1)]);
        let events = [
            WatchEvent::Op(Box::new(read.clone())),
            WatchEvent::Op(Box::new(OpEvent { peer: None, result: Err(Errno::ENXIO), ..read.clone() })),
            WatchEvent::Op(Box::new(OpEvent { result: Err(Errno(4242)), ..read.clone() })),
            WatchEvent::Op(Box::new(OpEvent {
                op: transfer.clone(),
                ran_as: Some(Op::smbus(0x48, Command::ReadByteData { reg: 0 })),
                result: Ok(Reply::Transfer(vec![Bytes::from_static(&[0x19])])),
                ..read.clone()
            })),
            WatchEvent::Op(Box::new(OpEvent {
                op: Op::Transfer(vec![Msg::write(0x48, vec![1, 2])]),
                result: Ok(Reply::Transfer(vec![])),
                ..read
            })),
            WatchEvent::Lost(3),
        ];
        let text: String = [HEADER.to_owned(), "# a comment".into()]
            .into_iter()
            .chain(events.iter().map(WatchEvent::to_string))
            .map(|line| line + "\n")
            .collect();
        let parsed: Vec<WatchEvent> = parse(&text).unwrap().into_iter().map(|(_, e)| e).collect();
        assert_eq!(parsed, events);
    }

    #[test]
    fn a_session_keeps_its_first_characters() {
        let mut e = event(Op::smbus(0x48, Command::ReadByte), Ok(Reply::Byte(1)));
        e.session = "0123456789abcdef".into();
        let WatchEvent::Op(parsed) = e.to_string().parse().unwrap() else { panic!() };
        assert_eq!(parsed.session, "01234567");
    }

    #[test]
    fn bad_traces_say_where() {
        assert_eq!(parse("hello\n").unwrap_err().line, 1);
        assert!(parse("# smbus-proxy trace 2\n").unwrap_err().problem.contains("version \"2\""));
        let err =
            parse(&format!("{HEADER}\n\n2025-12-02T03:12:02Z i2c-1 read_quad 0x48 -> done (1 us) - x\n"))
                .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.problem.contains("read_quad"), "{}", err.problem);
        // Found by fuzzing: a session of carriage returns printed as nothing and did not read back.
        let err = parse(&format!(
            "{HEADER}\n2025-12-02T03:12:02Z i2c-1 read_byte 0x48 -> 0x19 (1 us) - \r\r\r\r\r\r\r\r0]\n"
        ))
        .unwrap_err();
        assert!(err.problem.contains("PEER SESSION"), "{}", err.problem);
    }
}
