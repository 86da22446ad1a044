//! Reading the files a user names — labs, traces, and the server's and tools' own settings,
//! policies, tokens and certificates — with a bound on their size. A path that names
//! `/dev/zero`, or a multi-gigabyte log given by mistake, is refused with the bound instead of
//! read until the allocator gives up.

use smbus_proxy_wire::event::WatchEvent;
use smbus_proxy_wire::trace::TraceError;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The most a settings file, a policy, a token or a certificate may hold: 1 MiB.
pub const SETTINGS_MAX: u64 = 1 << 20;
/// The most a lab may hold (EEPROM contents written out as numbers take room): 16 MiB.
pub const LAB_MAX: u64 = 16 << 20;
/// The most a trace may hold: 64 MiB, about 700,000 operations.
pub const TRACE_MAX: u64 = 64 << 20;

/// The file's bytes, if it holds at most `limit`; the error does not name the file.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("larger than {limit} bytes, the most such a file may be"),
        ));
    }
    Ok(bytes)
}

/// The file's text, as [`read`].
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// A trace file's events with their line numbers, read within [`TRACE_MAX`]: what a replay and
/// `smbus-proxy export-mock` start from.
pub fn read_trace(path: &Path) -> Result<Vec<(usize, WatchEvent)>, TraceFileError> {
    let text = read_to_string(path, TRACE_MAX)
        .map_err(|error| TraceFileError::Read { path: path.to_owned(), error })?;
    smbus_proxy_wire::trace::parse(&text)
        .map_err(|error| TraceFileError::Parse { path: path.to_owned(), error })
}

/// Why a trace file cannot be used; the cause says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TraceFileError {
    /// The file could not be read, or is too large or not text.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        error: io::Error,
    },
    /// A line of it is not a trace's.
    #[error("{}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, and what is wrong with it.
        #[source]
        error: TraceError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_is_refused_at_its_bound() {
        let e = read_to_string(Path::new("/dev/zero"), 4096).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge);
        assert_eq!(e.to_string(), "larger than 4096 bytes, the most such a file may be");
        let dir = tempfile::tempdir().unwrap();
        let exact = dir.path().join("exact");
        std::fs::write(&exact, [b'x'; 4096]).unwrap();
        assert_eq!(read(&exact, 4096).unwrap().len(), 4096);
    }
}
