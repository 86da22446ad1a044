//! A recording as `embedded-hal-mock` expectations, Rust source a driver's unit test includes,
//! so a recording on the real chip becomes a test without it (`smbus-proxy export-mock`).
//!
//! Each recorded operation becomes the `I2c` call a driver makes for it (through
//! [`Op::messages`], so SMBus commands from other clients come out as the messages they were):
//! one write message is `write`, one read is `read`, a write then a read of the same device is
//! `write_read`, anything longer is a `transaction` (`transaction_start`, its messages,
//! `transaction_end`). A failure carries its `ErrorKind`, as the client maps the errno. What
//! embedded-hal cannot express is refused, naming the line: 10-bit addresses, a read whose
//! length the device sends, message flags, a transaction to more than one device, and a
//! failed transaction (the mock cannot fail one).

use crate::embedded_hal::i2c::{ErrorKind, NoAcknowledgeSource};
use crate::{Dir, Errno, Msg, Op, Reply, WatchEvent, hal};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Why a recording cannot become expectations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The trace has no operations at all.
    #[error("{} has no operations", trace.display())]
    Empty {
        /// The trace.
        trace: PathBuf,
    },
    /// The trace has operations on more than one bus, and none was chosen.
    #[error("{} has operations on buses {buses:?}: choose one with --bus", trace.display())]
    Buses {
        /// The trace.
        trace: PathBuf,
        /// The buses it has operations on.
        buses: Vec<u32>,
    },
    /// None of its operations on the bus are to the devices chosen.
    #[error("{} has no operations on bus {bus} to the devices given", trace.display())]
    NoneTo {
        /// The trace.
        trace: PathBuf,
        /// The bus chosen.
        bus: u32,
    },
    /// An operation embedded-hal cannot express.
    #[error("{} line {line}: `{op}`: {why}", trace.display())]
    Inexpressible {
        /// The trace.
        trace: PathBuf,
        /// The operation's line in it.
        line: usize,
        /// The operation, in the trace's notation.
        op: String,
        /// What embedded-hal lacks for it.
        why: Inexpressible,
    },
}

/// What embedded-hal's I2C mock cannot say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Inexpressible {
    /// A transfer of no messages.
    #[error("a transfer of no messages")]
    NoMessages,
    /// A 10-bit address.
    #[error("{0:#05x} is a 10-bit address, which the mock does not take")]
    TenBit(u16),
    /// An SMBus block read, whose length the device sends.
    #[error("embedded-hal has no read whose length the device sends")]
    CountedRead,
    /// Message flags.
    #[error("embedded-hal has no message flags")]
    Flags,
    /// A transaction with more than one device.
    #[error("an embedded-hal transaction is with one device")]
    Devices,
    /// A recorded reply that is not the operation's shape.
    #[error("its reply {0} is not its shape")]
    Shape(Reply),
    /// A failed transaction of more than two messages.
    #[error("it failed ({}), and the mock cannot fail a transaction", smbus_proxy_wire::notation::errno(*.0))]
    FailedTransaction(Errno),
}

/// The expectations for the `events` of the trace at `path` (with their line numbers, as
/// `smbus_proxy_wire::trace::parse` gives them): its operations on `bus` (the only one it has,
/// if not given) to the `devices` given (all, if none). The errors name the trace and the line.
pub fn expectations(
    path: &Path,
    events: Vec<(usize, WatchEvent)>,
    bus: Option<u32>,
    devices: &[u16],
) -> Result<String, MockError> {
    let ops: Vec<_> = events
        .into_iter()
        .filter_map(|(line, event)| match event {
            WatchEvent::Op(e) => Some((line, e)),
            WatchEvent::Lost(_) => None,
        })
        .collect();
    let mut buses: Vec<u32> = ops.iter().map(|(_, e)| e.bus).collect();
    buses.sort_unstable();
    buses.dedup();
    let bus = match (bus, &buses[..]) {
        (Some(bus), _) => bus,
        (None, [one]) => *one,
        (None, []) => return Err(MockError::Empty { trace: path.to_owned() }),
        (None, many) => return Err(MockError::Buses { trace: path.to_owned(), buses: many.to_vec() }),
    };
    let name =
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let mut calls = String::new();
    let mut count = 0;
    for (line, e) in ops.iter().filter(|(_, e)| e.bus == bus) {
        let msgs = e.op.messages();
        if !devices.is_empty() && !msgs.iter().any(|m| devices.contains(&m.addr)) {
            continue;
        }
        calls += &expectation(&e.op, &e.result).map_err(|why| MockError::Inexpressible {
            trace: name.clone().into(),
            line: *line,
            op: e.op.to_string(),
            why,
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(MockError::NoneTo { trace: path.to_owned(), bus });
    }
    Ok(format!(
        "\
// embedded-hal-mock expectations: the {count} I2C calls of {name} on bus {bus}, as
// `smbus-proxy export-mock` wrote them. In a driver's test:
//     let mut i2c = embedded_hal_mock::eh1::i2c::Mock::new(&expectations());
//     // ... run the driver on `i2c` ...
//     i2c.done();

/// What the driver did on the bus when it was recorded, and what the bus answered.
fn expectations() -> Vec<embedded_hal_mock::eh1::i2c::Transaction> {{
    use embedded_hal_mock::eh1::i2c::Transaction as T;
    vec![
{calls}    ]
}}
"
    ))
}

/// One operation as the mock's transactions, one per line.
fn expectation(op: &Op, result: &Result<Reply, Errno>) -> Result<String, Inexpressible> {
    let msgs = op.messages();
    let first = msgs.first().ok_or(Inexpressible::NoMessages)?;
    if let Some(m) = msgs.iter().find(|m| m.ten_bit()) {
        return Err(Inexpressible::TenBit(m.addr));
    }
    if msgs.iter().any(Msg::counted) {
        return Err(Inexpressible::CountedRead);
    }
    if msgs.iter().any(|m| m.flags != 0) {
        return Err(Inexpressible::Flags);
    }
    if msgs.iter().any(|m| m.addr != first.addr) {
        return Err(Inexpressible::Devices);
    }
    let addr = first.addr;
    // The bytes each read returned; on a failure, as many zeros as it asked for.
    let mut reads = match result {
        Ok(reply) => op.reads(reply).ok_or_else(|| Inexpressible::Shape(reply.clone()))?,
        Err(_) => msgs.iter().filter_map(Msg::reads_at_most).map(|n| vec![0; n].into()).collect(),
    }
    .into_iter();
    let mut one = |m: &Msg| match &m.dir {
        Dir::Write(data) => format!("T::write({addr:#04x}, {})", bytes(data)),
        Dir::Read(_) => format!("T::read({addr:#04x}, {})", bytes(&reads.next().unwrap_or_default())),
    };
    let call = match &msgs[..] {
        [m] => one(m),
        [Msg { dir: Dir::Write(w), .. }, Msg { dir: Dir::Read(_), .. }] => {
            format!("T::write_read({addr:#04x}, {}, {})", bytes(w), bytes(&reads.next().unwrap_or_default()))
        }
        many => {
            if let Err(errno) = result {
                return Err(Inexpressible::FailedTransaction(*errno));
            }
            let mut lines = format!("T::transaction_start({addr:#04x}),\n");
            for m in many {
                let _ = writeln!(lines, "        {},", one(m));
            }
            let _ = write!(lines, "        T::transaction_end({addr:#04x})");
            lines
        }
    };
    Ok(match result {
        Ok(_) => format!("        {call},\n"),
        Err(errno) => format!("        {call}.with_error({}),\n", error_kind(hal::kind(*errno))),
    })
}

/// `vec![0x01, 0x02]`.
fn bytes(data: &[u8]) -> String {
    let items: Vec<String> = data.iter().map(|b| format!("{b:#04x}")).collect();
    format!("vec![{}]", items.join(", "))
}

/// An `ErrorKind` as the source that makes it.
fn error_kind(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address) => {
            "embedded_hal::i2c::ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Address)"
        }
        ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data) => {
            "embedded_hal::i2c::ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Data)"
        }
        ErrorKind::NoAcknowledge(_) => {
            "embedded_hal::i2c::ErrorKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Unknown)"
        }
        ErrorKind::ArbitrationLoss => "embedded_hal::i2c::ErrorKind::ArbitrationLoss",
        ErrorKind::Bus => "embedded_hal::i2c::ErrorKind::Bus",
        ErrorKind::Overrun => "embedded_hal::i2c::ErrorKind::Overrun",
        _ => "embedded_hal::i2c::ErrorKind::Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bytes, Command, Target};

    fn call(op: Op, result: Result<Reply, Errno>) -> String {
        expectation(&op, &result).unwrap().trim().to_owned()
    }

    #[test]
    fn each_shape_is_the_call_a_driver_makes() {
        let t = |msgs: Vec<Msg>| Op::Transfer(msgs);
        let reads =
            |r: &[&'static [u8]]| Ok(Reply::Transfer(r.iter().map(|b| Bytes::from_static(b)).collect()));
        assert_eq!(
            call(t(vec![Msg::write(0x76, vec![0xE0, 0xB6])]), reads(&[])),
            "T::write(0x76, vec![0xe0, 0xb6]),"
        );
        assert_eq!(call(t(vec![Msg::read(0x76, 1)]), reads(&[&[7]])), "T::read(0x76, vec![0x07]),");
        assert_eq!(
            call(t(vec![Msg::write(0x76, vec![0xD0]), Msg::read(0x76, 1)]), reads(&[&[0x60]])),
            "T::write_read(0x76, vec![0xd0], vec![0x60]),"
        );
        assert_eq!(
            call(
                t(vec![Msg::write(0x76, vec![1]), Msg::write(0x76, vec![2]), Msg::read(0x76, 1)]),
                reads(&[&[3]])
            ),
            "T::transaction_start(0x76),\n        T::write(0x76, vec![0x01]),\n        T::write(0x76, vec![0x02]),\n        \
             T::read(0x76, vec![0x03]),\n        T::transaction_end(0x76),"
        );
        // An SMBus command from another client is the messages it was.
        assert_eq!(
            call(Op::smbus(0x48, Command::ReadWordData { reg: 2 }), Ok(Reply::Word(0xBEEF))),
            "T::write_read(0x48, vec![0x02], vec![0xef, 0xbe]),"
        );
        assert_eq!(
            call(Op::smbus(0x48, Command::ReadByteData { reg: 2 }), Err(Errno::ENXIO)),
            "T::write_read(0x48, vec![0x02], vec![0x00]).with_error(embedded_hal::i2c::ErrorKind::NoAcknowledge(\
             embedded_hal::i2c::NoAcknowledgeSource::Address)),"
        );
    }

    /// A trace's refusals, each naming the trace and, for an operation, its line.
    #[test]
    fn a_trace_that_cannot_be_exported_says_why() {
        let event = |bus, op: Op| {
            WatchEvent::Op(Box::new(crate::OpEvent {
                bus,
                time: std::time::SystemTime::UNIX_EPOCH,
                took: std::time::Duration::ZERO,
                session: "01c73649".into(),
                peer: None,
                op,
                ran_as: None,
                result: Ok(Reply::Done),
            }))
        };
        let trace = Path::new("lab/bme280.trace");
        let write = |addr| Op::smbus(addr, Command::WriteByteData { reg: 0, value: 1 });
        let export = |events, bus, devices: &[u16]| expectations(trace, events, bus, devices).unwrap_err();
        assert!(matches!(export(vec![], None, &[]), MockError::Empty { .. }));
        let two = vec![(2, event(1, write(0x48))), (3, event(3, write(0x48)))];
        let e = export(two.clone(), None, &[]);
        assert_eq!(e.to_string(), "lab/bme280.trace has operations on buses [1, 3]: choose one with --bus");
        let e = export(two, Some(1), &[0x50]);
        assert_eq!(e.to_string(), "lab/bme280.trace has no operations on bus 1 to the devices given");
        let ten = Op::Smbus {
            target: Target { addr: 0x1A5, ten_bit: true, ..Target::default() },
            command: Command::WriteByte { value: 1 },
        };
        let e = export(vec![(2, event(1, write(0x48))), (7, event(1, ten))], None, &[]);
        let MockError::Inexpressible { line, why, .. } = &e else { panic!("{e:?}") };
        assert_eq!((*line, why), (7, &Inexpressible::TenBit(0x1A5)));
        assert!(e.to_string().starts_with("bme280.trace line 7: `"), "{e}");
    }

    #[test]
    fn what_embedded_hal_cannot_say_is_refused() {
        let refused = |op: Op, result| expectation(&op, &result).unwrap_err().to_string();
        let ten = Op::Smbus {
            target: Target { addr: 0x1A5, ten_bit: true, ..Target::default() },
            command: Command::ReadByte,
        };
        assert!(refused(ten, Ok(Reply::Byte(0))).contains("10-bit"));
        let block = Op::smbus(0x48, Command::ReadBlockData { reg: 0 });
        assert!(
            refused(block, Ok(Reply::Block(Bytes::from_static(&[1])))).contains("length the device sends")
        );
        let two = Op::Transfer(vec![Msg::write(0x48, vec![0]), Msg::read(0x49, 1)]);
        assert!(refused(two, Ok(Reply::Transfer(vec![Bytes::from_static(&[1])]))).contains("one device"));
        let three =
            Op::Transfer(vec![Msg::write(0x48, vec![0]), Msg::write(0x48, vec![1]), Msg::read(0x48, 1)]);
        assert!(refused(three, Err(Errno::EIO)).contains("cannot fail a transaction"));
    }
}
