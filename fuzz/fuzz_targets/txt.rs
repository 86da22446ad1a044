//! A DNS-SD TXT record, as another host on the link announces it: key=value strings. One
//! that is understood says the same when written again.
#![no_main]

use smbus_proxy_wire::discovery::Announcement;
use std::collections::HashMap;

libfuzzer_sys::fuzz_target!(|text: &str| {
    let pairs: HashMap<&str, &str> =
        text.split('\0').map(|kv| kv.split_once('=').unwrap_or((kv, ""))).collect();
    let Ok(record) = Announcement::from_txt(|key| pairs.get(key).copied()) else { return };
    let written: Vec<(&str, String)> = record.to_txt();
    let again =
        Announcement::from_txt(|key| written.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str()));
    assert_eq!(again.expect("what is written is read"), record);
});
