//! Python arguments into the client's types, refusing what does not fit.
//!
//! smbus2 stores its arguments in ctypes fields, which silently keep the low bits of a value
//! too large (`write_byte_data(a, r, 0x1FF)` writes 0xFF). Here a value out of range is a
//! `ValueError` and a value of the wrong type a `TypeError`, before anything is sent. Only the
//! width of each argument is checked here; what the protocol allows within that width (7-bit
//! addresses, 1–32 byte blocks, ...) is the server's to judge, and it answers
//! INVALID_ARGUMENT, which also becomes a `ValueError`.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

/// An integer argument named `name`, in 0..=`T::MAX`.
pub fn uint<T>(value: &Bound<'_, PyAny>, name: &str) -> PyResult<T>
where
    T: TryFrom<i64> + Into<u64> + Bounded,
{
    let out_of_range = |shown: String| {
        PyValueError::new_err(format!("{name}: {shown} is out of range 0–{:#x}", T::MAX.into()))
    };
    let n = match value.extract::<i64>() {
        Ok(n) => n,
        Err(e) if e.is_instance_of::<PyOverflowError>(value.py()) => {
            return Err(out_of_range(value.to_string()));
        }
        Err(_) => {
            let type_name = value.get_type().name()?;
            return Err(PyTypeError::new_err(format!("{name} must be an int, not {type_name}")));
        }
    };
    T::try_from(n).map_err(|_| out_of_range(if n < 0 { n.to_string() } else { format!("{n:#x}") }))
}

/// The largest value of an unsigned integer type.
pub trait Bounded: Copy {
    const MAX: Self;
}

impl Bounded for u8 {
    const MAX: u8 = u8::MAX;
}

impl Bounded for u16 {
    const MAX: u16 = u16::MAX;
}

impl Bounded for u32 {
    const MAX: u32 = u32::MAX;
}

/// Bytes to write: `bytes`, `bytearray`, or any iterable of ints 0–255 (smbus2 takes lists).
/// A `str` is refused unless `text` allows it, as smbus2's `i2c_msg.write` does (each
/// character one byte).
pub fn data(value: &Bound<'_, PyAny>, name: &str, text: bool) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(array) = value.cast::<PyByteArray>() {
        return Ok(array.to_vec());
    }
    if let Ok(s) = value.cast::<PyString>() {
        if !text {
            return Err(PyTypeError::new_err(format!("{name} must be a sequence of ints, not str")));
        }
        return s
            .to_cow()?
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c)).map_err(|_| {
                    PyValueError::new_err(format!("{name}: {c:?} does not fit in a byte (0–0xff)"))
                })
            })
            .collect();
    }
    let items = value.try_iter().map_err(|_| {
        let type_name = value.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        PyTypeError::new_err(format!("{name} must be a sequence of ints, not {type_name}"))
    })?;
    items.enumerate().map(|(i, item)| uint::<u8>(&item?, &format!("{name}[{i}]"))).collect()
}
