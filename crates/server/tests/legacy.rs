//! The original Python smbus-proxy's interface, `SmbusRcp`, through a real server over a real
//! socket: the old client's whole flow on the same sessions, locks and validation.

mod common;

use common::*;
use smbus_proxy_wire::legacy::{self as rcp, smbus_rcp_client::SmbusRcpClient};
use smbus_proxy_wire::pb;
use std::time::Duration;
use tonic::Request;
use tonic::transport::Channel;

async fn legacy(server: &Here) -> SmbusRcpClient<Channel> {
    SmbusRcpClient::connect(server.url()).await.unwrap()
}

async fn open(c: &mut SmbusRcpClient<Channel>, bus: i32) -> (rcp::OperationStatus, Option<String>) {
    let response = c.open(rcp::OpenRequest { i2c_bus: bus }).await.unwrap();
    let id = response.metadata().get("client_id").map(|v| v.to_str().unwrap().to_owned());
    (response.into_inner(), id)
}

fn with_id<T>(id: &str, message: T) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut().insert("client_id", id.parse().unwrap());
    req
}

#[tokio::test]
async fn the_old_clients_whole_flow() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = legacy(&server).await;
    let (status, id) = open(&mut c, 1).await;
    assert_eq!(status.code, 0, "{}", status.exception);
    let id = id.expect("client_id");
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    let w = c.write_byte_data(with_id(
        &id,
        rcp::WriteByteDataRequest { i2c_addr: 0x48, register: 1, value: 0xA5 },
    ));
    assert_eq!(w.await.unwrap().into_inner().code, 0);
    let r = c
        .read_byte_data(with_id(&id, rcp::ReadByteDataRequest { i2c_addr: 0x48, register: 1 }))
        .await
        .unwrap();
    assert_eq!((r.get_ref().status.as_ref().unwrap().code, r.get_ref().data), (0, 0xA5));

    let w = c.write_word_data(with_id(
        &id,
        rcp::WriteWordDataRequest { i2c_addr: 0x48, register: 2, value: 0xBEEF },
    ));
    assert_eq!(w.await.unwrap().into_inner().code, 0);
    let r = c
        .read_word_data(with_id(&id, rcp::ReadWordDataRequest { i2c_addr: 0x48, register: 2 }))
        .await
        .unwrap();
    assert_eq!(r.get_ref().data, 0xBEEF);

    let w = c.write_byte(with_id(&id, rcp::WriteByteRequest { i2c_addr: 0x48, value: 2 }));
    assert_eq!(w.await.unwrap().into_inner().code, 0);
    let r = c.read_byte(with_id(&id, rcp::ReadByteRequest { i2c_addr: 0x48 })).await.unwrap().into_inner();
    assert_eq!(r.data, 0xEF);

    let data = vec![1, 2, 3, 4];
    let w = rcp::WriteI2cBlockDataRequest { i2c_addr: 0x50, register: 0x10, data: data.clone().into() };
    assert_eq!(c.write_i2c_block_data(with_id(&id, w)).await.unwrap().into_inner().code, 0);
    let r = rcp::ReadI2cBlockDataRequest { i2c_addr: 0x50, register: 0x10, length: 4 };
    let r = c.read_i2c_block_data(with_id(&id, r)).await.unwrap().into_inner();
    assert_eq!((r.data.to_vec(), r.length), (data, 4));
    // The old client never sends a length: a whole 32-byte block.
    let r = rcp::ReadI2cBlockDataRequest { i2c_addr: 0x10, register: 0x0A, length: 0 };
    let r = c.read_i2c_block_data(with_id(&id, r)).await.unwrap().into_inner();
    assert_eq!(r.length, 32);
    assert_eq!(&r.data[12..16], &[0x12, 0x42, 0x12, 0x00], "the Si4703's registers 0x00 and 0x01");

    assert_eq!(
        c.ping(with_id(&id, rcp::KeepAlive { info: "alive".into() })).await.unwrap().into_inner().code,
        0
    );
    assert_eq!(c.close(with_id(&id, rcp::CloseRequest {})).await.unwrap().into_inner().code, 0);
    let r = c.read_byte(with_id(&id, rcp::ReadByteRequest { i2c_addr: 0x48 })).await.unwrap().into_inner();
    let status = r.status.unwrap();
    assert_eq!(status.code, 1);
    assert!(status.exception.contains("unknown or expired"), "{}", status.exception);
    server.stop().await;
}

#[tokio::test]
async fn errors_are_answers_with_code_1_and_a_clear_exception() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = legacy(&server).await;
    let (_, id) = open(&mut c, 1).await;
    let id = id.unwrap();
    let exception = |s: Option<rcp::OperationStatus>| {
        let s = s.unwrap();
        assert_eq!(s.code, 1);
        s.exception
    };

    let r = c.read_byte_data(with_id(&id, rcp::ReadByteDataRequest { i2c_addr: 0x33, register: 0 })).await;
    assert_eq!(
        exception(r.unwrap().into_inner().status),
        "[Errno 6] no device acknowledged the address (ENXIO)"
    );
    let r = c.read_byte_data(with_id(&id, rcp::ReadByteDataRequest { i2c_addr: 0x48, register: 256 })).await;
    assert_eq!(exception(r.unwrap().into_inner().status), "register: 0x100 is out of range 0x00–0xFF");
    let r = c.read_byte(with_id(&id, rcp::ReadByteRequest { i2c_addr: 0x80 })).await;
    assert_eq!(
        exception(r.unwrap().into_inner().status),
        "i2c_addr: 0x80 is out of range for a 7-bit address 0x00–0x7f"
    );
    let r = c.read_byte(with_id(&id, rcp::ReadByteRequest { i2c_addr: -1 })).await;
    assert_eq!(exception(r.unwrap().into_inner().status), "i2c_addr: -1 is negative");
    let r = rcp::ReadI2cBlockDataRequest { i2c_addr: 0x48, register: 0, length: 33 };
    let r = c.read_i2c_block_data(with_id(&id, r)).await;
    assert_eq!(exception(r.unwrap().into_inner().status), "length: 33 bytes is out of range 1–32");
    let w = rcp::WriteByteDataRequest { i2c_addr: 0x48, register: 0, value: 300 };
    assert_eq!(
        exception(Some(c.write_byte_data(with_id(&id, w)).await.unwrap().into_inner())),
        "value: 0x12c is out of range 0x00–0xFF"
    );

    // No client_id, or a bad one.
    let r = c.read_byte(rcp::ReadByteRequest { i2c_addr: 0x48 }).await;
    assert!(exception(r.unwrap().into_inner().status).starts_with("no client_id"));
    let r = c.ping(with_id("nonsense", rcp::KeepAlive::default())).await.unwrap().into_inner();
    assert_eq!(exception(Some(r)), "session: \"nonsense\" is not a session id (32 hex digits)");

    // An unknown bus.
    let (status, id) = open(&mut c, 9).await;
    assert_eq!((status.code, id), (1, None));
    assert_eq!(status.exception, "bus: 9 does not exist; this server exposes bus 1, 2, 3, 4");
    server.stop().await;
}

#[tokio::test]
async fn sessions_expire_and_share_locks_with_smbus_v1() {
    let lease = Duration::from_millis(300);
    let server = lab_here(lease).await;
    let mut c = legacy(&server).await;
    let (_, id) = open(&mut c, 1).await;
    let id = id.unwrap();

    // Pings keep it alive across three leases.
    for _ in 0..9 {
        tokio::time::sleep(lease / 3).await;
        assert_eq!(c.ping(with_id(&id, rcp::KeepAlive::default())).await.unwrap().into_inner().code, 0);
    }

    // A modern client's exclusive lock keeps the old one out too.
    let mut modern = client(&server).await;
    let s = common::open(&mut modern, 1).await;
    modern.lock(pb::LockRequest { session: s.clone(), wait_ms: 0 }).await.unwrap();
    let r = c.read_byte(with_id(&id, rcp::ReadByteRequest { i2c_addr: 0x48 })).await.unwrap().into_inner();
    let status = r.status.unwrap();
    assert_eq!(status.code, 1);
    assert!(status.exception.starts_with("bus 1 is locked by another session"), "{}", status.exception);
    modern.unlock(pb::UnlockRequest { session: s }).await.unwrap();

    // Silence for longer than the lease: gone.
    tokio::time::sleep(lease * 2).await;
    let r = c.ping(with_id(&id, rcp::KeepAlive::default())).await.unwrap().into_inner();
    assert_eq!(r.code, 1);
    assert!(r.exception.contains("unknown or expired"), "{}", r.exception);
    server.stop().await;
}

/// Every argument of every call of the old interface, at random and at the edges of `int32`:
/// each call is answered (code 0, or 1 with an exception that names the problem in a bounded
/// message), never with a gRPC error, and the server keeps serving.
#[tokio::test]
async fn any_argument_gets_an_answer() {
    let server = lab_here(Duration::from_secs(5)).await;
    let mut c = legacy(&server).await;
    let (_, id) = open(&mut c, 1).await;
    let id = id.unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut int = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // Half the time an edge: 0, ±1, the byte, word and int32 limits.
        match r % 2 {
            0 => [0, 1, -1, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000, i32::MAX, i32::MIN]
                [(r >> 8) as usize % 11],
            _ => (r >> 16) as i32,
        }
    };
    let answered = |status: Option<rcp::OperationStatus>| {
        let status = status.expect("a status");
        assert!(matches!(status.code, 0 | 1), "{status:?}");
        assert!(status.exception.len() < 300, "{} bytes", status.exception.len());
    };
    for _ in 0..300 {
        let (a, r, v) = (int(), int(), int());
        let data: Vec<u8> = (0..(v.unsigned_abs() % 40)).map(|i| i as u8).collect();
        answered(Some(
            c.write_byte(with_id(&id, rcp::WriteByteRequest { i2c_addr: a, value: v }))
                .await
                .unwrap()
                .into_inner(),
        ));
        answered(
            c.read_byte(with_id(&id, rcp::ReadByteRequest { i2c_addr: a }))
                .await
                .unwrap()
                .into_inner()
                .status,
        );
        answered(
            c.read_byte_data(with_id(&id, rcp::ReadByteDataRequest { i2c_addr: a, register: r }))
                .await
                .unwrap()
                .into_inner()
                .status,
        );
        answered(Some(
            c.write_byte_data(with_id(&id, rcp::WriteByteDataRequest { i2c_addr: a, register: r, value: v }))
                .await
                .unwrap()
                .into_inner(),
        ));
        answered(
            c.read_word_data(with_id(&id, rcp::ReadWordDataRequest { i2c_addr: a, register: r }))
                .await
                .unwrap()
                .into_inner()
                .status,
        );
        answered(Some(
            c.write_word_data(with_id(&id, rcp::WriteWordDataRequest { i2c_addr: a, register: r, value: v }))
                .await
                .unwrap()
                .into_inner(),
        ));
        answered(
            c.read_i2c_block_data(with_id(
                &id,
                rcp::ReadI2cBlockDataRequest { i2c_addr: a, register: r, length: v },
            ))
            .await
            .unwrap()
            .into_inner()
            .status,
        );
        answered(Some(
            c.write_i2c_block_data(with_id(
                &id,
                rcp::WriteI2cBlockDataRequest { i2c_addr: a, register: r, data: data.into() },
            ))
            .await
            .unwrap()
            .into_inner(),
        ));
        answered(Some(c.open(rcp::OpenRequest { i2c_bus: a }).await.unwrap().into_inner()));
    }
    // Still serving, the session as it was.
    let r = c.read_byte_data(with_id(&id, rcp::ReadByteDataRequest { i2c_addr: 0x48, register: 1 })).await;
    assert_eq!(r.unwrap().into_inner().status.unwrap().code, 0);
    server.stop().await;
}
