//! Multicast DNS, as any host on the link sends it to the server's responder: what it answers,
//! whether a response claims its name. An answer is always DNS that parses.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/server/src/announce/records.rs"]
mod records;

use std::net::IpAddr;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let records = records::Records {
        instance: "lab pi".into(),
        host: "raspberrypi.local".into(),
        port: 50051,
        txt: vec!["txtvers=1".into(), "tls=0".into()],
    };
    let addresses = [IpAddr::from([10, 77, 0, 1]), IpAddr::from([0xfe80, 0, 0, 0, 0, 0, 0, 1])];
    for legacy in [false, true] {
        if let records::Heard::Query(Some(answer)) = records::hear(&records, data, legacy, &addresses) {
            simple_dns::Packet::parse(&answer).expect("an answer parses");
        }
    }
});
