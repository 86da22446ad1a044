//! A write log: not a chip, but an instrument for tests of the proxy itself. It keeps every
//! byte written to it, message after message, so that a test can read back exactly what
//! reached the device, and how many times: a write run twice shows twice, one lost shows a
//! gap.
//!
//! - A write message's bytes are appended to the log, up to [`CAPACITY`]; a byte past it is
//!   not acknowledged (EREMOTEIO), and nothing of that message is kept.
//! - A read message returns the log from a read cursor on, advancing it (0xFF past the end).
//! - An empty write (a quick write, `i2cdetect -q`'s probe) logs nothing and moves the read
//!   cursor back to the start.

use super::Device;
use smbus_proxy_wire::Errno;

/// The most bytes the log keeps: a test's worth, bounded like everything a peer can fill.
pub const CAPACITY: usize = 64 << 10;

pub(crate) struct WriteLog {
    log: Vec<u8>,
    cursor: usize,
}

impl WriteLog {
    pub(crate) fn new() -> Self {
        WriteLog { log: Vec::new(), cursor: 0 }
    }
}

impl Device for WriteLog {
    fn write(&mut self, data: &[u8]) -> Result<(), Errno> {
        if data.is_empty() {
            self.cursor = 0;
            return Ok(());
        }
        if self.log.len() + data.len() > CAPACITY {
            return Err(Errno::EREMOTEIO);
        }
        self.log.extend_from_slice(data);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Errno> {
        for byte in buf {
            *byte = self.log.get(self.cursor).copied().unwrap_or(0xFF);
            self.cursor += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_write_and_reads_it_back_from_the_start() {
        let mut log = WriteLog::new();
        log.write(&[0x00, 1]).unwrap();
        log.write(&[0x00, 2]).unwrap();
        log.write(&[0x00, 2]).unwrap();
        let mut back = [0; 7];
        log.read(&mut back[..3]).unwrap();
        log.read(&mut back[3..]).unwrap();
        assert_eq!(back, [0, 1, 0, 2, 0, 2, 0xFF], "each write once, in order, the twice-sent twice");
        log.write(&[]).unwrap();
        log.read(&mut back[..2]).unwrap();
        assert_eq!(back[..2], [0, 1], "an empty write rewinds");
    }

    #[test]
    fn a_full_log_refuses_what_does_not_fit_whole() {
        let mut log = WriteLog::new();
        log.write(&vec![7; CAPACITY - 1]).unwrap();
        assert_eq!(log.write(&[1, 2]), Err(Errno::EREMOTEIO));
        log.write(&[3]).unwrap();
        assert_eq!(log.log.len(), CAPACITY);
    }
}
