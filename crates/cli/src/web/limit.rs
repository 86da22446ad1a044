//! How much a peer of the page's process can make it hold. Only so many connections are
//! accepted at once (the rest wait in the kernel's queue), and a connection that neither
//! sends nor reads for [`STALL`] is closed: a peer that asks for the feed and stops reading
//! holds one slot and one response (at most [`super::feed::MAX_READ_BYTES`]) for that long, and
//! no more. What a response may hold is bounded where it is made (`feed.rs`, the downloads).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// Connections served at once: a browser opens six to a host.
pub const CONNECTIONS: usize = 32;
/// How long a connection may wait on its peer, either way, before it is closed.
pub const STALL: Duration = Duration::from_secs(30);

/// A listener that accepts at most [`CONNECTIONS`] connections at a time.
pub struct Limited {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl Limited {
    pub fn new(listener: TcpListener) -> Limited {
        Limited { listener, slots: Arc::new(Semaphore::new(CONNECTIONS)) }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Held;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Held, Self::Addr) {
        let slot = self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let stall = Box::pin(tokio::time::sleep(STALL));
                    return (Held { stream, _slot: slot, stall, waiting: false }, addr);
                }
                // Out of file descriptors, or a connection reset before it was accepted: the
                // next one may do.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// An accepted connection: its slot, given back when it closes, and the clock of its wait on
/// the peer.
pub struct Held {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    stall: Pin<Box<Sleep>>,
    /// Whether the connection is waiting on its peer (the stall clock runs).
    waiting: bool,
}

impl Held {
    /// Runs the stall clock while `poll` is pending, and stops it when it is not.
    fn watch<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.waiting = false;
            return poll;
        }
        if !self.waiting {
            self.waiting = true;
            self.stall.as_mut().reset(Instant::now() + STALL);
        }
        ready!(self.stall.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the peer stalled")))
    }
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.watch(cx, poll)
    }
}

impl AsyncWrite for Held {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
