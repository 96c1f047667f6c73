//! The cut-off: ending what is still running when the drain deadline
//! passes (or a second signal says not to wait), and saying what it ended.
//!
//! [`cut_off`] is the moment. It logs one line naming what was abandoned
//! and closes every connection still open (below). What else a service
//! must stop at that moment is its own business: the bookmarks store
//! interrupts its running statement from step 5 on. Blocking threads are
//! the one kind of work nothing can stop: from step 5 on the steps leave
//! them behind when they shut their runtime down (`super::runtime`).
//!
//! ## Closing connections
//!
//! `axum::serve` runs each connection in a task of its own and keeps no handle
//! to it. Graceful shutdown asks those tasks to finish; nothing in axum can
//! make them stop. Dropping the `serve` future does not either: the tasks
//! live on, still holding requests and database handles, until the runtime
//! itself is dropped at the end of `main`.
//!
//! [`CutoffListener`] gives the step that handle. It wraps every accepted
//! connection so that, once its token is cancelled, the next read or write
//! fails. hyper then drops the connection, its request future with it, and
//! `serve` returns as soon as the last connection task has ended.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::warn;

use super::in_flight::{self, InFlight};

// ANCHOR: cut_off
/// Cuts off every connection still open: each fails its next read or write
/// (`connections` is the token given to [`CutoffListener`]). First, one
/// line says what was still in flight, and so abandoned.
pub fn cut_off(connections: &CancellationToken) {
    let abandoned = in_flight::Snapshot::now();
    warn!(
        requests = abandoned.requests,
        blocking = abandoned.blocking,
        queries = abandoned.queries,
        connections = abandoned.connections,
        unanswered = abandoned.unanswered,
        "abandoned"
    );
    connections.cancel();
}
// ANCHOR_END: cut_off

/// A [`TcpListener`] whose connections all close when `cutoff` is cancelled.
pub struct CutoffListener {
    inner: TcpListener,
    cutoff: CancellationToken,
}

impl CutoffListener {
    pub fn new(inner: TcpListener, cutoff: CancellationToken) -> Self {
        CutoffListener { inner, cutoff }
    }

    /// The address bound: with port 0, the port the system chose.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl Listener for CutoffListener {
    type Io = CutoffStream;
    type Addr = SocketAddr;

    // ANCHOR: accept
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop for `TcpListener`, which retries after
        // errors such as running out of file descriptors.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (CutoffStream::new(stream, self.cutoff.clone()), addr)
    }
    // ANCHOR_END: accept

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

// ANCHOR: stream
/// One accepted connection that fails every read and write once cut off.
pub struct CutoffStream {
    inner: TcpStream,
    // Polled on every read and write, so the connection's task is woken the
    // moment the token is cancelled, even while it waits for the client.
    cutoff: Pin<Box<WaitForCancellationFutureOwned>>,
    _open: InFlight,
}
// ANCHOR_END: stream

impl CutoffStream {
    fn new(inner: TcpStream, cutoff: CancellationToken) -> Self {
        CutoffStream {
            inner,
            cutoff: Box::pin(cutoff.cancelled_owned()),
            _open: in_flight::CONNECTIONS.enter(),
        }
    }

    // ANCHOR: check
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.cutoff.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut off at the drain deadline",
            )),
            Poll::Pending => Ok(()),
        }
    }
    // ANCHOR_END: check
}

// ANCHOR: poll_read
impl AsyncRead for CutoffStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}
// ANCHOR_END: poll_read

impl AsyncWrite for CutoffStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check(cx)?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
