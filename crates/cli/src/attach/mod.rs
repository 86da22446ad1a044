//! `smbus-proxy attach`: a `/dev/i2c-N` on this machine backed by a bus of the server, so
//! every program that speaks i2c-dev (i2c-tools, C, Go's periph, Blinka) runs unchanged
//! against the remote bus. Linux only: the node is a character device in user space (CUSE).
//!
//! The protocol over `/dev/cuse` and i2c-dev's behaviour are the library's
//! (`smbus_proxy_i2cdev::cuse` and `device`); this file is the command: the node's name and
//! permissions, the remote bus as a [`Remote`], the loop, and stopping on Ctrl-C or SIGTERM
//! (the node disappears when `/dev/cuse` is closed, and the session is closed).

use crate::tools::{Args, connect, fail, parse_int};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use smbus_proxy_client::Report;
use smbus_proxy_client::{BusOptions, Error, Op, Reply, blocking};
use smbus_proxy_i2cdev::cuse;
use smbus_proxy_i2cdev::device::{Device, Remote};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The largest read or write the kernel hands the node in one request. Larger than i2c-dev's
/// 8192-byte message: a longer `write()` then arrives whole, is sent as its first 8192 bytes,
/// and returns 8192, as i2c-dev's does, instead of being cut into several messages by the
/// kernel (which bounds a request by its own page limit in any case).
const MAX_IO: u32 = 1 << 20;

pub const USAGE: &str = concat!(
    "\
Usage: smbus-proxy attach [--as N] [--mode MODE] [--group GROUP] I2CBUS
  Creates /dev/i2c-N on this machine, backed by bus I2CBUS of the server, until stopped
  (Ctrl-C, SIGTERM). Programs use it as any i2c-dev node: i2c-tools, C, Python, Go.
  Needs /dev/cuse (the cuse kernel module; root, or a udev rule). Linux only.
  --as N        the node's number (default: the first N with no /dev/i2c-N)
  --mode MODE   its permissions, in octal (default 0660)
  --group GROUP its group, such as i2c (default: root's)
  Errors a program sees besides the kernel's own (which come back unchanged): ENOTCONN when
  the server cannot be reached, ETIMEDOUT when a call gets no answer, EACCES when the server's
  policy refuses, EBUSY when another session has locked the bus, EIO for anything else.
",
    remote_usage!()
);

pub fn run(args: Vec<String>) -> ExitCode {
    let (args, _) = match Args::parse_with_long("attach", "", "", &["as", "mode", "group"], args) {
        Ok(parsed) => parsed,
        Err(stop) => return stop.exit(USAGE),
    };
    let [bus_arg] = &args.positional[..] else {
        return crate::tools::usage_error("Error: an I2CBUS to attach is needed", USAGE);
    };
    let Some(bus) = parse_int(bus_arg).and_then(|n| u32::try_from(n).ok()) else {
        return crate::tools::usage_error(&format!("Error: I2CBUS argument invalid: {bus_arg}"), USAGE);
    };
    let number = match args.long("as").map(|n| parse_int(n).and_then(|n| u32::try_from(n).ok())) {
        Some(Some(n)) => n,
        Some(None) => return crate::tools::usage_error("Error: --as needs a number", USAGE),
        None => match (0..).find(|n| !Path::new(&format!("/dev/i2c-{n}")).exists()) {
            Some(n) => n,
            None => return fail("Error: no free /dev/i2c-N"),
        },
    };
    let mode = match args.long("mode").map(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8)) {
        Some(Ok(mode)) if mode <= 0o777 => mode,
        Some(_) => {
            return crate::tools::usage_error("Error: --mode needs octal permissions, 0000–0777", USAGE);
        }
        None => 0o660,
    };
    let group = match args.long("group") {
        Some(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(group)) => Some(group.gid),
            _ => return fail(&format!("Error: no group {name}")),
        },
        None => None,
    };
    let client = match connect(&args) {
        Ok(client) => client,
        Err(code) => return code,
    };
    let remote = match RemoteBus::open(client, bus) {
        Ok(remote) => remote,
        Err(e) => return fail(&format!("Error: bus {bus}: {}", Report(&e))),
    };
    match serve(remote, number, mode, group) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("Error: {e}")),
    }
}

/// Registers `/dev/i2c-{number}` and answers its requests until a signal comes.
fn serve(remote: RemoteBus, number: u32, mode: u32, group: Option<nix::unistd::Gid>) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .map_err(|e| format!("cannot catch signals: {e}"))?;
    }
    let mut cuse = OpenOptions::new().read(true).write(true).open("/dev/cuse").map_err(|e| {
        format!(
            "cannot open /dev/cuse: {e} (load the cuse module: modprobe cuse; it needs root or a udev rule)"
        )
    })?;
    let name = format!("i2c-{number}");
    let bus = remote.bus;
    let mut device = Device::new(remote);
    // Requests are at most a header, a write's header and MAX_IO bytes; an ioctl's retried
    // data is bounded by the kernel's own buffer for it.
    let mut buf = vec![0u8; MAX_IO as usize + 4096];
    let mut node_ready = false;
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(cuse.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("waiting on /dev/cuse: {e}")),
        }
        let n = match cuse.read(&mut buf) {
            Ok(n) => n,
            // The caller of a request gave up before it was read: nothing to answer.
            Err(e)
                if e.raw_os_error() == Some(nix::libc::ENOENT)
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                continue;
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::ENODEV) => {
                return Err(format!("the kernel refused /dev/{name} (is the name taken?)"));
            }
            Err(e) => return Err(format!("reading /dev/cuse: {e}")),
        };
        let request = match cuse::Request::parse(&buf[..n]) {
            Ok(request) => request,
            Err(cuse::Malformed(what)) => return Err(format!("/dev/cuse sent {what}")),
        };
        let reply = match request.op {
            cuse::Operation::Init { major, .. } if major != cuse::MAJOR => {
                return Err(format!("the kernel speaks FUSE {major}.x; this speaks {}.x", cuse::MAJOR));
            }
            cuse::Operation::Init { .. } => Some(cuse::init(request.unique, MAX_IO, &name)),
            _ => device.handle(&request),
        };
        if let Some(reply) = reply {
            // A caller that gave up meanwhile makes the kernel refuse the reply (ENOENT): fine.
            if let Err(e) = cuse.write_all(&reply)
                && e.raw_os_error() != Some(nix::libc::ENOENT)
            {
                return Err(format!("answering on /dev/cuse: {e}"));
            }
        }
        if !node_ready && matches!(request.op, cuse::Operation::Init { .. }) {
            node_ready = true;
            let path = format!("/dev/{name}");
            set_permissions(&path, mode, group)?;
            info!("/dev/{name} is bus {bus} of the server; Ctrl-C to detach");
            // For scripts that wait for it.
            println!("/dev/{name}");
            let _ = std::io::stdout().flush();
        }
    }
    info!("detaching /dev/{name}");
    drop(cuse);
    device.into_remote().close();
    Ok(())
}

/// The node's mode and group, once devtmpfs (or udev) has made it.
fn set_permissions(path: &str, mode: u32, group: Option<nix::unistd::Gid>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !Path::new(path).exists() {
        if Instant::now() > deadline {
            return Err(format!("{path} did not appear (is devtmpfs or udev running?)"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set {path}'s mode: {e}"))?;
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(gid)).map_err(|e| format!("cannot set {path}'s group: {e}"))?;
    }
    Ok(())
}

/// What i2c-dev does, the kernel judges: an operation the adapter does not report is sent
/// anyway, for its driver to take (i2c-stub ignores a PEC it does not report) or refuse.
const OPTIONS: BusOptions = BusOptions { send_unsupported: true, ..BusOptions::DEFAULT };

/// The server's bus, as the device uses it.
struct RemoteBus {
    client: blocking::Client,
    bus: u32,
    handle: Option<blocking::Bus>,
    funcs: u64,
}

impl RemoteBus {
    fn open(client: blocking::Client, bus: u32) -> Result<RemoteBus, Error> {
        let handle = client.bus_with(bus, OPTIONS)?;
        let funcs = handle.funcs();
        Ok(RemoteBus { client, bus, handle: Some(handle), funcs })
    }

    fn close(mut self) {
        if let Some(handle) = self.handle.take()
            && let Err(e) = handle.close()
        {
            warn!("closing bus {}'s session: {}", self.bus, Report(&e));
        }
    }
}

impl Remote for RemoteBus {
    fn funcs(&self) -> u64 {
        self.funcs
    }

    fn run(&mut self, op: Op) -> Result<Reply, i32> {
        let Some(handle) = &mut self.handle else { return Err(nix::libc::ENOTCONN) };
        match handle.execute(std::slice::from_ref(&op)) {
            Ok(mut replies) if replies.len() == 1 => Ok(replies.remove(0)),
            Ok(_) => Err(nix::libc::EIO),
            Err(e) => Err(errno(&e, &op)),
        }
    }

    fn claimed(&mut self, addr: u16, ten_bit: bool) -> Result<bool, i32> {
        let buses = self.client.list_buses().map_err(|e| errno(&e, &Op::Transfer(Vec::new())))?;
        let Some(info) = buses.iter().find(|b| b.number == self.bus) else { return Err(nix::libc::ENODEV) };
        let claimed = if ten_bit { &info.claimed_ten_bit } else { &info.claimed };
        Ok(claimed.contains(&u32::from(addr)))
    }

    fn configure(&mut self, timeout: Option<Duration>, retries: Option<u32>) -> Result<(), i32> {
        let options = BusOptions { timeout, retries, ..OPTIONS };
        match self.client.bus_with(self.bus, options) {
            Ok(handle) => {
                if let Some(old) = self.handle.replace(handle) {
                    let _ = old.close();
                }
                Ok(())
            }
            Err(e) => {
                warn!(
                    "cannot set bus {}'s timeout {timeout:?} and retries {retries:?}: {}",
                    self.bus,
                    Report(&e)
                );
                Err(match e {
                    Error::Rejected { code: smbus_proxy_client::Code::InvalidArgument, .. } => {
                        nix::libc::EINVAL
                    }
                    e => errno(&e, &Op::Transfer(Vec::new())),
                })
            }
        }
    }
}

/// The errno a program gets for a failed call: the kernel's own when the bus failed, else
/// one that says what happened, with the reason logged.
fn errno(e: &Error, op: &Op) -> i32 {
    use smbus_proxy_client::Code;
    if let Some(errno) = e.errno() {
        return errno.0;
    }
    warn!("{} failed on the way: {}", op.name(), Report(e));
    match e {
        Error::NotSupported { .. } => nix::libc::EOPNOTSUPP,
        Error::Connect { .. }
        | Error::OutcomeUnknown { .. }
        | Error::Disconnected { .. }
        | Error::LinkDown { .. }
        | Error::SessionLost { .. } => nix::libc::ENOTCONN,
        Error::TimedOut { .. } => nix::libc::ETIMEDOUT,
        Error::Rejected { code: Code::PermissionDenied | Code::Unauthenticated, .. } => nix::libc::EACCES,
        Error::Rejected { code: Code::Aborted, .. } | Error::LockLost { .. } => nix::libc::EBUSY,
        Error::Rejected { code: Code::InvalidArgument, .. } => nix::libc::EINVAL,
        Error::Rejected { code: Code::Unavailable, .. } => nix::libc::ENOTCONN,
        Error::Rejected { code: Code::DeadlineExceeded, .. } => nix::libc::ETIMEDOUT,
        _ => nix::libc::EIO,
    }
}
