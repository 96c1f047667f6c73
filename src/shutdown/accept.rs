//! An accept loop of our own, for step 8 on: what `axum::serve` does, plus
//! the bounds on slow and silent clients that it cannot set.
//!
//! Why not `axum::serve`, as steps 1 to 7 use:
//!
//! - axum 0.8's `serve` builds hyper's connection builder itself and
//!   installs no timer, and hyper's timeouts do nothing without one (the
//!   `header_read_timeout` docs in hyper's `src/server/conn/http1.rs`:
//!   "Requires a `Timer` ... to take effect"). A client that sends a header
//!   byte now and then keeps its connection, and its task, for as long as
//!   it likes. Its `serve` takes no setting: "intentionally simple", its
//!   docs say, "use hyper or hyper-util if you need configuration".
//! - At the drain, hyper-util's graceful shutdown cancels a connection
//!   accepted but still silent (the auto builder has not yet read enough to
//!   tell HTTP/1 from HTTP/2): a client that has just connected loses the
//!   request it is about to send.
//!
//! axum's main branch installs the timer
//! (<https://github.com/tokio-rs/axum/pull/3478>, after
//! <https://github.com/tokio-rs/axum/issues/2741>), so hyper's header
//! timeout will run under a plain `axum::serve` once a release has it; no
//! 0.8 release does yet, and the silent connection is another matter.
//!
//! So this module runs the loop `axum::serve(..).with_graceful_shutdown(..)`
//! runs, on hyper-util's `auto::Builder` (HTTP/1.1, and HTTP/2 with prior
//! knowledge, on one port; with CONNECT enabled for WebSockets over
//! HTTP/2, as axum's `http2` feature does), with three bounds
//! ([`Timeouts`]):
//!
//! - `HEADER_TIMEOUT`: hyper's own header read timeout, with a timer. It
//!   closes the connection without an answer: hyper has no request yet to
//!   answer 408 to.
//! - `BODY_TIMEOUT`: tower-http's `TimeoutBody` around each request body;
//!   the app answers 408 when it fires (`src/body.rs` in this repository).
//! - `IDLE_TIMEOUT`: closes a connection, HTTP/1 or HTTP/2, that has no
//!   request in progress and has sent nothing for that long. hyper has no
//!   such timeout, and its header timer does not run while the auto
//!   builder waits for the first bytes. A plain read timeout would not do:
//!   a connection whose handler works for a minute has nothing to read all
//!   that time.
//!
//! The drain is axum's: no new connections, and hyper's graceful shutdown
//! for each open one. HTTP/1 finishes the request in progress and closes;
//! HTTP/2 sends GOAWAY and completes the streams in flight. One change: a
//! connection still silent when the drain begins is served its first
//! request (see `serve_connection`). And one count: a connection that
//! closes during the drain with half a request received (its head cut by
//! `HEADER_TIMEOUT`) counts in `in_flight::UNANSWERED`, so that a step can say
//! "abandoned" and exit 1 instead of pretending every request was answered.

use std::{
    convert::Infallible,
    future::{Future, IntoFuture, Pending},
    io,
    pin::{Pin, pin},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, extract::Request, response::Response, serve::Listener};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::Builder,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    time::Instant,
};
use tokio_util::{io::InspectReader, sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;
use tracing::{debug, warn};

use super::in_flight;

// ANCHOR: timeouts
/// How long a client may take over each part of a connection, in normal
/// operation. The drain deadline (`SHUTDOWN_TIMEOUT`) is another matter:
/// it bounds the whole drain, whatever the clients do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A request head (request line and headers) must arrive whole within
    /// it, or the connection is closed without an answer.
    pub header: Duration,
    /// The longest wait for the next piece of a request body.
    pub body: Duration,
    /// A connection with no request in progress that sends nothing for
    /// this long is closed.
    pub idle: Duration,
}
// ANCHOR_END: timeouts

/// Serves `router` on `listener`, as `axum::serve` does, with `timeouts`;
/// await it to run.
pub fn serve_with_timeouts<L: Listener>(
    listener: L,
    router: Router,
    timeouts: Timeouts,
) -> ServeWithTimeouts<L, Pending<()>> {
    ServeWithTimeouts {
        listener,
        router,
        timeouts,
        signal: std::future::pending(),
    }
}

/// A server to await: see [`serve_with_timeouts`].
#[must_use = "a server does nothing until it is awaited"]
pub struct ServeWithTimeouts<L, F> {
    listener: L,
    router: Router,
    timeouts: Timeouts,
    signal: F,
}

impl<L, F> ServeWithTimeouts<L, F> {
    /// Drains once `signal` completes: the listener is closed, each
    /// connection finishes what it is doing, and the server returns when
    /// the last one has closed.
    pub fn with_graceful_shutdown<G>(self, signal: G) -> ServeWithTimeouts<L, G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        ServeWithTimeouts {
            listener: self.listener,
            router: self.router,
            timeouts: self.timeouts,
            signal,
        }
    }
}

impl<L, F> IntoFuture for ServeWithTimeouts<L, F>
where
    L: Listener,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            run(self.listener, self.router, self.timeouts, self.signal).await;
            Ok(())
        })
    }
}

// ANCHOR: run
async fn run<L: Listener>(
    mut listener: L,
    router: Router,
    timeouts: Timeouts,
    signal: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    // The one setting `axum::serve` 0.8 lacks: with a timer, hyper's
    // header timeout runs.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    // What axum's `http2` feature does too: WebSockets over HTTP/2
    // (RFC 8441) need the extended CONNECT method.
    builder.http2().enable_connect_protocol();

    let drain = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut signal = pin!(signal);
    loop {
        let (io, _addr) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut signal => break,
        };
        let connection = serve_connection(builder.clone(), io, &router, timeouts, &drain);
        connections.spawn(connection);
    }
    // From here on new connections are refused; open ones finish.
    drop(listener);
    drain.cancel();
    connections.close();
    connections.wait().await;
}
// ANCHOR_END: run

// ANCHOR: connection
/// Serves one connection until it closes: by the client, by hyper (a
/// header timeout, an error), after `IDLE_TIMEOUT` of silence, or at the
/// drain once it has finished what it was doing.
fn serve_connection<I>(
    builder: Builder<TokioExecutor>,
    io: I,
    router: &Router,
    timeouts: Timeouts,
    drain: &CancellationToken,
) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    // Every byte received counts as a sign of life.
    let io = InspectReader::new(io, {
        let activity = Arc::clone(&activity);
        move |bytes: &[u8]| {
            if !bytes.is_empty() {
                activity.touch();
                if !activity.first_bytes.is_cancelled() {
                    // HTTP/2 frames flow between requests: only an HTTP/1
                    // connection has heads to leave half-sent.
                    activity
                        .http1
                        .store(!bytes.starts_with(b"PRI"), Ordering::Relaxed);
                    activity.first_bytes.cancel();
                }
                activity.bytes_received();
            }
        }
    });
    let service = hyper::service::service_fn({
        let (router, activity) = (router.clone(), Arc::clone(&activity));
        move |request| {
            handle(
                request,
                router.clone(),
                Arc::clone(&activity),
                timeouts.body,
            )
        }
    });
    let drain = drain.clone();
    async move {
        let mut connection =
            pin!(builder.serve_connection_with_upgrades(TokioIo::new(io), service));
        let mut idle = pin!(tokio::time::sleep(timeouts.idle));
        // Asked to close, by the drain or for idleness: once is enough.
        let mut closing = false;
        // The drain has begun, but this connection has sent nothing yet.
        let mut drain_waits_for_bytes = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(err) = &served {
                        debug!(%err, "connection ended with an error");
                    }
                    // Closed with half a head received (the header
                    // timeout): a request its client began, never answered.
                    // During the drain that is abandoned work.
                    if drain.is_cancelled() && activity.has_half_a_head() {
                        warn!("request closed unanswered during the drain");
                        in_flight::UNANSWERED.count();
                    }
                    return;
                }
                // hyper's graceful shutdown cancels a connection still
                // waiting for its first bytes (the auto builder has not yet
                // seen which protocol it speaks). But a client that has just
                // connected is about to send a request it expects answered:
                // wait for its first bytes, then close after that request.
                // The idle timer and the cut-off still bound the wait.
                () = drain.cancelled(), if !closing && !drain_waits_for_bytes => {
                    if activity.first_bytes.is_cancelled() {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    } else {
                        drain_waits_for_bytes = true;
                    }
                }
                () = activity.first_bytes.cancelled(), if drain_waits_for_bytes && !closing => {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
                // Activity does not reset the timer; the timer, when it
                // fires, looks at the activity: a busy connection costs one
                // wake-up per `IDLE_TIMEOUT`.
                () = &mut idle, if !closing => match activity.idle_until(timeouts.idle) {
                    Some(later) => idle.as_mut().reset(later),
                    // The drain's own way out: an idle HTTP/1 connection
                    // closes at once, HTTP/2 gets GOAWAY, and one that has
                    // sent nothing yet is dropped.
                    None => {
                        debug!("closing an idle connection");
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                },
            }
        }
    }
}
// ANCHOR_END: connection

// ANCHOR: handle
/// One request: its body under `BODY_TIMEOUT`, and counted in flight until
/// hyper drops its response body, that is once the response is written or
/// the connection is gone.
async fn handle(
    request: Request<Incoming>,
    router: Router,
    activity: Arc<Activity>,
    body_timeout: Duration,
) -> Result<Response, Infallible> {
    let in_flight = InFlight::new(activity);
    let request = request.map(|body| TimeoutBody::new(body_timeout, body));
    let response = router.oneshot(request).await?;
    Ok(response.map(|body| {
        // The closure owns the guard, so the guard lives as long as the body.
        Body::new(body.map_err(move |err| {
            let _ = &in_flight;
            err
        }))
    }))
}
// ANCHOR_END: handle

// ANCHOR: activity
/// What one connection is doing, as its idle timer needs to know:
/// requests in flight, and when it last showed a sign of life.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Since `opened`: the last byte received, or the last response done.
    last_active_ms: AtomicU64,
    /// Cancelled when the first byte arrives.
    first_bytes: CancellationToken,
    /// Bytes arrived with no request in progress: the start of a head that
    /// hyper has not yet parsed whole.
    half_a_head: AtomicBool,
    /// The connection speaks HTTP/1 (not HTTP/2 with prior knowledge).
    http1: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(0),
            first_bytes: CancellationToken::new(),
            half_a_head: AtomicBool::new(false),
            http1: AtomicBool::new(false),
        }
    }

    fn bytes_received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            self.half_a_head.store(true, Ordering::Relaxed);
        }
    }

    fn has_half_a_head(&self) -> bool {
        self.http1.load(Ordering::Relaxed) && self.half_a_head.load(Ordering::Relaxed)
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_active_ms.store(now, Ordering::Relaxed);
    }

    /// When the connection will have been idle for `limit`, or `None` if it
    /// already has. A request in flight, however long, is not idleness.
    fn idle_until(&self, limit: Duration) -> Option<Instant> {
        // Acquire pairs with the Release in `InFlight::drop`: a request seen
        // finished has its `touch` seen too.
        let until = if self.in_flight.load(Ordering::Acquire) > 0 {
            Instant::now() + limit
        } else {
            let last = Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed));
            self.opened + last + limit
        };
        (until > Instant::now()).then_some(until)
    }
}

/// Counts one request in flight on its connection while it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        // The head is whole: hyper has parsed it into this request.
        activity.half_a_head.store(false, Ordering::Relaxed);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}
// ANCHOR_END: activity
