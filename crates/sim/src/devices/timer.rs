//! A chip's own oscillator: what makes a pin change with no bus traffic at all, as a sensor's
//! data-ready or alert output does when a measurement ends.
//!
//! A chip that drives a line from its own timing starts a thread here for each run of its
//! timer (a mode entered, a rate changed). The thread waits on the lines' clock for the moment
//! the chip names and tells the chip when it comes, until the chip is gone or starts another
//! run. One thread per such chip in such a mode, so the lab's config bounds them.

use crate::clock::Clock;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How long a timer thread waits, in real time, before it looks whether its chip is still
/// there: how soon a chip reset or rebuilt lets its thread go.
const PATIENCE: Duration = Duration::from_millis(100);

/// A chip with a timer of its own.
pub(crate) trait Timed: Send + Sync + 'static {
    /// When the chip next needs its timer, while `run` is its current run; `None` ends it.
    fn next(&self, run: u64) -> Option<Instant>;
    /// The moment [`Timed::next`] named has come; `now` is the clock's time.
    fn fire(&self, run: u64, now: Instant);
}

/// Starts run `run` of `chip`'s timer on `clock`.
pub(crate) fn start<C: Timed>(chip: &Arc<C>, run: u64, clock: Clock, name: &str) {
    let chip: Weak<C> = Arc::downgrade(chip);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            loop {
                // The chip is only borrowed while asked: its thread does not keep it alive.
                let Some(next) = chip.upgrade().and_then(|chip| chip.next(run)) else { return };
                if clock.wait_until(next, PATIENCE) {
                    let Some(chip) = chip.upgrade() else { return };
                    chip.fire(run, clock.now());
                }
            }
        })
        .expect("a thread for a simulated chip's timer");
}
