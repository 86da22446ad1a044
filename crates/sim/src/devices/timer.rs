//! A chip's own oscillator: what makes a pin change with no bus traffic at all, as a sensor's
//! data-ready or alert output does when a measurement ends.
//!
//! A chip that drives a line from its own timing starts one thread here when it begins to need
//! one (measuring starts), and no other while that one runs, however often a client changes
//! its mode: one thread per such chip, so the lab's config bounds them. The thread asks the
//! chip for the moment it next needs, waits for it on the lines' clock, and tells the chip when
//! it comes; it looks again at least every 10 ms of real time, so a new rate or mode is taken
//! up at once, and it ends when the chip is gone or needs no timer (which the chip notes under
//! the same lock as it answers, so that it starts another when it needs one again).

use crate::clock::Clock;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How long a timer thread waits, in real time, before it asks its chip again.
const PATIENCE: Duration = Duration::from_millis(10);

/// A chip with a timer of its own.
pub(crate) trait Timed: Send + Sync + 'static {
    /// When the chip next needs its timer. `None` ends the thread: the chip then notes that it
    /// has none, under the lock it answers under, and starts another when it needs one.
    fn next(&self) -> Option<Instant>;
    /// A moment [`Timed::next`] named has come; `now` is the clock's time.
    fn fire(&self, now: Instant);
}

/// Starts `chip`'s timer thread on `clock`.
pub(crate) fn start<C: Timed>(chip: &Arc<C>, clock: Clock, name: &str) {
    let chip: Weak<C> = Arc::downgrade(chip);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            loop {
                // The chip is only borrowed while asked: its thread does not keep it alive.
                let Some(next) = chip.upgrade().and_then(|chip| chip.next()) else { return };
                if clock.wait_until(next, PATIENCE) {
                    let Some(chip) = chip.upgrade() else { return };
                    chip.fire(clock.now());
                }
            }
        })
        .expect("a thread for a simulated chip's timer");
}
