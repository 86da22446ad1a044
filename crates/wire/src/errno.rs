//! The error model, end to end: the kernel's errno is the truth, the kind says what it means.
//!
//! The errno ↔ kind mapping lives here and only here; the server puts both on the wire, the
//! client turns the kind into embedded-hal's `ErrorKind`. The meanings follow the kernel's
//! I2C fault codes: <https://docs.kernel.org/i2c/fault-codes.html>.

use std::fmt;

/// What an errno means for the caller, in embedded-hal's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The address was not acknowledged: no device there.
    NoAcknowledgeAddress,
    /// A data byte was not acknowledged.
    NoAcknowledgeData,
    /// Another master won arbitration.
    ArbitrationLoss,
    /// The bus misbehaved: I/O error, timeout, protocol violation, bad PEC.
    Bus,
    /// Anything else, such as an operation the adapter cannot do or a busy address.
    Other,
}

/// A kernel errno, kept exactly as the bus reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// (errno, symbolic name, meaning on an I2C bus, kind). Values are Linux's on every
/// architecture the server runs on (asm-generic/errno*.h).
pub(crate) const TABLE: &[(i32, &str, &str, ErrorKind)] = &[
    (1, "EPERM", "operation not permitted", ErrorKind::Other),
    (5, "EIO", "I/O error on the bus", ErrorKind::Bus),
    (6, "ENXIO", "no device acknowledged the address", ErrorKind::NoAcknowledgeAddress),
    (9, "EBADF", "not held: a released GPIO line", ErrorKind::Other),
    (11, "EAGAIN", "arbitration lost", ErrorKind::ArbitrationLoss),
    (13, "EACCES", "permission denied", ErrorKind::Other),
    (16, "EBUSY", "address in use by a kernel driver, or bus busy", ErrorKind::Other),
    (19, "ENODEV", "data byte not acknowledged", ErrorKind::NoAcknowledgeData),
    (22, "EINVAL", "invalid argument", ErrorKind::Other),
    (71, "EPROTO", "protocol violation (bad block length or similar)", ErrorKind::Bus),
    (74, "EBADMSG", "packet error check (PEC) failed", ErrorKind::Bus),
    (75, "EOVERFLOW", "message too long for the adapter", ErrorKind::Other),
    (95, "EOPNOTSUPP", "not supported by this adapter", ErrorKind::Other),
    (110, "ETIMEDOUT", "bus operation timed out", ErrorKind::Bus),
    (121, "EREMOTEIO", "no device acknowledged the address", ErrorKind::NoAcknowledgeAddress),
];

impl Errno {
    /// Operation not permitted.
    pub const EPERM: Errno = Errno(1);
    /// I/O error on the bus.
    pub const EIO: Errno = Errno(5);
    /// No device acknowledged the address.
    pub const ENXIO: Errno = Errno(6);
    /// Not held: a GPIO line given back.
    pub const EBADF: Errno = Errno(9);
    /// Arbitration lost.
    pub const EAGAIN: Errno = Errno(11);
    /// Permission denied.
    pub const EACCES: Errno = Errno(13);
    /// Address in use by a kernel driver, or bus busy.
    pub const EBUSY: Errno = Errno(16);
    /// Data byte not acknowledged.
    pub const ENODEV: Errno = Errno(19);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// Protocol violation (bad block length or similar).
    pub const EPROTO: Errno = Errno(71);
    /// Packet error check (PEC) failed.
    pub const EBADMSG: Errno = Errno(74);
    /// Message too long for the adapter.
    pub const EOVERFLOW: Errno = Errno(75);
    /// Not supported by this adapter.
    pub const EOPNOTSUPP: Errno = Errno(95);
    /// Bus operation timed out.
    pub const ETIMEDOUT: Errno = Errno(110);
    /// No device acknowledged the address.
    pub const EREMOTEIO: Errno = Errno(121);

    fn entry(self) -> Option<&'static (i32, &'static str, &'static str, ErrorKind)> {
        TABLE.iter().find(|e| e.0 == self.0)
    }

    /// What this errno means on an I2C bus.
    pub fn kind(self) -> ErrorKind {
        self.entry().map_or(ErrorKind::Other, |e| e.3)
    }

    /// The symbolic name (`"ENXIO"`), if the errno is one an I2C bus reports.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|e| e.1)
    }

    /// Parses a symbolic name (`"EIO"`) or a number (`"5"`).
    pub fn parse(s: &str) -> Option<Errno> {
        if let Ok(n) = s.parse::<i32>() {
            return (n > 0).then_some(Errno(n));
        }
        TABLE.iter().find(|e| e.1.eq_ignore_ascii_case(s)).map(|e| Errno(e.0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Some((n, name, meaning, _)) => write!(f, "{name} ({n}): {meaning}"),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl std::error::Error for Errno {}

/// Why an operation failed: the errno, and what else there is to say (a poll that timed out
/// says after how many tries; a replayed trace, what it expected instead), which follows the
/// errno's text in the error a client sees. The detail is at most [`Failure::MAX_DETAIL`]
/// bytes, so the server can bound a reply before it knows what will fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The errno, as the kernel (or the simulator, as a kernel would) reports it.
    pub errno: Errno,
    detail: Option<Box<str>>,
}

impl Failure {
    /// The most bytes of detail a failure carries; a longer one is cut at a character and
    /// ends in `…`.
    pub const MAX_DETAIL: usize = 256;

    /// A failure with more to say than its errno: `detail` follows the errno's text as it is
    /// (start it with `; ` or a space), cut to [`Failure::MAX_DETAIL`] bytes.
    pub fn detailed(errno: Errno, detail: impl Into<String>) -> Failure {
        let mut detail = detail.into();
        if detail.len() > Self::MAX_DETAIL {
            const MORE: &str = "…";
            let mut end = Self::MAX_DETAIL - MORE.len();
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push_str(MORE);
        }
        Failure { errno, detail: Some(detail.into()) }
    }

    /// What the failure says beyond its errno, if anything.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl From<Errno> for Failure {
    fn from(errno: Errno) -> Failure {
        Failure { errno, detail: None }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.errno, self.detail().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_detail_is_cut_at_a_character() {
        let failure = Failure::detailed(Errno::EPROTO, "é".repeat(1000));
        let detail = failure.detail().unwrap();
        assert!(detail.len() <= Failure::MAX_DETAIL && detail.ends_with('…'), "{detail}");
        assert_eq!(Failure::detailed(Errno::EIO, " short").to_string(), format!("{} short", Errno::EIO));
    }

    #[test]
    fn brief_error_table() {
        use ErrorKind::*;
        for (errno, kind) in [
            (Errno::ENXIO, NoAcknowledgeAddress),
            (Errno::EREMOTEIO, NoAcknowledgeAddress),
            (Errno::ENODEV, NoAcknowledgeData),
            (Errno::EAGAIN, ArbitrationLoss),
            (Errno::EIO, Bus),
            (Errno::ETIMEDOUT, Bus),
            (Errno::EPROTO, Bus),
            (Errno::EBADMSG, Bus),
            (Errno::EBUSY, Other),
            (Errno::EOPNOTSUPP, Other),
            (Errno(4242), Other),
        ] {
            assert_eq!(errno.kind(), kind, "{errno}");
        }
    }

    #[test]
    fn names_round_trip() {
        for (n, name, _, _) in TABLE {
            assert_eq!(Errno::parse(name), Some(Errno(*n)));
            assert_eq!(Errno(*n).name(), Some(*name));
        }
        assert_eq!(Errno::parse("121"), Some(Errno::EREMOTEIO));
        assert_eq!(Errno::parse("0"), None);
        assert_eq!(Errno::parse("ENOPE"), None);
        assert_eq!(Errno::ENXIO.to_string(), "ENXIO (6): no device acknowledged the address");
    }
}
