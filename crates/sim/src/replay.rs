//! A recorded trace played back in place of a device or of a whole bus, so a program recorded
//! against the real chip runs again where there is none.
//!
//! Two ways to play it:
//! - **strict**: the program must send exactly the recorded operations, in order, and gets the
//!   recorded answers, failures included. Anything else fails with EPROTO, and the error says
//!   which line of the trace was expected and what came instead; the replay stays at that
//!   line. Each session plays it from the top (the program runs again each time it starts).
//!   Bus time is not replayed: answers come at once.
//! - **register**: the trace becomes the registers a device serves, as `i2c-stub-from-dump`
//!   makes an i2c-stub from a dump, except that a register keeps every value the trace read
//!   from it. Every message is one device's: a write's first byte (two, for a device whose
//!   reads in the trace start with a two-byte pointer) sets its pointer, and the bytes after
//!   it are written there; a read from a pointer answers the trace's reads from there in turn,
//!   the last one once all are used (so a status bit polled until ready becomes ready again),
//!   with what the program wrote there over it. A read the trace never answered fails with
//!   EREMOTEIO, saying so. Addresses that never answered in the trace do not acknowledge.
//!
//! The trace is read when the configuration is, so a bad line is a configuration error.

use bytes::Bytes;
use smbus_proxy_wire::event::WatchEvent;
use smbus_proxy_wire::notation::Hex;
use smbus_proxy_wire::op::BLOCK_MAX;
use smbus_proxy_wire::{Dir, Errno, Failure, Op, Reply};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a trace is played back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// The recorded operations, in order, and nothing else.
    Strict,
    /// The registers the recorded operations saw.
    Register,
}

/// A device's address: 7-bit, or 10-bit.
pub type Address = (u16, bool);

/// A trace to play back, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// The trace file.
    pub trace: PathBuf,
    /// How to play it.
    pub mode: ReplayMode,
    /// The device it stands in for; `None` for every device of the bus.
    pub device: Option<Address>,
    /// The operations it plays back: the trace's, on the chosen bus, to the device.
    pub recorded: Arc<Vec<Recorded>>,
}

/// One recorded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Its line in the trace.
    pub line: usize,
    /// The operation.
    pub op: Op,
    /// What it got.
    pub result: Result<Reply, Errno>,
}

impl Replay {
    /// Reads `path`'s operations on bus `bus` (to `device` only, if given).
    pub fn load(
        path: &Path,
        mode: ReplayMode,
        bus: u32,
        device: Option<Address>,
    ) -> Result<Replay, ReplayError> {
        let events = crate::file::read_trace(path)?;
        let mut buses: Vec<u32> = Vec::new();
        let mut recorded = Vec::new();
        for (line, event) in events {
            match event {
                WatchEvent::Lost(lost) if mode == ReplayMode::Strict => {
                    return Err(ReplayError::Lost { trace: path.to_owned(), line, lost });
                }
                WatchEvent::Lost(_) => {}
                WatchEvent::Op(e) => {
                    if !buses.contains(&e.bus) {
                        buses.push(e.bus);
                    }
                    if e.bus == bus && device.is_none_or(|d| e.op.addresses().next() == Some(d)) {
                        recorded.push(Recorded { line, op: e.op, result: e.result });
                    }
                }
            }
        }
        if recorded.is_empty() {
            return Err(ReplayError::Nothing { trace: path.to_owned(), bus, device, buses });
        }
        Ok(Replay { trace: path.to_owned(), mode, device, recorded: Arc::new(recorded) })
    }
}

/// Why a trace cannot be played back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The file cannot be read as a trace.
    #[error(transparent)]
    File(#[from] crate::file::TraceFileError),
    /// A strict replay of a recording that lost operations: it cannot know what they were.
    #[error(
        "{}: line {line}: the recording lost {lost} operations here; a strict replay needs them all",
        trace.display()
    )]
    Lost {
        /// The trace.
        trace: PathBuf,
        /// The line that says so.
        line: usize,
        /// How many it lost there.
        lost: u64,
    },
    /// Nothing to play: the trace has no operations on the bus (to the device) chosen.
    #[error(
        "{} has no operations on bus {bus}{} (it has operations on bus {}); trace_bus chooses the bus",
        trace.display(),
        To(*device),
        Buses(buses)
    )]
    Nothing {
        /// The trace.
        trace: PathBuf,
        /// The bus chosen.
        bus: u32,
        /// The device chosen, if one was.
        device: Option<Address>,
        /// The buses the trace has operations on.
        buses: Vec<u32>,
    },
}

/// ` to 0x48`, for a replay of one device.
struct To(Option<Address>);

impl std::fmt::Display for To {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some((addr, _)) => write!(f, " to {addr:#04x}"),
            None => Ok(()),
        }
    }
}

/// `1, 3`, or `none`.
struct Buses<'a>(&'a [u32]);

impl std::fmt::Display for Buses<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, bus) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{bus}")?;
        }
        Ok(())
    }
}

/// A replay in play on a bus.
pub(crate) struct Player {
    device: Option<Address>,
    trace: String,
    kind: Kind,
}

enum Kind {
    /// `session` is the one it plays to: another starts it again at `next` = 0.
    Strict {
        recorded: Arc<Vec<Recorded>>,
        next: usize,
        session: Option<u128>,
    },
    Register {
        devices: HashMap<Address, Registers>,
    },
}

impl Player {
    pub(crate) fn new(replay: &Replay) -> Player {
        let kind = match replay.mode {
            ReplayMode::Strict => Kind::Strict { recorded: replay.recorded.clone(), next: 0, session: None },
            ReplayMode::Register => Kind::Register { devices: registers(&replay.recorded) },
        };
        Player { device: replay.device, trace: replay.trace.display().to_string(), kind }
    }

    /// A transaction of `session` begins: a strict replay starts over for a session other than
    /// the one it plays to. Two programs cannot both follow one recording, so the newest has
    /// it; registers are the chip's state, and stay.
    pub(crate) fn begin(&mut self, session: u128) {
        if let Kind::Strict { next, session: playing, .. } = &mut self.kind
            && *playing != Some(session)
        {
            *next = 0;
            *playing = Some(session);
        }
    }

    /// Whether this replay answers `op`.
    pub(crate) fn claims(&self, op: &Op) -> bool {
        self.device.is_none_or(|d| op.addresses().next() == Some(d))
    }

    pub(crate) fn execute(&mut self, op: &Op) -> Result<Reply, Failure> {
        match &mut self.kind {
            Kind::Strict { recorded, next, .. } => {
                let Some(expected) = recorded.get(*next) else {
                    let last = recorded.last().map_or(0, |r| r.line);
                    let detail = format!(
                        "; the replay of {} ended at line {last}, then came `{op}` (a new session starts it again)",
                        self.trace
                    );
                    return Err(Failure::detailed(Errno::EPROTO, detail));
                };
                if expected.op != *op {
                    let detail = format!(
                        "; the replay of {} expected `{}` (line {}), got `{op}`",
                        self.trace, expected.op, expected.line
                    );
                    return Err(Failure::detailed(Errno::EPROTO, detail));
                }
                *next += 1;
                expected.result.clone().map_err(Failure::from)
            }
            Kind::Register { devices } => {
                let reads = run(devices, op).map_err(|(errno, why)| match why {
                    Some(why) => Failure::detailed(
                        errno,
                        format!("; the replay of {} (register mode): {why}", self.trace),
                    ),
                    None => errno.into(),
                })?;
                Ok(match op {
                    Op::Smbus { command, .. } => {
                        command.reply_from(&reads).expect("one read per read message")
                    }
                    Op::Transfer(_) => Reply::Transfer(reads),
                })
            }
        }
    }
}

/// A device's registers as the trace saw them: what each read from each pointer returned, in
/// order, and what the program has written since.
#[derive(Default)]
struct Registers {
    /// How many bytes of a write set the pointer.
    pointer_len: usize,
    pointer: Vec<u8>,
    /// By pointer: the answers of the trace's reads, and how many the program has had.
    answers: HashMap<Vec<u8>, (Vec<Vec<u8>>, usize)>,
    /// By pointer: what the program wrote, over what the trace answers.
    written: HashMap<Vec<u8>, Vec<u8>>,
}

impl Registers {
    /// A write: its first bytes set the pointer; with `keep`, the rest are written there.
    fn write(&mut self, data: &[u8], keep: bool) {
        if data.is_empty() {
            return;
        }
        let split = self.pointer_len.min(data.len());
        self.pointer = data[..split].to_vec();
        let data = &data[split..];
        if keep && !data.is_empty() {
            let at = self.written.entry(self.pointer.clone()).or_default();
            if at.len() < data.len() {
                at.resize(data.len(), 0);
            }
            at[..data.len()].copy_from_slice(data);
        }
    }

    /// What a read of `len` bytes (`None`: a counted read) from the pointer answers: the
    /// trace's next answer there (its last, once all are used), under what the program wrote.
    fn read(&mut self, len: Option<usize>) -> Result<Vec<u8>, String> {
        let (answers, used) = self.answers.entry(self.pointer.clone()).or_default();
        let mut bytes =
            answers.get((*used).min(answers.len().saturating_sub(1))).cloned().unwrap_or_default();
        *used += 1;
        if let Some(written) = self.written.get(&self.pointer) {
            if bytes.len() < written.len() {
                bytes.resize(written.len(), 0);
            }
            bytes[..written.len()].copy_from_slice(written);
        }
        let len = match len {
            Some(n) => n,
            None => bytes.first().map_or(1, |&count| 1 + usize::from(count).min(BLOCK_MAX)),
        };
        match bytes.get(..len) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(format!("the trace never read {len} bytes from pointer {}", Hex(&self.pointer))),
        }
    }
}

/// Every device's registers from the recorded operations that succeeded.
fn registers(recorded: &[Recorded]) -> HashMap<Address, Registers> {
    let mut devices: HashMap<Address, Registers> = HashMap::new();
    let succeeded = || recorded.iter().filter_map(|r| Some((&r.op, r.result.as_ref().ok()?)));
    for (op, _) in succeeded() {
        let msgs = op.messages();
        for m in msgs.iter() {
            let device = devices.entry((m.addr, m.ten_bit())).or_default();
            device.pointer_len = device.pointer_len.max(1);
        }
        // A pointer is what a write sends right before a read of the same device: two bytes
        // if any read in the trace follows two.
        for pair in msgs.windows(2) {
            let (Dir::Write(w), Dir::Read(_)) = (&pair[0].dir, &pair[1].dir) else { continue };
            let device = devices.entry((pair[0].addr, pair[0].ten_bit())).or_default();
            device.pointer_len = device.pointer_len.max(w.len().min(2));
        }
    }
    for (op, reply) in succeeded() {
        let mut answers = op.reads(reply).unwrap_or_default().into_iter();
        for m in op.messages().iter() {
            let device = devices.get_mut(&(m.addr, m.ten_bit())).expect("every device of the trace");
            match &m.dir {
                Dir::Write(data) => device.write(data, false),
                Dir::Read(_) => {
                    let answer = answers.next().unwrap_or_default().to_vec();
                    device.answers.entry(device.pointer.clone()).or_default().0.push(answer);
                }
            }
        }
    }
    devices
}

type Miss = (Errno, Option<String>);

/// Runs `op`'s messages on the devices; the reads' answers.
fn run(devices: &mut HashMap<Address, Registers>, op: &Op) -> Result<Vec<Bytes>, Miss> {
    let mut reads = Vec::new();
    for m in op.messages().iter() {
        let Some(device) = devices.get_mut(&(m.addr, m.ten_bit())) else {
            return Err((Errno::ENXIO, None));
        };
        match &m.dir {
            Dir::Write(data) => device.write(data, true),
            Dir::Read(n) => {
                let len = (!m.counted()).then_some(usize::from(*n));
                let bytes = device.read(len).map_err(|why| (Errno::EREMOTEIO, Some(why)))?;
                reads.push(bytes.into());
            }
        }
    }
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smbus_proxy_wire::{Command, Msg};

    fn recorded(ops: Vec<(Op, Result<Reply, Errno>)>) -> Replay {
        let recorded =
            ops.into_iter().enumerate().map(|(i, (op, result))| Recorded { line: i + 2, op, result });
        Replay {
            trace: "t.trace".into(),
            mode: ReplayMode::Strict,
            device: None,
            recorded: Arc::new(recorded.collect()),
        }
    }

    fn rbd(reg: u8) -> Op {
        Op::smbus(0x48, Command::ReadByteData { reg })
    }

    #[test]
    fn strict_plays_back_in_order_and_names_a_deviation() {
        let replay = recorded(vec![(rbd(0), Ok(Reply::Byte(0x19))), (rbd(1), Err(Errno::ENXIO))]);
        let mut player = Player::new(&replay);
        assert_eq!(player.execute(&rbd(0)), Ok(Reply::Byte(0x19)));
        let wrong = player.execute(&rbd(2)).unwrap_err();
        assert_eq!(wrong.errno, Errno::EPROTO);
        assert_eq!(
            wrong.detail(),
            Some(
                "; the replay of t.trace expected `read_byte_data 0x48 reg=0x01` (line 3), got `read_byte_data 0x48 reg=0x02`"
            )
        );
        assert_eq!(
            player.execute(&rbd(1)),
            Err(Errno::ENXIO.into()),
            "the recorded failure, after the deviation"
        );
        let past = player.execute(&rbd(1)).unwrap_err();
        assert!(past.detail().unwrap().contains("ended at line 3, then came"));
    }

    #[test]
    fn strict_starts_again_for_each_session_and_not_within_one() {
        let replay = recorded(vec![(rbd(0), Ok(Reply::Byte(0x19))), (rbd(1), Ok(Reply::Byte(0x20)))]);
        let mut player = Player::new(&replay);
        for session in [7, 8] {
            player.begin(session);
            assert_eq!(player.execute(&rbd(0)), Ok(Reply::Byte(0x19)));
            // The next transaction of the same session goes on where the last one stopped.
            player.begin(session);
            assert_eq!(player.execute(&rbd(1)), Ok(Reply::Byte(0x20)));
            player.begin(session);
            let past = player.execute(&rbd(0)).unwrap_err();
            assert!(past.detail().unwrap().ends_with("(a new session starts it again)"), "{past}");
        }
    }

    #[test]
    fn register_mode_serves_what_the_trace_read_and_the_program_wrote() {
        let block = Op::smbus(0x10, Command::ReadI2cBlockData { reg: 0x0A, len: 4 });
        let mut replay = recorded(vec![
            (rbd(0), Ok(Reply::Byte(0x19))),
            (rbd(0), Ok(Reply::Byte(0x20))),
            (Op::smbus(0x48, Command::ReadWordData { reg: 2 }), Ok(Reply::Word(0xBEEF))),
            (block.clone(), Ok(Reply::Block(Bytes::from_static(&[1, 2, 3, 4])))),
            (Op::smbus(0x49, Command::ReadByte), Err(Errno::ENXIO)),
        ]);
        replay.mode = ReplayMode::Register;
        let mut player = Player::new(&replay);
        assert_eq!(player.execute(&rbd(0)), Ok(Reply::Byte(0x19)), "the answers in turn");
        assert_eq!(player.execute(&rbd(0)), Ok(Reply::Byte(0x20)));
        assert_eq!(player.execute(&rbd(0)), Ok(Reply::Byte(0x20)), "the last, once all are used");
        assert_eq!(player.execute(&Op::smbus(0x48, Command::ReadByteData { reg: 2 })), Ok(Reply::Byte(0xEF)));
        assert_eq!(player.execute(&block), Ok(Reply::Block(Bytes::from_static(&[1, 2, 3, 4]))));
        // The same bytes as a transfer: a pointer write, then a read.
        let transfer = Op::Transfer(vec![Msg::write(0x10, vec![0x0A]), Msg::read(0x10, 2)]);
        assert_eq!(player.execute(&transfer), Ok(Reply::Transfer(vec![Bytes::from_static(&[1, 2])])));
        // A write changes what reads answer.
        assert_eq!(
            player.execute(&Op::smbus(0x48, Command::WriteByteData { reg: 0, value: 7 })),
            Ok(Reply::Done)
        );
        assert_eq!(player.execute(&rbd(0)), Ok(Reply::Byte(7)));
        let never = player.execute(&rbd(5)).unwrap_err();
        assert_eq!(never.errno, Errno::EREMOTEIO);
        assert!(never.detail().unwrap().contains("never read 1 bytes from pointer [05]"));
        assert_eq!(player.execute(&Op::smbus(0x49, Command::ReadByte)).unwrap_err().errno, Errno::ENXIO);
    }
}
