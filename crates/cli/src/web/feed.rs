//! What the page sees of the bus: the server's watch, kept in a ring bounded in events and
//! bytes, which each page reads from where it left off. A page that falls behind (or a burst
//! the ring cannot hold) is told how many events it missed, as the watch tells this process
//! what it missed; the page decimates what it draws, this process bounds what it holds.

use smbus_proxy_client::{Errno, Op, Reply, WatchEvent};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

/// The most events the ring keeps, and the most bytes (each event counted at its JSON's
/// length, twice over for the event it came from).
pub const MAX_EVENTS: usize = 20_000;
pub const MAX_BYTES: usize = 16 << 20;
/// The most events one read of the feed returns, and the most bytes of them (past the first):
/// a page asks again for the rest.
pub const MAX_PER_READ: usize = 2_000;
pub const MAX_READ_BYTES: usize = 1 << 20;

/// One operation, as the ring keeps it.
pub struct Entry {
    pub seq: u64,
    pub event: WatchEvent,
    pub json: String,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
    /// The number the next event gets; the first is 1.
    next: u64,
    /// Events the watch said this process missed, in all.
    lost: u64,
}

/// The shared ring.
#[derive(Default)]
pub struct Feed {
    ring: Mutex<Ring>,
}

/// What a page gets when it reads the feed.
pub struct Read {
    pub entries: Vec<Arc<Entry>>,
    /// The number to ask from next time.
    pub next: u64,
    /// Events between the page's last read and this one that it will never see: pushed out of
    /// the ring before it read them.
    pub missed: u64,
    /// Events the watch lost before they reached this process, in all.
    pub lost: u64,
}

impl Feed {
    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps an event the watch brought, pushing out the oldest past the bounds.
    pub fn push(&self, event: WatchEvent) {
        let mut ring = self.ring();
        if let WatchEvent::Lost(n) = event {
            ring.lost += n;
            return;
        }
        ring.next = ring.next.max(1);
        let seq = ring.next;
        ring.next += 1;
        let json = json(seq, &event);
        ring.bytes += cost(&json);
        ring.entries.push_back(Arc::new(Entry { seq, event, json }));
        while ring.entries.len() > MAX_EVENTS || ring.bytes > MAX_BYTES {
            let Some(old) = ring.entries.pop_front() else { break };
            ring.bytes -= cost(&old.json);
        }
    }

    /// The events after `after`, at most [`MAX_PER_READ`] of them, oldest first.
    pub fn read(&self, after: u64) -> Read {
        let ring = self.ring();
        let oldest = ring.entries.front().map_or(ring.next.max(1), |e| e.seq);
        let missed = oldest.saturating_sub(after + 1);
        let skip = (after + 1).saturating_sub(oldest) as usize;
        let mut bytes = 0;
        let entries: Vec<_> = ring
            .entries
            .iter()
            .skip(skip)
            .take(MAX_PER_READ)
            .take_while(|e| {
                bytes += e.json.len();
                bytes == e.json.len() || bytes <= MAX_READ_BYTES
            })
            .cloned()
            .collect();
        let next = entries.last().map_or(after.max(oldest.saturating_sub(1)), |e| e.seq);
        Read { entries, next, missed, lost: ring.lost }
    }

    /// Every event the ring holds, oldest first: what a download gets.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.ring().entries.iter().cloned().collect()
    }

    /// The bytes the ring counts now.
    pub fn bytes(&self) -> usize {
        self.ring().bytes
    }
}

fn cost(json: &str) -> usize {
    2 * json.len() + 64
}

/// An event as the page reads it: where and when, the operation in the trace notation, its
/// result, and for register operations the register and the bytes that went to or came from
/// it, which the page's register view and plots follow.
fn json(seq: u64, event: &WatchEvent) -> String {
    let WatchEvent::Op(op) = event else { return String::new() };
    let time = op.time.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let (result, errno) = match &op.result {
        Ok(reply) => (reply.to_string(), None),
        Err(errno) => (smbus_proxy_wire::notation::errno(*errno), Some(*errno)),
    };
    let nack = matches!(errno, Some(Errno::ENXIO | Errno::EREMOTEIO));
    let (register, write, data) = register_access(&op.op, op.result.as_ref().ok());
    serde_json::json!({
        "seq": seq,
        "time": time,
        "bus": op.bus,
        "session": op.session,
        "peer": op.peer,
        "addr": op.op.device(),
        "op": op.op.to_string(),
        "name": op.op.name(),
        "result": result,
        "ok": errno.is_none(),
        "nack": nack,
        "took_us": op.took.as_micros() as u64,
        "register": register,
        "write": write,
        "data": data,
    })
    .to_string()
}

/// The register an operation reads or writes, whether it writes, and the bytes (a word low
/// byte first, as on the wire).
fn register_access(op: &Op, reply: Option<&Reply>) -> (Option<u8>, bool, Vec<u8>) {
    use smbus_proxy_client::Command as C;
    let Op::Smbus { command, .. } = op else { return (None, false, Vec::new()) };
    match (command, reply) {
        (C::WriteByteData { reg, value }, _) => (Some(*reg), true, vec![*value]),
        (C::WriteWordData { reg, value }, _) => (Some(*reg), true, value.to_le_bytes().to_vec()),
        (C::WriteI2cBlockData { reg, data } | C::WriteBlockData { reg, data }, _) => {
            (Some(*reg), true, data.to_vec())
        }
        (C::ReadByteData { reg }, Some(Reply::Byte(b))) => (Some(*reg), false, vec![*b]),
        (C::ReadWordData { reg }, Some(Reply::Word(w))) => (Some(*reg), false, w.to_le_bytes().to_vec()),
        (C::ReadI2cBlockData { reg, .. } | C::ReadBlockData { reg }, Some(Reply::Block(data))) => {
            (Some(*reg), false, data.to_vec())
        }
        _ => (None, false, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smbus_proxy_client::{Command, Msg, OpEvent};
    use std::time::{Duration, SystemTime};

    fn op(op: Op, result: Result<Reply, Errno>) -> WatchEvent {
        WatchEvent::Op(Box::new(OpEvent {
            bus: 1,
            time: SystemTime::now(),
            took: Duration::from_micros(30),
            session: "0123abcd".into(),
            peer: Some("127.0.0.1:5000".into()),
            op,
            ran_as: None,
            result,
        }))
    }

    fn read_byte(reg: u8) -> WatchEvent {
        op(Op::smbus(0x48, Command::ReadByteData { reg }), Ok(Reply::Byte(reg)))
    }

    #[test]
    fn the_ring_keeps_the_newest_events_and_a_reader_learns_what_it_missed() {
        let feed = Feed::default();
        for i in 0..25_000u32 {
            feed.push(read_byte(i as u8));
        }
        feed.push(WatchEvent::Lost(7));
        let read = feed.read(0);
        assert_eq!((read.missed, read.lost), (5_000, 7), "pushed out before it was read; lost by the watch");
        assert_eq!(read.entries.len(), MAX_PER_READ);
        assert_eq!((read.entries[0].seq, read.next), (5_001, 7_000));
        let rest = feed.read(24_990);
        assert_eq!((rest.missed, rest.entries.len(), rest.next), (0, 10, 25_000));
        assert_eq!(feed.read(25_000).entries.len(), 0, "nothing new");
        assert!(feed.all().len() <= MAX_EVENTS);
    }

    #[test]
    fn the_ring_is_bounded_in_bytes() {
        let feed = Feed::default();
        // 8 KiB read in one message: the most an event carries, about 40 KB as JSON.
        let big = op(
            Op::Transfer(vec![Msg::read(0x50, 8192)]),
            Ok(Reply::Transfer(vec![bytes::Bytes::from(vec![0xA5; 8192])])),
        );
        for _ in 0..1_000 {
            feed.push(big.clone());
        }
        assert!(feed.bytes() <= MAX_BYTES, "{} bytes", feed.bytes());
        let read = feed.read(0);
        let json: usize = read.entries.iter().map(|e| e.json.len()).sum();
        assert!(
            json <= MAX_READ_BYTES && read.entries.len() > 1,
            "{json} bytes in {} events",
            read.entries.len()
        );
        assert!(feed.all().len() < 1_000, "the oldest went");
        assert_eq!(feed.read(0).missed as usize, 1_000 - feed.all().len());
    }

    #[test]
    fn an_event_says_where_what_and_which_register() {
        let feed = Feed::default();
        feed.push(op(Op::smbus(0x48, Command::WriteWordData { reg: 2, value: 0x1234 }), Ok(Reply::Done)));
        feed.push(op(Op::smbus(0x33, Command::ReadByteData { reg: 0 }), Err(Errno::ENXIO)));
        let read = feed.read(0);
        let first: serde_json::Value = serde_json::from_str(&read.entries[0].json).unwrap();
        assert_eq!(
            (&first["addr"], &first["register"], &first["write"], &first["data"], &first["ok"]),
            (
                &serde_json::json!(0x48),
                &serde_json::json!(2),
                &serde_json::json!(true),
                &serde_json::json!([0x34, 0x12]),
                &serde_json::json!(true)
            )
        );
        let second: serde_json::Value = serde_json::from_str(&read.entries[1].json).unwrap();
        assert_eq!(
            (&second["nack"], &second["result"]),
            (&serde_json::json!(true), &serde_json::json!("ENXIO"))
        );
    }
}
