//! Captures of a watch: what went over the wire, as Wireshark reads it (`smbus-proxy monitor
//! --pcap` writes them).
//!
//! The file is pcapng with one interface per bus (named `i2c-N`), of link type
//! `LINKTYPE_I2C_LINUX` (209; the `pcap-file` crate still calls it by its old name,
//! `IPMB_LINUX`). Each packet is one I2C message: a 5-byte pseudo-header (the bus number in
//! the low 7 bits of the first byte, then the message's `I2C_M_*` flags, big-endian), the
//! address byte (`addr << 1 | R/W`; two bytes for a 10-bit address), and the bytes written or
//! read. An SMBus command is the messages the kernel sends for it ([`Op::messages`]), with its
//! PEC byte where it has one.
//!
//! The format has no field for an acknowledge or an errno, and none for the operation a message
//! came from, so each operation's first packet carries its trace line as the packet's comment
//! (`tshark -e frame.comment`). A failed operation is one packet: the address byte of its first
//! message, whose comment ends in the errno; how far a failed transfer got, the server does not
//! learn. Events the monitor lost are the next packet's drop count. Bus numbers above 127 do not
//! fit the pseudo-header, which then says 127; the interface's name has the number.

use crate::{Dir, Msg, Op, OpEvent, WatchEvent};
use pcap_file::DataLink;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use smbus_proxy_wire::lower::{has_pec, pec};
use smbus_proxy_wire::op::msg_flags;
use std::borrow::Cow;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// Timestamps in nanoseconds, which is how `pcap-file` writes them.
const NANOSECONDS: u8 = 9;

/// A capture being written.
pub struct Capture<W: Write> {
    writer: PcapNgWriter<W>,
    /// The buses with an interface, by interface number.
    interfaces: Vec<u32>,
    /// Events lost since the last packet.
    lost: u64,
}

impl<W: Write> Capture<W> {
    /// Starts a capture: the section header goes out at once, so a reader on a pipe starts.
    pub fn new(out: W) -> std::io::Result<Self> {
        let mut writer = PcapNgWriter::new(out).map_err(std::io::Error::other)?;
        writer.get_mut().flush()?;
        Ok(Capture { writer, interfaces: Vec::new(), lost: 0 })
    }

    /// The output, the capture written to it so far.
    pub fn into_inner(self) -> W {
        self.writer.into_inner()
    }

    /// Adds what the watch saw, and flushes it.
    pub fn add(&mut self, event: &WatchEvent) -> std::io::Result<()> {
        match event {
            WatchEvent::Lost(n) => self.lost += n,
            WatchEvent::Op(e) => {
                let interface = self.interface(e.bus)?;
                for (i, packet) in packets(e).into_iter().enumerate() {
                    let mut options = Vec::new();
                    if i == 0 {
                        options.push(EnhancedPacketOption::Comment(Cow::Owned(e.to_string())));
                    }
                    if self.lost > 0 {
                        options.push(EnhancedPacketOption::DropCount(std::mem::take(&mut self.lost)));
                    }
                    let started = e.time.checked_sub(e.took).unwrap_or(e.time);
                    let block = EnhancedPacketBlock {
                        interface_id: interface,
                        timestamp: started.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO),
                        original_len: packet.len() as u32,
                        data: Cow::Owned(packet),
                        options,
                    };
                    self.writer.write_pcapng_block(block).map_err(std::io::Error::other)?;
                }
            }
        }
        self.writer.get_mut().flush()
    }

    /// The interface of `bus`, described on first use.
    fn interface(&mut self, bus: u32) -> std::io::Result<u32> {
        if let Some(i) = self.interfaces.iter().position(|&b| b == bus) {
            return Ok(i as u32);
        }
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::IPMB_LINUX,
            snaplen: 0,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(format!("i2c-{bus}"))),
                InterfaceDescriptionOption::IfTsResol(NANOSECONDS),
            ],
        };
        self.writer.write_pcapng_block(block).map_err(std::io::Error::other)?;
        self.interfaces.push(bus);
        Ok(self.interfaces.len() as u32 - 1)
    }
}

/// The packets of one operation: each message with its bytes, or for a failure the first
/// message's address.
fn packets(e: &OpEvent) -> Vec<Vec<u8>> {
    let msgs = e.op.messages();
    let header = |m: &Msg| {
        let read = matches!(m.dir, Dir::Read(_));
        let flags = u32::from(m.flags) | if read { u32::from(msg_flags::RD) } else { 0 };
        let mut packet = vec![e.bus.min(0x7F) as u8];
        packet.extend(flags.to_be_bytes());
        packet.extend(address(m, read));
        packet
    };
    let reads = match &e.result {
        Ok(reply) => e.op.reads(reply),
        Err(_) => None,
    };
    let Some(reads) = reads else {
        return msgs.first().map(header).into_iter().collect();
    };
    let mut reads = reads.into_iter();
    let mut packets: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut packet = header(m);
            match &m.dir {
                Dir::Write(data) => packet.extend_from_slice(data),
                Dir::Read(_) => packet.extend_from_slice(&reads.next().unwrap_or_default()),
            }
            packet
        })
        .collect();
    if let Op::Smbus { target, command } = &e.op
        && target.pec
        && has_pec(command)
    {
        // Over every address byte and data byte of the command, as the kernel computes it; the
        // read carries it from the device, a lone write to it.
        const HEADER: usize = 5;
        let addressed = |p: &Vec<u8>, m: &Msg| {
            let read = matches!(m.dir, Dir::Read(_)) as u8;
            std::iter::once((m.addr << 1) as u8 | read)
                .chain(p[HEADER + address(m, read == 1).len()..].to_vec())
        };
        let code = pec(packets.iter().zip(msgs.iter()).flat_map(|(p, m)| addressed(p, m)));
        if let Some(last) = packets.last_mut() {
            last.push(code);
        }
    }
    packets
}

/// The address byte as it goes on the wire, or a 10-bit address's two (11110, its top two bits
/// and R/W, then its low eight).
fn address(m: &Msg, read: bool) -> Vec<u8> {
    let rw = u8::from(read);
    if m.ten_bit() {
        vec![0xF0 | ((m.addr >> 7) as u8 & 0x06) | rw, m.addr as u8]
    } else {
        vec![(m.addr as u8) << 1 | rw]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Command, Errno, Reply, Target};

    fn event(op: Op, result: Result<Reply, Errno>) -> OpEvent {
        OpEvent {
            bus: 1,
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            took: Duration::from_micros(100),
            session: "s".into(),
            peer: None,
            op,
            ran_as: None,
            result,
        }
    }

    #[test]
    fn smbus_commands_are_their_messages() {
        let read = event(Op::smbus(0x48, Command::ReadWordData { reg: 2 }), Ok(Reply::Word(0x1234)));
        assert_eq!(packets(&read), [vec![1, 0, 0, 0, 0, 0x90, 2], vec![1, 0, 0, 0, 1, 0x91, 0x34, 0x12]]);
        let failed = event(Op::smbus(0x48, Command::ReadWordData { reg: 2 }), Err(Errno::ENXIO));
        assert_eq!(packets(&failed), [vec![1, 0, 0, 0, 0, 0x90]]);
    }

    #[test]
    fn pec_is_the_last_byte_over_the_whole_command() {
        let target = Target { addr: 0x48, pec: true, ..Target::default() };
        let write = event(
            Op::Smbus { target, command: Command::WriteByteData { reg: 1, value: 2 } },
            Ok(Reply::Done),
        );
        assert_eq!(packets(&write), [vec![1, 0, 0, 0, 0, 0x90, 1, 2, pec([0x90, 1, 2])]]);
        let read = event(Op::Smbus { target, command: Command::ReadByteData { reg: 1 } }, Ok(Reply::Byte(7)));
        assert_eq!(packets(&read)[1], [1, 0, 0, 0, 1, 0x91, 7, pec([0x90, 1, 0x91, 7])]);
        let i2c_block = Command::WriteI2cBlockData { reg: 1, data: vec![2].into() };
        assert_eq!(packets(&event(Op::Smbus { target, command: i2c_block }, Ok(Reply::Done)))[0].len(), 8);
    }

    #[test]
    fn ten_bit_addresses_take_two_bytes() {
        let m = Msg { flags: msg_flags::TEN, ..Msg::read(0x2A5, 1) };
        assert_eq!(address(&m, true), [0xF5, 0xA5]);
    }
}
