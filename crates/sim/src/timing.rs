//! How long an operation holds the bus, and the adapter timeout that cuts it short.
//!
//! The clock is counted, not simulated: 9 bits per byte (8 data bits and the acknowledge),
//! the address as one byte (two for 10-bit), and 2 bits for each start, repeated start or
//! stop. That ignores clock stretching and the gaps a real controller leaves between bytes,
//! so it is a lower bound on what hardware takes, which is what latency tests want.

use smbus_proxy_wire::Errno;
use std::time::Duration;

const BITS_PER_BYTE: u64 = 9;
const START_STOP_BITS: u64 = 2;

/// The wire time of one operation so far.
pub(crate) struct Wire {
    /// `None`: an infinitely fast bus, whose bits take no time (clock stretching still does).
    khz: Option<u32>,
    timeout: Duration,
    bits: u64,
    /// Time devices held the clock low (clock stretching), which passes at any bus speed.
    held: Duration,
}

impl Wire {
    pub(crate) fn new(khz: Option<u32>, timeout: Duration) -> Self {
        Wire { khz, timeout, bits: 0, held: Duration::ZERO }
    }

    /// A start (or repeated start) and the address.
    pub(crate) fn address(&mut self, ten_bit: bool) -> Result<(), Errno> {
        let address_bytes = if ten_bit { 2 } else { 1 };
        self.clock(START_STOP_BITS + BITS_PER_BYTE * address_bytes)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<(), Errno> {
        self.clock(BITS_PER_BYTE * n as u64)
    }

    pub(crate) fn stop(&mut self) -> Result<(), Errno> {
        self.clock(START_STOP_BITS)
    }

    /// A device holding SCL low before it sends.
    pub(crate) fn stretch(&mut self, hold: Duration) -> Result<(), Errno> {
        self.held += hold;
        self.clock(0)
    }

    /// Counts the bits before they reach a device, so a message that would cross the
    /// timeout is never delivered, as when a controller gives up mid-transfer; the messages
    /// before it were.
    fn clock(&mut self, bits: u64) -> Result<(), Errno> {
        self.bits += bits;
        if self.elapsed() > self.timeout { Err(Errno::ETIMEDOUT) } else { Ok(()) }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        let clocked = match self.khz {
            // One bit at 1 kHz is 1 ms.
            Some(khz) => Duration::from_nanos(self.bits * 1_000_000 / u64::from(khz)),
            None => Duration::ZERO,
        };
        clocked + self.held
    }

    /// How long the bus was busy, which the caller is held for: the whole wire time, or the
    /// timeout if the operation ran into it.
    pub(crate) fn busy(&self) -> Duration {
        self.elapsed().min(self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn read_byte_data_at_400_khz() {
        // Start, address, register; repeated start, address, data; stop: 4 bytes and 3
        // conditions, 42 bits.
        let mut wire = Wire::new(Some(400), SECOND);
        wire.address(false).unwrap();
        wire.bytes(1).unwrap();
        wire.address(false).unwrap();
        wire.bytes(1).unwrap();
        wire.stop().unwrap();
        assert_eq!(wire.elapsed(), Duration::from_micros(105));
    }

    #[test]
    fn ten_bit_address_is_two_bytes() {
        let mut wire = Wire::new(Some(100), SECOND);
        wire.address(true).unwrap();
        wire.stop().unwrap();
        assert_eq!(wire.elapsed(), Duration::from_micros(220));
    }

    #[test]
    fn crossing_the_timeout_fails() {
        // At 1 kHz a bit is 1 ms: the address fits in 11 ms, one more byte does not.
        let mut wire = Wire::new(Some(1), Duration::from_millis(15));
        assert_eq!(wire.address(false), Ok(()));
        assert_eq!(wire.bytes(1), Err(Errno::ETIMEDOUT));
    }

    #[test]
    fn stretching_takes_time_at_any_speed_and_can_time_out() {
        let mut wire = Wire::new(None, Duration::from_millis(10));
        wire.bytes(100).unwrap();
        assert_eq!(wire.stretch(Duration::from_millis(4)), Ok(()));
        assert_eq!(wire.elapsed(), Duration::from_millis(4));
        assert_eq!(wire.stretch(Duration::from_millis(7)), Err(Errno::ETIMEDOUT));
    }

    #[test]
    fn no_clock_means_no_time() {
        let mut wire = Wire::new(None, Duration::ZERO);
        assert_eq!(wire.bytes(8192), Ok(()));
        assert_eq!(wire.elapsed(), Duration::ZERO);
    }
}
