//! Lesson 3's cut-off: the kit's `bookmarks::shutdown::cutoff`, with the
//! part that cuts a connection off left for you to write. (The kit's file,
//! `src/shutdown/cutoff.rs`, is the answer: try before you open it.)
//!
//! `axum::serve` runs each connection in a task of its own and keeps no
//! handle to it: graceful shutdown asks those tasks to finish, nothing in
//! axum can make them stop. This listener wraps every accepted connection
//! so that, once its token is cancelled, the connection fails; hyper then
//! drops it, its request future with it, and `serve` returns.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use axum::serve::Listener;
use bookmarks::shutdown::in_flight::{self, InFlight};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tracing::warn;

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

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop for `TcpListener`, which retries after
        // errors such as running out of file descriptors.
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        (CutoffStream::new(stream, self.cutoff.clone()), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// One accepted connection that fails every read and write once cut off.
pub struct CutoffStream {
    inner: TcpStream,
    // Polled on every read and write, so the connection's task is woken the
    // moment the token is cancelled, even while it waits for the client.
    cutoff: Pin<Box<WaitForCancellationFutureOwned>>,
    _open: InFlight,
}

impl CutoffStream {
    fn new(inner: TcpStream, cutoff: CancellationToken) -> Self {
        CutoffStream {
            inner,
            cutoff: Box::pin(cutoff.cancelled_owned()),
            _open: in_flight::CONNECTIONS.enter(),
        }
    }

    // YOURS: check
    // TODO: once `cutoff` is cancelled, every read and write must fail
    //  (`io::ErrorKind::ConnectionAborted`), and the task polling it must be
    //  woken at that moment, even if its client sends nothing.
    fn check(&mut self, _cx: &mut Context<'_>) -> io::Result<()> {
        let _cutoff = &mut self.cutoff;
        Ok(())
    }
    // YOURS_END: check
}

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
