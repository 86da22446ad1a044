//! `i2c_msg`: one message of a combined transfer, as smbus2 has it.

use crate::args;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator};

pub use smbus_proxy_client::msg_flags::RD as I2C_M_RD;

/// One message of a combined I2C transfer (``SMBus.i2c_rdwr``), as smbus2's ``i2c_msg``.
///
/// Make one with ``i2c_msg.write(address, data)`` or ``i2c_msg.read(address, length)``. After
/// the transfer a read message holds the bytes read: iterate over it for ints, or take
/// ``bytes(msg)`` or ``list(msg)``.
///
/// Attributes: ``addr`` (the device address), ``flags`` (``I2C_M_*``; ``I2C_M_RD`` for a
/// read), ``len`` (the number of bytes), ``buf`` (a ctypes ``POINTER(c_char)`` to the bytes,
/// as in smbus2: ``msg.buf[0]`` is ``b"\x00"``, ``msg.buf[:msg.len]`` the bytes).
#[pyclass(module = "smbus_proxy", name = "i2c_msg")]
pub struct I2cMsg {
    addr: u16,
    flags: u16,
    /// The bytes, in a ctypes ``c_char`` array as smbus2 keeps them, so that ``buf`` is the
    /// pointer smbus2 gives and what a program writes through it is what the message sends.
    buf: Py<PyAny>,
    len: usize,
}

/// A ctypes ``c_char`` array holding `data`.
fn c_buffer(py: Python<'_>, data: &[u8]) -> PyResult<Py<PyAny>> {
    let ctypes = py.import("ctypes")?;
    Ok(ctypes.call_method1("create_string_buffer", (PyBytes::new(py, data), data.len()))?.unbind())
}

impl I2cMsg {
    fn new(py: Python<'_>, addr: u16, flags: u16, data: &[u8]) -> PyResult<I2cMsg> {
        Ok(I2cMsg { addr, flags, buf: c_buffer(py, data)?, len: data.len() })
    }

    /// The address, the flags and the bytes, for the transfer.
    pub fn parts(&self, py: Python<'_>) -> PyResult<(u16, u16, Vec<u8>)> {
        Ok((self.addr, self.flags, self.bytes(py)?.as_bytes().to_vec()))
    }

    /// Puts what a read read into the message: as many bytes as it asked for, or for a read
    /// whose length the device gave, the count byte and the bytes after it.
    pub fn fill(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        self.buf = c_buffer(py, data)?;
        self.len = data.len();
        Ok(())
    }

    fn bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(self.buf.bind(py).getattr("raw")?.cast_into::<PyBytes>()?)
    }
}

#[pymethods]
impl I2cMsg {
    /// A message that reads ``length`` bytes from the device at ``address``.
    #[staticmethod]
    fn read(py: Python<'_>, address: &Bound<'_, PyAny>, length: &Bound<'_, PyAny>) -> PyResult<I2cMsg> {
        let addr = args::uint::<u16>(address, "address")?;
        let len = args::uint::<u16>(length, "length")?;
        I2cMsg::new(py, addr, I2C_M_RD, &vec![0; usize::from(len)])
    }

    /// A message that writes ``buf`` (bytes, a list of ints, or a str of byte-sized
    /// characters) to the device at ``address``.
    #[staticmethod]
    fn write(py: Python<'_>, address: &Bound<'_, PyAny>, buf: &Bound<'_, PyAny>) -> PyResult<I2cMsg> {
        let addr = args::uint::<u16>(address, "address")?;
        I2cMsg::new(py, addr, 0, &args::data(buf, "buf", true)?)
    }

    /// The device address.
    #[getter]
    fn addr(&self) -> u16 {
        self.addr
    }

    #[setter(addr)]
    fn set_addr(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.addr = args::uint::<u16>(value, "addr")?;
        Ok(())
    }

    /// ``I2C_M_*`` flags: ``I2C_M_RD`` for a read, plus modifiers such as ``I2C_M_TEN``.
    #[getter]
    fn flags(&self) -> u16 {
        self.flags
    }

    #[setter(flags)]
    fn set_flags(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.flags = args::uint::<u16>(value, "flags")?;
        Ok(())
    }

    /// The number of bytes to read or write.
    #[getter]
    fn len(&self) -> usize {
        self.len
    }

    /// A ctypes ``POINTER(c_char)`` to the message's bytes, as smbus2's.
    #[getter]
    fn buf<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ctypes = py.import("ctypes")?;
        let pointer = ctypes.call_method1("POINTER", (ctypes.getattr("c_char")?,))?;
        ctypes.call_method1("cast", (self.buf.bind(py), pointer))
    }

    fn __len__(&self) -> usize {
        self.len
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        self.bytes(py)?.try_iter()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.bytes(py)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let bytes = self.bytes(py)?.repr()?;
        Ok(format!("i2c_msg({},{},{bytes})", self.addr, self.flags))
    }

    /// The bytes as text, leaving out what does not decode, as smbus2 does.
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        self.bytes(py)?.call_method("decode", ("utf-8", "ignore"), None)?.extract()
    }
}
