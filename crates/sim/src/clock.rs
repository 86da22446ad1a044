//! The simulated bus's time. Chips see the moment an operation reaches them, and the bus
//! holds its caller for the wire time and for a transaction's waits, all on one [`Clock`]: the
//! machine's, or a [`ManualClock`] that moves only when a test moves it, so that a test of
//! waits neither waits nor depends on how busy the machine is.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Where a simulated bus reads the time and sleeps: the machine's clock unless made
/// [`Clock::manual`].
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<ManualClock>>);

impl Clock {
    /// The machine's clock.
    pub fn real() -> Clock {
        Clock(None)
    }

    /// A clock that moves only when `clock` is advanced.
    pub fn manual(clock: &Arc<ManualClock>) -> Clock {
        Clock(Some(clock.clone()))
    }

    /// Now.
    pub fn now(&self) -> Instant {
        match &self.0 {
            None => Instant::now(),
            Some(manual) => manual.now(),
        }
    }

    /// Holds the calling thread for `time`.
    ///
    /// On the machine's clock a plain thread sleep would overshoot by the kernel's timer slack
    /// and wake-up latency, about 100 µs on a virtual machine: as much again as a 400 kHz
    /// `read_byte_data` takes. So the last stretch is spun (yielding the CPU), which keeps
    /// simulated time within a few µs of what it should be.
    pub fn sleep(&self, time: Duration) {
        if time.is_zero() {
            return;
        }
        match &self.0 {
            None => spin_sleep::sleep(time),
            Some(manual) => manual.sleep(time),
        }
    }

    /// Waits for the clock to reach `until`, for at most `patience` of real time: whether it
    /// did. A chip's own timer (a sensor's conversions) waits this way, on a thread of its own.
    /// It is not a sleeper of a [`ManualClock`]: it neither moves an advancing one nor counts
    /// in [`ManualClock::wait_for_sleepers`], so a test's clock moves only as the test moves
    /// it; and nothing but the end of a wait matters, so on the machine's clock it does not
    /// spin.
    pub fn wait_until(&self, until: Instant, patience: Duration) -> bool {
        match &self.0 {
            None => {
                let left = until.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(patience));
                left <= patience
            }
            Some(manual) => manual.wait_until(until, patience),
        }
    }
}

/// A clock for tests: it stands still until [`ManualClock::advance`], and a thread that
/// sleeps on it wakes once it has been advanced past the end of the sleep; or, made
/// [`ManualClock::advancing`], it jumps to the end of each sleep at once.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<State>,
    /// Whether a sleep moves the clock itself, to its end.
    advancing: bool,
    /// Signalled whenever the time moves or a sleeper comes.
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    now: Instant,
    sleepers: usize,
}

/// How long [`ManualClock::wait_for_sleepers`] waits, in real time, before it decides the
/// sleepers are not coming: a guard against a test that would hang, not a measure.
const NO_SLEEPERS: Duration = Duration::from_secs(30);

impl ManualClock {
    /// A clock standing at the machine's present moment.
    pub fn new() -> Arc<ManualClock> {
        ManualClock::starting(false)
    }

    /// A clock on which every sleep ends at once, the clock moved on to its end, as tokio's
    /// paused clock does: a transaction's waits and polls take exactly their time on it, and
    /// no time at all.
    pub fn advancing() -> Arc<ManualClock> {
        ManualClock::starting(true)
    }

    fn starting(advancing: bool) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            state: Mutex::new(State { now: Instant::now(), sleepers: 0 }),
            advancing,
            changed: Condvar::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A sleeper that panicked leaves nothing half-changed: the time only ever moves whole.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Now, on this clock.
    pub fn now(&self) -> Instant {
        self.state().now
    }

    /// Moves the time on by `time`, waking the sleepers whose sleep it ends.
    pub fn advance(&self, time: Duration) {
        self.state().now += time;
        self.changed.notify_all();
    }

    /// How many threads sleep on the clock now.
    pub fn sleepers(&self) -> usize {
        self.state().sleepers
    }

    /// Blocks until at least `count` threads sleep on the clock.
    ///
    /// # Panics
    ///
    /// If they do not come within 30 s of real time: the test would otherwise hang.
    pub fn wait_for_sleepers(&self, count: usize) {
        let state = self.state();
        let (state, timeout) = self
            .changed
            .wait_timeout_while(state, NO_SLEEPERS, |s| s.sleepers < count)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        assert!(!timeout.timed_out(), "{count} sleepers expected on the clock, {} came", state.sleepers);
    }

    fn wait_until(&self, until: Instant, patience: Duration) -> bool {
        let state = self.state();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, patience, |s| s.now < until)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.now >= until
    }

    fn sleep(&self, time: Duration) {
        let mut state = self.state();
        let until = state.now + time;
        if self.advancing {
            state.now = until;
            return;
        }
        state.sleepers += 1;
        self.changed.notify_all();
        while state.now < until {
            state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        state.sleepers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_sleep_ends_when_the_clock_has_moved_past_it_and_not_before() {
        let manual = ManualClock::new();
        let clock = Clock::manual(&manual);
        let start = clock.now();
        let sleeper = std::thread::spawn({
            let clock = clock.clone();
            move || {
                clock.sleep(300 * MS);
                clock.now()
            }
        });
        manual.wait_for_sleepers(1);
        manual.advance(299 * MS);
        assert_eq!(manual.sleepers(), 1, "one millisecond short, it still sleeps");
        manual.advance(MS);
        assert_eq!(sleeper.join().unwrap() - start, 300 * MS);
        assert_eq!(manual.sleepers(), 0);
    }

    #[test]
    fn an_advancing_clock_moves_by_each_sleep() {
        let clock = Clock::manual(&ManualClock::advancing());
        let start = clock.now();
        clock.sleep(300 * MS);
        clock.sleep(5 * MS);
        assert_eq!(clock.now() - start, 305 * MS);
    }

    #[test]
    fn the_real_clock_moves_by_itself() {
        let clock = Clock::real();
        let start = clock.now();
        clock.sleep(MS);
        assert!(clock.now() - start >= MS);
    }
}
