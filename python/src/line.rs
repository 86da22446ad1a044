//! `Line`: a GPIO line of the server's, held by a session of its own, for `digitalio` and the
//! gpiozero pin factory (`smbus_proxy/digitalio.py`, `smbus_proxy/gpiozero.py`) and for
//! programs that want the line itself.
//!
//! As `SMBus`, the state sits behind a mutex taken only detached from the interpreter, and
//! calls wait for the network with the interpreter released. A line's edge events come from
//! `events()`, an iterator of its own that another thread may read while this one sets and
//! reads the line.

use crate::error;
use crate::smbus::{Endpoint, Remote, seconds};
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::MutexExt;
use smbus_proxy_client::{
    Bias, Direction, Drive, Edge, Edges, Errno, EventClock, LineEvent as Event, LineSettings, blocking,
};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A GPIO line of an smbus-proxy server (``list_lines()`` lists them), held for this program
/// until ``close()``.
///
/// ``Line("bme280-int", edges="falling", active_low=True)`` requests it as an input;
/// ``output=True`` (with ``value``, its first value) as an output. Values are logical: with
/// ``active_low``, ``True`` is the line low. ``bias`` is ``"pull-up"``, ``"pull-down"``,
/// ``"disabled"`` or ``None`` (as it is); an output's ``drive`` is ``"push-pull"``,
/// ``"open-drain"`` or ``"open-source"``; an input's ``edges`` (``"rising"``, ``"falling"``,
/// ``"both"`` or ``None``) are those ``wait_edge()``, ``wait_level()`` and ``events()`` see,
/// with ``debounce`` seconds of debouncing and timestamps on the server's monotonic clock
/// (``realtime=True``: its wall clock).
///
/// The line is held by a session of its own on the server (on bus ``bus``, else the first the
/// server lists); ``server``, ``token``, ``ca``, ``cert``, ``key``, ``timeout``,
/// ``resume_window`` and ``outage_wait`` are ``SMBus``'s. A line someone else holds (another
/// client, another program on the server, a kernel driver) raises ``OSError`` EBUSY; one the
/// server does not offer, ``ValueError`` listing those it does.
#[pyclass(module = "smbus_proxy", name = "Line")]
pub struct Line {
    name: String,
    url: String,
    state: Mutex<State>,
}

struct State {
    /// Dropped before the session, which gives the line back first.
    line: Option<blocking::Line>,
    bus: Option<blocking::Bus>,
}

/// The keyword arguments that say how the line is wanted, each `None` where not given.
#[derive(Default)]
struct Wanted<'a> {
    output: Option<bool>,
    value: Option<bool>,
    active_low: Option<bool>,
    bias: Option<Option<&'a str>>,
    drive: Option<&'a str>,
    edges: Option<Option<&'a str>>,
    debounce: Option<f64>,
    realtime: Option<bool>,
}

impl Wanted<'_> {
    /// `settings` with what was given changed.
    fn apply(&self, mut s: LineSettings) -> PyResult<LineSettings> {
        let output = self.output.unwrap_or(s.is_output());
        s.direction = match (output, s.direction) {
            (false, _) => Direction::Input,
            (true, Direction::Output(v)) => Direction::Output(self.value.unwrap_or(v)),
            (true, Direction::Input) => Direction::Output(self.value.unwrap_or(false)),
        };
        if let Some(v) = self.active_low {
            s.active_low = v;
        }
        if let Some(bias) = self.bias {
            s.bias = match bias {
                None | Some("as-is") => Bias::AsIs,
                Some("pull-up") => Bias::PullUp,
                Some("pull-down") => Bias::PullDown,
                Some("disabled") => Bias::Disabled,
                Some(other) => {
                    return Err(choice("bias", other, "\"pull-up\", \"pull-down\", \"disabled\" or None"));
                }
            };
        }
        if let Some(drive) = self.drive {
            s.drive = match drive {
                "push-pull" => Drive::PushPull,
                "open-drain" => Drive::OpenDrain,
                "open-source" => Drive::OpenSource,
                other => {
                    return Err(choice("drive", other, "\"push-pull\", \"open-drain\" or \"open-source\""));
                }
            };
        }
        if let Some(edges) = self.edges {
            s.edges = edges_arg(edges.unwrap_or("none"), "edges")?;
        }
        if let Some(d) = self.debounce {
            s.debounce = seconds("debounce", d, true)?;
        }
        if let Some(realtime) = self.realtime {
            s.event_clock = if realtime { EventClock::Realtime } else { EventClock::Monotonic };
        }
        // An output has neither edges nor debouncing: changing direction leaves them behind.
        if s.is_output() {
            s.edges = Edges::None;
            s.debounce = std::time::Duration::ZERO;
        } else {
            s.drive = Drive::PushPull;
        }
        Ok(s)
    }
}

fn choice(name: &str, given: &str, allowed: &str) -> PyErr {
    PyValueError::new_err(format!("{name}: {given:?} is not one of {allowed}"))
}

fn edges_arg(given: &str, name: &str) -> PyResult<Edges> {
    match given {
        "none" => Ok(Edges::None),
        "rising" => Ok(Edges::Rising),
        "falling" => Ok(Edges::Falling),
        "both" => Ok(Edges::Both),
        other => Err(choice(name, other, "\"rising\", \"falling\", \"both\" or None")),
    }
}

impl Line {
    fn state(&self, py: Python<'_>) -> MutexGuard<'_, State> {
        self.state.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on the held line with the interpreter released.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&mut blocking::Line) -> smbus_proxy_client::Result<T> + Send,
    ) -> PyResult<T> {
        self.wait(py, op)?.map_err(error::to_py)
    }

    /// The same, with the client's error kept for the caller to look at (a wait's timeout).
    fn wait<T: Send>(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&mut blocking::Line) -> smbus_proxy_client::Result<T> + Send,
    ) -> PyResult<smbus_proxy_client::Result<T>> {
        let mut state = self.state(py);
        let line = state.line.as_mut().ok_or_else(|| {
            error::os_error(Errno::EBADF.0, format!("line {:?} is closed: make a new Line", self.name))
        })?;
        Ok(py.detach(|| op(line)))
    }
}

#[pymethods]
impl Line {
    #[new]
    #[pyo3(signature = (name, *, output=false, value=false, active_low=false, bias=None, drive="push-pull", edges=None, debounce=0.0, realtime=false, bus=None, server=None, token=None, ca=None, cert=None, key=None, timeout=None, resume_window=None, outage_wait=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        name: String,
        output: bool,
        value: bool,
        active_low: bool,
        bias: Option<&str>,
        drive: &str,
        edges: Option<&str>,
        debounce: f64,
        realtime: bool,
        bus: Option<u32>,
        server: Option<&str>,
        token: Option<&str>,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        timeout: Option<f64>,
        resume_window: Option<f64>,
        outage_wait: Option<f64>,
    ) -> PyResult<Line> {
        let wanted = Wanted {
            output: Some(output),
            value: Some(value),
            active_low: Some(active_low),
            bias: Some(bias),
            drive: Some(drive),
            edges: Some(edges),
            debounce: Some(debounce),
            realtime: Some(realtime),
        };
        let settings = wanted.apply(LineSettings::input())?;
        let remote =
            Remote { server, token, ca, cert, key, timeout, pipeline: 0, resume_window, outage_wait };
        let endpoint = Endpoint::new(remote)?;
        let url = endpoint.url().to_owned();
        let (bus, line) = py
            .detach(|| {
                let number = match bus {
                    Some(n) => n,
                    None => endpoint.client()?.list_buses()?.first().map_or(0, |b| b.number),
                };
                let mut bus = endpoint.open(number)?;
                let line = bus.line(&name, settings)?;
                Ok((bus, line))
            })
            .map_err(error::to_py)?;
        Ok(Line { name, url, state: Mutex::new(State { line: Some(line), bus: Some(bus) }) })
    }

    /// The line's name on the server.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is held as an output.
    #[getter]
    fn output(&self, py: Python<'_>) -> bool {
        self.state(py).line.as_ref().and_then(blocking::Line::settings).is_some_and(|s| s.is_output())
    }

    /// The line's logical value: an input's as it is now (a round trip), an output's as last
    /// set. Setting it drives an output.
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<bool> {
        if self.output(py) {
            return Ok(self.state(py).line.as_ref().is_some_and(blocking::Line::is_set));
        }
        self.call(py, |line| line.get())
    }

    #[setter]
    fn set_value(&self, py: Python<'_>, value: bool) -> PyResult<()> {
        self.call(py, |line| line.set(value))
    }

    /// Reads the line on the server, an output's included.
    fn read(&self, py: Python<'_>) -> PyResult<bool> {
        self.call(py, |line| line.get())
    }

    /// Changes how the line is held; what is not given stays as it was.
    #[pyo3(signature = (*, output=None, value=None, active_low=None, bias=None, drive=None, edges=None, debounce=None, realtime=None))]
    #[allow(clippy::too_many_arguments)]
    fn reconfigure(
        &self,
        py: Python<'_>,
        output: Option<bool>,
        value: Option<bool>,
        active_low: Option<bool>,
        bias: Option<&str>,
        drive: Option<&str>,
        edges: Option<&str>,
        debounce: Option<f64>,
        realtime: Option<bool>,
    ) -> PyResult<()> {
        let wanted = Wanted {
            output,
            value,
            active_low,
            bias: bias.map(|b| Some(b).filter(|b| *b != "as-is")),
            drive,
            edges: edges.map(Some),
            debounce,
            realtime,
        };
        let current = self.state(py).line.as_ref().and_then(blocking::Line::settings);
        let settings = wanted.apply(current.unwrap_or(LineSettings::input()))?;
        self.call(py, |line| line.reconfigure(settings))
    }

    /// Waits for an edge among ``edges`` (``"rising"``, ``"falling"`` or ``"both"``; those the
    /// line detects), up to ``timeout`` seconds (at most 60; ``None``: as long as it takes). An
    /// edge that came since the last wait counts. Returns the ``LineEvent``, or ``None`` past
    /// the timeout.
    #[pyo3(signature = (edges="both", timeout=None))]
    fn wait_edge(&self, py: Python<'_>, edges: &str, timeout: Option<f64>) -> PyResult<Option<LineEvent>> {
        let edges = edges_arg(edges, "edges")?;
        loop {
            let limit = wait_limit(timeout)?;
            match self.wait(py, |line| line.wait_edge(edges, limit))? {
                Ok(event) => return Ok(Some(LineEvent::from(event))),
                Err(e) if timed_out(&e) && timeout.is_none() => continue,
                Err(e) if timed_out(&e) => return Ok(None),
                Err(e) => return Err(error::to_py(e)),
            }
        }
    }

    /// Waits until the line has the logical ``value`` (at once if it has it now), up to
    /// ``timeout`` seconds; whether it came.
    #[pyo3(signature = (value, timeout=None))]
    fn wait_level(&self, py: Python<'_>, value: bool, timeout: Option<f64>) -> PyResult<bool> {
        loop {
            let limit = wait_limit(timeout)?;
            match self.wait(py, |line| line.wait_level(value, limit))? {
                Ok(()) => return Ok(true),
                Err(e) if timed_out(&e) && timeout.is_none() => continue,
                Err(e) if timed_out(&e) => return Ok(false),
                Err(e) => return Err(error::to_py(e)),
            }
        }
    }

    /// The line's edges as they come (an iterator of ``LineEvent``, each waited for), for a
    /// thread of their own: gpiozero's callbacks read them this way. Edges go to one reader:
    /// this iterator, or ``wait_edge()``.
    fn events(&self, py: Python<'_>) -> PyResult<LineEvents> {
        let events = self.call(py, |line| line.events())?;
        Ok(LineEvents { events: Mutex::new(Some(events)) })
    }

    /// Gives the line back and ends its session. Safe to call twice.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let mut state = self.state(py);
        let (line, bus) = (state.line.take(), state.bus.take());
        py.detach(|| {
            let released = line.map_or(Ok(()), blocking::Line::release);
            drop(bus.map(blocking::Bus::close));
            released
        })
        .map_err(error::to_py)
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.close(py)
    }

    fn __repr__(&self) -> String {
        format!("Line({:?}, server='{}')", self.name, self.url)
    }
}

/// Up to a minute a wait, the most one step waits on the server.
fn wait_limit(timeout: Option<f64>) -> PyResult<std::time::Duration> {
    let most = smbus_proxy_client::LONGEST_LINE_WAIT;
    Ok(match timeout {
        Some(t) => seconds("timeout", t, false)?.min(most),
        None => most,
    })
}

/// A wait that ended at its timeout, on the server.
fn timed_out(e: &smbus_proxy_client::Error) -> bool {
    e.errno() == Some(Errno::ETIMEDOUT)
}

/// An edge on a line: ``line``, ``edge`` (``"rising"`` or ``"falling"``), ``timestamp_ns`` (on
/// the line's event clock), ``seqno`` (the line's count of edges, this one included) and
/// ``lost`` (edges that came too fast to be kept, just before this one).
#[pyclass(module = "smbus_proxy", name = "LineEvent", frozen, get_all)]
pub struct LineEvent {
    line: String,
    edge: &'static str,
    timestamp_ns: u64,
    seqno: u64,
    lost: u64,
}

impl From<Event> for LineEvent {
    fn from(e: Event) -> LineEvent {
        let edge = match e.edge {
            Edge::Rising => "rising",
            Edge::Falling => "falling",
        };
        LineEvent { line: e.line, edge, timestamp_ns: e.timestamp_ns, seqno: e.seqno, lost: e.lost }
    }
}

#[pymethods]
impl LineEvent {
    fn __repr__(&self) -> String {
        format!(
            "LineEvent(line={:?}, edge={:?}, timestamp_ns={}, seqno={}, lost={})",
            self.line, self.edge, self.timestamp_ns, self.seqno, self.lost
        )
    }
}

/// A line's edge events as they come; the iteration ends when the line is closed.
#[pyclass(module = "smbus_proxy", name = "LineEvents")]
pub struct LineEvents {
    events: Mutex<Option<blocking::LineEvents>>,
}

#[pymethods]
impl LineEvents {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<LineEvent> {
        let mut events = self.events.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner);
        let Some(iter) = events.as_mut() else { return Err(PyStopIteration::new_err(())) };
        match py.detach(|| iter.next()) {
            Some(Ok(event)) => Ok(LineEvent::from(event)),
            Some(Err(e)) => Err(error::to_py(e)),
            None => {
                *events = None;
                Err(PyStopIteration::new_err(()))
            }
        }
    }
}

/// The lines the server offers, as ``(name, chip, offset, used, consumer, output, value)``:
/// ``gpioinfo`` for the remote machine (``value`` is ``None`` unless a session holds it).
/// ``server``, ``token``, ``ca``, ``cert`` and ``key`` as for ``SMBus``.
#[pyfunction]
#[pyo3(signature = (*, server=None, token=None, ca=None, cert=None, key=None))]
#[allow(clippy::type_complexity)]
pub fn list_lines(
    py: Python<'_>,
    server: Option<&str>,
    token: Option<&str>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> PyResult<Vec<(String, String, u32, bool, String, bool, Option<bool>)>> {
    let endpoint = Endpoint::new(Remote { server, token, ca, cert, key, ..Remote::default() })?;
    let lines = py.detach(|| endpoint.client()?.list_lines()).map_err(error::to_py)?;
    Ok(lines
        .into_iter()
        .map(|l| {
            let output = l.is_output();
            (l.name, l.chip, l.offset, l.used, l.consumer, output, l.value)
        })
        .collect())
}
