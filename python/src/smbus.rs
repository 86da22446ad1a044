//! `SMBus`: smbus2's class, each method one call of the Rust blocking client.
//!
//! The state sits behind a mutex, and calls wait for the network with the interpreter
//! released, so other Python threads run meanwhile and two threads sharing one `SMBus` take
//! turns. The mutex is only ever taken detached from the interpreter (`lock_py_attached`):
//! a thread that waited for it while attached could hold the GIL that the thread inside, back
//! from the network, needs.

use crate::args;
use crate::error::{self, os_error};
use crate::msg::{I2C_M_RD, I2cMsg};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::{MutexExt, PyOnceLock};
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyTuple, PyType};
use smbus_proxy_client::{
    BusOptions, Bytes, Command, Credentials, Dir, Errno, Match, Msg, Op, Poll, Reply, blocking, funcs,
    msg_flags,
};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Where the server is and how to prove who we are; fixed when the `SMBus` is made.
pub(crate) struct Endpoint {
    url: String,
    credentials: Credentials,
    call_timeout: Option<Duration>,
    /// The pipelining window, 0 for none.
    pipeline: usize,
    resume_window: Option<Duration>,
    outage_wait: Option<Duration>,
}

/// The keyword arguments that say where the server is and how to prove who we are.
#[derive(Default)]
pub(crate) struct Remote<'a> {
    pub server: Option<&'a str>,
    pub token: Option<&'a str>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub timeout: Option<f64>,
    pub pipeline: usize,
    pub resume_window: Option<f64>,
    pub outage_wait: Option<f64>,
}

impl Endpoint {
    /// The arguments given, else the environment, as every tool of the project does.
    pub(crate) fn new(remote: Remote<'_>) -> PyResult<Endpoint> {
        let call_timeout = remote.timeout.map(|t| seconds("timeout", t, false)).transpose()?;
        // 0: no window, the session ends one lease after the client falls silent.
        let resume_window = match remote.resume_window {
            Some(w) => Some(seconds("resume_window", w, true)?).filter(|w| !w.is_zero()),
            None => BusOptions::DEFAULT.resume_window,
        };
        let outage_wait = remote.outage_wait.map(|t| seconds("outage_wait", t, true)).transpose()?;
        let env = Credentials::from_env();
        let credentials = Credentials {
            token: smbus_proxy_client::token(remote.token),
            ca: remote.ca.or(env.ca),
            cert: remote.cert.or(env.cert),
            key: remote.key.or(env.key),
        };
        Ok(Endpoint {
            url: smbus_proxy_client::server_url(remote.server),
            credentials,
            call_timeout,
            pipeline: remote.pipeline,
            resume_window,
            outage_wait,
        })
    }

    fn list_buses(&self) -> smbus_proxy_client::Result<Vec<(u32, String, u64)>> {
        let buses =
            blocking::Client::connect_with(self.url.clone(), self.credentials.clone())?.list_buses()?;
        Ok(buses.into_iter().map(|b| (b.number, b.name, b.funcs)).collect())
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// A client of the server.
    pub(crate) fn client(&self) -> smbus_proxy_client::Result<blocking::Client> {
        blocking::Client::connect_with(self.url.clone(), self.credentials.clone())
    }

    pub(crate) fn open(&self, number: u32) -> smbus_proxy_client::Result<blocking::Bus> {
        let options = BusOptions {
            call_timeout: self.call_timeout,
            pipeline: self.pipeline,
            resume_window: self.resume_window,
            outage_wait: self.outage_wait,
            ..BusOptions::DEFAULT
        };
        self.client()?.bus_with(number, options)
    }
}

struct State {
    endpoint: Endpoint,
    /// The session; it keeps its connection and keep-alive running.
    bus: Option<blocking::Bus>,
    number: Option<u32>,
    funcs: u64,
    /// The last address used, as smbus2 reports it.
    address: Option<u16>,
    force: bool,
    pec: bool,
}

impl State {
    fn new(endpoint: Endpoint) -> State {
        State { endpoint, bus: None, number: None, funcs: 0, address: None, force: false, pec: false }
    }

    /// Ends the session, once pipelined writes have run: the first of them that failed is
    /// the error. Nothing else is lost if the server cannot be told: it ends a session whose
    /// client went quiet when the session's lease runs out.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        let flushed = match self.bus.take() {
            Some(mut bus) => py.detach(|| {
                let flushed = bus.flush();
                drop(bus.close());
                flushed
            }),
            None => Ok(()),
        };
        self.pec = false;
        self.address = None;
        flushed.map_err(error::to_py)
    }
}

/// An I2C/SMBus bus on an smbus-proxy server, with smbus2's ``SMBus`` interface.
///
/// ``SMBus(1)`` opens bus 1 of the server, that is its ``/dev/i2c-1`` (``"/dev/i2c-1"`` works
/// too); without a bus, call ``open()`` later. ``force`` is the default of every method's
/// ``force``: use the address even where a kernel driver on the server owns it. The server is
/// ``server`` (``"http://raspberrypi.local:50051"``, or ``"mdns://NAME"`` for a server that
/// announces itself on the local network as NAME), else the environment variable
/// ``SMBUS_PROXY_SERVER``, else ``http://127.0.0.1:50051``; the token is ``token``, else
/// ``SMBUS_PROXY_TOKEN``, else none. For an ``https://`` server, ``ca`` is the PEM file of the
/// CA that signed its certificate (else ``SMBUS_PROXY_CA``, else the system's roots), and
/// ``cert`` and ``key`` this client's certificate and key where the server requires mutual TLS
/// (else ``SMBUS_PROXY_CERT`` and ``SMBUS_PROXY_KEY``). ``timeout`` (seconds) bounds how long
/// a call waits for its answer, queueing for the bus included: past it, ``TimeoutError``, and a
/// call that had not reached the bus never will. So a program written for smbus2 needs
/// one change, ``from smbus_proxy import SMBus``, and the environment says where the bus is.
///
/// ``pipeline=True`` (or a window, 1 to 256; True is 64) hides the network's round trip for
/// writes: a call that returns nothing returns as soon as it is sent, and the operations still
/// run in order. The price is where a failure shows: smbus2 (and this without ``pipeline``)
/// raises at the failing write; with ``pipeline`` the next call that waits raises it — a read,
/// ``flush()``, ``close()``, the end of a ``with`` block — naming the failed call, and nothing
/// written after it reaches the bus until then. A probe (``write_quick``, an empty write) still
/// waits for its answer.
///
/// When the network drops, calls wait while the client reconnects and takes its session up
/// again, and every write still runs exactly once. ``resume_window`` (seconds, 60 by default;
/// the server grants at most its own bound) is how long the server keeps the session for a
/// client that fell silent; 0 ends it one lease (5 s) after, and a write whose connection
/// broke then raises ``ConnectionError`` ("it may or may not have run"). ``outage_wait``
/// (seconds; by default the window) is how long a call waits for the connection before it
/// raises ``ConnectionError`` ("the connection to the server has been down for ...").
///
/// Failed operations raise ``OSError`` with the server kernel's ``errno`` (ENXIO, 6, when no
/// device answers); arguments out of range raise ``ValueError``, and of the wrong type
/// ``TypeError``, before anything reaches the bus. There is no ``fd``: the bus is remote.
#[pyclass(module = "smbus_proxy", name = "SMBus", subclass, dict)]
pub struct SMBus {
    state: Mutex<State>,
}

impl SMBus {
    fn state(&self, py: Python<'_>) -> MutexGuard<'_, State> {
        self.state.lock_py_attached(py).unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `op` on the open bus with the interpreter released. An SMBus operation passes the
    /// address and its `force` argument, which smbus2 applies before the operation.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        target: Option<(u16, Option<bool>)>,
        op: impl FnOnce(&mut blocking::Bus) -> smbus_proxy_client::Result<T> + Send,
    ) -> PyResult<T> {
        let mut state = self.state(py);
        let state = &mut *state;
        let bus = state.bus.as_mut().ok_or_else(error::not_open)?;
        if let Some((addr, force)) = target {
            state.address = Some(addr);
            bus.set_force(force.unwrap_or(state.force));
        }
        py.detach(|| op(bus)).map_err(error::to_py)
    }

    fn smbus<T: Send>(
        &self,
        py: Python<'_>,
        i2c_addr: &Bound<'_, PyAny>,
        force: Option<bool>,
        op: impl FnOnce(&mut blocking::Bus, u16) -> smbus_proxy_client::Result<T> + Send,
    ) -> PyResult<T> {
        let addr = args::uint::<u16>(i2c_addr, "i2c_addr")?;
        self.call(py, Some((addr, force)), |bus| op(bus, addr))
    }

    /// A read `command` polled on the bus until its value matches `until`.
    #[allow(clippy::too_many_arguments)]
    fn poll_read(
        &self,
        py: Python<'_>,
        i2c_addr: &Bound<'_, PyAny>,
        force: Option<bool>,
        command: Command,
        until: Match,
        timeout: &Bound<'_, PyAny>,
        interval: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Reply> {
        let (timeout, interval) = poll_times(timeout, interval)?;
        self.smbus(py, i2c_addr, force, |bus, addr| {
            let op = Op::Smbus { target: bus.target(addr), command };
            bus.poll(Poll { op, interval, timeout, until: Some(until) })
        })
    }
}

/// A time argument in seconds: a finite number, above 0 unless `zero` may be.
fn seconds_arg(value: &Bound<'_, PyAny>, name: &str, zero: bool) -> PyResult<Duration> {
    let given: f64 = value.extract().map_err(|_| {
        PyTypeError::new_err(format!("{name}: expected a number of seconds, not {}", value.get_type()))
    })?;
    seconds(name, given, zero)
}

/// A number of seconds as a duration: finite, above 0 unless `zero` may be.
pub(crate) fn seconds(name: &str, given: f64, zero: bool) -> PyResult<Duration> {
    Duration::try_from_secs_f64(given).ok().filter(|d| zero || !d.is_zero()).ok_or_else(|| {
        let least = if zero { "0 or more" } else { "above 0" };
        PyValueError::new_err(format!("{name}: {given} is not a number of seconds {least}"))
    })
}

/// A poll's timeout and interval (by default the shortest a server takes, 100 µs).
fn poll_times(
    timeout: &Bound<'_, PyAny>,
    interval: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Duration, Duration)> {
    let interval = interval
        .map(|i| seconds_arg(i, "interval", true))
        .transpose()?
        .unwrap_or(smbus_proxy_client::MIN_POLL_INTERVAL);
    Ok((seconds_arg(timeout, "timeout", false)?, interval))
}

/// The window a `pipeline` argument asks for: True is 64, False 0, a number itself.
fn pipeline_window(arg: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Ok(on) = arg.cast::<PyBool>() {
        return Ok(if on.is_true() { 64 } else { 0 });
    }
    if !arg.is_instance_of::<PyInt>() {
        let kind = arg.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "pipeline: expected True, False or a window size, not {kind}"
        )));
    }
    let max = smbus_proxy_client::MAX_PIPELINE;
    arg.extract::<usize>()
        .ok()
        .filter(|&window| window <= max)
        .ok_or_else(|| PyValueError::new_err(format!("pipeline: {arg} is out of range 0–{max} (True is 64)")))
}

/// A bus argument: a number, or the path `/dev/i2c-N` smbus2 also takes.
fn bus_number(bus: &Bound<'_, PyAny>) -> PyResult<u32> {
    if let Ok(path) = bus.extract::<String>() {
        return path.strip_prefix("/dev/i2c-").and_then(|n| n.parse().ok()).ok_or_else(|| {
            PyValueError::new_err(format!("bus {path:?} is neither a number nor /dev/i2c-N"))
        });
    }
    if !bus.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!("Unexpected type(bus)={}", bus.get_type().name()?)));
    }
    args::uint::<u32>(bus, "bus")
}

fn int_list<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, data)
}

/// An argument of one of smbus2's methods, as it comes from Python: held while the call runs,
/// and passed to the client's method of the same name.
trait Arg<'a>: Sized {
    type Held: Send + Sync;
    /// Checks `value` as the argument `name`, naming it and its range if it does not fit.
    fn take(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self::Held>;
    fn pass(held: &'a Self::Held) -> Self;
}

impl<'a> Arg<'a> for u8 {
    type Held = u8;
    fn take(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u8> {
        args::uint(value, name)
    }
    fn pass(held: &'a u8) -> u8 {
        *held
    }
}

impl<'a> Arg<'a> for u16 {
    type Held = u16;
    fn take(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u16> {
        args::uint(value, name)
    }
    fn pass(held: &'a u16) -> u16 {
        *held
    }
}

impl<'a> Arg<'a> for &'a [u8] {
    type Held = Vec<u8>;
    /// A list of ints, or bytes.
    fn take(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
        args::data(value, name, false)
    }
    fn pass(held: &'a Vec<u8>) -> &'a [u8] {
        held
    }
}

/// A command's answer as smbus2 gives it back: nothing, an int, or a block as a list of ints.
trait Answer {
    fn into_python(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>>;
}

impl Answer for () {
    fn into_python(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(py.None().into_bound(py))
    }
}

impl Answer for u8 {
    fn into_python(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
}

impl Answer for u16 {
    fn into_python(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(self.into_pyobject(py)?.into_any())
    }
}

impl Answer for Bytes {
    fn into_python(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        Ok(int_list(py, &self)?.into_any())
    }
}

/// smbus2's SMBus methods, from the client's one list (`smbus_methods!`): each takes the
/// device address, the command's arguments by smbus2's names and `force`, runs the command
/// as one call of the blocking client, and answers as smbus2 does.
macro_rules! python_methods {
    ($( $(#[doc = $doc:literal])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $command:expr; )*) => {
        #[pymethods]
        impl SMBus {
            $(
                $(#[doc = $doc])*
                #[pyo3(signature = (i2c_addr, $($arg,)* force=None))]
                fn $name<'py>(
                    &self,
                    py: Python<'py>,
                    i2c_addr: &Bound<'py, PyAny>,
                    $($arg: &Bound<'py, PyAny>,)*
                    force: Option<bool>,
                ) -> PyResult<Bound<'py, PyAny>> {
                    $(let $arg = <$ty as Arg<'_>>::take($arg, stringify!($arg))?;)*
                    let answer = self.smbus(py, i2c_addr, force, |bus, addr| {
                        bus.$name(addr $(, <$ty as Arg<'_>>::pass(&$arg))*)
                    })?;
                    Answer::into_python(answer, py)
                }
            )*
        }
    };
}

smbus_proxy_client::smbus_methods!(python_methods);

#[pymethods]
impl SMBus {
    // The object only: `__init__` opens the bus, so that subclasses that call
    // `super().__init__(bus)`, as they do with smbus2, work.
    #[new]
    #[pyo3(
        signature = (*_args, **_kwargs),
        text_signature = "(bus=None, force=False, *, server=None, token=None, ca=None, cert=None, key=None, timeout=None, pipeline=False, resume_window=None, outage_wait=None)"
    )]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> SMBus {
        let endpoint = Endpoint::new(Remote::default()).expect("no arguments, nothing to refuse");
        SMBus { state: Mutex::new(State::new(endpoint)) }
    }

    // Documented with the class: Python shows the class's documentation for `__init__`.
    #[pyo3(signature = (bus=None, force=false, *, server=None, token=None, ca=None, cert=None, key=None, timeout=None, pipeline=None, resume_window=None, outage_wait=None))]
    #[allow(clippy::too_many_arguments)]
    fn __init__(
        &self,
        py: Python<'_>,
        bus: Option<&Bound<'_, PyAny>>,
        force: bool,
        server: Option<&str>,
        token: Option<&str>,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        timeout: Option<f64>,
        pipeline: Option<&Bound<'_, PyAny>>,
        resume_window: Option<f64>,
        outage_wait: Option<f64>,
    ) -> PyResult<()> {
        let pipeline = pipeline.map(pipeline_window).transpose()?.unwrap_or(0);
        let remote = Remote { server, token, ca, cert, key, timeout, pipeline, resume_window, outage_wait };
        let endpoint = Endpoint::new(remote)?;
        {
            let mut state = self.state(py);
            state.close(py)?;
            *state = State::new(endpoint);
            state.force = force;
        }
        if let Some(bus) = bus {
            self.open(py, bus)?;
        }
        Ok(())
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the bus, raising a pipelined write's failure unless the block is already
    /// raising something else, which stays the exception.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _traceback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let closed = self.close(py);
        if exc_type.is_none() { closed } else { Ok(()) }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let state = self.state(py);
        match (state.bus.is_some(), state.number) {
            (true, Some(n)) => format!("SMBus({n}, server='{}')", state.endpoint.url),
            _ => format!("SMBus(None, server='{}')", state.endpoint.url),
        }
    }

    /// Opens ``bus`` (a number, or ``"/dev/i2c-N"``) on the server, closing the bus that was
    /// open. A bus the server does not have raises ``FileNotFoundError``, as a missing
    /// ``/dev/i2c-N`` does.
    fn open(&self, py: Python<'_>, bus: &Bound<'_, PyAny>) -> PyResult<()> {
        let number = bus_number(bus)?;
        let mut state = self.state(py);
        state.close(py)?;
        let endpoint = &state.endpoint;
        let opened = py.detach(|| endpoint.open(number)).map_err(error::to_py)?;
        state.funcs = opened.funcs();
        state.number = Some(number);
        state.bus = Some(opened);
        Ok(())
    }

    /// Ends the session on the server, once pipelined writes have run (raising the first that
    /// failed). Safe to call twice; ``open()`` opens a bus again.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.state(py).close(py)
    }

    /// Waits until every pipelined write has run, and raises the first that failed (its
    /// position among the pipelined calls, the operation and the errno are in the message);
    /// what was queued after it never ran. Without ``pipeline`` there is nothing to wait for.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        self.call(py, None, |bus| bus.flush())
    }

    /// The adapter's functionality (``I2C_FUNCS``) as an ``I2cFunc`` flag set.
    #[getter]
    fn funcs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static I2C_FUNC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
        let funcs = self.state(py).funcs;
        I2C_FUNC.import(py, "smbus_proxy", "I2cFunc")?.call1((funcs,))
    }

    /// The device address of the last SMBus operation, or None.
    #[getter]
    fn address(&self, py: Python<'_>) -> Option<u16> {
        self.state(py).address
    }

    #[setter(address)]
    fn set_address(&self, py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let address = value.map(|v| args::uint::<u16>(v, "address")).transpose()?;
        self.state(py).address = address;
        Ok(())
    }

    /// Whether SMBus operations use the address even where a kernel driver on the server
    /// owns it (``I2C_SLAVE_FORCE``), unless a method's ``force`` says otherwise.
    #[getter]
    fn force(&self, py: Python<'_>) -> bool {
        self.state(py).force
    }

    #[setter(force)]
    fn set_force(&self, py: Python<'_>, value: bool) {
        self.state(py).force = value;
    }

    /// Packet error checking on SMBus operations: 1 on, 0 off (the default). Setting it
    /// calls ``enable_pec``.
    #[getter]
    fn pec(&self, py: Python<'_>) -> u8 {
        u8::from(self.state(py).pec)
    }

    #[setter(pec)]
    fn set_pec(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.enable_pec(py, Some(value))
    }

    /// The server's URL.
    #[getter]
    fn server(&self, py: Python<'_>) -> String {
        self.state(py).endpoint.url.clone()
    }

    /// Turns packet error checking (PEC) on or off for the SMBus operations that follow.
    /// Raises ``OSError`` (EOPNOTSUPP) if the adapter cannot do PEC.
    #[pyo3(signature = (enable=None))]
    fn enable_pec(&self, py: Python<'_>, enable: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let on = enable.map_or(Ok(true), |e| e.is_truthy())?;
        let mut state = self.state(py);
        let state = &mut *state;
        let bus = state.bus.as_mut().ok_or_else(error::not_open)?;
        if state.funcs & funcs::SMBUS_PEC == 0 {
            return Err(os_error(
                Errno::EOPNOTSUPP.0,
                format!("SMBUS_PEC is not a feature of this adapter (I2C_FUNCS {:#010x})", state.funcs),
            ));
        }
        bus.set_pec(on);
        state.pec = on;
        Ok(())
    }

    /// Holds the bus for ``seconds`` on the server, between the calls before and after it: a
    /// conversion time timed on the bus, not across the network. With ``pipeline`` it returns
    /// at once and costs no round trip. The server limits one call's waiting (1 s unless
    /// configured otherwise).
    fn wait(&self, py: Python<'_>, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        let time = seconds_arg(seconds, "seconds", false)?;
        self.call(py, None, |bus| bus.wait(time))
    }

    /// ACK polling on the bus: writes the address alone, ``interval`` seconds apart (0.0001,
    /// the least a server takes, by default), until the device acknowledges (an EEPROM's write
    /// cycle is over), for at most ``timeout`` seconds; past it, ``TimeoutError`` saying after
    /// how many tries. One round trip in all.
    #[pyo3(signature = (i2c_addr, timeout, interval=None, force=None))]
    fn poll_ack(
        &self,
        py: Python<'_>,
        i2c_addr: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
        interval: Option<&Bound<'_, PyAny>>,
        force: Option<bool>,
    ) -> PyResult<()> {
        let (timeout, interval) = poll_times(timeout, interval)?;
        self.smbus(py, i2c_addr, force, |bus, addr| {
            let op = Op::Smbus { target: bus.target(addr), command: Command::WriteQuick { bit: 0 } };
            bus.poll(Poll { op, interval, timeout, until: None }).map(drop)
        })
    }

    /// ``read_byte_data``, ``interval`` seconds apart, on the bus, until ``byte & mask ==
    /// value`` (a status bit), for at most ``timeout`` seconds: the byte that matched. Past the
    /// timeout, ``TimeoutError`` saying after how many tries. One round trip in all.
    #[pyo3(signature = (i2c_addr, register, mask, value, timeout, interval=None, force=None))]
    #[allow(clippy::too_many_arguments)]
    fn poll_byte_data(
        &self,
        py: Python<'_>,
        i2c_addr: &Bound<'_, PyAny>,
        register: &Bound<'_, PyAny>,
        mask: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
        interval: Option<&Bound<'_, PyAny>>,
        force: Option<bool>,
    ) -> PyResult<u8> {
        let reg = args::uint::<u8>(register, "register")?;
        let until = Match {
            mask: args::uint::<u8>(mask, "mask")?.into(),
            value: args::uint::<u8>(value, "value")?.into(),
        };
        match self.poll_read(py, i2c_addr, force, Command::ReadByteData { reg }, until, timeout, interval)? {
            Reply::Byte(b) => Ok(b),
            other => Err(error::os_error(Errno::EPROTO.0, format!("poll_byte_data answered {other}"))),
        }
    }

    /// ``read_word_data``, ``interval`` seconds apart, on the bus, until ``word & mask ==
    /// value``, for at most ``timeout`` seconds: the word that matched. As ``poll_byte_data``.
    #[pyo3(signature = (i2c_addr, register, mask, value, timeout, interval=None, force=None))]
    #[allow(clippy::too_many_arguments)]
    fn poll_word_data(
        &self,
        py: Python<'_>,
        i2c_addr: &Bound<'_, PyAny>,
        register: &Bound<'_, PyAny>,
        mask: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        timeout: &Bound<'_, PyAny>,
        interval: Option<&Bound<'_, PyAny>>,
        force: Option<bool>,
    ) -> PyResult<u16> {
        let reg = args::uint::<u8>(register, "register")?;
        let until =
            Match { mask: args::uint::<u16>(mask, "mask")?, value: args::uint::<u16>(value, "value")? };
        match self.poll_read(py, i2c_addr, force, Command::ReadWordData { reg }, until, timeout, interval)? {
            Reply::Word(w) => Ok(w),
            other => Err(error::os_error(Errno::EPROTO.0, format!("poll_word_data answered {other}"))),
        }
    }

    /// A combined transfer (``I2C_RDWR``): the messages (``i2c_msg.read`` /
    /// ``i2c_msg.write``) go out joined by repeated starts, with one stop at the end, and
    /// each read message is filled with the bytes read. smbus2's own ``i2c_msg`` objects are
    /// accepted too.
    #[pyo3(signature = (*i2c_msgs))]
    fn i2c_rdwr(&self, py: Python<'_>, i2c_msgs: &Bound<'_, PyTuple>) -> PyResult<()> {
        let msgs = i2c_msgs.iter().enumerate().map(|(i, m)| to_msg(&m, i)).collect::<PyResult<Vec<_>>>()?;
        let reads_wanted: Vec<bool> = msgs.iter().map(|m| matches!(m.dir, Dir::Read(_))).collect();
        let reads = self.call(py, None, |bus| bus.i2c_rdwr(msgs))?;
        let targets = i2c_msgs.iter().zip(reads_wanted).filter_map(|(m, read)| read.then_some(m));
        let mut reads = reads.into_iter();
        for target in targets {
            let data = reads
                .next()
                .ok_or_else(|| os_error(Errno::EPROTO.0, "the server sent fewer reads than asked"))?;
            fill(&target, &data)?;
        }
        Ok(())
    }
}

/// One message for the client: ours, or anything shaped like smbus2's `i2c_msg` (`addr`,
/// `flags`, `len`, and its bytes through `bytes()`), which code that builds its messages with
/// smbus2 passes.
fn to_msg(m: &Bound<'_, PyAny>, index: usize) -> PyResult<Msg> {
    let (addr, flags, len, written) = if let Ok(ours) = m.cast::<I2cMsg>() {
        let (addr, flags, bytes) = ours.borrow().parts(m.py())?;
        (addr, flags, u16::try_from(bytes.len()).ok(), Bytes::from(bytes))
    } else {
        let field = |name: &str| {
            m.getattr(name).map_err(|_| {
                let type_name = m.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                PyTypeError::new_err(format!(
                    "i2c_rdwr takes i2c_msg objects; message {index} is a {type_name}"
                ))
            })
        };
        let addr = args::uint::<u16>(&field("addr")?, "addr")?;
        let flags = args::uint::<u16>(&field("flags")?, "flags")?;
        let len = args::uint::<u16>(&field("len")?, "len")?;
        let written = if flags & I2C_M_RD == 0 {
            Bytes::from(m.call_method0("__bytes__")?.cast_into::<PyBytes>()?.as_bytes().to_vec())
        } else {
            Bytes::new()
        };
        (addr, flags, Some(len), written)
    };
    let dir = if flags & I2C_M_RD != 0 && flags & msg_flags::RECV_LEN != 0 {
        // The device gives the length; the message's buffer is only room for it, as in the
        // kernel, and is replaced by the count byte and the bytes read.
        Dir::Read(0)
    } else if flags & I2C_M_RD != 0 {
        let len =
            len.ok_or_else(|| PyValueError::new_err(format!("message {index} reads too many bytes")))?;
        Dir::Read(len)
    } else {
        Dir::Write(written)
    };
    Ok(Msg { addr, flags: flags & !I2C_M_RD, dir })
}

/// Puts the bytes a read message read into it.
fn fill(m: &Bound<'_, PyAny>, data: &[u8]) -> PyResult<()> {
    if let Ok(ours) = m.cast::<I2cMsg>() {
        return ours.borrow_mut().fill(m.py(), data);
    }
    // smbus2's message points at a ctypes buffer of `len` bytes.
    let len: usize = m.getattr("len")?.extract()?;
    let count = data.len().min(len);
    let ctypes = m.py().import("ctypes")?;
    ctypes.call_method1("memmove", (m.getattr("buf")?, PyBytes::new(m.py(), &data[..count]), count))?;
    Ok(())
}

/// The buses the server exposes, as ``(number, name, funcs)``: ``i2cdetect -l`` for the
/// remote machine. ``server``, ``token``, ``ca``, ``cert`` and ``key`` as for ``SMBus``.
#[pyfunction]
#[pyo3(signature = (*, server=None, token=None, ca=None, cert=None, key=None))]
pub fn list_buses(
    py: Python<'_>,
    server: Option<&str>,
    token: Option<&str>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> PyResult<Vec<(u32, String, u64)>> {
    let endpoint = Endpoint::new(Remote { server, token, ca, cert, key, ..Remote::default() })?;
    py.detach(|| endpoint.list_buses()).map_err(error::to_py)
}
