//! The Python package `smbus_proxy`: smbus2's `SMBus` and `i2c_msg` on a remote bus, and
//! the server's GPIO lines (`Line`).
//!
//! A thin layer over the Rust blocking client (`smbus_proxy_client::blocking`), so Python
//! and Rust users share one client: the same protocol code, sessions, keep-alive and safe
//! reopening. What this crate owns is the translation: Python arguments into the client's
//! types (`args`), the client's errors into the exceptions smbus2 raises (`error`), and
//! smbus2's classes and their semantics (`smbus`, `msg`), and a line as Python holds one (`line`). It must not speak the protocol
//! itself. The pure-Python half of the package (`smbus_proxy/__init__.py`) adds smbus2's
//! constants and `I2cFunc`.

mod args;
mod error;
mod line;
mod msg;
mod smbus;

use pyo3::prelude::*;

#[pymodule]
fn _smbus_proxy(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<smbus::SMBus>()?;
    m.add_class::<msg::I2cMsg>()?;
    m.add_function(wrap_pyfunction!(smbus::list_buses, m)?)?;
    m.add_class::<line::Line>()?;
    m.add_class::<line::LineEvent>()?;
    m.add_class::<line::LineEvents>()?;
    m.add_function(wrap_pyfunction!(line::list_lines, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
