//! The operation model → wire messages. Infallible: the model only holds valid values.

use crate::op::*;
use crate::pb;
use pb::smbus_op::Command as C;

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
    let reg_value = |reg: &u8, value: u32| pb::RegValue { reg: (*reg).into(), value };
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

pub fn reply(r: Reply) -> pb::OpResult {
    use pb::op_result::Result as R;
    let result = match r {
        Reply::Done => R::Done(pb::Empty {}),
        Reply::Byte(b) => R::Byte(b.into()),
        Reply::Word(w) => R::Word(w.into()),
        Reply::Block(b) => R::Block(b),
        Reply::Transfer(reads) => R::Transfer(pb::Reads { reads }),
    };
    pb::OpResult { result: Some(result) }
}

/// A failed operation in the results of a transaction that keeps going.
pub fn failed(index: usize, errno: crate::Errno) -> pb::OpResult {
    pb::OpResult { result: Some(pb::op_result::Result::Failed(op_error(index, errno))) }
}

/// A failed operation, as the wire carries it.
pub fn op_error(index: usize, errno: crate::Errno) -> pb::OpError {
    pb::OpError {
        index: index as u32,
        errno: errno.0,
        kind: kind(errno.kind()) as i32,
        message: errno.to_string(),
    }
}

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
