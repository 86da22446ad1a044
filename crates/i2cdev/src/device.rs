//! What `/dev/i2c-N` does, as the kernel's i2c-dev does it (drivers/i2c/i2c-dev.c), on a
//! remote bus: each open file's address and flags, the ioctls, `read` and `write`.
//!
//! i2c-dev's ioctls pass pointers, so the kernel cannot copy their data for us: each answer is
//! a retry naming the memory wanted next, and the same ioctl comes back with it. `I2C_SMBUS`
//! takes two rounds after the first (its argument block, then the data union); `I2C_RDWR`
//! three (its argument block, the messages, then their buffers). Every round is worked out
//! again from what has arrived, so nothing is kept between them.
//!
//! Checks happen where i2c-dev makes them, with its errno; everything else is the remote
//! bus's to judge, and its errno comes back unchanged.

use crate::abi::{self, MsgArgs, RdwrArgs, SmbusArgs, Width, ioctl};
use crate::cuse::{self, FUSE_IOCTL_32BIT, Iovec, MAX_IOV};
use crate::smbus;
use bytes::Bytes;

/// The errnos i2c-dev answers with, beside the bus's own: Linux's numbers
/// (asm-generic/errno-base.h, errno.h), whatever this process's platform.
mod errno {
    pub const EIO: i32 = 5;
    pub const EBADF: i32 = 9;
    pub const ENOMEM: i32 = 12;
    pub const EBUSY: i32 = 16;
    pub const EINVAL: i32 = 22;
    pub const ENOTTY: i32 = 25;
    pub const ENOSYS: i32 = 38;
    pub const EOPNOTSUPP: i32 = 95;
}
use errno::*;
use smbus_proxy_wire::op::msg_flags;
use smbus_proxy_wire::op::{BLOCK_MAX, MAX_MSG_LEN, MAX_MSGS};
use smbus_proxy_wire::{Command, Dir, Msg, Op, Reply, Target};
use std::collections::HashMap;
use std::time::Duration;

/// The remote bus, as the device needs it.
pub trait Remote {
    /// The adapter's `I2C_FUNCS`.
    fn funcs(&self) -> u64;
    /// Runs one operation; a failure is the errno a program gets.
    fn run(&mut self, op: Op) -> Result<Reply, i32>;
    /// Whether a kernel driver owns the address on the remote bus.
    fn claimed(&mut self, addr: u16, ten_bit: bool) -> Result<bool, i32>;
    /// The adapter timeout and retries (`I2C_TIMEOUT`, `I2C_RETRIES`) for what follows.
    fn configure(&mut self, timeout: Option<Duration>, retries: Option<u32>) -> Result<(), i32>;
}

/// One open file's state, as i2c-dev keeps it per `struct i2c_client`.
#[derive(Clone, Copy, Debug, Default)]
struct File {
    addr: u16,
    ten_bit: bool,
    pec: bool,
    /// Set by `I2C_SLAVE_FORCE`: claim the address even where a kernel driver has it.
    force: bool,
}

impl File {
    fn target(&self) -> Target {
        Target { addr: self.addr, ten_bit: self.ten_bit, pec: self.pec, force: self.force }
    }
}

/// The attached device: its open files and the remote bus behind them.
pub struct Device<R> {
    remote: R,
    files: HashMap<u64, File>,
    next_fh: u64,
    timeout: Option<Duration>,
    retries: Option<u32>,
}

/// What an ioctl round answers.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Copy these in (and make room for those out), then ask again.
    Retry { inputs: Vec<Iovec>, outputs: Vec<Iovec> },
    /// Done: the ioctl's return value, and the bytes for the out iovecs.
    Done { result: i32, out: Vec<u8> },
    /// Failed with this errno.
    Fail(i32),
}

fn done(result: i32) -> Answer {
    Answer::Done { result, out: Vec::new() }
}

impl<R: Remote> Device<R> {
    /// The device on `remote`, with no file open yet.
    pub fn new(remote: R) -> Self {
        Device { remote, files: HashMap::new(), next_fh: 1, timeout: None, retries: None }
    }

    /// The remote bus back, once the node is gone.
    pub fn into_remote(self) -> R {
        self.remote
    }

    /// The reply to one request; `None` for those that get none (`INTERRUPT`).
    pub fn handle(&mut self, request: &cuse::Request<'_>) -> Option<Vec<u8>> {
        use cuse::Operation as O;
        let unique = request.unique;
        Some(match request.op {
            // After CUSE_INIT, which the attach command answers.
            O::Init { .. } => cuse::error(unique, EINVAL),
            O::Open => {
                let fh = self.next_fh;
                self.next_fh += 1;
                self.files.insert(fh, File::default());
                cuse::opened(unique, fh)
            }
            O::Read { fh, size } => match self.read(fh, size) {
                Ok(data) => cuse::read(unique, &data),
                Err(errno) => cuse::error(unique, errno),
            },
            O::Write { fh, data } => match self.write(fh, data) {
                Ok(n) => cuse::written(unique, n),
                Err(errno) => cuse::error(unique, errno),
            },
            O::Ioctl { fh, flags, cmd, arg, data, out_size } => {
                match self.ioctl(fh, flags, cmd, arg, data, out_size) {
                    Answer::Retry { inputs, outputs } if inputs.len() + outputs.len() > MAX_IOV => {
                        cuse::error(unique, ENOMEM)
                    }
                    Answer::Retry { inputs, outputs } => cuse::ioctl_retry(unique, &inputs, &outputs),
                    Answer::Done { result, out } => cuse::ioctl_done(unique, result, &out),
                    Answer::Fail(errno) => cuse::error(unique, errno),
                }
            }
            O::Flush => cuse::ok(unique),
            O::Release { fh } => {
                self.files.remove(&fh);
                cuse::ok(unique)
            }
            // Each request runs to its end before the next is read, so there is nothing left
            // to interrupt by the time this arrives.
            O::Interrupt => return None,
            O::Other(_) => cuse::error(unique, ENOSYS),
        })
    }

    fn file(&mut self, fh: u64) -> Result<&mut File, i32> {
        self.files.get_mut(&fh).ok_or(EBADF)
    }

    /// Plain I2C (`read`, `write`, `I2C_RDWR`) goes only to an adapter that does it: the
    /// kernel's `i2c_transfer` refuses it on one without, whatever SMBus command could stand
    /// in (which the server would otherwise run).
    fn plain_i2c(&self) -> Result<(), i32> {
        match self.remote.funcs() & smbus_proxy_wire::funcs::I2C {
            0 => Err(EOPNOTSUPP),
            _ => Ok(()),
        }
    }

    /// `read()`: a plain I2C read from the file's address, of at most 8192 bytes, as i2c-dev.
    fn read(&mut self, fh: u64, size: u32) -> Result<Vec<u8>, i32> {
        let file = *self.file(fh)?;
        self.plain_i2c()?;
        let len = size.min(MAX_MSG_LEN as u32) as u16;
        let flags = if file.ten_bit { msg_flags::TEN } else { 0 };
        match self.remote.run(Op::Transfer(vec![Msg { addr: file.addr, flags, dir: Dir::Read(len) }]))? {
            Reply::Transfer(mut reads) if reads.len() == 1 => Ok(reads.remove(0).to_vec()),
            _ => Err(EIO),
        }
    }

    /// `write()`: a plain I2C write to the file's address, of at most 8192 bytes.
    fn write(&mut self, fh: u64, data: &[u8]) -> Result<u32, i32> {
        let file = *self.file(fh)?;
        self.plain_i2c()?;
        let data = &data[..data.len().min(MAX_MSG_LEN)];
        let flags = if file.ten_bit { msg_flags::TEN } else { 0 };
        let msg = Msg { addr: file.addr, flags, dir: Dir::Write(Bytes::copy_from_slice(data)) };
        self.remote.run(Op::Transfer(vec![msg]))?;
        Ok(data.len() as u32)
    }

    fn ioctl(&mut self, fh: u64, flags: u32, cmd: u32, arg: u64, data: &[u8], out_size: u32) -> Answer {
        let width = if flags & FUSE_IOCTL_32BIT != 0 { Width::Bits32 } else { Width::Bits64 };
        let file = match self.file(fh) {
            Ok(file) => file,
            Err(errno) => return Answer::Fail(errno),
        };
        match cmd {
            ioctl::SLAVE | ioctl::SLAVE_FORCE => {
                if (!file.ten_bit && arg > 0x7F) || arg > 0x3FF {
                    return Answer::Fail(EINVAL);
                }
                let (addr, ten_bit, force) = (arg as u16, file.ten_bit, cmd == ioctl::SLAVE_FORCE);
                // As i2c-dev: an address a driver owns is refused here, unless forced.
                if !force {
                    match self.remote.claimed(addr, ten_bit) {
                        Ok(true) => return Answer::Fail(EBUSY),
                        Ok(false) => {}
                        Err(errno) => return Answer::Fail(errno),
                    }
                }
                let file = self.files.get_mut(&fh).expect("looked up above");
                (file.addr, file.force) = (addr, force);
                done(0)
            }
            ioctl::TENBIT => {
                file.ten_bit = arg != 0;
                done(0)
            }
            ioctl::PEC => {
                file.pec = arg != 0;
                done(0)
            }
            ioctl::RETRIES => {
                let Ok(retries) = u32::try_from(arg) else { return Answer::Fail(EINVAL) };
                self.configure(self.timeout, Some(retries))
            }
            ioctl::TIMEOUT => {
                // In units of 10 ms, as i2c-dev takes it; at most INT_MAX.
                if arg > i32::MAX as u64 {
                    return Answer::Fail(EINVAL);
                }
                self.configure(Some(Duration::from_millis(arg * 10)), self.retries)
            }
            ioctl::FUNCS if out_size == 0 => {
                Answer::Retry { inputs: vec![], outputs: vec![(arg, width.pointer() as u64)] }
            }
            ioctl::FUNCS => Answer::Done { result: 0, out: abi::unsigned_long(self.remote.funcs(), width) },
            ioctl::SMBUS => {
                let file = *file;
                self.smbus(file, width, arg, data, out_size)
            }
            ioctl::RDWR => self.rdwr(width, arg, data, out_size),
            _ => Answer::Fail(ENOTTY),
        }
    }

    fn configure(&mut self, timeout: Option<Duration>, retries: Option<u32>) -> Answer {
        match self.remote.configure(timeout, retries) {
            Ok(()) => {
                (self.timeout, self.retries) = (timeout, retries);
                done(0)
            }
            Err(errno) => Answer::Fail(errno),
        }
    }

    /// `I2C_SMBUS`: `struct i2c_smbus_ioctl_data`, then the data union it points to, which the
    /// kernel copies in, out, both or neither by the transaction (`smbus::union`).
    fn smbus(&mut self, file: File, width: Width, arg: u64, data: &[u8], out_size: u32) -> Answer {
        let args_len = SmbusArgs::len(width);
        let Some(args) = SmbusArgs::parse(data, width) else {
            return Answer::Retry { inputs: vec![(arg, args_len as u64)], outputs: vec![] };
        };
        let union = match smbus::union(&args) {
            Ok(union) => union,
            Err(errno) => return Answer::Fail(errno.0),
        };
        // The two that need no data: the address alone, and one byte sent as the command.
        let Some(union) = union else {
            return match smbus::requested(&args, &[]) {
                Ok(command) => self.run_smbus(file, command, None),
                Err(errno) => Answer::Fail(errno.0),
            };
        };
        if args.data == 0 {
            return Answer::Fail(EINVAL);
        }
        // The round that asks for the union; the next one has it (or room for it).
        if data.len() == args_len && out_size == 0 {
            let at = vec![(args.data, union.len as u64)];
            return Answer::Retry {
                inputs: [vec![(arg, args_len as u64)], if union.copies_in { at.clone() } else { vec![] }]
                    .concat(),
                outputs: if union.copies_out { at } else { vec![] },
            };
        }
        let copied = if union.copies_in { &data[args_len..] } else { &[][..] };
        match smbus::requested(&args, copied) {
            Ok(command) => self.run_smbus(file, command, union.copies_out.then_some(union.len)),
            Err(errno) => Answer::Fail(errno.0),
        }
    }

    /// Runs an SMBus command for `file`; with `out`, the union of that size it fills.
    fn run_smbus(&mut self, file: File, command: Command, out: Option<usize>) -> Answer {
        let reply = match self.remote.run(Op::Smbus { target: file.target(), command }) {
            Ok(reply) => reply,
            Err(errno) => return Answer::Fail(errno),
        };
        match out {
            Some(len) => Answer::Done { result: 0, out: smbus::answer(&reply, len) },
            None => done(0),
        }
    }

    /// `I2C_RDWR`: `struct i2c_rdwr_ioctl_data { struct i2c_msg *msgs; u32 nmsgs; }`, the
    /// messages (`{ u16 addr; u16 flags; u16 len; u8 *buf; }`), then their buffers.
    fn rdwr(&mut self, width: Width, arg: u64, data: &[u8], out_size: u32) -> Answer {
        let args_len = RdwrArgs::len(width);
        let msg_len = MsgArgs::len(width);
        let Some(args) = RdwrArgs::parse(data, width) else {
            return Answer::Retry { inputs: vec![(arg, args_len as u64)], outputs: vec![] };
        };
        let (msgs_at, n) = (args.msgs, args.nmsgs as usize);
        if n > MAX_MSGS {
            return Answer::Fail(EINVAL);
        }
        if msgs_at == 0 || n == 0 {
            return Answer::Fail(EINVAL);
        }
        let head = vec![(arg, args_len as u64), (msgs_at, (n * msg_len) as u64)];
        let Some(table) = data.get(args_len..args_len + n * msg_len) else {
            return Answer::Retry { inputs: head, outputs: vec![] };
        };
        let msgs = MsgArgs::parse_all(table, width).expect("whole messages");
        // Longer than i2c-dev takes: the kernel answers EINVAL.
        if msgs.iter().any(|m| usize::from(m.len) > MAX_MSG_LEN) {
            return Answer::Fail(EINVAL);
        }
        let is_read = |flags: u16| flags & msg_flags::RD != 0;
        let counted = |flags: u16| flags & msg_flags::RECV_LEN != 0;
        // The buffers: what writes send and a counted read's first byte in; reads out.
        let mut inputs = head;
        let mut outputs = Vec::new();
        for &MsgArgs { flags, len, buf, .. } in &msgs {
            match (is_read(flags), counted(flags)) {
                (false, _) if len > 0 => inputs.push((buf, u64::from(len))),
                (true, true) if len > 0 => inputs.push((buf, 1)),
                _ => {}
            }
            if is_read(flags) && len > 0 {
                outputs.push((buf, u64::from(len)));
            }
        }
        let have = args_len + n * msg_len;
        if data.len() == have && out_size == 0 && (inputs.len() > 2 || !outputs.is_empty()) {
            return Answer::Retry { inputs, outputs };
        }
        if let Err(errno) = self.plain_i2c() {
            return Answer::Fail(errno);
        }
        let mut bufs = &data[have..];
        let mut transfer = Vec::with_capacity(n);
        for &MsgArgs { addr, flags, len, .. } in &msgs {
            let modifiers = flags & !msg_flags::RD;
            let dir = match (is_read(flags), counted(flags)) {
                (true, true) => {
                    // i2c-dev: the caller's first byte says how many bytes past the count it
                    // wants (1, or 2 with PEC), and the buffer must hold a whole block besides.
                    let extra = bufs.first().copied().unwrap_or(0);
                    bufs = bufs.get(1..).unwrap_or_default();
                    if len == 0 || extra < 1 || usize::from(len) < usize::from(extra) + BLOCK_MAX {
                        return Answer::Fail(EINVAL);
                    }
                    Dir::Read(0)
                }
                (true, false) => Dir::Read(len),
                (false, true) => return Answer::Fail(EINVAL),
                (false, false) => {
                    let (bytes, rest) = bufs.split_at(usize::from(len).min(bufs.len()));
                    bufs = rest;
                    Dir::Write(Bytes::copy_from_slice(bytes))
                }
            };
            transfer.push(Msg { addr, flags: modifiers, dir });
        }
        let reads = match self.remote.run(Op::Transfer(transfer)) {
            Ok(Reply::Transfer(reads)) => reads,
            Ok(_) => return Answer::Fail(EIO),
            Err(errno) => return Answer::Fail(errno),
        };
        // Each read's bytes fill its buffer's iovec, in order; a counted read that returned
        // less than its buffer leaves zeros after what it read.
        let mut out = Vec::new();
        for ((_, len), read) in outputs.iter().zip(&reads) {
            let start = out.len();
            out.extend_from_slice(read);
            out.resize(start + *len as usize, 0);
        }
        Answer::Done { result: n as i32, out }
    }
}

#[cfg(test)]
mod tests {
    //! The device against a simulated bus, with a stand-in for the kernel: it keeps a
    //! process's memory, copies what each retry asks for, and scatters the answer, as
    //! fs/fuse/ioctl.c does.

    use super::*;
    use crate::abi::{SMBUS_DATA_LEN as UNION, size};
    use crate::cuse::Opcode;
    use crate::cuse::tests::{ioctl as ioctl_request, request};
    use smbus_proxy_sim::{Config, SimBus};

    impl Remote for SimBus {
        fn funcs(&self) -> u64 {
            SimBus::funcs(self)
        }
        fn run(&mut self, op: Op) -> Result<Reply, i32> {
            self.execute(&op).map_err(|failure| failure.errno.0)
        }
        fn claimed(&mut self, addr: u16, ten_bit: bool) -> Result<bool, i32> {
            Ok(self.busy().contains(&(addr, ten_bit)))
        }
        fn configure(&mut self, timeout: Option<Duration>, _: Option<u32>) -> Result<(), i32> {
            if let Some(t) = timeout {
                self.set_timeout(t);
            }
            Ok(())
        }
    }

    /// A process's memory: buffers at addresses.
    #[derive(Default)]
    struct Memory(Vec<(u64, Vec<u8>)>);

    impl Memory {
        /// Puts `bytes` at a fresh address, which it returns.
        fn put(&mut self, bytes: &[u8]) -> u64 {
            let at = 0x10000 * (self.0.len() as u64 + 1);
            self.0.push((at, bytes.to_vec()));
            at
        }
        fn get(&self, at: u64, len: u64) -> Vec<u8> {
            let (base, bytes) =
                self.0.iter().find(|(base, b)| *base <= at && at < base + b.len() as u64).unwrap();
            bytes[(at - base) as usize..][..len as usize].to_vec()
        }
        fn set(&mut self, at: u64, data: &[u8]) {
            let (base, bytes) =
                self.0.iter_mut().find(|(base, b)| *base <= at && at < base + b.len() as u64).unwrap();
            bytes[(at - *base) as usize..][..data.len()].copy_from_slice(data);
        }
    }

    struct Kernel {
        device: Device<SimBus>,
        memory: Memory,
        fh: u64,
        rounds: usize,
    }

    impl Kernel {
        fn new() -> Kernel {
            // The lab every crate's tests share (crates/testkit), read from its file: the
            // testkit depends on the server, which depends on this crate.
            let lab = Config::parse(include_str!("../../testkit/src/lab.toml")).unwrap();
            let bus = lab.build().into_iter().find(|b| b.number() == 1).unwrap();
            let mut device = Device::new(bus);
            let reply = device
                .handle(&cuse::Request::parse(&request(Opcode::Open as u32, 1, &[0; 8])).unwrap())
                .unwrap();
            let fh = u64::from_ne_bytes(reply[16..24].try_into().unwrap());
            Kernel { device, memory: Memory::default(), fh, rounds: 0 }
        }

        /// `ioctl(fd, cmd, arg)`: its return value or errno.
        fn ioctl(&mut self, cmd: u32, arg: u64) -> Result<i32, i32> {
            self.ioctl_as(2, cmd, arg)
        }

        /// The same from a process whose `flags` say what it is (`FUSE_IOCTL_32BIT`).
        fn ioctl_as(&mut self, flags: u32, cmd: u32, arg: u64) -> Result<i32, i32> {
            let (mut data, mut outputs): (Vec<u8>, Vec<Iovec>) = (Vec::new(), Vec::new());
            self.rounds = 0;
            loop {
                self.rounds += 1;
                let out_size: u64 = outputs.iter().map(|o| o.1).sum();
                let req = ioctl_request(7, self.fh, cmd, arg, &data, out_size as u32);
                let answer = self.device.ioctl(self.fh, flags, cmd, arg, &data, out_size as u32);
                // The bytes on the wire agree with the answer.
                let wire = self.device.handle(&cuse::Request::parse(&req).unwrap());
                assert!(wire.is_some());
                match answer {
                    Answer::Retry { inputs, outputs: out } => {
                        data = inputs.iter().flat_map(|&(at, len)| self.memory.get(at, len)).collect();
                        outputs = out;
                    }
                    Answer::Done { result, out } => {
                        let mut rest = &out[..];
                        for &(at, len) in &outputs {
                            let n = (len as usize).min(rest.len());
                            self.memory.set(at, &rest[..n]);
                            rest = &rest[n..];
                        }
                        return Ok(result);
                    }
                    Answer::Fail(errno) => return Err(errno),
                }
            }
        }

        /// `ioctl(fd, I2C_SMBUS, &args)` with a union holding `union`: the return value
        /// and the union after.
        fn smbus(
            &mut self,
            read_write: u8,
            command: u8,
            size: u32,
            union: &[u8],
        ) -> (Result<i32, i32>, Vec<u8>) {
            let mut padded = union.to_vec();
            padded.resize(UNION, 0);
            let data = self.memory.put(&padded);
            let mut args = vec![read_write, command, 0, 0];
            args.extend(size.to_ne_bytes());
            args.extend(data.to_ne_bytes());
            let arg = self.memory.put(&args);
            let result = self.ioctl(ioctl::SMBUS, arg);
            (result, self.memory.get(data, UNION as u64))
        }

        /// `ioctl(fd, I2C_RDWR, ...)` of `msgs` (addr, flags, buffer): the return value and
        /// the buffers after.
        fn rdwr(&mut self, msgs: &[(u16, u16, Vec<u8>)]) -> (Result<i32, i32>, Vec<Vec<u8>>) {
            let bufs: Vec<u64> =
                msgs.iter().map(|(_, _, b)| self.memory.put(&[&b[..], &[0]].concat())).collect();
            let mut table = Vec::new();
            for ((addr, flags, buf), at) in msgs.iter().zip(&bufs) {
                table.extend(addr.to_ne_bytes());
                table.extend(flags.to_ne_bytes());
                table.extend((buf.len() as u16).to_ne_bytes());
                table.extend([0, 0]);
                table.extend(at.to_ne_bytes());
            }
            let table_at = self.memory.put(&table);
            let mut args = table_at.to_ne_bytes().to_vec();
            args.extend((msgs.len() as u32).to_ne_bytes());
            args.extend([0; 4]);
            let arg = self.memory.put(&args);
            let result = self.ioctl(ioctl::RDWR, arg);
            let after =
                msgs.iter().zip(&bufs).map(|((_, _, b), &at)| self.memory.get(at, b.len() as u64)).collect();
            (result, after)
        }
    }

    const RF: u64 = 0x48;

    #[test]
    fn funcs_and_addresses_as_i2c_dev() {
        let mut k = Kernel::new();
        let out = k.memory.put(&[0; 8]);
        assert_eq!(k.ioctl(ioctl::FUNCS, out), Ok(0));
        assert_eq!(
            u64::from_ne_bytes(k.memory.get(out, 8).try_into().unwrap()),
            smbus_proxy_sim::config::FUNCS_FULL
        );
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x80), Err(EINVAL), "8 bits without I2C_TENBIT");
        assert_eq!(k.ioctl(ioctl::TENBIT, 1), Ok(0));
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x3FF), Ok(0));
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x400), Err(EINVAL));
        assert_eq!(k.ioctl(0x0799, 0), Err(ENOTTY));
        // The lab's 0x36 is a driver's: refused, then claimed with force and usable.
        assert_eq!(k.ioctl(ioctl::TENBIT, 0), Ok(0));
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x36), Err(EBUSY));
        assert_eq!(k.ioctl(ioctl::SLAVE_FORCE, 0x36), Ok(0));
        assert_eq!(k.smbus(1, 0, size::BYTE_DATA, &[]).0, Ok(0));
    }

    #[test]
    fn every_smbus_size_in_its_rounds() {
        let mut k = Kernel::new();
        assert_eq!(k.ioctl(ioctl::SLAVE, RF), Ok(0));
        assert_eq!(k.smbus(0, 0x10, size::BYTE_DATA, &[0x5A]).0, Ok(0));
        assert_eq!(k.rounds, 3, "arguments, then the union");
        let (r, union) = k.smbus(1, 0x10, size::BYTE_DATA, &[]);
        assert_eq!((r, union[0]), (Ok(0), 0x5A));
        assert_eq!(k.smbus(0, 0x20, size::WORD_DATA, &[0xEF, 0xBE]).0, Ok(0));
        let (_, union) = k.smbus(1, 0x20, size::WORD_DATA, &[]);
        assert_eq!(union[..2], [0xEF, 0xBE]);
        assert_eq!(k.smbus(0, 0x30, size::BLOCK_DATA, &[3, 1, 2, 3]).0, Ok(0));
        let (_, union) = k.smbus(1, 0x30, size::BLOCK_DATA, &[]);
        assert_eq!(union[..4], [3, 1, 2, 3]);
        assert_eq!(k.smbus(0, 0x40, size::I2C_BLOCK_DATA, &[2, 7, 8]).0, Ok(0));
        let (_, union) = k.smbus(1, 0x40, size::I2C_BLOCK_DATA, &[2]);
        assert_eq!(union[..3], [2, 7, 8]);
        let (_, union) = k.smbus(1, 0x40, size::I2C_BLOCK_BROKEN, &[]);
        assert_eq!((union[0], &union[1..3]), (32, &[7, 8][..]));
        let (r, union) = k.smbus(0, 0x50, size::PROC_CALL, &[0x34, 0x12]);
        assert_eq!(r, Ok(0));
        assert_ne!(union[..2], [0x34, 0x12], "the answer replaced what was sent");
        assert_eq!(k.smbus(0, 0x60, size::QUICK, &[]).0, Ok(0));
        assert_eq!(k.rounds, 2, "a quick command needs no union");
        assert_eq!(k.smbus(1, 0, size::BYTE, &[]).0, Ok(0));
    }

    #[test]
    fn smbus_errors_as_i2c_dev_gives_them() {
        let mut k = Kernel::new();
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x33), Ok(0));
        assert_eq!(k.smbus(1, 0, size::BYTE_DATA, &[]).0, Err(6), "ENXIO: nobody at 0x33");
        assert_eq!(k.ioctl(ioctl::SLAVE, RF), Ok(0));
        assert_eq!(k.smbus(1, 0, 9, &[]).0, Err(EINVAL), "no such size");
        assert_eq!(k.smbus(2, 0, size::BYTE_DATA, &[]).0, Err(EINVAL), "read_write 2");
        assert_eq!(k.smbus(0, 0, size::BLOCK_DATA, &[33]).0, Err(EINVAL), "a block of 33");
        let mut args = vec![1, 0, 0, 0];
        args.extend(size::BYTE_DATA.to_ne_bytes());
        args.extend(0u64.to_ne_bytes());
        let null = k.memory.put(&args);
        assert_eq!(k.ioctl(ioctl::SMBUS, null), Err(EINVAL), "no union");
    }

    #[test]
    fn rdwr_in_its_rounds_with_repeated_starts_and_counted_reads() {
        let mut k = Kernel::new();
        let rd = msg_flags::RD;
        let (r, bufs) =
            k.rdwr(&[(0x50, 0, vec![0x00, 0x61, 0x62]), (0x50, 0, vec![0x00]), (0x50, rd, vec![0; 2])]);
        assert_eq!(r, Ok(3), "the number of messages");
        assert_eq!(k.rounds, 4, "arguments, messages, buffers, then the answer");
        assert_eq!(bufs[2], [0x61, 0x62]);
        // A block of 3 at 0x30 of the register file, read with I2C_M_RECV_LEN: the caller's
        // first byte asks for one byte past the count, and the buffer has room for 32 more.
        assert_eq!(k.ioctl(ioctl::SLAVE, RF), Ok(0));
        assert_eq!(k.smbus(0, 0x30, size::BLOCK_DATA, &[3, 1, 2, 3]).0, Ok(0));
        let mut counted = vec![1];
        counted.resize(33, 0);
        let (r, bufs) = k.rdwr(&[(0x48, 0, vec![0x30]), (0x48, rd | msg_flags::RECV_LEN, counted)]);
        assert_eq!(r, Ok(2));
        assert_eq!(bufs[1][..4], [3, 1, 2, 3]);
        let (r, _) = k.rdwr(&[(0x48, rd | msg_flags::RECV_LEN, vec![0; 8])]);
        assert_eq!(r, Err(EINVAL), "no room for a block");
    }

    #[test]
    fn rdwr_limits_as_i2c_dev() {
        let mut k = Kernel::new();
        let many: Vec<_> = (0..43).map(|_| (0x50u16, msg_flags::RD, vec![0])).collect();
        assert_eq!(k.rdwr(&many).0, Err(EINVAL), "43 messages");
        assert_eq!(k.rdwr(&many[..42]).0, Ok(42));
        assert_eq!(k.rdwr(&[(0x50, msg_flags::RD, vec![0; 8193])]).0, Err(EINVAL));
        assert_eq!(k.rdwr(&[(0x33, 0, vec![0])]).0, Err(6), "ENXIO");
        let args = k.memory.put(&[0; 16]);
        assert_eq!(k.ioctl(ioctl::RDWR, args), Err(EINVAL), "no messages");
    }

    #[test]
    fn a_32_bit_process_has_4_byte_pointers_and_longs() {
        let mut k = Kernel::new();
        let compat = 2 | FUSE_IOCTL_32BIT;
        let funcs = k.memory.put(&[0xEE; 8]);
        assert_eq!(k.ioctl_as(compat, ioctl::FUNCS, funcs), Ok(0));
        let mut expected = (smbus_proxy_sim::config::FUNCS_FULL as u32).to_ne_bytes().to_vec();
        expected.extend([0xEE; 4]);
        assert_eq!(k.memory.get(funcs, 8), expected, "an unsigned long of 4 bytes, nothing past it");
        assert_eq!(k.ioctl(ioctl::SLAVE, RF), Ok(0));
        assert_eq!(k.smbus(0, 0x10, size::BYTE_DATA, &[0x77]).0, Ok(0));
        // struct i2c_smbus_ioctl_data32: read_write, command, size, then a 4-byte pointer.
        let union = k.memory.put(&[0; UNION]);
        let mut args = vec![1, 0x10, 0, 0];
        args.extend(size::BYTE_DATA.to_ne_bytes());
        args.extend((union as u32).to_ne_bytes());
        let arg = k.memory.put(&args);
        assert_eq!(k.ioctl_as(compat, ioctl::SMBUS, arg), Ok(0));
        assert_eq!(k.memory.get(union, 1), [0x77]);
    }

    #[test]
    fn read_and_write_are_plain_i2c_at_the_files_address() {
        let mut k = Kernel::new();
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x50), Ok(0));
        assert_eq!(k.device.write(k.fh, &[0x10, 0xAA, 0xBB]), Ok(3));
        assert_eq!(k.device.write(k.fh, &[0x10]), Ok(1));
        assert_eq!(k.device.read(k.fh, 2), Ok(vec![0xAA, 0xBB]));
        assert_eq!(k.device.read(k.fh, 100_000).map(|d| d.len()), Ok(8192), "at most 8192, as i2c-dev");
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x33), Ok(0));
        assert_eq!(k.device.read(k.fh, 1), Err(6));
        assert_eq!(k.device.read(99, 1), Err(EBADF), "a file never opened");
    }

    #[test]
    fn each_open_file_keeps_its_own_address() {
        let mut k = Kernel::new();
        let second = k
            .device
            .handle(&cuse::Request::parse(&request(Opcode::Open as u32, 2, &[0; 8])).unwrap())
            .unwrap();
        let other = u64::from_ne_bytes(second[16..24].try_into().unwrap());
        assert_eq!(k.ioctl(ioctl::SLAVE, 0x33), Ok(0));
        assert_eq!(k.device.ioctl(other, 2, ioctl::SLAVE, 0x50, &[], 0), done(0));
        assert_eq!(k.device.read(other, 1).map(|d| d.len()), Ok(1));
        assert_eq!(k.device.read(k.fh, 1), Err(6));
    }
}
