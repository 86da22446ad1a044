//! The part of the FUSE kernel protocol a character device in user space speaks over
//! `/dev/cuse` (`include/uapi/linux/fuse.h`, kernel protocol 7.x): requests in, replies out,
//! one per `read` and `write` of the file.
//!
//! Why not libfuse: its CUSE API would need libfuse3 on every laptop and in the test rig's
//! guest, and C callbacks around the same few structures. The subset a device needs is small
//! and fixed: `CUSE_INIT` once, then `OPEN`, `READ`, `WRITE`, `IOCTL`, `FLUSH`, `RELEASE` and
//! `INTERRUPT` per open file. Every structure here is plain data at fixed offsets in the
//! host's byte order (the kernel and this process share a CPU), so it is parsed from and
//! written to byte buffers, with no `unsafe`.

/// The protocol's major version; the kernel refuses any other.
pub const MAJOR: u32 = 7;
/// The minor version we speak: the first with unrestricted ioctls and 64-bit iovecs is 16;
/// nothing newer matters to a character device.
pub const MINOR: u32 = 31;
/// `CUSE_UNRESTRICTED_IOCTL`: ioctls whose command does not encode their argument's size,
/// like i2c-dev's, answered by retrying with the memory they need.
const CUSE_UNRESTRICTED_IOCTL: u32 = 1 << 0;
/// `FUSE_IOCTL_RETRY`: "copy these and ask again".
const FUSE_IOCTL_RETRY: u32 = 1 << 2;
/// `FUSE_IOCTL_32BIT`: the caller is a 32-bit process.
pub const FUSE_IOCTL_32BIT: u32 = 1 << 3;
/// `FUSE_IOCTL_MAX_IOV`: most in and out iovecs together.
pub const MAX_IOV: usize = 256;
/// `FOPEN_DIRECT_IO | FOPEN_NONSEEKABLE`: reads and writes come to us as they are, and the
/// file has no position, as a character device.
const OPEN_FLAGS: u32 = (1 << 0) | (1 << 2);

/// The requests a character device is sent (`enum fuse_opcode`, and `CUSE_INIT`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// `FUSE_OPEN`.
    Open = 14,
    /// `FUSE_READ`.
    Read = 15,
    /// `FUSE_WRITE`.
    Write = 16,
    /// `FUSE_RELEASE`.
    Release = 18,
    /// `FUSE_FLUSH`.
    Flush = 25,
    /// `FUSE_INTERRUPT`.
    Interrupt = 36,
    /// `FUSE_IOCTL`.
    Ioctl = 39,
    /// `CUSE_INIT`.
    CuseInit = 4096,
}

impl Opcode {
    /// The opcode a request's header names, if it is one a character device is sent.
    pub fn from_u32(opcode: u32) -> Option<Opcode> {
        use Opcode as O;
        [O::Open, O::Read, O::Write, O::Release, O::Flush, O::Interrupt, O::Ioctl, O::CuseInit]
            .into_iter()
            .find(|o| *o as u32 == opcode)
    }
}

/// Size of `struct fuse_in_header`.
const IN_HEADER: usize = 40;
/// Size of `struct fuse_out_header`.
const OUT_HEADER: usize = 16;

/// One request from the kernel.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// Its number, which the reply repeats.
    pub unique: u64,
    /// The calling process.
    pub pid: u32,
    /// What it asks.
    pub op: Operation<'a>,
}

/// What a request asks.
#[derive(Debug, PartialEq, Eq)]
pub enum Operation<'a> {
    /// `CUSE_INIT`: the kernel's protocol version; the reply names the device.
    Init {
        /// The protocol's major version.
        major: u32,
        /// Its minor version.
        minor: u32,
    },
    /// `FUSE_OPEN`: a process opened the device.
    Open,
    /// `FUSE_READ` of `size` bytes on file `fh`.
    Read {
        /// The open file.
        fh: u64,
        /// How many bytes the caller asked for.
        size: u32,
    },
    /// `FUSE_WRITE` of `data` on file `fh`.
    Write {
        /// The open file.
        fh: u64,
        /// What the caller wrote.
        data: &'a [u8],
    },
    /// `FUSE_IOCTL` `cmd` with argument `arg` on file `fh`.
    Ioctl {
        /// The open file.
        fh: u64,
        /// `FUSE_IOCTL_*`: whether the caller is a 32-bit process ([`FUSE_IOCTL_32BIT`]).
        flags: u32,
        /// The ioctl command.
        cmd: u32,
        /// Its argument: for i2c-dev's, a number or a pointer into the caller's memory.
        arg: u64,
        /// What the iovecs the last retry asked for hold (nothing the first time).
        data: &'a [u8],
        /// The room asked for the answer.
        out_size: u32,
    },
    /// `FUSE_FLUSH`: a descriptor of file `fh` was closed.
    Flush,
    /// `FUSE_RELEASE`: the last descriptor of file `fh` is gone.
    Release {
        /// The open file.
        fh: u64,
    },
    /// `FUSE_INTERRUPT`: the caller of request `unique` was interrupted (no reply).
    Interrupt,
    /// Anything else, answered ENOSYS.
    Other(u32),
}

/// A request that does not hold what its header says.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

fn u32_at(b: &[u8], at: usize) -> Result<u32, Malformed> {
    b.get(at..at + 4).map(|s| u32::from_ne_bytes(s.try_into().unwrap())).ok_or(Malformed("short request"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Malformed> {
    b.get(at..at + 8).map(|s| u64::from_ne_bytes(s.try_into().unwrap())).ok_or(Malformed("short request"))
}

impl<'a> Request<'a> {
    /// Parses one request, as one `read` of `/dev/cuse` returns it.
    pub fn parse(buf: &'a [u8]) -> Result<Request<'a>, Malformed> {
        let len = u32_at(buf, 0)? as usize;
        if len < IN_HEADER || len > buf.len() {
            return Err(Malformed("a length that is not the request's"));
        }
        let buf = &buf[..len];
        let (opcode, unique, pid) = (u32_at(buf, 4)?, u64_at(buf, 8)?, u32_at(buf, 32)?);
        let body = &buf[IN_HEADER..];
        let Some(known) = Opcode::from_u32(opcode) else {
            return Ok(Request { unique, pid, op: Operation::Other(opcode) });
        };
        let op = match known {
            Opcode::CuseInit => Operation::Init { major: u32_at(body, 0)?, minor: u32_at(body, 4)? },
            Opcode::Open => Operation::Open,
            Opcode::Read => Operation::Read { fh: u64_at(body, 0)?, size: u32_at(body, 16)? },
            Opcode::Write => {
                // struct fuse_write_in: fh, offset, size, write_flags, lock_owner, flags, padding.
                let size = u32_at(body, 16)? as usize;
                let data = body.get(40..40 + size).ok_or(Malformed("a write shorter than its size"))?;
                Operation::Write { fh: u64_at(body, 0)?, data }
            }
            Opcode::Ioctl => {
                // struct fuse_ioctl_in: fh, flags, cmd, arg, in_size, out_size; then in_size bytes.
                let in_size = u32_at(body, 24)? as usize;
                let data =
                    body.get(32..32 + in_size).ok_or(Malformed("an ioctl shorter than its in_size"))?;
                Operation::Ioctl {
                    fh: u64_at(body, 0)?,
                    flags: u32_at(body, 8)?,
                    cmd: u32_at(body, 12)?,
                    arg: u64_at(body, 16)?,
                    data,
                    out_size: u32_at(body, 28)?,
                }
            }
            Opcode::Flush => Operation::Flush,
            Opcode::Release => Operation::Release { fh: u64_at(body, 0)? },
            Opcode::Interrupt => Operation::Interrupt,
        };
        Ok(Request { unique, pid, op })
    }
}

/// A reply: `struct fuse_out_header`, then `body`.
fn reply(unique: u64, error: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OUT_HEADER + body.len());
    out.extend(((OUT_HEADER + body.len()) as u32).to_ne_bytes());
    out.extend(error.to_ne_bytes());
    out.extend(unique.to_ne_bytes());
    out.extend_from_slice(body);
    out
}

/// A failure: `errno` (positive), with no body.
pub fn error(unique: u64, errno: i32) -> Vec<u8> {
    reply(unique, -errno, &[])
}

/// Success with no body (FLUSH, RELEASE).
pub fn ok(unique: u64) -> Vec<u8> {
    reply(unique, 0, &[])
}

/// `CUSE_INIT`'s reply: our version, unrestricted ioctls, the largest read and write, a
/// dynamic major number, and the device's name (`DEVNAME=i2c-7`), which devtmpfs or udev
/// turns into `/dev/i2c-7`.
pub fn init(unique: u64, max_io: u32, devname: &str) -> Vec<u8> {
    let mut body = Vec::new();
    for word in [MAJOR, MINOR, 0, CUSE_UNRESTRICTED_IOCTL, max_io, max_io, 0, 0] {
        body.extend(word.to_ne_bytes());
    }
    body.extend([0; 40]); // spare[10]
    body.extend(format!("DEVNAME={devname}").as_bytes());
    body.push(0);
    reply(unique, 0, &body)
}

/// `OPEN`'s reply: the file handle the kernel passes back with each request on this file.
pub fn opened(unique: u64, fh: u64) -> Vec<u8> {
    let mut body = fh.to_ne_bytes().to_vec();
    body.extend(OPEN_FLAGS.to_ne_bytes());
    body.extend(0u32.to_ne_bytes());
    reply(unique, 0, &body)
}

/// `READ`'s reply: the bytes read.
pub fn read(unique: u64, data: &[u8]) -> Vec<u8> {
    reply(unique, 0, data)
}

/// `WRITE`'s reply: how many bytes were written.
pub fn written(unique: u64, size: u32) -> Vec<u8> {
    let mut body = size.to_ne_bytes().to_vec();
    body.extend(0u32.to_ne_bytes());
    reply(unique, 0, &body)
}

/// A span of the caller's memory: `(address, length)`.
pub type Iovec = (u64, u64);

/// `IOCTL`'s "copy these in (and have room for those out), then ask again".
pub fn ioctl_retry(unique: u64, inputs: &[Iovec], outputs: &[Iovec]) -> Vec<u8> {
    let mut body = Vec::new();
    for word in [0, FUSE_IOCTL_RETRY, inputs.len() as u32, outputs.len() as u32] {
        body.extend(word.to_ne_bytes());
    }
    for (base, len) in inputs.iter().chain(outputs) {
        body.extend(base.to_ne_bytes());
        body.extend(len.to_ne_bytes());
    }
    reply(unique, 0, &body)
}

/// `IOCTL`'s answer: the return value, and the bytes the kernel copies out to the iovecs the
/// last retry named, in order.
pub fn ioctl_done(unique: u64, result: i32, out: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 + out.len());
    for word in [result as u32, 0, 0, 0] {
        body.extend(word.to_ne_bytes());
    }
    body.extend_from_slice(out);
    reply(unique, 0, &body)
}

#[cfg(test)]
pub(crate) mod tests {
    //! Requests as the kernel lays them out, which the device's tests send too.
    use super::*;

    /// The device name a `CUSE_INIT` reply carries.
    pub(crate) fn devname(init_reply: &[u8]) -> Option<&str> {
        let info = init_reply.get(OUT_HEADER + 72..)?;
        std::ffi::CStr::from_bytes_until_nul(info).ok()?.to_str().ok()?.strip_prefix("DEVNAME=")
    }

    /// A request as the kernel lays it out: the header, then `body`.
    pub(crate) fn request(opcode: u32, unique: u64, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(((IN_HEADER + body.len()) as u32).to_ne_bytes());
        out.extend(opcode.to_ne_bytes());
        out.extend(unique.to_ne_bytes());
        out.extend(0u64.to_ne_bytes()); // nodeid
        out.extend([0u8; 12]); // uid, gid, pid
        out.extend([0u8; 4]); // total_extlen, padding
        out.extend_from_slice(body);
        out
    }

    /// A `FUSE_IOCTL` request.
    pub(crate) fn ioctl(unique: u64, fh: u64, cmd: u32, arg: u64, data: &[u8], out_size: u32) -> Vec<u8> {
        let mut body = fh.to_ne_bytes().to_vec();
        body.extend(2u32.to_ne_bytes()); // FUSE_IOCTL_UNRESTRICTED
        body.extend(cmd.to_ne_bytes());
        body.extend(arg.to_ne_bytes());
        body.extend((data.len() as u32).to_ne_bytes());
        body.extend(out_size.to_ne_bytes());
        body.extend_from_slice(data);
        request(Opcode::Ioctl as u32, unique, &body)
    }

    #[test]
    fn requests_parse_at_the_kernels_offsets() {
        let mut version = 7u32.to_ne_bytes().to_vec();
        version.extend(38u32.to_ne_bytes());
        version.extend([0; 8]);
        let init = request(Opcode::CuseInit as u32, 1, &version);
        assert_eq!(Request::parse(&init).unwrap().op, Operation::Init { major: 7, minor: 38 });
        let mut write = 5u64.to_ne_bytes().to_vec();
        write.extend([0; 8]); // offset
        write.extend(2u32.to_ne_bytes());
        write.extend([0; 20]);
        write.extend([0xAB, 0xCD]);
        let write = request(Opcode::Write as u32, 9, &write);
        let parsed = Request::parse(&write).unwrap();
        assert_eq!((parsed.unique, parsed.op), (9, Operation::Write { fh: 5, data: &[0xAB, 0xCD] }));
        let raw = ioctl(3, 5, 0x0720, 0x7fff_0000, &[1, 2], 34);
        let op = Request::parse(&raw).unwrap().op;
        assert_eq!(
            op,
            Operation::Ioctl { fh: 5, flags: 2, cmd: 0x0720, arg: 0x7fff_0000, data: &[1, 2], out_size: 34 }
        );
        assert_eq!(Request::parse(&request(99, 1, &[])).unwrap().op, Operation::Other(99));
    }

    #[test]
    fn malformed_requests_are_refused_not_trusted() {
        let mut short = ioctl(3, 5, 0x0720, 0, &[1, 2, 3], 0);
        short.truncate(short.len() - 1);
        let len = short.len() as u32;
        short[..4].copy_from_slice(&len.to_ne_bytes());
        assert!(Request::parse(&short).is_err());
        let mut lying = request(Opcode::Open as u32, 1, &[]);
        lying[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(Request::parse(&lying).is_err());
        assert!(Request::parse(&[1, 2, 3]).is_err());
    }

    #[test]
    fn replies_carry_their_length_and_the_requests_number() {
        let r = ioctl_retry(7, &[(0x1000, 16)], &[(0x2000, 34)]);
        assert_eq!(u32::from_ne_bytes(r[..4].try_into().unwrap()) as usize, r.len());
        assert_eq!(u64::from_ne_bytes(r[8..16].try_into().unwrap()), 7);
        assert_eq!(r.len(), 16 + 16 + 2 * 16);
        let e = error(8, 6);
        assert_eq!(i32::from_ne_bytes(e[4..8].try_into().unwrap()), -6);
        assert_eq!(devname(&init(1, 8192, "i2c-7")), Some("i2c-7"));
    }
}
