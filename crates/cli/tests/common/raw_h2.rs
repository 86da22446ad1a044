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
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const WINDOW_UPDATE: u8 = 0x8;
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
pub fn request_headers(path: &str) -> Vec<u8> {
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

/// One HTTP/2 connection for gRPC calls, spoken frame by frame: it grants the server no
/// window beyond HTTP/2's initial 65,535 bytes, and reads only when told to.
pub struct Grpc {
    stream: TcpStream,
}

impl Grpc {
    pub async fn connect(server: SocketAddr) -> Grpc {
        Self::connect_from([127, 0, 0, 1], server).await
    }

    /// Connects from a chosen loopback address (all of 127.0.0.0/8 is loopback on Linux): a
    /// client host of its own.
    pub async fn connect_from(source: [u8; 4], server: SocketAddr) -> Grpc {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((source, 0))).unwrap();
        let mut stream = socket.connect(server).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        Grpc { stream }
    }

    /// Grants the server the largest window HTTP/2 allows, on the connection and on every
    /// stream: it may send as much as it likes, whether or not this side reads.
    pub async fn grant_all(&mut self) {
        const MAX: u32 = 0x7FFF_FFFF;
        let initial_window = [&[0x00, 0x04][..], &MAX.to_be_bytes()].concat();
        self.stream.write_all(&frame(SETTINGS, 0, 0, &initial_window)).await.unwrap();
        self.stream.write_all(&frame(WINDOW_UPDATE, 0, 0, &(MAX - 65_535).to_be_bytes())).await.unwrap();
    }

    /// Starts a call to `path` on stream `id` (odd, and higher than the last).
    pub async fn start(&mut self, id: u32, path: &str) {
        self.stream.write_all(&frame(HEADERS, 0x4, id, &request_headers(path))).await.unwrap();
    }

    /// Sends one gRPC message on stream `id`, ending the request if `end`.
    pub async fn send(&mut self, id: u32, message: &impl prost::Message, end: bool) {
        self.stream.write_all(&Self::message(id, message, end)).await.unwrap();
    }

    /// The first `sent` bytes of a gRPC message whose prefix says it is `declared` bytes long,
    /// as DATA frames on stream `id`: a message that never ends.
    pub fn partial(id: u32, declared: u32, sent: usize) -> Vec<u8> {
        let mut payload = vec![0];
        payload.extend_from_slice(&declared.to_be_bytes());
        payload.resize(5 + sent, 0);
        payload.chunks(16_384).flat_map(|chunk| frame(DATA, 0, id, chunk)).collect()
    }

    /// One gRPC message as a DATA frame.
    pub fn message(id: u32, message: &impl prost::Message, end: bool) -> Vec<u8> {
        let body = message.encode_to_vec();
        let mut payload = vec![0];
        payload.extend_from_slice(&(body.len() as u32).to_be_bytes());
        payload.extend_from_slice(&body);
        frame(DATA, if end { 0x1 } else { 0 }, id, &payload)
    }

    /// Writes raw bytes (frames made with [`Grpc::message`]).
    pub async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads frames, acknowledging the server's SETTINGS, until stream `id` has sent one whole
    /// gRPC message, and decodes it.
    pub async fn receive<M: prost::Message + Default>(&mut self, id: u32) -> M {
        let mut body = Vec::new();
        let mut header = [0u8; 9];
        loop {
            self.stream.read_exact(&mut header).await.unwrap();
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let mut payload = vec![0; len];
            self.stream.read_exact(&mut payload).await.unwrap();
            let stream = u32::from_be_bytes(header[5..9].try_into().unwrap()) & 0x7FFF_FFFF;
            match header[3] {
                SETTINGS if header[4] & 1 == 0 => {
                    self.stream.write_all(&frame(SETTINGS, 1, 0, &[])).await.unwrap();
                }
                DATA if stream == id => {
                    body.extend_from_slice(&payload);
                    if body.len() >= 5 {
                        let n = u32::from_be_bytes(body[1..5].try_into().unwrap()) as usize;
                        if body.len() >= 5 + n {
                            return M::decode(&body[5..5 + n]).unwrap();
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
