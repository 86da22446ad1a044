//! Raw HTTP/2, spoken by hand so that it can break the rules a real client keeps (the server's
//! limit on concurrent streams): for the hostile-peer tests and the bench that measures them.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
pub const REFUSED_STREAM: u32 = 0x7;

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A gRPC request's headers, HPACK-encoded with the static table and literals only.
fn request_headers(path: &str) -> Vec<u8> {
    let mut h = vec![0x83, 0x86]; // :method POST, :scheme http
    let literal = |h: &mut Vec<u8>, value: &str| {
        h.push(value.len() as u8);
        h.extend_from_slice(value.as_bytes());
    };
    h.push(0x04); // :path, literal without indexing
    literal(&mut h, path);
    h.push(0x01); // :authority
    literal(&mut h, "localhost");
    h.extend_from_slice(&[0x0F, 0x10]); // content-type (static index 31)
    literal(&mut h, "application/grpc");
    h.push(0x00); // a new name: te
    literal(&mut h, "te");
    literal(&mut h, "trailers");
    h
}

/// What the server answered on one connection.
#[derive(Debug, Default)]
pub struct Answers {
    pub headers: AtomicU64,
    pub refused: AtomicU64,
    pub other_resets: AtomicU64,
    pub goaway: AtomicBool,
    pub closed: AtomicBool,
}

/// Opens `streams` streams to `path` on one connection, each with its headers and nothing
/// more, as fast as the socket takes them; returns what the server answered.
pub async fn flood(server: SocketAddr, path: &str, streams: u32) -> Arc<Answers> {
    let stream = TcpStream::connect(server).await.unwrap();
    let (mut rx, tx) = stream.into_split();
    let tx = Arc::new(tokio::sync::Mutex::new(tx));
    let answers = Arc::new(Answers::default());
    {
        let mut tx = tx.lock().await;
        tx.write_all(PREFACE).await.unwrap();
        tx.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    }
    let reader = tokio::spawn({
        let (tx, answers) = (tx.clone(), answers.clone());
        async move {
            let mut header = [0u8; 9];
            while rx.read_exact(&mut header).await.is_ok() {
                let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
                let mut payload = vec![0; len];
                if rx.read_exact(&mut payload).await.is_err() {
                    break;
                }
                match header[3] {
                    SETTINGS if header[4] & 1 == 0 => {
                        let _ = tx.lock().await.write_all(&frame(SETTINGS, 1, 0, &[])).await;
                    }
                    HEADERS => {
                        answers.headers.fetch_add(1, Ordering::Relaxed);
                    }
                    RST_STREAM if u32::from_be_bytes(payload[..4].try_into().unwrap()) == REFUSED_STREAM => {
                        answers.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    RST_STREAM => {
                        answers.other_resets.fetch_add(1, Ordering::Relaxed);
                    }
                    GOAWAY => answers.goaway.store(true, Ordering::Relaxed),
                    _ => {}
                }
            }
            answers.closed.store(true, Ordering::Relaxed);
        }
    });
    let headers = request_headers(path);
    let mut batch = Vec::new();
    for i in 0..streams {
        // END_HEADERS, and no END_STREAM: the request body never comes.
        batch.extend_from_slice(&frame(HEADERS, 0x4, 2 * i + 1, &headers));
        if batch.len() > 32 << 10 || i + 1 == streams {
            if tx.lock().await.write_all(&batch).await.is_err() {
                break; // the server closed the connection
            }
            batch.clear();
        }
    }
    // Let the answers arrive, but no longer than a second after the last request.
    let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
    answers
}
