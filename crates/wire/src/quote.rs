//! [`quote`]: what an error message shows of text that came from outside (a client, a file,
//! the network). Enough to recognise it, never so much that one hostile value becomes a
//! megabyte log line or outgrows the metadata an error travels in (gRPC sends a status
//! message as a header). [`clip`] holds another library's message (a TOML parser's, which
//! quotes the offending line) to a bound as well.

use std::borrow::Cow;
use std::fmt;

/// How many characters of outside text an error message quotes.
pub const QUOTE_MAX: usize = 40;

/// How many bytes of another library's error message are kept.
pub const MESSAGE_MAX: usize = 512;

/// `message` if it is at most [`MESSAGE_MAX`] bytes, else its beginning, cut at a character,
/// and its length.
pub fn clip(message: &str) -> Cow<'_, str> {
    if message.len() <= MESSAGE_MAX {
        return Cow::Borrowed(message);
    }
    let mut end = MESSAGE_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &message[..end], message.len()))
}

/// `s` for an error message: in quotes and escaped as `{:?}` does, cut after [`QUOTE_MAX`]
/// characters with its length in bytes said instead (`"abc…"… (100000 bytes)`).
pub fn quote(s: &str) -> Quoted<'_> {
    Quoted(s)
}

/// Text as [`quote`] shows it; formatted only when the message is.
#[derive(Clone, Copy)]
pub struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(QUOTE_MAX) {
            None => write!(f, "{:?}", self.0),
            Some((end, _)) => write!(f, "{:?}… ({} bytes)", &self.0[..end], self.0.len()),
        }
    }
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_whole_long_text_cut_at_a_character() {
        assert_eq!(quote("ab\"c").to_string(), r#""ab\"c""#);
        let long = "é".repeat(100);
        assert_eq!(quote(&long).to_string(), format!("{:?}… (200 bytes)", "é".repeat(40)));
        assert_eq!(quote(&"x".repeat(40)).to_string(), format!("{:?}", "x".repeat(40)));
    }

    #[test]
    fn a_long_message_is_clipped() {
        assert_eq!(clip("short"), "short");
        let long = "ü".repeat(1000);
        let clipped = clip(&long);
        assert!(clipped.len() < MESSAGE_MAX + 20 && clipped.ends_with("… (2000 bytes)"), "{clipped}");
    }
}
