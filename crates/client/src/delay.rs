//! [`Delay`]: the waits drivers ask for, on the machine the driver runs on.

use std::time::Duration;

/// embedded-hal's `DelayNs`, blocking and async, for drivers that wait for their chip: 2 ms
/// after a reset, 40 ms for a conversion. The wait happens here, on the client's machine. That
/// is enough: a driver waits after a call that started something on the chip (a command, a
/// reset), and a call returns only once the server has run it on the bus, so the chip has had
/// at least the wait by the time the driver's next call reaches it.
///
/// The async wait is tokio's, which rounds up to the millisecond.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delay;

impl embedded_hal::delay::DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        std::thread::sleep(Duration::from_nanos(ns.into()));
    }
}

impl embedded_hal_async::delay::DelayNs for Delay {
    async fn delay_ns(&mut self, ns: u32) {
        tokio::time::sleep(Duration::from_nanos(ns.into())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Delay;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_async_wait_is_tokios_to_the_millisecond() {
        let started = tokio::time::Instant::now();
        embedded_hal_async::delay::DelayNs::delay_ms(&mut Delay, 40).await;
        assert_eq!(started.elapsed(), Duration::from_millis(40));
    }

    #[test]
    fn the_blocking_wait_is_at_least_what_was_asked() {
        let started = std::time::Instant::now();
        embedded_hal::delay::DelayNs::delay_us(&mut Delay, 2_000);
        assert!(started.elapsed() >= Duration::from_millis(2));
    }
}
