//! A request as the network brings it: protobuf bytes, decoded and checked as the server does.
//! What passes the checks must encode back to the same steps (line steps and a request for
//! lines' settings included), and have a reply bound.
#![no_main]

use prost::Message;
use smbus_proxy_wire::{decode, encode, pb};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(open) = pb::OpenRequest::decode(data) {
        let _ = open.timeout_ms.map(decode::timeout_ms);
        let _ = open.retries.map(decode::retries);
    }
    if let Ok(lock) = pb::LockRequest::decode(data) {
        let _ = decode::wait_ms(lock.wait_ms);
        let _ = decode::session_id("session", &lock.session);
    }
    // Lines: what a request for them decodes to encodes back to the same settings.
    if let Ok(request) = pb::RequestLinesRequest::decode(data)
        && let Ok(lines) = decode::line_requests(request.lines)
    {
        for (_, settings) in &lines {
            let again = decode::line_settings(encode::line_settings(settings)).expect("decodes again");
            assert_eq!(again, *settings);
        }
    }
    if let Ok(release) = pb::ReleaseLinesRequest::decode(data) {
        let _ = decode::line_names(release.lines);
    }
    let Ok(request) = pb::ExecuteRequest::decode(data) else { return };
    let _ = decode::session_id("session", &request.session);
    if let Ok(steps) = decode::steps(request.ops) {
        let again: Vec<pb::Op> = steps.iter().map(encode::step).collect();
        assert_eq!(decode::steps(again).expect("what decoded once decodes again"), steps);
        let _ = encode::response_bound(&steps, request.keep_going);
    }
});
