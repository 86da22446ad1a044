//! Simulated GPIO lines: one chip of lines that a client requests as the kernel's GPIO
//! character device would have it, and that the outside world (a device model's output, a
//! test standing in for a button) drives.
//!
//! A line's level is what drives it: its requester, if it requested it as an output; else the
//! outside, if anything there drives it; else its pull (the requester's bias, or the line's
//! own pull resistor on the board). An input that detects edges reports each change of that
//! level, with the time on the chip's [`Clock`] and its sequence number. The simulator's
//! levels never bounce, so a debounce period has nothing to filter.

use crate::clock::Clock;
pub use smbus_proxy_wire::line::LineSettings;
use smbus_proxy_wire::line::{Bias, Direction, Edge};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// The simulated chip's name, as a kernel's would be `gpiochip0`.
pub const CHIP: &str = "sim-gpio";
/// Its label.
pub const CHIP_LABEL: &str = "smbus-proxy simulated lines";

/// Called with each edge a requester detects: which, and when on the chip's clock.
pub type OnEdge = Box<dyn FnMut(Edge, Instant) + Send>;

/// Called with a line's new level: what a chip's input or another line wired to it sees.
pub type Watcher = Box<dyn Fn(bool) + Send + Sync>;

/// One simulated line.
pub struct SimLine {
    name: String,
    offset: u32,
    /// What else sees the line's level change: lines wired to it, the inputs of chips.
    watchers: Mutex<Vec<Watcher>>,
    /// What the board's resistor pulls the line to when nothing drives it and the requester
    /// asks for no bias.
    pull_up: bool,
    clock: Clock,
    state: Mutex<State>,
}

struct State {
    /// What the outside drives, if anything.
    outside: Option<bool>,
    requested: Option<Requested>,
}

struct Requested {
    settings: LineSettings,
    /// An output's physical level.
    driven: bool,
    on_edge: Option<OnEdge>,
}

impl std::fmt::Debug for SimLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLine").field("name", &self.name).field("offset", &self.offset).finish()
    }
}

/// Why a simulated line could not be requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Another requester holds it.
    #[error("the line is already requested")]
    Busy,
    /// Set as an output while it is an input.
    #[error("the line is an input")]
    NotOutput,
    /// Not requested at all.
    #[error("the line is not requested")]
    NotRequested,
}

impl SimLine {
    /// A line nothing requests or drives yet.
    pub fn new(name: &str, offset: u32, pull_up: bool, clock: Clock) -> SimLine {
        SimLine {
            name: name.to_owned(),
            offset,
            pull_up,
            clock,
            state: Mutex::new(State { outside: None, requested: None }),
            watchers: Mutex::default(),
        }
    }

    /// Joins `follower` to this line with a wire: whatever level this line has, the follower
    /// is driven to, as an input is by the output it is wired to.
    pub fn wire_to(self: &Arc<Self>, follower: &Arc<SimLine>) {
        let to = Arc::downgrade(follower);
        self.watch(Box::new(move |level| {
            if let Some(follower) = to.upgrade() {
                follower.drive(Some(level));
            }
        }));
        follower.drive(Some(self.level()));
    }

    /// Calls `watcher` with the line's new level each time it changes, after the change: a
    /// chip's input pin wired to the line sees it this way. A watcher must not wait on
    /// anything that waits for this line.
    pub fn watch(&self, watcher: Watcher) {
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).push(watcher);
    }

    /// The line's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The clock its edges are timed on, which a chip driving it keeps time by.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Its offset on the chip.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The line's physical level now.
    pub fn level(&self) -> bool {
        Self::physical(&self.state(), self.pull_up)
    }

    fn physical(state: &State, pull_up: bool) -> bool {
        match &state.requested {
            Some(r) if r.settings.is_output() => r.driven,
            r => state.outside.unwrap_or(match r.as_ref().map(|r| r.settings.bias) {
                Some(Bias::PullUp) => true,
                Some(Bias::PullDown) => false,
                _ => pull_up,
            }),
        }
    }

    /// The outside drives the line to `level`, or, with `None`, lets it go.
    pub fn drive(&self, level: Option<bool>) {
        self.change(|state| state.outside = level);
    }

    /// Runs `f` on the state, reports the edge it made to the requester, if it detects it, and
    /// drives the lines wired to this one.
    fn change(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.state();
        let before = Self::physical(&state, self.pull_up);
        f(&mut state);
        let after = Self::physical(&state, self.pull_up);
        if before == after {
            return;
        }
        if let Some(r) = state.requested.as_mut() {
            let rising = after != r.settings.active_low;
            let edge = if rising { Edge::Rising } else { Edge::Falling };
            if r.settings.edges.has(edge)
                && let Some(on_edge) = r.on_edge.as_mut()
            {
                on_edge(edge, self.clock.now());
            }
        }
        drop(state);
        for watcher in self.watchers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            watcher(after);
        }
    }

    /// Requests the line with `settings`, reporting its edges to `on_edge`.
    pub fn request(&self, settings: LineSettings, on_edge: Option<OnEdge>) -> Result<(), LineError> {
        self.configure(settings, on_edge, true)
    }

    /// Gives the requester's new settings to the line it holds.
    pub fn reconfigure(&self, settings: LineSettings) -> Result<(), LineError> {
        self.configure(settings, None, false)
    }

    fn configure(&self, settings: LineSettings, on_edge: Option<OnEdge>, new: bool) -> Result<(), LineError> {
        let mut result = Ok(());
        self.change(|state| {
            let driven = |v: bool| v != settings.active_low;
            match (&mut state.requested, new) {
                (Some(r), false) => {
                    r.driven = match settings.direction {
                        Direction::Output(v) => driven(v),
                        Direction::Input => r.driven,
                    };
                    r.settings = settings;
                }
                (None, true) => {
                    let driven = match settings.direction {
                        Direction::Output(v) => driven(v),
                        Direction::Input => false,
                    };
                    state.requested = Some(Requested { settings, driven, on_edge });
                }
                (Some(_), true) => result = Err(LineError::Busy),
                (None, false) => result = Err(LineError::NotRequested),
            }
        });
        result
    }

    /// Gives the line back.
    pub fn release(&self) {
        self.change(|state| state.requested = None);
    }

    /// The requester's logical value of the line.
    pub fn value(&self) -> Result<bool, LineError> {
        let state = self.state();
        let active_low = state.requested.as_ref().ok_or(LineError::NotRequested)?.settings.active_low;
        Ok(Self::physical(&state, self.pull_up) != active_low)
    }

    /// The requester drives an output to the logical `value`.
    pub fn set(&self, value: bool) -> Result<(), LineError> {
        let mut result = Ok(());
        self.change(|state| match &mut state.requested {
            Some(r) if r.settings.is_output() => r.driven = value != r.settings.active_low,
            Some(_) => result = Err(LineError::NotOutput),
            None => result = Err(LineError::NotRequested),
        });
        result
    }

    /// The requester's settings, if the line is requested.
    pub fn settings(&self) -> Option<LineSettings> {
        self.state().requested.as_ref().map(|r| r.settings)
    }
}

/// A simulated chip's lines.
#[derive(Clone, Debug, Default)]
pub struct SimLines {
    lines: Vec<Arc<SimLine>>,
}

impl SimLines {
    /// A chip of these lines.
    pub fn new(lines: Vec<Arc<SimLine>>) -> SimLines {
        SimLines { lines }
    }

    /// Its lines, by offset.
    pub fn lines(&self) -> &[Arc<SimLine>] {
        &self.lines
    }

    /// The line of this name.
    pub fn line(&self, name: &str) -> Option<&Arc<SimLine>> {
        self.lines.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smbus_proxy_wire::line::Edges;

    fn recorder() -> (Arc<Mutex<Vec<Edge>>>, OnEdge) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (seen, Box::new(move |edge, _| s.lock().unwrap().push(edge)))
    }

    #[test]
    fn an_input_reads_what_drives_it_and_reports_its_edges() {
        let line = SimLine::new("int", 0, true, Clock::real());
        let (seen, on_edge) = recorder();
        let settings = LineSettings { active_low: true, ..LineSettings::input().with_edges(Edges::Both) };
        line.request(settings, Some(on_edge)).unwrap();
        assert_eq!(line.value(), Ok(false), "pulled up, active low: inactive");
        line.drive(Some(false));
        assert_eq!(line.value(), Ok(true));
        line.drive(Some(false));
        line.drive(None);
        assert_eq!(*seen.lock().unwrap(), [Edge::Rising, Edge::Falling], "one edge per change");
        assert_eq!(line.request(LineSettings::input(), None), Err(LineError::Busy));
        assert_eq!(line.set(true), Err(LineError::NotOutput));
    }

    #[test]
    fn an_output_drives_the_line_over_the_outside() {
        let line = SimLine::new("reset", 1, false, Clock::real());
        line.drive(Some(true));
        line.request(LineSettings::output(false), None).unwrap();
        assert!(!line.level());
        line.set(true).unwrap();
        assert!(line.level());
        line.reconfigure(LineSettings { active_low: true, ..LineSettings::output(true) }).unwrap();
        assert!(!line.level(), "active low: active is low");
        line.release();
        assert!(line.level(), "the outside again");
        assert_eq!(line.value(), Err(LineError::NotRequested));
    }
}
