//! GPIO lines: the chip's other wires (reset, enable, interrupt, data-ready), as the Linux GPIO
//! character device's uAPI v2 has them (`include/uapi/linux/gpio.h`): a line's settings when a
//! session requests it, the steps a transaction takes on lines, and the edge events they
//! report.
//!
//! Values are logical throughout, as the uAPI's are: `true` is active, which on an active-low
//! line is the line low.

use std::fmt;
use std::time::Duration;

/// The longest debounce period a line may ask for. The kernel takes any `u32` of µs, but a
/// switch bounces for milliseconds, and a period of seconds would only make a line deaf.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(1);

/// The most lines one request may name.
pub const MAX_LINES_PER_REQUEST: usize = 64;

/// The longest line name a client may send: the kernel's are at most 31 bytes
/// (`GPIO_MAX_NAME_SIZE`), an operator's labels at most this.
pub const MAX_LINE_NAME: usize = 64;

/// How a session wants a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSettings {
    /// Input, or output with its first value.
    pub direction: Direction,
    /// Values are logical: `true` is the line low.
    pub active_low: bool,
    /// The pull resistor.
    pub bias: Bias,
    /// How an output drives the line; push-pull for an input.
    pub drive: Drive,
    /// The edges an input reports; none for an output.
    pub edges: Edges,
    /// An input ignores changes shorter than this; zero for an output.
    pub debounce: Duration,
    /// The clock of its edge events' timestamps.
    pub event_clock: EventClock,
}

impl LineSettings {
    /// An input, as the line is biased now, detecting no edges.
    pub const fn input() -> LineSettings {
        LineSettings {
            direction: Direction::Input,
            active_low: false,
            bias: Bias::AsIs,
            drive: Drive::PushPull,
            edges: Edges::None,
            debounce: Duration::ZERO,
            event_clock: EventClock::Monotonic,
        }
    }

    /// A push-pull output starting at `value`.
    pub const fn output(value: bool) -> LineSettings {
        LineSettings { direction: Direction::Output(value), ..LineSettings::input() }
    }

    /// The same, detecting `edges`.
    pub const fn with_edges(self, edges: Edges) -> LineSettings {
        LineSettings { edges, ..self }
    }

    /// Whether it is an output.
    pub fn is_output(&self) -> bool {
        matches!(self.direction, Direction::Output(_))
    }
}

/// A line's direction; an output's with the value it starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The line is read.
    Input,
    /// The line is driven, first to this value.
    Output(bool),
}

/// A line's pull resistor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Bias {
    /// As it is: whatever the board or an earlier user set.
    #[default]
    AsIs,
    /// Pulled up.
    PullUp,
    /// Pulled down.
    PullDown,
    /// Neither.
    Disabled,
}

/// How an output drives its line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Drive {
    /// Both levels.
    #[default]
    PushPull,
    /// Low only; high is left to a pull-up.
    OpenDrain,
    /// High only; low is left to a pull-down.
    OpenSource,
}

/// Which edges an input reports, or a wait waits for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Edges {
    /// None.
    #[default]
    None,
    /// Inactive to active.
    Rising,
    /// Active to inactive.
    Falling,
    /// Either.
    Both,
}

impl Edges {
    /// Whether `edge` is among these.
    pub fn has(self, edge: Edge) -> bool {
        matches!(
            (self, edge),
            (Edges::Both, _) | (Edges::Rising, Edge::Rising) | (Edges::Falling, Edge::Falling)
        )
    }

    /// Whether every edge of `other` is among these.
    pub fn covers(self, other: Edges) -> bool {
        [Edge::Rising, Edge::Falling].into_iter().all(|e| !other.has(e) || self.has(e))
    }

    /// The name in messages, as libgpiod's tools write it.
    pub fn name(self) -> &'static str {
        match self {
            Edges::None => "none",
            Edges::Rising => "rising",
            Edges::Falling => "falling",
            Edges::Both => "both",
        }
    }
}

/// One edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The line's logical value went from 0 to 1.
    Rising,
    /// From 1 to 0.
    Falling,
}

impl Edge {
    /// The logical value the line has after it.
    pub fn value(self) -> bool {
        self == Edge::Rising
    }
}

/// The clock of edge events' timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventClock {
    /// `CLOCK_MONOTONIC`: for intervals.
    #[default]
    Monotonic,
    /// `CLOCK_REALTIME`: the server's wall clock.
    Realtime,
}

/// An edge on a line, as the kernel (or the simulator) saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineEvent {
    /// The line's name.
    pub line: String,
    /// Which edge.
    pub edge: Edge,
    /// On the line's event clock, in nanoseconds.
    pub timestamp_ns: u64,
    /// The line's count of edges since it was requested, this one included.
    pub seqno: u64,
    /// Edges lost just before this one, which came faster than they were read.
    pub lost: u64,
}

/// A transaction's step on a line the session holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineStep {
    /// Drive an output.
    Set {
        /// The line.
        line: String,
        /// Logical.
        value: bool,
    },
    /// Read the line's logical value.
    Get {
        /// The line.
        line: String,
    },
    /// Wait for an edge: those that came since the line was requested or since the last one
    /// taken count, those of another kind are passed over.
    WaitEdge {
        /// The line.
        line: String,
        /// Rising, falling or both: not none.
        edge: Edges,
        /// Past this, ETIMEDOUT.
        timeout: Duration,
    },
    /// Wait until the line has `value`: at once if it has it now, else at the edge that gives
    /// it.
    WaitLevel {
        /// The line.
        line: String,
        /// Logical.
        value: bool,
        /// Past this, ETIMEDOUT.
        timeout: Duration,
    },
}

impl LineStep {
    /// The line it acts on.
    pub fn line(&self) -> &str {
        match self {
            LineStep::Set { line, .. }
            | LineStep::Get { line }
            | LineStep::WaitEdge { line, .. }
            | LineStep::WaitLevel { line, .. } => line,
        }
    }

    /// Its name in messages and logs: the field's in the protocol.
    pub fn name(&self) -> &'static str {
        match self {
            LineStep::Set { .. } => "set_line",
            LineStep::Get { .. } => "get_line",
            LineStep::WaitEdge { .. } => "wait_edge",
            LineStep::WaitLevel { .. } => "wait_level",
        }
    }

    /// The longest it may wait.
    pub fn waits(&self) -> Duration {
        match self {
            LineStep::Set { .. } | LineStep::Get { .. } => Duration::ZERO,
            LineStep::WaitEdge { timeout, .. } | LineStep::WaitLevel { timeout, .. } => *timeout,
        }
    }
}

impl fmt::Display for LineEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let edge = match self.edge {
            Edge::Rising => "rising",
            Edge::Falling => "falling",
        };
        let (s, ns) = (self.timestamp_ns / 1_000_000_000, self.timestamp_ns % 1_000_000_000);
        write!(f, "{s}.{ns:09} {edge} {:?} #{}", self.line, self.seqno)?;
        if self.lost > 0 {
            write!(f, " ({} lost before)", self.lost)?;
        }
        Ok(())
    }
}

impl crate::pb::LineInfo {
    /// Whether the line was an output when the answer was made.
    pub fn is_output(&self) -> bool {
        self.direction() == crate::pb::Direction::Output
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_cover_what_they_name() {
        assert!(Edges::Both.covers(Edges::Rising) && Edges::Both.covers(Edges::Both));
        assert!(Edges::Rising.covers(Edges::Rising) && !Edges::Rising.covers(Edges::Both));
        assert!(!Edges::Falling.covers(Edges::Rising) && Edges::None.covers(Edges::None));
        assert!(Edges::Falling.has(Edge::Falling) && !Edges::None.has(Edge::Rising));
    }
}
