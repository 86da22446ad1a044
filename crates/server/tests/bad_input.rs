//! The bad-input matrix: every way a request can be wrong, each answered with the right code
//! and a message naming what is wrong, before the bus is touched; and the server keeps serving
//! after all of them.
//!
//! One server runs with a token, an access policy and tight limits, so that arguments, sessions,
//! message sizes, limits, policy and authentication are all checked against the same door.

use smbus_proxy_server::{Limits, Policy, Running};
use smbus_proxy_testkit::simulated;
use smbus_proxy_wire::legacy::{self as rcp, smbus_rcp_client::SmbusRcpClient};
use smbus_proxy_wire::pb::{self, smbus_client::SmbusClient, smbus_op::Command as PC};
use smbus_proxy_wire::{Command as C, Msg, Op, Reply, Target, decode, encode};
use std::time::Duration;
use tonic::transport::Channel;
use tonic::{Code, Request};

const TOKEN: &str = "matrix-token";

/// Bus 1 is open to every valid request; bus 2 and bus 3 carry policies.
const BUSES: &str = r#"
[[bus]]
number = 1
[[bus.device]]
model = "register-file"
addr = 0x48
[[bus.device]]
model = "eeprom-24c02"
addr = 0x50

[[bus]]
number = 2
[[bus.device]]
model = "register-file"
addr = 0x48
[[bus.device]]
model = "register-file"
addr = 0x49

[[bus]]
number = 3
[[bus.device]]
model = "register-file"
addr = 0x48

[[line]]
name = "int"
[[line]]
name = "reset"
[[line]]
name = "hold"
"#;

const POLICY: &str = r#"
[bus.2]
addresses = ["0x48"]
read_only = "registers"
force = false
max_ops = 4

[bus.3]
pec = true

[line.reset]
drive = false
"#;

const MESSAGE_BYTES: usize = 64 << 10;
const MAX_OPS: usize = 512;

fn server() -> Running {
    simulated(BUSES)
        .token(Some(TOKEN.into()))
        .policy(Policy::parse(POLICY).unwrap())
        .limits(Limits {
            ops_per_transaction: MAX_OPS,
            message_bytes: MESSAGE_BYTES,
            op_timeout: Some(Duration::from_millis(1000)),
            ..Limits::default()
        })
        .spawn("127.0.0.1:0".parse().unwrap())
        .unwrap()
}

/// What the `authorization` header carries.
#[derive(Clone, Copy)]
enum Auth {
    Right,
    None,
    Value(&'static str),
}

impl Auth {
    fn on<T>(self, message: T) -> Request<T> {
        let mut req = Request::new(message);
        let value = match self {
            Auth::Right => format!("Bearer {TOKEN}"),
            Auth::None => return req,
            Auth::Value(v) => v.to_owned(),
        };
        req.metadata_mut().insert("authorization", value.parse().unwrap());
        req
    }
}

/// Which session a call names.
#[derive(Clone, Copy)]
enum Sess {
    Bus(u32),
    Closed,
    Literal(&'static str),
    /// An id this many bytes long, all `a`.
    Long(usize),
}

enum Call {
    Execute(Sess, Vec<pb::Op>),
    Open(pb::OpenRequest),
    Lock(Sess, u64),
    Unlock(Sess),
    KeepAlive(Sess),
    Close(Sess),
    ListBuses,
    /// An Execute whose body is not an ExecuteRequest: field 1 (session) as a number.
    Malformed,
    /// The legacy service's open.
    LegacyOpen,
    RequestLines(Sess, Vec<pb::LineRequest>),
    ReleaseLines(Sess, Vec<&'static str>),
    LineEvents(Sess, Vec<&'static str>),
}

struct Case {
    auth: Auth,
    call: Call,
    code: Code,
    /// The start of the message.
    says: String,
}

fn case(call: Call, code: Code, says: impl Into<String>) -> Case {
    Case { auth: Auth::Right, call, code, says: says.into() }
}

fn smbus(addr: u64, command: PC) -> pb::Op {
    pb::Op { op: Some(pb::op::Op::Smbus(pb::SmbusOp { addr, command: Some(command), ..Default::default() })) }
}

fn ops(ops: &[Op]) -> Vec<pb::Op> {
    ops.iter().map(encode::op).collect()
}

fn op(addr: u16, command: C) -> Op {
    Op::smbus(addr, command)
}

fn with_target(target: Target, command: C) -> Op {
    Op::Smbus { target, command }
}

fn invalid(call: Call, says: &str) -> Case {
    case(call, Code::InvalidArgument, says)
}

fn wait(micros: u64) -> pb::Op {
    pb::Op { op: Some(pb::op::Op::Wait(pb::Wait { micros })) }
}

fn poll(op: Option<pb::Op>, interval_micros: u64, timeout_micros: u64, until: Option<pb::Match>) -> pb::Op {
    let poll = pb::Poll { op: op.map(Box::new), interval_micros, timeout_micros, until };
    pb::Op { op: Some(pb::op::Op::Poll(Box::new(poll))) }
}

fn quick() -> pb::Op {
    smbus(0x50, PC::WriteQuick(pb::Quick { bit: 0 }))
}

fn on_bus1(bad: pb::Op, says: &str) -> Case {
    invalid(Call::Execute(Sess::Bus(1), vec![bad]), says)
}

fn cases() -> Vec<Case> {
    use Call::*;
    let reg = |reg| pb::Reg { reg };
    let transfer = |msgs: Vec<pb::Msg>| pb::Op { op: Some(pb::op::Op::Transfer(pb::Transfer { msgs })) };
    let pmsg = |flags, dir| pb::Msg { addr: 0x50, flags, dir: Some(dir) };
    let denied =
        |bus, o: Vec<Op>, says: &str| case(Execute(Sess::Bus(bus), ops(&o)), Code::PermissionDenied, says);
    let unauthenticated =
        |auth, call, says: &str| Case { auth, call, code: Code::Unauthenticated, says: says.into() };
    vec![
        // Each argument's boundaries.
        on_bus1(
            smbus(0x80, PC::ReadByteData(reg(0))),
            "ops[0].smbus.addr: 0x80 is out of range for a 7-bit address 0x00–0x7f",
        ),
        // Values wider than 32 bits are refused, not cut to 32 bits (2^32 + 0x48 is not 0x48).
        on_bus1(
            smbus((1 << 32) + 0x48, PC::ReadByteData(reg(0))),
            "ops[0].smbus.addr: 0x100000048 is out of range for a 7-bit address 0x00–0x7f",
        ),
        on_bus1(
            smbus(0x48, PC::WriteByteData(pb::RegValue { reg: (1 << 32) + 1, value: 0 })),
            "ops[0].smbus.write_byte_data.reg: 0x100000001 is out of range 0x00–0xFF",
        ),
        on_bus1(
            transfer(vec![pmsg(0, pb::msg::Dir::Read((1 << 32) + 4))]),
            "ops[0].transfer.msgs[0].read: 4294967300 bytes is out of range 0–8192",
        ),
        invalid(Lock(Sess::Bus(1), 1 << 32), "wait_ms: 4294967296 ms is out of range 0–60000"),
        case(
            Open(pb::OpenRequest { bus: (1 << 32) + 1, ..Default::default() }),
            Code::NotFound,
            "bus: 4294967297 does not exist",
        ),
        on_bus1(
            smbus(0x48, PC::ReadByteData(reg(0x100))),
            "ops[0].smbus.read_byte_data.reg: 0x100 is out of range 0x00–0xFF",
        ),
        on_bus1(
            smbus(0x48, PC::WriteByteData(pb::RegValue { reg: 0, value: 0x100 })),
            "ops[0].smbus.write_byte_data.value: 0x100 is out of range 0x00–0xFF",
        ),
        on_bus1(
            smbus(0x48, PC::WriteWordData(pb::RegValue { reg: 0, value: 0x10000 })),
            "ops[0].smbus.write_word_data.value: 0x10000 is out of range 0x0000–0xFFFF",
        ),
        on_bus1(
            smbus(0x48, PC::ProcessCall(pb::RegValue { reg: 0x100, value: 0 })),
            "ops[0].smbus.process_call.reg: 0x100 is out of range 0x00–0xFF",
        ),
        on_bus1(
            smbus(0x48, PC::WriteByte(pb::Value { value: 256 })),
            "ops[0].smbus.write_byte.value: 0x100 is out of range 0x00–0xFF",
        ),
        on_bus1(
            smbus(0x48, PC::WriteQuick(pb::Quick { bit: 2 })),
            "ops[0].smbus.write_quick.bit: 2 is out of range 0–1",
        ),
        on_bus1(
            smbus(0x48, PC::ReadI2cBlockData(pb::RegLen { reg: 0, len: 0 })),
            "ops[0].smbus.read_i2c_block_data.len: 0 bytes is out of range 1–32",
        ),
        on_bus1(
            smbus(0x48, PC::ReadI2cBlockData(pb::RegLen { reg: 0, len: 33 })),
            "ops[0].smbus.read_i2c_block_data.len: 33 bytes is out of range 1–32",
        ),
        on_bus1(
            smbus(0x48, PC::WriteI2cBlockData(pb::RegData { reg: 0, data: vec![].into() })),
            "ops[0].smbus.write_i2c_block_data.data: 0 bytes is out of range 1–32",
        ),
        on_bus1(
            smbus(0x48, PC::WriteI2cBlockData(pb::RegData { reg: 0, data: vec![0; 33].into() })),
            "ops[0].smbus.write_i2c_block_data.data: 33 bytes is out of range 1–32",
        ),
        on_bus1(
            smbus(0x48, PC::WriteBlockData(pb::RegData { reg: 0, data: vec![0; 33].into() })),
            "ops[0].smbus.write_block_data.data: 33 bytes is out of range 1–32",
        ),
        on_bus1(
            smbus(0x48, PC::BlockProcessCall(pb::RegData { reg: 0, data: vec![0; 33].into() })),
            "ops[0].smbus.block_process_call.data: 33 bytes is out of range 1–32",
        ),
        on_bus1(
            pb::Op {
                op: Some(pb::op::Op::Smbus(pb::SmbusOp {
                    addr: 0x400,
                    ten_bit: true,
                    command: Some(PC::ReadByte(pb::Empty {})),
                    ..Default::default()
                })),
            },
            "ops[0].smbus.addr: 0x400 is out of range for a 10-bit address",
        ),
        on_bus1(
            encode::op(&Op::Transfer(vec![Msg::read(0x50, 1); 43])),
            "ops[0].transfer.msgs: 43 messages is out of range 1–42",
        ),
        on_bus1(transfer(vec![]), "ops[0].transfer.msgs: 0 messages is out of range 1–42"),
        on_bus1(
            encode::op(&Op::Transfer(vec![Msg::read(0x50, 1), Msg::write(0x50, vec![0; 8193])])),
            "ops[0].transfer.msgs[1].write: 8193 bytes is out of range 0–8192",
        ),
        on_bus1(
            transfer(vec![pmsg(0, pb::msg::Dir::Read(8193))]),
            "ops[0].transfer.msgs[0].read: 8193 bytes is out of range 0–8192",
        ),
        on_bus1(
            transfer(vec![pmsg(1, pb::msg::Dir::Read(1))]),
            "ops[0].transfer.msgs[0].flags: 0x1 has bits outside",
        ),
        on_bus1(
            transfer(vec![pb::Msg { addr: 0x80, flags: 0, dir: Some(pb::msg::Dir::Read(1)) }]),
            "ops[0].transfer.msgs[0].addr: 0x80 is out of range",
        ),
        on_bus1(
            transfer(vec![pb::Msg { addr: 0x50, flags: 0, dir: None }]),
            "ops[0].transfer.msgs[0].dir: missing",
        ),
        on_bus1(pb::Op { op: None }, "ops[0].op: missing"),
        on_bus1(
            pb::Op { op: Some(pb::op::Op::Smbus(pb::SmbusOp { addr: 0x48, ..Default::default() })) },
            "ops[0].smbus.command: missing",
        ),
        invalid(Execute(Sess::Bus(1), vec![]), "ops: 0 operations is out of range 1–1024"),
        invalid(
            Execute(Sess::Bus(1), ops(&vec![op(0x48, C::ReadByte); 1025])),
            "ops: 1025 operations is out of range 1–1024",
        ),
        // Sessions: missing, malformed, of the wrong length, unknown, closed.
        invalid(
            Execute(Sess::Literal(""), ops(&[op(0x48, C::ReadByte)])),
            "session: missing: pass the id that Open returned",
        ),
        invalid(
            KeepAlive(Sess::Literal("not-a-session")),
            "session: \"not-a-session\" is not a session id (32 hex digits)",
        ),
        invalid(
            Lock(Sess::Literal("0123456789abcdef0123456789abcdeg"), 0),
            "session: \"0123456789abcdef0123456789abcdeg\" is not a session id",
        ),
        invalid(
            Close(Sess::Literal("00112233445566778899aabbccddeeff00")),
            "session: \"00112233445566778899aabbccddeeff00\" is not a session id",
        ),
        // A message quotes a short prefix of what was sent, never all of it: the whole would
        // not fit in the response's metadata.
        invalid(
            Execute(Sess::Long(16 << 10), ops(&[op(0x48, C::ReadByte)])),
            &format!("session: \"{}\"… (16384 bytes) is not a session id (32 hex digits)", "a".repeat(40)),
        ),
        invalid(
            KeepAlive(Sess::Long(60_000)),
            &format!("session: \"{}\"… (60000 bytes) is not a session id", "a".repeat(40)),
        ),
        case(
            Execute(Sess::Literal("00112233445566778899aabbccddeeff"), ops(&[op(0x48, C::ReadByte)])),
            Code::NotFound,
            "session 00112233445566778899aabbccddeeff: unknown or expired",
        ),
        case(Execute(Sess::Closed, ops(&[op(0x48, C::ReadByte)])), Code::NotFound, "session "),
        case(Unlock(Sess::Bus(1)), Code::FailedPrecondition, "session: does not hold bus 1"),
        // Open and lock arguments, and unknown buses.
        case(
            Open(pb::OpenRequest { bus: 7, ..Default::default() }),
            Code::NotFound,
            "bus: 7 does not exist; this server exposes bus 1, 2, 3",
        ),
        invalid(
            Open(pb::OpenRequest { bus: 1, timeout_ms: Some(15), retries: None, ..Default::default() }),
            "timeout_ms: 15 is out of range 10–60000 in steps of 10",
        ),
        invalid(
            Open(pb::OpenRequest { bus: 1, timeout_ms: Some(60_010), retries: None, ..Default::default() }),
            "timeout_ms: 60010 is out of range",
        ),
        invalid(
            Open(pb::OpenRequest { bus: 1, timeout_ms: None, retries: Some(17), ..Default::default() }),
            "retries: 17 retries is out of range 0–16",
        ),
        invalid(Lock(Sess::Bus(1), 60_001), "wait_ms: 60001 ms is out of range 0–60000"),
        // Waits and polls on the bus.
        on_bus1(wait(0), "ops[0].wait.micros: 0 µs is out of range 1–60000000"),
        on_bus1(wait(60_000_001), "ops[0].wait.micros: 60000001 µs is out of range 1–60000000"),
        on_bus1(
            poll(None, 100, 1000, None),
            "ops[0].poll.op: missing: set the `smbus` or `transfer` operation to repeat",
        ),
        on_bus1(
            poll(Some(wait(10)), 100, 1000, None),
            "ops[0].poll.op.op: a `wait` or `poll` here: set the `smbus` or `transfer` operation to run",
        ),
        on_bus1(
            poll(Some(smbus(0x48, PC::ReadByteData(reg(0x100)))), 100, 1000, None),
            "ops[0].poll.op.smbus.read_byte_data.reg: 0x100 is out of range 0x00–0xFF",
        ),
        on_bus1(
            poll(Some(quick()), 100, 0, None),
            "ops[0].poll.timeout_micros: 0 µs is out of range 1–60000000",
        ),
        on_bus1(
            poll(Some(quick()), 2000, 1000, None),
            "ops[0].poll.interval_micros: 2000 µs (up to the timeout) is out of range 100–1000",
        ),
        on_bus1(
            poll(Some(quick()), 100, 1000, Some(pb::Match { mask: 1 << 16, value: 0 })),
            "ops[0].poll.until.mask: 0x10000 is out of range 0x0000–0xFFFF",
        ),
        on_bus1(
            poll(Some(quick()), 100, 1000, Some(pb::Match { mask: 0x80, value: 0x81 })),
            "ops[0].poll.until.value: 0x81 has bits outside the mask 0x80, so it can never match",
        ),
        case(
            Execute(Sess::Bus(1), vec![wait(600_000), poll(Some(quick()), 100, 400_001, None)]),
            Code::ResourceExhausted,
            "ops: the waits and poll timeouts add up to 1000001 µs; this server holds the bus for at most 1000000 µs of waiting per transaction",
        ),
        case(
            Execute(Sess::Bus(2), vec![poll(Some(smbus(0x49, PC::ReadByte(pb::Empty {}))), 100, 1000, None)]),
            Code::PermissionDenied,
            "policy: bus 2 has addresses = [0x48]; ops[0] (read_byte) addresses 0x49",
        ),
        case(
            Execute(
                Sess::Bus(2),
                vec![
                    wait(10),
                    poll(Some(smbus(0x48, PC::WriteByte(pb::Value { value: 1 }))), 100, 1000, None),
                ],
            ),
            Code::PermissionDenied,
            "policy: bus 2 has read_only = \"registers\"; ops[1] (write_byte) sends data",
        ),
        // Malformed and oversized messages, and the server's limits.
        case(Malformed, Code::Internal, "failed to decode Protobuf message"),
        case(
            Execute(Sess::Bus(1), ops(&[Op::Transfer(vec![Msg::write(0x50, vec![0; 8192]); 9])])),
            Code::ResourceExhausted,
            "message size: ",
        ),
        case(
            Execute(Sess::Bus(1), ops(&[Op::Transfer(vec![Msg::read(0x50, 8192); 9])])),
            Code::ResourceExhausted,
            "ops: the replies would take up to 74154 bytes; this server sends at most 65536 in one message",
        ),
        case(
            Execute(Sess::Bus(1), ops(&vec![op(0x48, C::ReadByte); MAX_OPS + 1])),
            Code::ResourceExhausted,
            "ops: 513 operations; this server takes at most 512 per transaction",
        ),
        case(
            Open(pb::OpenRequest { bus: 1, timeout_ms: Some(2000), retries: None, ..Default::default() }),
            Code::ResourceExhausted,
            "timeout_ms: 2000 is longer than the 1000 ms this server lets one operation hold the bus",
        ),
        // Policy: each rule of bus 2 and bus 3.
        denied(
            2,
            vec![op(0x49, C::ReadByte)],
            "policy: bus 2 has addresses = [0x48]; ops[0] (read_byte) addresses 0x49",
        ),
        denied(
            2,
            vec![op(0x48, C::ReadByte), Op::Transfer(vec![Msg::write(0x48, vec![0]), Msg::read(0x50, 1)])],
            "policy: bus 2 has addresses = [0x48]; ops[1] (transfer) addresses 0x50",
        ),
        denied(
            2,
            vec![with_target(Target { addr: 0x48, ten_bit: true, ..Target::default() }, C::ReadByte)],
            "policy: bus 2 has ten_bit_addresses = []; ops[0] (read_byte) addresses 0x48",
        ),
        denied(
            2,
            vec![op(0x48, C::WriteByteData { reg: 1, value: 2 })],
            "policy: bus 2 has read_only = \"registers\"; ops[0] (write_byte_data) sends data",
        ),
        denied(
            2,
            vec![op(0x48, C::WriteByte { value: 6 })],
            "policy: bus 2 has read_only = \"registers\"; ops[0] (write_byte) sends data",
        ),
        denied(
            2,
            vec![Op::Transfer(vec![Msg::write(0x48, vec![1, 2, 3]), Msg::read(0x48, 1)])],
            "policy: bus 2 has read_only = \"registers\"; ops[0] (transfer) sends data",
        ),
        denied(
            2,
            vec![with_target(Target { addr: 0x48, force: true, ..Target::default() }, C::ReadByte)],
            "policy: bus 2 has force = false; ops[0] (read_byte) asks for force",
        ),
        denied(
            2,
            vec![op(0x48, C::ReadByte); 5],
            "policy: bus 2 has max_ops = 4; this transaction has 5 operations",
        ),
        denied(
            3,
            vec![op(0x48, C::ReadByteData { reg: 0 })],
            "policy: bus 3 has pec = true; ops[0] (read_byte_data) is sent without PEC",
        ),
        denied(
            3,
            vec![Op::Transfer(vec![Msg::read(0x48, 1)])],
            "policy: bus 3 has pec = true; ops[0] is an I2C transfer, which carries no PEC",
        ),
        // Authentication, on every kind of call and on the legacy service.
        unauthenticated(
            Auth::None,
            ListBuses,
            "authorization: missing; send `authorization: Bearer <token>`",
        ),
        unauthenticated(
            Auth::Value("Bearer wrong"),
            Open(pb::OpenRequest { bus: 1, ..Default::default() }),
            "authorization: wrong token",
        ),
        unauthenticated(
            Auth::Value("Bearer matrix-toke"),
            Execute(Sess::Bus(1), ops(&[op(0x48, C::ReadByte)])),
            "authorization: wrong token",
        ),
        unauthenticated(Auth::Value(TOKEN), KeepAlive(Sess::Bus(1)), "authorization: missing"),
        unauthenticated(Auth::Value("bearer matrix-token"), Close(Sess::Bus(1)), "authorization: missing"),
        unauthenticated(Auth::None, LegacyOpen, "authorization: missing"),
        // GPIO lines: names, settings, steps, who holds them, the policy.
        unauthenticated(
            Auth::None,
            RequestLines(Sess::Bus(1), vec![line("int", input())]),
            "authorization: missing",
        ),
        case(RequestLines(Sess::Closed, vec![line("int", input())]), Code::NotFound, "session "),
        invalid(
            RequestLines(Sess::Bus(1), vec![line("gpio17", input())]),
            "lines[0].line: \"gpio17\" is not a line this server offers; it offers \"int\", \"reset\", \"hold\"",
        ),
        invalid(RequestLines(Sess::Bus(1), vec![]), "lines: 0 lines is out of range 1–64"),
        invalid(RequestLines(Sess::Bus(1), vec![line("", input())]), "lines[0].line: missing: name a line"),
        invalid(
            RequestLines(Sess::Bus(1), vec![line(&"n".repeat(65), input())]),
            "lines[0].line: 65 bytes is out of range 1–64",
        ),
        invalid(
            RequestLines(Sess::Bus(1), vec![line("int", input()), line("int", input())]),
            "lines[1].line: \"int\" is named twice",
        ),
        invalid(
            RequestLines(Sess::Bus(1), vec![pb::LineRequest { line: "int".into(), settings: None }]),
            "lines[0].settings: missing",
        ),
        invalid(
            RequestLines(
                Sess::Bus(1),
                vec![line("int", pb::LineSettings { debounce_us: 1_000_001, ..input() })],
            ),
            "lines[0].settings.debounce_us: 1000001 µs is out of range 0–1000000",
        ),
        invalid(
            RequestLines(Sess::Bus(1), vec![line("int", pb::LineSettings { direction: 7, ..input() })]),
            "lines[0].settings.direction: 7 is not one of INPUT 1, OUTPUT 2",
        ),
        invalid(
            RequestLines(Sess::Bus(1), vec![line("int", pb::LineSettings { edges: 9, ..input() })]),
            "lines[0].settings.edges: 9 is not one of NONE 0, RISING 1, FALLING 2, BOTH 3",
        ),
        case(
            RequestLines(Sess::Bus(1), vec![line("reset", pb::LineSettings { direction: 2, ..input() })]),
            Code::PermissionDenied,
            "lines[0]: policy: line \"reset\" has drive = false; it cannot be requested as an output",
        ),
        case(
            RequestLines(Sess::Bus(1), vec![line("int", input()), line("hold", input())]),
            Code::Aborted,
            "lines[1].line: \"hold\" is held by session ",
        ),
        case(
            ReleaseLines(Sess::Bus(1), vec!["int"]),
            Code::FailedPrecondition,
            "lines[0]: \"int\" is not held by this session (released already, or never requested)",
        ),
        invalid(ReleaseLines(Sess::Bus(1), vec!["int", "int"]), "lines: \"int\" is named twice"),
        case(
            LineEvents(Sess::Bus(2), vec![]),
            Code::FailedPrecondition,
            "lines: the session holds no line with edge detection",
        ),
        case(
            Execute(Sess::Bus(1), vec![set_line("int", true)]),
            Code::FailedPrecondition,
            "ops[0].set_line.line: \"int\" is not held by this session; request it first (RequestLines)",
        ),
        invalid(
            Execute(Sess::Bus(1), vec![set_line("nope", true)]),
            "ops[0].set_line.line: \"nope\" is not a line this server offers",
        ),
        on_bus1(wait_edge("int", 0, 10), "ops[0].wait_edge.edge: NONE: wait for RISING, FALLING or BOTH"),
        on_bus1(wait_edge("int", 3, 0), "ops[0].wait_edge.timeout_micros: 0 µs is out of range 1–60000000"),
        on_bus1(
            wait_edge("int", 3, 60_000_001),
            "ops[0].wait_edge.timeout_micros: 60000001 µs is out of range 1–60000000",
        ),
    ]
}

fn input() -> pb::LineSettings {
    pb::LineSettings { direction: 1, ..Default::default() }
}

fn line(name: &str, settings: pb::LineSettings) -> pb::LineRequest {
    pb::LineRequest { line: name.into(), settings: Some(settings) }
}

fn set_line(line: &str, value: bool) -> pb::Op {
    pb::Op { op: Some(pb::op::Op::SetLine(pb::SetLine { line: line.into(), value })) }
}

fn wait_edge(line: &str, edge: i32, timeout_micros: u64) -> pb::Op {
    pb::Op { op: Some(pb::op::Op::WaitEdge(pb::WaitEdge { line: line.into(), edge, timeout_micros })) }
}

struct Clients {
    smbus: SmbusClient<Channel>,
    legacy: SmbusRcpClient<Channel>,
    raw: tonic::client::Grpc<Channel>,
    /// A session on each bus, and one already closed.
    sessions: [String; 3],
    closed: String,
}

impl Clients {
    fn session(&self, s: Sess) -> String {
        match s {
            Sess::Bus(n) => self.sessions[n as usize - 1].clone(),
            Sess::Closed => self.closed.clone(),
            Sess::Literal(id) => id.to_owned(),
            Sess::Long(n) => "a".repeat(n),
        }
    }

    async fn call(&mut self, auth: Auth, call: Call) -> Result<(), tonic::Status> {
        let mut c = self.smbus.clone();
        match call {
            Call::Execute(s, ops) => c
                .execute(auth.on(pb::ExecuteRequest {
                    session: self.session(s),
                    ops,
                    keep_going: false,
                    fence: 0,
                    ..Default::default()
                }))
                .await
                .map(drop),
            Call::Open(req) => c.open(auth.on(req)).await.map(drop),
            Call::Lock(s, wait_ms) => {
                c.lock(auth.on(pb::LockRequest { session: self.session(s), wait_ms })).await.map(drop)
            }
            Call::Unlock(s) => {
                c.unlock(auth.on(pb::UnlockRequest { session: self.session(s) })).await.map(drop)
            }
            Call::KeepAlive(s) => {
                c.keep_alive(auth.on(pb::KeepAliveRequest { session: self.session(s) })).await.map(drop)
            }
            Call::Close(s) => c.close(auth.on(pb::CloseRequest { session: self.session(s) })).await.map(drop),
            Call::ListBuses => c.list_buses(auth.on(pb::ListBusesRequest {})).await.map(drop),
            Call::Malformed => {
                self.raw.ready().await.unwrap();
                let path = "/smbus.v1.Smbus/Execute".parse().unwrap();
                let codec = tonic_prost::ProstCodec::<WrongRequest, pb::ExecuteResponse>::default();
                self.raw.unary(auth.on(WrongRequest { session: 7 }), path, codec).await.map(drop)
            }
            Call::LegacyOpen => self.legacy.open(auth.on(rcp::OpenRequest { i2c_bus: 1 })).await.map(drop),
            Call::RequestLines(s, lines) => c
                .request_lines(auth.on(pb::RequestLinesRequest { session: self.session(s), lines }))
                .await
                .map(drop),
            Call::ReleaseLines(s, lines) => {
                let lines = lines.into_iter().map(str::to_owned).collect();
                c.release_lines(auth.on(pb::ReleaseLinesRequest { session: self.session(s), lines }))
                    .await
                    .map(drop)
            }
            Call::LineEvents(s, lines) => {
                let lines = lines.into_iter().map(str::to_owned).collect();
                c.line_events(auth.on(pb::LineEventsRequest { session: self.session(s), lines }))
                    .await
                    .map(drop)
            }
        }
    }
}

/// Field 1 of ExecuteRequest is a string; this sends a number there.
#[derive(Clone, PartialEq, prost::Message)]
struct WrongRequest {
    #[prost(uint64, tag = "1")]
    session: u64,
}

#[tokio::test]
async fn every_bad_request_gets_the_right_code_and_says_what_is_wrong() {
    let server = server();
    let channel = Channel::from_shared(server.url()).unwrap().connect().await.unwrap();
    let mut smbus = SmbusClient::new(channel.clone());
    let mut sessions = Vec::new();
    for bus in 1..=4 {
        let open = smbus.open(Auth::Right.on(pb::OpenRequest { bus: bus.min(3), ..Default::default() }));
        sessions.push(open.await.unwrap().into_inner().session);
    }
    let closed = sessions.pop().unwrap();
    smbus.close(Auth::Right.on(pb::CloseRequest { session: closed.clone() })).await.unwrap();
    // Bus 2's session holds "hold", which no other may then have.
    let hold = pb::RequestLinesRequest { session: sessions[1].clone(), lines: vec![line("hold", input())] };
    smbus.request_lines(Auth::Right.on(hold)).await.unwrap();
    let mut clients = Clients {
        smbus,
        legacy: SmbusRcpClient::new(channel.clone()),
        raw: tonic::client::Grpc::new(channel),
        sessions: sessions.try_into().unwrap(),
        closed,
    };

    let cases = cases();
    assert!(cases.len() >= 40, "the matrix has {} cases", cases.len());
    let mut wrong = Vec::new();
    for (i, Case { auth, call, code, says }) in cases.into_iter().enumerate() {
        match clients.call(auth, call).await {
            Ok(()) => wrong.push(format!("case {i} ({says}): accepted")),
            Err(status) if status.code() != code || !status.message().starts_with(&says) => wrong.push(
                format!("case {i}: got {:?} {:?}, want {code:?} {says:?}", status.code(), status.message()),
            ),
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Still serving, and nothing reached the bus: bus 1's registers are untouched, and bus 2's
    // policy still lets a register read through.
    let read = |session: &str, o: Op| {
        Auth::Right.on(pb::ExecuteRequest {
            session: session.into(),
            ops: vec![encode::op(&o)],
            keep_going: false,
            fence: 0,
            ..Default::default()
        })
    };
    let [one, two, _] = &clients.sessions;
    let mut reply =
        clients.smbus.execute(read(one, op(0x48, C::ReadByteData { reg: 1 }))).await.unwrap().into_inner();
    assert_eq!(decode::reply(reply.results.remove(0)).unwrap(), Reply::Byte(0));
    let mut reply =
        clients.smbus.execute(read(two, op(0x48, C::ReadByteData { reg: 0 }))).await.unwrap().into_inner();
    assert_eq!(decode::reply(reply.results.remove(0)).unwrap(), Reply::Byte(0));
    server.stop().unwrap();
}

#[tokio::test]
async fn a_bad_op_anywhere_refuses_the_whole_transaction() {
    let server = server();
    let mut c = SmbusClient::connect(server.url()).await.unwrap();
    let s = c
        .open(Auth::Right.on(pb::OpenRequest { bus: 1, ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .session;
    let mut bad = ops(&[op(0x48, C::WriteByteData { reg: 9, value: 9 })]);
    bad.push(smbus(0x48, PC::ReadByteData(pb::Reg { reg: 0x1FF })));
    let status = c
        .execute(Auth::Right.on(pb::ExecuteRequest {
            session: s.clone(),
            ops: bad,
            keep_going: false,
            fence: 0,
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("ops[1].smbus.read_byte_data.reg"), "{}", status.message());
    let check = ops(&[op(0x48, C::ReadByteData { reg: 9 })]);
    let mut reply = c
        .execute(Auth::Right.on(pb::ExecuteRequest {
            session: s,
            ops: check,
            keep_going: false,
            fence: 0,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decode::reply(reply.results.remove(0)).unwrap(), Reply::Byte(0), "op 0 never ran");
    server.stop().unwrap();
}
