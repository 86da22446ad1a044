//! What a server announces on the local network with DNS-SD (RFC 6763), and how a client
//! names a server it found there: the one description both sides read.
//!
//! A server is a `_smbus-proxy._tcp` service; its instance name (the host name unless
//! `serve --announce-name` says otherwise) is what a client puts after [`SCHEME`] in place of
//! a URL: `mdns://raspberrypi`. Its TXT record says enough to connect without trying: the
//! version, the buses, and what it asks of a client.
//!
//! ```text
//! txtvers=1 version=0.1.0 buses=1,3-5 tls=1 token=1 client_cert=0
//! ```

use crate::quote::quote;
use std::collections::BTreeSet;
use std::fmt;

/// The DNS-SD service type, with the domain (`.local.`) mDNS answers for.
pub const SERVICE_TYPE: &str = "_smbus-proxy._tcp.local.";

/// The scheme that makes a server address a name to look up: `mdns://NAME`.
pub const SCHEME: &str = "mdns://";

/// The TXT record's own version: a client skips keys it does not know, and a change that
/// old clients would misread gets a new `txtvers`.
const TXT_VERSION: &str = "1";

/// What a server says about itself in its TXT record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announcement {
    /// The server's version (`smbus-proxy --version`).
    pub version: String,
    /// The bus numbers it serves, in order.
    pub buses: Vec<u32>,
    /// Whether it speaks TLS only (`https://`).
    pub tls: bool,
    /// Whether a client must send a bearer token.
    pub token: bool,
    /// Whether a client must present a certificate (mutual TLS).
    pub client_cert: bool,
}

impl Announcement {
    /// The TXT record's key/value pairs.
    pub fn to_txt(&self) -> Vec<(&'static str, String)> {
        let flag = |on: bool| if on { "1" } else { "0" }.to_owned();
        vec![
            ("txtvers", TXT_VERSION.to_owned()),
            ("version", self.version.clone()),
            ("buses", ranges(&self.buses)),
            ("tls", flag(self.tls)),
            ("token", flag(self.token)),
            ("client_cert", flag(self.client_cert)),
        ]
    }

    /// Reads a TXT record through `get` (a key's value, if the record has it). A record of
    /// another `txtvers`, or one that says nothing of TLS, is not understood: a client
    /// cannot know how to reach that server.
    pub fn from_txt<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Announcement, TxtError> {
        match get("txtvers") {
            Some(TXT_VERSION) => {}
            Some(other) => return Err(TxtError::Version(other.to_owned())),
            None => return Err(TxtError::NoVersion),
        }
        let flag = |key: &'static str| match get(key) {
            Some("1") => Ok(true),
            Some("0") | None => Ok(false),
            Some(other) => Err(TxtError::Flag { key, value: other.to_owned() }),
        };
        let tls = match get("tls") {
            Some(_) => flag("tls")?,
            None => return Err(TxtError::NoTls),
        };
        Ok(Announcement {
            version: get("version").unwrap_or("").to_owned(),
            buses: parse_ranges(get("buses").unwrap_or(""))?,
            tls,
            token: flag("token")?,
            client_cert: flag("client_cert")?,
        })
    }

    /// What a client must bring, in a word or a few: `none`, `token`, `tls`, `tls+token`,
    /// `tls+client-cert`, `tls+client-cert+token`.
    pub fn security(&self) -> String {
        let parts: Vec<&str> = [(self.tls, "tls"), (self.client_cert, "client-cert"), (self.token, "token")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if parts.is_empty() { "none".into() } else { parts.join("+") }
    }
}

/// The instance name in an address of the form `mdns://NAME`, if it is one (the scheme in
/// any case). `Some("")` is the scheme with no name, which the caller refuses.
pub fn discovered_name(address: &str) -> Option<&str> {
    let (scheme, rest) = address.split_at_checked(SCHEME.len())?;
    scheme.eq_ignore_ascii_case(SCHEME).then(|| rest.strip_suffix('/').unwrap_or(rest))
}

/// The instance name of a service's full name (`pi._smbus-proxy._tcp.local.` → `pi`), with
/// DNS-SD's escapes (`\.`, `\\`) undone.
pub fn instance_name(fullname: &str) -> Option<String> {
    let escaped = fullname.strip_suffix(SERVICE_TYPE)?.strip_suffix('.')?;
    let mut name = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        name.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(name)
}

/// `1,3-5`: bus numbers as ranges, so that a board with many buses still fits the 255 bytes
/// a TXT string may hold.
fn ranges(buses: &[u32]) -> String {
    let mut sorted = buses.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        while i + 1 < sorted.len() && sorted[i + 1] == sorted[i] + 1 {
            i += 1;
        }
        out.push(if sorted[i] == start { start.to_string() } else { format!("{start}-{}", sorted[i]) });
        i += 1;
    }
    out.join(",")
}

/// More buses than any board has: a record may list no more, so that a range such as
/// `0-4294967295` costs nothing to read.
const MOST_BUSES: usize = 1024;

fn parse_ranges(text: &str) -> Result<Vec<u32>, TxtError> {
    let bad = |problem| TxtError::Buses { buses: text.to_owned(), problem };
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad(BusesProblem::NotANumber(s.to_owned())));
    // Another host may list its buses in any order, or twice, and its ranges may overlap; the
    // record holds them in order, once each, as it writes them.
    let mut buses = BTreeSet::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if b < a {
            return Err(bad(BusesProblem::NotARange(part.to_owned())));
        }
        let too_many = || bad(BusesProblem::TooMany);
        // A range's length is checked before it is added, so that the set never holds more
        // than twice the bound.
        if (b - a) as usize >= MOST_BUSES {
            return Err(too_many());
        }
        buses.extend(a..=b);
        if buses.len() > MOST_BUSES {
            return Err(too_many());
        }
    }
    Ok(buses.into_iter().collect())
}

/// Why a TXT record cannot be read; the text quotes what the record holds.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxtError {
    /// A `txtvers` this client does not read.
    #[error("TXT record version {}; this client reads {TXT_VERSION}", quote(.0))]
    Version(String),
    /// No `txtvers` at all.
    #[error("the TXT record has no txtvers")]
    NoVersion,
    /// No `tls`: a client cannot know how to reach the server.
    #[error("the TXT record does not say whether the server uses TLS")]
    NoTls,
    /// A flag that is neither `0` nor `1`.
    #[error("TXT {key}={}: expected 0 or 1", quote(value))]
    Flag {
        /// The key.
        key: &'static str,
        /// What it holds.
        value: String,
    },
    /// A `buses` list that cannot be read.
    #[error("TXT buses={}: {problem}", quote(buses))]
    Buses {
        /// The whole list.
        buses: String,
        /// What is wrong in it.
        problem: BusesProblem,
    },
}

/// What is wrong in a TXT record's `buses` list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BusesProblem {
    /// A part that is not a number.
    #[error("{} is not a bus number", quote(.0))]
    NotANumber(String),
    /// A range that ends before it starts.
    #[error("{} is not a range of bus numbers", quote(.0))]
    NotARange(String),
    /// More buses than a record may list.
    #[error("more than {MOST_BUSES} buses")]
    TooMany,
}

impl fmt::Display for Announcement {
    /// `0.1.0, buses 1,3-5, tls+token`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, buses {}, {}", self.version, ranges(&self.buses), self.security())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn round_trip(a: &Announcement) -> Announcement {
        let txt: HashMap<&str, String> = a.to_txt().into_iter().collect();
        Announcement::from_txt(|k| txt.get(k).map(String::as_str)).unwrap()
    }

    #[test]
    fn the_txt_record_reads_back() {
        let a = Announcement {
            version: "0.1.0".into(),
            buses: vec![1, 3, 4, 5, 7],
            tls: true,
            token: true,
            client_cert: false,
        };
        assert_eq!(a.to_txt()[2], ("buses", "1,3-5,7".to_owned()));
        assert_eq!(round_trip(&a), a);
        assert_eq!(a.security(), "tls+token");
        assert_eq!(a.to_string(), "0.1.0, buses 1,3-5,7, tls+token");
        let many = Announcement { buses: (0..200).collect(), ..Announcement::default() };
        assert_eq!(many.to_txt()[2].1, "0-199");
        assert_eq!(round_trip(&many), many);
        assert_eq!(many.security(), "none");
    }

    #[test]
    fn a_record_it_cannot_read_is_refused() {
        let txt = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
        };
        let refused = |pairs| Announcement::from_txt(txt(pairs)).unwrap_err();
        assert_eq!(refused(&[("tls", "1")]), TxtError::NoVersion);
        let bad = refused(&[("txtvers", "2"), ("tls", "0")]);
        assert_eq!(bad.to_string(), "TXT record version \"2\"; this client reads 1");
        assert_eq!(refused(&[("txtvers", "1")]), TxtError::NoTls);
        let bad = refused(&[("txtvers", "1"), ("tls", "yes")]);
        assert_eq!(bad.to_string(), "TXT tls=\"yes\": expected 0 or 1");
        let bad = refused(&[("txtvers", "1"), ("tls", "0"), ("buses", "1,x")]);
        assert_eq!(bad.to_string(), "TXT buses=\"1,x\": \"x\" is not a bus number");
        let bad = refused(&[("txtvers", "1"), ("tls", "0"), ("buses", "5-1")]);
        assert_eq!(bad.to_string(), "TXT buses=\"5-1\": \"5-1\" is not a range of bus numbers");
        let bad = refused(&[("txtvers", "1"), ("tls", "0"), ("buses", "0-4294967295")]);
        assert_eq!(bad, TxtError::Buses { buses: "0-4294967295".into(), problem: BusesProblem::TooMany });
        assert_eq!(bad.to_string(), "TXT buses=\"0-4294967295\": more than 1024 buses");
    }

    /// Found by fuzzing (fuzz/corpus/txt/buses-out-of-order): `buses=1,0` was read as [1, 0],
    /// which writes as `0-1` and reads back as [0, 1].
    #[test]
    fn buses_are_read_in_order_and_once() {
        let read = |buses: &str| {
            let pairs = [("txtvers", "1"), ("tls", "0"), ("buses", buses)];
            Announcement::from_txt(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)).unwrap()
        };
        assert_eq!(read("1,0").buses, [0, 1]);
        assert_eq!(read("1-3,2,3").buses, [1, 2, 3]);
        // Found by fuzzing (fuzz/corpus/txt/overlapping-ranges): overlapping ranges of at most
        // 1024 buses each were read as 1,343 buses and written as `1-1343`, a range too long to
        // read back. The bound is now on the buses in all, which no range of theirs can exceed.
        for buses in ["5,1-2", "1-1000,900-1023"] {
            let record = read(buses);
            let written = record.to_txt();
            let again = Announcement::from_txt(|k| {
                written.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str())
            });
            assert_eq!(again.unwrap(), record, "{buses}");
        }
        let pairs = [("txtvers", "1"), ("tls", "0"), ("buses", "1-1000,900-1100")];
        let many = Announcement::from_txt(|k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v));
        assert!(matches!(many, Err(TxtError::Buses { problem: BusesProblem::TooMany, .. })));
    }

    #[test]
    fn names() {
        assert_eq!(discovered_name("mdns://raspberrypi"), Some("raspberrypi"));
        assert_eq!(discovered_name("MDNS://lab pi/"), Some("lab pi"));
        assert_eq!(discovered_name("mdns://"), Some(""));
        assert_eq!(discovered_name("http://pi"), None);
        assert_eq!(discovered_name("mdn"), None);
        assert_eq!(instance_name("pi._smbus-proxy._tcp.local.").as_deref(), Some("pi"));
        assert_eq!(instance_name("lab\\.pi (2)._smbus-proxy._tcp.local.").as_deref(), Some("lab.pi (2)"));
        assert_eq!(instance_name("pi._http._tcp.local."), None);
    }
}
