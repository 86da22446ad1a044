//! The text notation and traces, as files bring them (replays, export-mock). An operation that
//! parses prints as text that parses back to it.
#![no_main]

use smbus_proxy_wire::notation::parse_errno;
use smbus_proxy_wire::{Op, Reply, Returns, trace};

libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(op) = text.parse::<Op>() {
        let printed = op.to_string();
        assert_eq!(printed.parse::<Op>().expect("what prints parses"), op, "{printed}");
    }
    for returns in [Returns::Done, Returns::Byte, Returns::Word, Returns::Block(32)] {
        let _ = Reply::parse(text, returns);
    }
    let _ = parse_errno(text);
    if let Ok(events) = trace::parse(text) {
        for (_, event) in events {
            let line = event.to_string();
            let again = format!("{}\n{line}\n", trace::HEADER);
            assert!(trace::parse(&again).is_ok(), "{line}");
        }
    }
    let with_header = format!("{}\n{text}", trace::HEADER);
    let _ = trace::parse(&with_header);
});
