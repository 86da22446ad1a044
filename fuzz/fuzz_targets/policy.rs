//! The access policy (`--policy FILE`), parsed; one that parses judges transactions.
#![no_main]

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../crates/server/src/policy.rs"]
mod policy;

use smbus_proxy_wire::{Command, Msg, Op, Step};

libfuzzer_sys::fuzz_target!(|text: &str| {
    let Ok(policy) = policy::Policy::parse(text) else { return };
    let steps = [
        Step::Op(Op::smbus(0x48, Command::WriteByteData { reg: 1, value: 2 })),
        Step::Op(Op::Transfer(vec![Msg::write(0x50, vec![0]), Msg::read(0x50, 4)])),
    ];
    for bus in 0..4 {
        let _ = policy.check(bus, &steps);
        let _ = policy.may_watch(bus);
    }
});
