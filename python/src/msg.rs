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
/// read), ``len`` (the number of bytes), ``buf`` (the bytes, as ``bytes``).
#[pyclass(module = "smbus_proxy", name = "i2c_msg")]
pub struct I2cMsg {
    pub addr: u16,
    pub flags: u16,
    /// A read message's buffer holds zeros until the transfer fills it.
    pub buf: Vec<u8>,
}

#[pymethods]
impl I2cMsg {
    /// A message that reads ``length`` bytes from the device at ``address``.
    #[staticmethod]
    fn read(address: &Bound<'_, PyAny>, length: &Bound<'_, PyAny>) -> PyResult<I2cMsg> {
        let addr = args::uint::<u16>(address, "address")?;
        let len = args::uint::<u16>(length, "length")?;
        Ok(I2cMsg { addr, flags: I2C_M_RD, buf: vec![0; usize::from(len)] })
    }

    /// A message that writes ``buf`` (bytes, a list of ints, or a str of byte-sized
    /// characters) to the device at ``address``.
    #[staticmethod]
    fn write(address: &Bound<'_, PyAny>, buf: &Bound<'_, PyAny>) -> PyResult<I2cMsg> {
        let addr = args::uint::<u16>(address, "address")?;
        Ok(I2cMsg { addr, flags: 0, buf: args::data(buf, "buf", true)? })
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
        self.buf.len()
    }

    /// The message's bytes: what it writes, or what it read.
    #[getter]
    fn buf<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.buf)
    }

    fn __len__(&self) -> usize {
        self.buf.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        PyBytes::new(py, &self.buf).try_iter()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.buf)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let bytes = PyBytes::new(py, &self.buf).repr()?;
        Ok(format!("i2c_msg({},{},{bytes})", self.addr, self.flags))
    }

    /// The bytes as text, leaving out what does not decode, as smbus2 does.
    fn __str__(&self, py: Python<'_>) -> PyResult<String> {
        let bytes = PyBytes::new(py, &self.buf);
        bytes.call_method("decode", ("utf-8", "ignore"), None)?.extract()
    }
}
