//! Transfers on adapters without plain I2C (a PC's SMBus controller has no I2C_RDWR).
//!
//! Some transfers put exactly the same bits on the wire as an SMBus command; those run as that
//! command, so embedded-hal drivers work on SMBus-only adapters. The rest are left to the
//! backend, which refuses them with EOPNOTSUPP.

use smbus_proxy_wire::op::{BLOCK_MAX, msg_flags};
use smbus_proxy_wire::{Command, Dir, Msg, Op, Reply, Target};

/// The SMBus command with the same wire traffic as `msgs`, if there is one the adapter can do.
pub fn smbus_equivalent(msgs: &[Msg], funcs: u64) -> Option<Op> {
    let first = msgs.first()?;
    // Only plain messages to one device map onto SMBus (a counted read is an SMBus block
    // read's second half); 10-bit addressing carries over.
    let plain = |m: &Msg| m.flags & !(msg_flags::TEN | msg_flags::RECV_LEN) == 0;
    if msgs.iter().any(|m| m.addr != first.addr || m.ten_bit() != first.ten_bit() || !plain(m)) {
        return None;
    }
    if let [Msg { dir: Dir::Write(w), .. }, read] = msgs
        && w.len() == 1
        && read.counted()
    {
        let target = Target { addr: first.addr, ten_bit: first.ten_bit(), pec: false, force: false };
        let op = Op::Smbus { target, command: Command::ReadBlockData { reg: w[0] } };
        return (op.required_func() & !funcs == 0).then_some(op);
    }
    if msgs.iter().any(Msg::counted) {
        return None;
    }
    let target = Target { addr: first.addr, ten_bit: first.ten_bit(), pec: false, force: false };
    let command = match (&msgs[0].dir, msgs.get(1).map(|m| &m.dir), msgs.len()) {
        (Dir::Write(w), None, 1) => match w.len() {
            0 => Command::WriteQuick { bit: 0 },
            1 => Command::WriteByte { value: w[0] },
            2 => Command::WriteByteData { reg: w[0], value: w[1] },
            3 => Command::WriteWordData { reg: w[0], value: u16::from_le_bytes([w[1], w[2]]) },
            n if n <= BLOCK_MAX + 1 => Command::WriteI2cBlockData { reg: w[0], data: w.slice(1..) },
            _ => return None,
        },
        (Dir::Read(0), None, 1) => Command::WriteQuick { bit: 1 },
        (Dir::Read(1), None, 1) => Command::ReadByte,
        (Dir::Write(w), Some(Dir::Read(n)), 2) if w.len() == 1 => match usize::from(*n) {
            1 => Command::ReadByteData { reg: w[0] },
            2 => Command::ReadWordData { reg: w[0] },
            n @ 3..=BLOCK_MAX => Command::ReadI2cBlockData { reg: w[0], len: n as u8 },
            _ => return None,
        },
        _ => return None,
    };
    let op = Op::Smbus { target, command };
    // The same messages, by the one description of what each command sends.
    debug_assert_eq!(*op.messages(), *msgs);
    (op.required_func() & !funcs == 0).then_some(op)
}

/// The reply of `op`, the SMBus equivalent of a transfer, as the transfer's: what its read
/// message returned.
pub fn transfer_reply(op: &Op, reply: Reply) -> Reply {
    Reply::Transfer(op.reads(&reply).expect("the backend answers in the command's shape"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use smbus_proxy_wire::funcs;

    const SMBUS: u64 = funcs::SMBUS_QUICK
        | funcs::SMBUS_BYTE
        | funcs::SMBUS_BYTE_DATA
        | funcs::SMBUS_WORD_DATA
        | funcs::SMBUS_I2C_BLOCK;

    fn command(msgs: &[Msg]) -> Option<Command> {
        match smbus_equivalent(msgs, SMBUS)? {
            Op::Smbus { command, .. } => Some(command),
            Op::Transfer(_) => None,
        }
    }

    #[test]
    fn exact_equivalents() {
        let w = |d: &[u8]| Msg::write(0x50, d.to_vec());
        let r = |n| Msg::read(0x50, n);
        assert_eq!(command(&[w(&[])]), Some(Command::WriteQuick { bit: 0 }));
        assert_eq!(command(&[r(0)]), Some(Command::WriteQuick { bit: 1 }));
        assert_eq!(command(&[r(1)]), Some(Command::ReadByte));
        assert_eq!(command(&[w(&[7])]), Some(Command::WriteByte { value: 7 }));
        assert_eq!(command(&[w(&[1, 2])]), Some(Command::WriteByteData { reg: 1, value: 2 }));
        assert_eq!(command(&[w(&[1, 0x34, 0x12])]), Some(Command::WriteWordData { reg: 1, value: 0x1234 }));
        assert_eq!(
            command(&[w(&[1, 2, 3, 4])]),
            Some(Command::WriteI2cBlockData { reg: 1, data: Bytes::from_static(&[2, 3, 4]) })
        );
        assert_eq!(command(&[w(&[9]), r(1)]), Some(Command::ReadByteData { reg: 9 }));
        assert_eq!(command(&[w(&[9]), r(2)]), Some(Command::ReadWordData { reg: 9 }));
        assert_eq!(command(&[w(&[9]), r(32)]), Some(Command::ReadI2cBlockData { reg: 9, len: 32 }));
        let counted = [w(&[9]), Msg::read_counted(0x50)];
        assert_eq!(smbus_equivalent(&counted, SMBUS), None, "no SMBus block read here");
        let with_block_read = SMBUS | funcs::SMBUS_READ_BLOCK_DATA;
        let Some(Op::Smbus { command, .. }) = smbus_equivalent(&counted, with_block_read) else { panic!() };
        assert_eq!(command, Command::ReadBlockData { reg: 9 });
    }

    #[test]
    fn no_equivalent() {
        assert_eq!(command(&[Msg::read(0x50, 2)]), None, "a 2-byte read without a command byte");
        assert_eq!(command(&[Msg::write(0x50, vec![0]), Msg::read(0x50, 33)]), None);
        assert_eq!(command(&[Msg::write(0x50, vec![0; 34])]), None);
        assert_eq!(command(&[Msg::write(0x50, vec![0, 1]), Msg::read(0x50, 1)]), None);
        assert_eq!(command(&[Msg::write(0x50, vec![0]), Msg::read(0x51, 1)]), None, "two devices");
        let stop = Msg { flags: msg_flags::STOP, ..Msg::read(0x50, 1) };
        assert_eq!(command(&[stop]), None);
        // An adapter without I2C block support has no equivalent for a long read.
        let no_block = SMBUS & !funcs::SMBUS_I2C_BLOCK;
        assert_eq!(smbus_equivalent(&[Msg::write(0x50, vec![0]), Msg::read(0x50, 8)], no_block), None);
    }

    #[test]
    fn replies_come_back_as_the_transfers() {
        let word = Op::smbus(0x50, Command::ReadWordData { reg: 0 });
        assert_eq!(
            transfer_reply(&word, Reply::Word(0x1234)),
            Reply::Transfer(vec![Bytes::from_static(&[0x34, 0x12])])
        );
        let quick = Op::smbus(0x50, Command::WriteQuick { bit: 1 });
        assert_eq!(
            transfer_reply(&quick, Reply::Done),
            Reply::Transfer(vec![Bytes::new()]),
            "one empty read"
        );
        let block = Op::smbus(0x50, Command::ReadBlockData { reg: 0 });
        assert_eq!(
            transfer_reply(&block, Reply::Block(Bytes::from_static(&[7, 8]))),
            Reply::Transfer(vec![Bytes::from_static(&[2, 7, 8])])
        );
    }
}
