//! Bad arguments are refused before the bus is touched, with INVALID_ARGUMENT naming the field
//! and the allowed range, and the server keeps serving.

mod common;

use common::*;
use smbus_proxy_wire::pb::{self, smbus_op::Command as PC};
use smbus_proxy_wire::{Command as C, Msg, Op, Reply, encode};
use std::time::Duration;
use tonic::Code;

fn smbus(addr: u32, command: PC) -> pb::Op {
    pb::Op { op: Some(pb::op::Op::Smbus(pb::SmbusOp { addr, command: Some(command), ..Default::default() })) }
}

#[tokio::test]
async fn every_bad_argument_class_is_refused_by_name() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let s = open(&mut c, 1).await;
    let reg = |reg| pb::Reg { reg };
    let many_msgs = Op::Transfer(vec![Msg::read(0x50, 1); 43]);
    let big_msg = Op::Transfer(vec![Msg::read(0x50, 1), Msg::write(0x50, vec![0; 8193])]);
    let cases: Vec<(pb::Op, &str)> = vec![
        (
            smbus(0x80, PC::ReadByteData(reg(0))),
            "ops[0].smbus.addr: 0x80 is out of range for a 7-bit address 0x00–0x7f",
        ),
        (
            smbus(0x48, PC::ReadByteData(reg(0x100))),
            "ops[0].smbus.read_byte_data.reg: 0x100 is out of range 0x00–0xFF",
        ),
        (
            smbus(0x48, PC::WriteByteData(pb::RegValue { reg: 0, value: 0x100 })),
            "ops[0].smbus.write_byte_data.value: 0x100 is out of range 0x00–0xFF",
        ),
        (
            smbus(0x48, PC::WriteWordData(pb::RegValue { reg: 0, value: 0x10000 })),
            "ops[0].smbus.write_word_data.value: 0x10000 is out of range 0x0000–0xFFFF",
        ),
        (
            smbus(0x48, PC::WriteByte(pb::Value { value: 256 })),
            "ops[0].smbus.write_byte.value: 0x100 is out of range 0x00–0xFF",
        ),
        (
            smbus(0x48, PC::WriteQuick(pb::Quick { bit: 2 })),
            "ops[0].smbus.write_quick.bit: 2 is out of range 0–1",
        ),
        (
            smbus(0x48, PC::ReadI2cBlockData(pb::RegLen { reg: 0, len: 0 })),
            "ops[0].smbus.read_i2c_block_data.len: 0 bytes is out of range 1–32",
        ),
        (
            smbus(0x48, PC::ReadI2cBlockData(pb::RegLen { reg: 0, len: 33 })),
            "ops[0].smbus.read_i2c_block_data.len: 33 bytes is out of range 1–32",
        ),
        (
            smbus(0x48, PC::WriteI2cBlockData(pb::RegData { reg: 0, data: vec![].into() })),
            "ops[0].smbus.write_i2c_block_data.data: 0 bytes is out of range 1–32",
        ),
        (
            smbus(0x48, PC::WriteBlockData(pb::RegData { reg: 0, data: vec![0; 33].into() })),
            "ops[0].smbus.write_block_data.data: 33 bytes is out of range 1–32",
        ),
        (
            smbus(0x48, PC::BlockProcessCall(pb::RegData { reg: 0, data: vec![0; 33].into() })),
            "ops[0].smbus.block_process_call.data: 33 bytes is out of range 1–32",
        ),
        (encode::op(&many_msgs), "ops[0].transfer.msgs: 43 messages is out of range 1–42"),
        (encode::op(&big_msg), "ops[0].transfer.msgs[1].write: 8193 bytes is out of range 0–8192"),
        (
            pb::Op {
                op: Some(pb::op::Op::Transfer(pb::Transfer {
                    msgs: vec![pb::Msg { addr: 0x50, flags: 0, dir: Some(pb::msg::Dir::Read(8193)) }],
                })),
            },
            "ops[0].transfer.msgs[0].read: 8193 bytes is out of range 0–8192",
        ),
        (
            pb::Op {
                op: Some(pb::op::Op::Transfer(pb::Transfer {
                    msgs: vec![pb::Msg { addr: 0x50, flags: 1, dir: Some(pb::msg::Dir::Read(1)) }],
                })),
            },
            "ops[0].transfer.msgs[0].flags: 0x1 has bits outside",
        ),
        (pb::Op { op: None }, "ops[0].op: missing"),
        (
            pb::Op { op: Some(pb::op::Op::Smbus(pb::SmbusOp { addr: 0x48, ..Default::default() })) },
            "ops[0].smbus.command: missing",
        ),
    ];
    for (bad, expected) in cases {
        let status = c
            .execute(pb::ExecuteRequest { session: s.clone(), ops: vec![bad], keep_going: false })
            .await
            .expect_err(expected);
        assert_eq!(status.code(), Code::InvalidArgument, "{expected}");
        assert!(status.message().starts_with(expected), "got {:?}, want {expected:?}", status.message());
    }
    // Too many and too few operations.
    let status = execute(&mut c, &s, &[]).await.unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::InvalidArgument, "ops: 0 operations is out of range 1–1024")
    );
    let ops = vec![op(0x48, C::ReadByte); 1025];
    let status = execute(&mut c, &s, &ops).await.unwrap_err();
    assert_eq!(status.message(), "ops: 1025 operations is out of range 1–1024");

    // The server still serves, and nothing reached the bus: register 0 is untouched.
    assert_eq!(run1(&mut c, &s, op(0x48, C::ReadByteData { reg: 0 })).await, Reply::Byte(0));
    server.stop().await;
}

#[tokio::test]
async fn a_bad_op_anywhere_refuses_the_whole_transaction() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let s = open(&mut c, 1).await;
    let mut ops = vec![encode::op(&op(0x48, C::WriteByteData { reg: 9, value: 9 }))];
    ops.push(smbus(0x48, PC::ReadByteData(pb::Reg { reg: 0x1FF })));
    let status =
        c.execute(pb::ExecuteRequest { session: s.clone(), ops, keep_going: false }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("ops[1].smbus.read_byte_data.reg"), "{}", status.message());
    assert_eq!(
        run1(&mut c, &s, op(0x48, C::ReadByteData { reg: 9 })).await,
        Reply::Byte(0),
        "op 0 never ran"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_open_and_lock_arguments() {
    let server = TestServer::start(Duration::from_secs(5)).await;
    let mut c = server.client().await;
    let status = c.open(pb::OpenRequest { bus: 1, timeout_ms: Some(15), retries: None }).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("timeout_ms: 15 is out of range 10–60000 in steps of 10"),
        "{}",
        status.message()
    );
    let status = c.open(pb::OpenRequest { bus: 1, timeout_ms: None, retries: Some(17) }).await.unwrap_err();
    assert_eq!(status.message(), "retries: 17 retries is out of range 0–16");
    let ok = c
        .open(pb::OpenRequest { bus: 1, timeout_ms: Some(250), retries: Some(3) })
        .await
        .unwrap()
        .into_inner();
    let status = c.lock(pb::LockRequest { session: ok.session.clone(), wait_ms: 60_001 }).await.unwrap_err();
    assert_eq!(status.message(), "wait_ms: 60001 ms is out of range 0–60000");
    // A session opened with adapter settings runs its transactions under them.
    assert_eq!(run1(&mut c, &ok.session, op(0x48, C::ReadByte)).await, Reply::Byte(0));
    server.stop().await;
}
