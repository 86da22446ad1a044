//! The Linux backend: `/dev/i2c-N` driven with i2c-dev's ioctls
//! (<https://docs.kernel.org/i2c/dev-interface.html>).
//!
//! One open file per bus. The address, 10-bit mode and PEC are properties of the open file in
//! i2c-dev, so they are set only when an operation needs different ones than the last.

use super::{Backend, Claimed, Claims};
use smbus_proxy_i2cdev::abi::{I2cMsg, RdwrIoctlData, SmbusData, SmbusIoctlData};
use smbus_proxy_i2cdev::smbus::Call;
use smbus_proxy_wire::op::{BLOCK_MAX, MAX_MSG_LEN, msg_flags};
use smbus_proxy_wire::{Command, Dir, Errno, Failure, Msg, Op, Reply, Target};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The ioctls, on the kernel's numbers and structures (`smbus_proxy_i2cdev::abi`).
mod sys {
    use nix::libc::{c_int, c_ulong};
    use smbus_proxy_i2cdev::abi::{RdwrIoctlData, SmbusIoctlData, ioctl};

    nix::ioctl_write_int_bad!(set_retries, ioctl::RETRIES);
    nix::ioctl_write_int_bad!(set_timeout, ioctl::TIMEOUT);
    nix::ioctl_write_int_bad!(set_slave, ioctl::SLAVE);
    nix::ioctl_write_int_bad!(set_tenbit, ioctl::TENBIT);
    nix::ioctl_read_bad!(get_funcs, ioctl::FUNCS, c_ulong);
    nix::ioctl_write_int_bad!(set_slave_force, ioctl::SLAVE_FORCE);
    nix::ioctl_write_ptr_bad!(rdwr, ioctl::RDWR, RdwrIoctlData);
    nix::ioctl_write_int_bad!(set_pec, ioctl::PEC);
    nix::ioctl_write_ptr_bad!(smbus, ioctl::SMBUS, SmbusIoctlData);

    pub type Int = c_int;
}

fn errno(e: nix::Error) -> Errno {
    Errno(e as i32)
}

/// One adapter, `/dev/i2c-N`.
pub struct LinuxBus {
    number: u32,
    name: String,
    funcs: u64,
    file: File,
    /// The address the file is bound to, and whether it was forced.
    slave: Option<(u16, bool)>,
    ten_bit: bool,
    pec: bool,
}

impl LinuxBus {
    /// The device node of bus `number`.
    pub fn path(number: u32) -> PathBuf {
        PathBuf::from(format!("/dev/i2c-{number}"))
    }

    /// Opens `/dev/i2c-N` and asks the adapter what it can do.
    pub fn open(number: u32) -> io::Result<LinuxBus> {
        let path = Self::path(number);
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| {
            let hint = match e.kind() {
                io::ErrorKind::NotFound => " (is the adapter there, and the i2c-dev module loaded?)",
                io::ErrorKind::PermissionDenied => " (run as a member of the i2c group, or as root)",
                _ => "",
            };
            io::Error::new(e.kind(), format!("cannot open {}: {e}{hint}", path.display()))
        })?;
        let mut funcs: nix::libc::c_ulong = 0;
        // SAFETY: I2C_FUNCS writes one unsigned long through the pointer, which is valid.
        unsafe { sys::get_funcs(file.as_raw_fd(), &mut funcs) }
            .map_err(|e| io::Error::other(format!("I2C_FUNCS on {}: {e}", path.display())))?;
        let name = std::fs::read_to_string(format!("/sys/bus/i2c/devices/i2c-{number}/name"))
            .map(|n| n.trim_end().to_owned())
            .unwrap_or_else(|_| format!("i2c-{number}"));
        Ok(LinuxBus { number, name, funcs: funcs as u64, file, slave: None, ten_bit: false, pec: false })
    }

    /// The bus numbers of every `/dev/i2c-N`, in order.
    pub fn discover() -> io::Result<Vec<u32>> {
        let mut numbers: Vec<u32> = std::fs::read_dir("/dev")?
            .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("i2c-")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn fd(&self) -> sys::Int {
        self.file.as_raw_fd()
    }

    /// Points the file at `target`: address, 10-bit mode and PEC, each only if it changed.
    fn select(&mut self, target: &Target) -> Result<(), Errno> {
        if target.ten_bit != self.ten_bit {
            // SAFETY: plain integer argument.
            unsafe { sys::set_tenbit(self.fd(), target.ten_bit.into()) }.map_err(errno)?;
            self.ten_bit = target.ten_bit;
            // The kernel checks the address against the mode when it is set.
            self.slave = None;
        }
        if self.slave != Some((target.addr, target.force)) {
            self.slave = None;
            let addr = target.addr.into();
            // I2C_SLAVE fails with EBUSY where a kernel driver owns the address;
            // I2C_SLAVE_FORCE takes it anyway.
            let set = if target.force {
                // SAFETY: plain integer arguments.
                unsafe { sys::set_slave_force(self.fd(), addr) }
            } else {
                // SAFETY: plain integer arguments.
                unsafe { sys::set_slave(self.fd(), addr) }
            };
            set.map_err(errno)?;
            self.slave = Some((target.addr, target.force));
        }
        if target.pec != self.pec {
            // SAFETY: plain integer argument.
            unsafe { sys::set_pec(self.fd(), target.pec.into()) }.map_err(errno)?;
            self.pec = target.pec;
        }
        Ok(())
    }

    fn smbus(&mut self, target: &Target, command: &Command) -> Result<Reply, Errno> {
        // A block longer than the kernel's is refused here, before the bus is touched.
        let mut call = Call::new(command)?;
        self.select(target)?;
        let data: *mut SmbusData = if call.passes_data() { &mut call.data } else { std::ptr::null_mut() };
        let args =
            SmbusIoctlData { read_write: call.read_write, command: call.command, size: call.size, data };
        // SAFETY: `args` and the union it points to (or null, for a quick command, which
        // carries no data) live across the call; the kernel reads and writes at most the
        // union's 34 bytes.
        unsafe { sys::smbus(self.fd(), &args) }.map_err(errno)?;
        call.reply(command)
    }

    fn transfer(&mut self, msgs: &[Msg]) -> Result<Reply, Errno> {
        // i2c-dev's limit, which decoding enforces; a longer write built inside the process is
        // refused rather than have its length cut to 16 bits.
        if msgs.iter().any(|m| matches!(&m.dir, Dir::Write(data) if data.len() > MAX_MSG_LEN)) {
            return Err(Errno::EINVAL);
        }
        // A counted read (I2C_M_RECV_LEN) gets room for the count byte and 32 more, and its
        // first byte says how many bytes the adapter should take before the count's (1),
        // which is what i2c-dev checks the buffer against.
        let mut reads: Vec<Vec<u8>> = msgs
            .iter()
            .filter_map(|m| match m.dir {
                Dir::Read(_) if m.counted() => Some(counted_buffer()),
                Dir::Read(n) => Some(vec![0; n.into()]),
                Dir::Write(_) => None,
            })
            .collect();
        let mut next_read = reads.iter_mut();
        let mut raw: Vec<I2cMsg> = msgs
            .iter()
            .map(|m| match &m.dir {
                // The kernel only reads a write message's buffer.
                Dir::Write(data) => I2cMsg {
                    addr: m.addr,
                    flags: m.flags,
                    len: data.len() as u16,
                    buf: data.as_ptr().cast_mut(),
                },
                Dir::Read(_) => {
                    let buf = next_read.next().expect("one buffer per read message");
                    I2cMsg {
                        addr: m.addr,
                        flags: m.flags | msg_flags::RD,
                        len: buf.len() as u16,
                        buf: buf.as_mut_ptr(),
                    }
                }
            })
            .collect();
        let args = RdwrIoctlData { msgs: raw.as_mut_ptr(), nmsgs: raw.len() as u32 };
        // SAFETY: every message points at a buffer of its `len` bytes that outlives the call
        // (the request's bytes for writes, `reads` for reads); the kernel writes only into
        // read messages' buffers.
        unsafe { sys::rdwr(self.fd(), &args) }.map_err(errno)?;
        let read_msgs = msgs.iter().filter(|m| matches!(m.dir, Dir::Read(_)));
        let reads = read_msgs.zip(reads).map(|(m, mut buf)| {
            if m.counted() {
                // The kernel copied back the count byte and as many bytes as it says.
                let count = usize::from(buf[0]);
                if !(1..=BLOCK_MAX).contains(&count) {
                    return Err(Errno::EPROTO);
                }
                buf.truncate(1 + count);
            }
            Ok(bytes::Bytes::from(buf))
        });
        Ok(Reply::Transfer(reads.collect::<Result<_, _>>()?))
    }
}

/// The buffer of a counted read: its first byte asks the adapter for the count byte alone,
/// room for up to 32 bytes follows.
fn counted_buffer() -> Vec<u8> {
    let mut buf = vec![0; 1 + BLOCK_MAX];
    buf[0] = 1;
    buf
}

impl Backend for LinuxBus {
    fn number(&self) -> u32 {
        self.number
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn funcs(&self) -> u64 {
        self.funcs
    }

    fn set_timeout(&mut self, timeout: Duration) -> Result<(), Errno> {
        // The kernel counts in units of 10 ms; the protocol only allows multiples of 10 ms.
        let units = (timeout.as_millis() / 10).try_into().map_err(|_| Errno::EINVAL)?;
        // SAFETY: plain integer argument.
        unsafe { sys::set_timeout(self.fd(), units) }.map(drop).map_err(errno)
    }

    fn set_retries(&mut self, retries: u32) -> Result<(), Errno> {
        let retries = retries.try_into().map_err(|_| Errno::EINVAL)?;
        // SAFETY: plain integer argument.
        unsafe { sys::set_retries(self.fd(), retries) }.map(drop).map_err(errno)
    }

    fn claims(&self) -> Claims {
        let bus = self.number;
        Arc::new(move || claimed(Path::new("/sys/bus/i2c/devices"), bus))
    }

    fn execute(&mut self, op: &Op) -> Result<Reply, Failure> {
        let result = match op {
            Op::Smbus { target, command } => self.smbus(target, command),
            Op::Transfer(msgs) => self.transfer(msgs),
        };
        // The kernel says nothing beyond its errno.
        result.map_err(Failure::from)
    }
}

/// The addresses on bus `bus` that a kernel driver owns: i2c-dev's test for EBUSY
/// (`i2cdev_check_addr`) is an `i2c_client` at the address with a driver bound, which sysfs
/// shows as `devices/N-00XX/driver` (10-bit clients are named with 0xa000 added).
fn claimed(devices: &Path, bus: u32) -> Claimed {
    let mut claimed = Claimed::default();
    let prefix = format!("{bus}-");
    let Ok(entries) = std::fs::read_dir(devices) else { return claimed };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(addr) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else { continue };
        let Ok(addr) = u16::from_str_radix(addr, 16) else { continue };
        if !entry.path().join("driver").exists() {
            continue;
        }
        match addr & 0xa000 == 0xa000 {
            true => claimed.ten_bit.push(addr & 0x3FF),
            false => claimed.seven_bit.push(addr & 0x7F),
        }
    }
    claimed.seven_bit.sort_unstable();
    claimed.ten_bit.sort_unstable();
    claimed
}

#[cfg(test)]
mod tests {
    use super::*;
    use smbus_proxy_wire::Command as C;

    /// A bus on a file that is no adapter: any ioctl on it fails with ENOTTY, so an answer
    /// of EINVAL shows the operation was refused before the bus was touched.
    fn not_an_adapter() -> LinuxBus {
        let file = File::open("/dev/null").unwrap();
        LinuxBus { number: 0, name: "test".into(), funcs: 0, file, slave: None, ten_bit: false, pec: false }
    }

    #[test]
    fn blocks_too_long_for_the_kernel_are_refused_not_cut() {
        let mut bus = not_an_adapter();
        let long = bytes::Bytes::from(vec![0; BLOCK_MAX + 8]);
        for command in [
            C::WriteBlockData { reg: 0, data: long.clone() },
            C::BlockProcessCall { reg: 0, data: long.clone() },
            C::WriteI2cBlockData { reg: 0, data: long },
            C::ReadI2cBlockData { reg: 0, len: 33 },
        ] {
            assert_eq!(
                bus.execute(&Op::smbus(0x48, command.clone())),
                Err(Errno::EINVAL.into()),
                "{command:?}"
            );
        }
        let huge = Op::Transfer(vec![Msg::write(0x50, vec![0; MAX_MSG_LEN + 1])]);
        assert_eq!(bus.execute(&huge), Err(Errno::EINVAL.into()));
        // A valid one reaches the file, which is no adapter.
        let errno = bus.execute(&Op::smbus(0x48, C::WriteI2cBlockData { reg: 0, data: vec![1, 2].into() }));
        assert_eq!(errno, Err(Errno(nix::libc::ENOTTY).into()));
    }

    #[test]
    fn claimed_addresses_are_clients_with_a_driver() {
        let sysfs = tempfile::tempdir().unwrap();
        for (name, driver) in
            [("5-0050", true), ("5-001c", false), ("5-a0a5", true), ("50-0051", true), ("i2c-5", false)]
        {
            std::fs::create_dir(sysfs.path().join(name)).unwrap();
            if driver {
                std::fs::create_dir(sysfs.path().join(name).join("driver")).unwrap();
            }
        }
        assert_eq!(claimed(sysfs.path(), 5), Claimed { seven_bit: vec![0x50], ten_bit: vec![0xA5] });
        assert_eq!(claimed(sysfs.path(), 50), Claimed { seven_bit: vec![0x51], ten_bit: vec![] });
        assert_eq!(claimed(Path::new("/nonexistent"), 5), Claimed::default());
    }
}
