//! Every operation of the brief's table, through a real server over a real socket.

mod common;

use bytes::Bytes;
use common::*;
use smbus_proxy_wire::op::msg_flags;
use smbus_proxy_wire::{Command as C, Dir, Errno, ErrorKind, Msg, Op, Reply, Target, decode, pb};
use std::time::Duration;

const RF: u16 = 0x48; // register file
const EE: u16 = 0x50; // 24C02

fn b(data: &[u8]) -> Bytes {
    Bytes::copy_from_slice(data)
}

#[tokio::test]
async fn every_smbus_operation_round_trips() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;

    assert_eq!(run1(&mut c, &s, op(RF, C::WriteQuick { bit: 0 })).await, Reply::Done);
    assert_eq!(run1(&mut c, &s, op(RF, C::WriteQuick { bit: 1 })).await, Reply::Done);

    // byte data
    assert_eq!(run1(&mut c, &s, op(RF, C::WriteByteData { reg: 0x05, value: 0xA5 })).await, Reply::Done);
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByteData { reg: 0x05 })).await, Reply::Byte(0xA5));

    // byte: write_byte sets the pointer, read_byte reads there and moves on
    run1(&mut c, &s, op(RF, C::WriteByteData { reg: 0x06, value: 0x5A })).await;
    assert_eq!(run1(&mut c, &s, op(RF, C::WriteByte { value: 0x05 })).await, Reply::Done);
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByte)).await, Reply::Byte(0xA5));
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByte)).await, Reply::Byte(0x5A));

    // words are little-endian on the wire
    assert_eq!(run1(&mut c, &s, op(RF, C::WriteWordData { reg: 0x10, value: 0xBEEF })).await, Reply::Done);
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByteData { reg: 0x10 })).await, Reply::Byte(0xEF));
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadWordData { reg: 0x10 })).await, Reply::Word(0xBEEF));

    // process call: writes reg, reg+1, then reads the next two registers
    run1(&mut c, &s, op(RF, C::WriteWordData { reg: 0x22, value: 0x1234 })).await;
    assert_eq!(
        run1(&mut c, &s, op(RF, C::ProcessCall { reg: 0x20, value: 0xCAFE })).await,
        Reply::Word(0x1234)
    );
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadWordData { reg: 0x20 })).await, Reply::Word(0xCAFE));

    // SMBus block: the count goes first, and the device gives it back on read
    let data = b(&[1, 2, 3, 4, 5]);
    assert_eq!(
        run1(&mut c, &s, op(RF, C::WriteBlockData { reg: 0x30, data: data.clone() })).await,
        Reply::Done
    );
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByteData { reg: 0x30 })).await, Reply::Byte(5));
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadBlockData { reg: 0x30 })).await, Reply::Block(data));

    // block process call: write [reg, n, data], then read the count-prefixed block that follows
    run1(&mut c, &s, op(RF, C::WriteI2cBlockData { reg: 0x43, data: b(&[2, 0xAA, 0xBB]) })).await;
    let reply = run1(&mut c, &s, op(RF, C::BlockProcessCall { reg: 0x40, data: b(&[9, 8]) })).await;
    assert_eq!(reply, Reply::Block(b(&[0xAA, 0xBB])));
    assert_eq!(
        run1(&mut c, &s, op(RF, C::ReadI2cBlockData { reg: 0x40, len: 3 })).await,
        Reply::Block(b(&[2, 9, 8]))
    );

    // I2C block, all 32 bytes
    let full: Vec<u8> = (0..32).map(|i| 0x80 | i).collect();
    run1(&mut c, &s, op(RF, C::WriteI2cBlockData { reg: 0x60, data: b(&full) })).await;
    assert_eq!(
        run1(&mut c, &s, op(RF, C::ReadI2cBlockData { reg: 0x60, len: 32 })).await,
        Reply::Block(b(&full))
    );

    // 10-bit addressing reaches the device at 0x1A5 and nothing else
    let ten = Op::Smbus {
        target: Target { addr: 0x1A5, ten_bit: true, ..Target::default() },
        command: C::WriteByteData { reg: 1, value: 7 },
    };
    assert_eq!(run1(&mut c, &s, ten).await, Reply::Done);
    let ten = Op::Smbus {
        target: Target { addr: 0x1A5, ten_bit: true, ..Target::default() },
        command: C::ReadByteData { reg: 1 },
    };
    assert_eq!(run1(&mut c, &s, ten).await, Reply::Byte(7));

    // PEC on an adapter that has it behaves like the plain operation
    let pec = Op::Smbus {
        target: Target { addr: RF, pec: true, ..Target::default() },
        command: C::ReadByteData { reg: 0x05 },
    };
    assert_eq!(run1(&mut c, &s, pec).await, Reply::Byte(0xA5));
    server.stop().await;
}

#[tokio::test]
async fn i2c_transfer_write_then_read_with_repeated_start() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    // Write 4 bytes into the EEPROM at 0x10, then set the pointer and read them back in one
    // combined transfer.
    let write = Op::Transfer(vec![Msg::write(EE, vec![0x10, 0xDE, 0xAD, 0xBE, 0xEF])]);
    assert_eq!(run1(&mut c, &s, write).await, Reply::Transfer(vec![]));
    let read = Op::Transfer(vec![Msg::write(EE, vec![0x10]), Msg::read(EE, 4), Msg::read(RF, 0)]);
    assert_eq!(run1(&mut c, &s, read).await, Reply::Transfer(vec![b(&[0xDE, 0xAD, 0xBE, 0xEF]), b(&[])]));
    // A long read: the whole 256-byte EEPROM in one message.
    let all = run1(&mut c, &s, Op::Transfer(vec![Msg::write(EE, vec![0]), Msg::read(EE, 256)])).await;
    let Reply::Transfer(reads) = all else { panic!("{all:?}") };
    assert_eq!(reads[0].len(), 256);
    assert_eq!(&reads[0][0x10..0x14], &[0xDE, 0xAD, 0xBE, 0xEF]);
    // IGNORE_NAK lets a message to nobody through.
    let ignore = Msg { addr: 0x33, flags: msg_flags::IGNORE_NAK, dir: Dir::Write(b(&[1])) };
    assert_eq!(run1(&mut c, &s, Op::Transfer(vec![ignore])).await, Reply::Transfer(vec![]));
    server.stop().await;
}

#[tokio::test]
async fn si4703_dump_matches_the_original() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let Reply::Block(regs) = run1(&mut c, &s, op(0x10, C::ReadI2cBlockData { reg: 0x0A, len: 32 })).await
    else {
        panic!()
    };
    let dump: Vec<String> = regs
        .chunks(2)
        .enumerate()
        .map(|(i, w)| format!("{:#04X} = {:02x} {:02x}", (0x0A + i) % 16, w[0], w[1]).replace("0X", "0x"))
        .collect();
    assert_eq!(dump[6], "0x00 = 12 42");
    assert_eq!(dump[7], "0x01 = 12 00");
    assert_eq!(dump[8], "0x02 = 0a 00");
    assert_eq!(dump[13], "0x07 = 01 00");
    assert!(dump.iter().enumerate().all(|(i, l)| [6, 7, 8, 13].contains(&i) || l.ends_with("00 00")));
    server.stop().await;
}

#[tokio::test]
async fn transaction_of_40_mixed_ops_runs_in_one_call() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let mut ops = Vec::new();
    for i in 0..10u8 {
        ops.push(op(RF, C::WriteByteData { reg: i, value: i * 3 }));
        ops.push(op(RF, C::ReadByteData { reg: i }));
        ops.push(op(RF, C::ReadWordData { reg: i }));
        ops.push(Op::Transfer(vec![Msg::write(EE, vec![i, i]), Msg::write(EE, vec![i]), Msg::read(EE, 1)]));
    }
    let r = execute(&mut c, &s, &ops).await.unwrap();
    assert!(r.error.is_none());
    assert_eq!(r.results.len(), 40);
    let replies: Vec<Reply> = r.results.into_iter().map(|r| decode::reply(r).unwrap()).collect();
    for i in 0..10u8 {
        let k = usize::from(i) * 4;
        assert_eq!(replies[k], Reply::Done);
        assert_eq!(replies[k + 1], Reply::Byte(i * 3));
        // the word's high byte, register i+1, is written only later in the transaction
        assert_eq!(replies[k + 2], Reply::Word(u16::from(i * 3)));
        assert_eq!(replies[k + 3], Reply::Transfer(vec![b(&[i])]));
    }
    server.stop().await;
}

#[tokio::test]
async fn failing_transaction_reports_index_and_errno_and_stops() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 1).await;
    let ops = [
        op(RF, C::WriteByteData { reg: 0x70, value: 1 }),
        op(RF, C::ReadByteData { reg: 0x70 }),
        op(0x33, C::ReadByteData { reg: 0 }), // nobody there
        op(RF, C::WriteByteData { reg: 0x70, value: 2 }),
    ];
    let r = execute(&mut c, &s, &ops).await.unwrap();
    let err = r.error.expect("the third op fails");
    assert_eq!(err.index, 2);
    assert_eq!(err.errno, Errno::ENXIO.0);
    assert_eq!(err.kind(), pb::ErrorKind::NoAcknowledgeAddress);
    assert_eq!(Errno(err.errno).kind(), ErrorKind::NoAcknowledgeAddress);
    assert!(err.message.contains("ENXIO"), "{}", err.message);
    assert_eq!(r.results.len(), 2, "results of the ops before the failure");
    // the op after the failure did not run
    assert_eq!(run1(&mut c, &s, op(RF, C::ReadByteData { reg: 0x70 })).await, Reply::Byte(1));
    server.stop().await;
}

#[tokio::test]
async fn device_and_adapter_errors_keep_their_errno() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let errno_of = |r: pb::ExecuteResponse| r.error.map(|e| Errno(e.errno));

    // An address a kernel driver owns: EBUSY, unless forced.
    let s = open(&mut c, 1).await;
    let busy = op(0x36, C::ReadByteData { reg: 0 });
    assert_eq!(errno_of(execute(&mut c, &s, &[busy]).await.unwrap()), Some(Errno::EBUSY));
    let forced = Op::Smbus {
        target: Target { addr: 0x36, force: true, ..Target::default() },
        command: C::ReadByteData { reg: 0 },
    };
    assert_eq!(errno_of(execute(&mut c, &s, &[forced]).await.unwrap()), None);

    // Every third operation on bus 3 fails with EIO.
    let s3 = open(&mut c, 3).await;
    let read = op(RF, C::ReadByteData { reg: 0 });
    let r = execute(&mut c, &s3, &[read.clone(), read.clone(), read.clone(), read]).await.unwrap();
    assert_eq!(r.results.len(), 2);
    let e = r.error.unwrap();
    assert_eq!((e.index, e.errno, e.kind()), (2, Errno::EIO.0, pb::ErrorKind::Bus));

    // Bus 4 is an SMBus-only controller: a transfer with no SMBus equivalent is refused.
    let s4 = open(&mut c, 4).await;
    let t = Op::Transfer(vec![Msg::read(RF, 2)]);
    assert_eq!(errno_of(execute(&mut c, &s4, &[t]).await.unwrap()), Some(Errno::EOPNOTSUPP));
    server.stop().await;
}

/// On an SMBus-only adapter, transfers with an exact SMBus equivalent run as SMBus, so
/// embedded-hal drivers work there too.
#[tokio::test]
async fn transfers_fall_back_to_smbus_on_adapters_without_i2c() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    let s = open(&mut c, 4).await;
    let t = |msgs: Vec<Msg>| Op::Transfer(msgs);
    assert_eq!(
        run1(&mut c, &s, t(vec![Msg::write(RF, vec![0x10, 0xAB, 0xCD, 0xEF, 0x01])])).await,
        Reply::Transfer(vec![])
    );
    assert_eq!(run1(&mut c, &s, t(vec![Msg::write(RF, vec![0x20, 0x42])])).await, Reply::Transfer(vec![]));
    assert_eq!(run1(&mut c, &s, t(vec![Msg::write(RF, vec![0x11])])).await, Reply::Transfer(vec![]));
    assert_eq!(run1(&mut c, &s, t(vec![Msg::read(RF, 1)])).await, Reply::Transfer(vec![b(&[0xCD])]));
    let read = |n| t(vec![Msg::write(RF, vec![0x10]), Msg::read(RF, n)]);
    assert_eq!(run1(&mut c, &s, read(1)).await, Reply::Transfer(vec![b(&[0xAB])]));
    assert_eq!(run1(&mut c, &s, read(2)).await, Reply::Transfer(vec![b(&[0xAB, 0xCD])]));
    assert_eq!(run1(&mut c, &s, read(4)).await, Reply::Transfer(vec![b(&[0xAB, 0xCD, 0xEF, 0x01])]));
    assert_eq!(
        run1(&mut c, &s, t(vec![Msg::write(RF, vec![0x20]), Msg::read(RF, 1)])).await,
        Reply::Transfer(vec![b(&[0x42])])
    );
    assert_eq!(run1(&mut c, &s, t(vec![Msg::write(RF, vec![])])).await, Reply::Transfer(vec![]));
    server.stop().await;
}

#[tokio::test]
async fn a_counted_read_is_the_same_on_plain_i2c_and_as_an_smbus_block_read() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = client(&server).await;
    // Bus 1 runs it as I2C_RDWR with I2C_M_RECV_LEN; bus 4, without plain I2C, as
    // read_block_data, which puts the same bits on the wire.
    for bus in [1, 4] {
        let s = open(&mut c, bus).await;
        let block = C::WriteBlockData { reg: 0x30, data: b(&[9, 8, 7, 6]) };
        run1(&mut c, &s, Op::smbus(RF, block)).await;
        let counted = Op::Transfer(vec![Msg::write(RF, vec![0x30]), Msg::read_counted(RF)]);
        assert_eq!(run1(&mut c, &s, counted).await, Reply::Transfer(vec![b(&[4, 9, 8, 7, 6])]), "bus {bus}");
    }
    server.stop().await;
}
