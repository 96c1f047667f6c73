//! Graceful shutdown for axum, whole in one file: a signal starts the drain; a
//! deadline counted from it, or a second signal, cuts off what is left; nothing
//! in flight, blocking threads included, holds the exit. Try it:
//! ```not_rust
//! SHUTDOWN_TIMEOUT=3s cargo run --example graceful_shutdown
//! curl -i 'localhost:8080/slow?ms=1000' &   # 200 `done` after the kill: exit 0
//! pkill -TERM -f examples/graceful_shutdown # ?ms=60000: cut off 3 s later, exit 1
//! ```

use std::{collections::HashMap, net::SocketAddr, pin::Pin, process::ExitCode, sync::LazyLock};
use std::{io, io::IsTerminal, task::Context, task::Poll, time::Duration};

use axum::{Router, extract::Query, extract::Request, http::StatusCode, middleware};
use axum::{middleware::Next, routing::get, serve::Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::{net::TcpListener, net::TcpStream, runtime::Builder, time::sleep, time::timeout};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::{TaskTracker, task_tracker::TaskTrackerToken};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Our own runtime, not `#[tokio::main]`: dropping a runtime waits for every
    // blocking thread, which nothing can stop; `shutdown_timeout` leaves them.
    let runtime = Builder::new_multi_thread().enable_all().build();
    let status = runtime.map_err(|e| e.to_string()).and_then(|runtime| {
        let status = runtime.block_on(run());
        runtime.shutdown_timeout(Duration::from_millis(10));
        status
    });
    // 2: it never served. 1: a drain cut short, told apart from a clean one.
    let Ok(drained) = status.inspect_err(|err| eprintln!("error: {err}")) else {
        return ExitCode::from(2);
    };
    info!("server stopped");
    ExitCode::from(if drained { 0 } else { 1 })
}

/// Serves until a signal, then drains: `Ok(true)` if nothing was cut off.
async fn run() -> Result<bool, String> {
    let host: std::net::IpAddr = setting("HOST", "127.0.0.1", |v| v.parse().ok())?;
    let wanted = SocketAddr::new(host, setting("PORT", "8080", |v| v.parse().ok())?);
    let shutdown_timeout = setting("SHUTDOWN_TIMEOUT", "10s", parse_duration)?;
    let filter = setting("RUST_LOG", "info", |v| EnvFilter::try_new(v).ok())?;
    // Colours only for a person at a terminal: log collectors parse text.
    let logs = tracing_subscriber::fmt().with_ansi(io::stdout().is_terminal());
    logs.with_env_filter(filter).init();

    let listener = TcpListener::bind(wanted).await;
    let listener = listener.map_err(|err| format!("cannot listen on {wanted}: {err}"))?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    // Before `server starting`: from that line on, a signal is ours to handle.
    let mut next_signal = catch_signals().map_err(|err| format!("cannot catch signals: {err}"))?;

    let count_request = |request: Request, next: Next| REQUESTS.track_future(next.run(request));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/slow", get(slow))
        .layer(middleware::from_fn(count_request));
    // `drain`: stop accepting, let requests finish. `cutoff`: end every connection.
    let (drain, cutoff) = (CancellationToken::new(), CancellationToken::new());
    let listener = CutoffListener(listener, cutoff.clone());
    info!(%addr, pid = std::process::id(), "server starting");
    let serve = axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(drain.clone().cancelled_owned());
    let mut server = tokio::spawn(serve.into_future());

    let signal = next_signal().await;
    info!(signal, "shutting down");
    drain.cancel();
    // The deadline counts from the signal, not from the start of the process.
    tokio::select! {
        served = &mut server => return Ok(matches!(served, Ok(Ok(())))),
        () = sleep(shutdown_timeout) => warn!("shutdown timed out"),
        signal = next_signal() => warn!(signal, "forced shutdown"),
    };
    let (requests, blocking, connections) = (REQUESTS.len(), BLOCKING.len(), CONNECTIONS.len());
    warn!(requests, blocking, connections, "abandoned");
    cutoff.cancel();
    // A cut connection's task ends at its next poll: a moment is plenty.
    if timeout(Duration::from_millis(50), server).await.is_err() {
        error!("connections left behind");
    }
    Ok(false)
}

/// `name` from the environment, or `default`; a bad value is refused (exit 2).
fn setting<T>(name: &str, default: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, String> {
    let value = std::env::var_os(name).map_or(default.into(), |v| v.to_string_lossy().into_owned());
    parse(value.trim()).ok_or_else(|| format!("invalid {name}={value:?}"))
}

/// `500ms`, `10s`, `1m`, `1h`: what a deadline needs of humantime's syntax.
fn parse_duration(text: &str) -> Option<Duration> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let unit = ["ms", "s", "m", "h"].iter().position(|u| *u == unit)?;
    let ms_per_unit = [1, 1000, 60_000, 3_600_000][unit];
    let ms = number.parse::<u64>().ok()?.checked_mul(ms_per_unit)?;
    Some(Duration::from_millis(ms))
}

/// Catches SIGINT (Ctrl+C) and SIGTERM (`kill`, Docker, Kubernetes, systemd), or on Windows
/// Ctrl+C alone, from now on; each call of what it returns waits for the next and names it.
#[cfg(unix)]
fn catch_signals() -> io::Result<impl AsyncFnMut() -> &'static str> {
    use tokio::signal::unix::{SignalKind as Kind, signal};
    let (mut interrupt, mut terminate) = (signal(Kind::interrupt())?, signal(Kind::terminate())?);
    Ok(async move || {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

#[cfg(windows)]
fn catch_signals() -> io::Result<impl AsyncFnMut() -> &'static str> {
    let mut ctrl_c = tokio::signal::windows::ctrl_c()?;
    Ok(async move || {
        ctrl_c.recv().await;
        "CTRL_C"
    })
}

// What a cut-off abandons, for its log line, each counted while it lasts.
static REQUESTS: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);
static BLOCKING: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);
static CONNECTIONS: LazyLock<TaskTracker> = LazyLock::new(TaskTracker::new);

/// `GET /slow?ms=N[&mode=async|blocking]`: work in flight to shut down on.
async fn slow(Query(params): Query<HashMap<String, String>>) -> Result<&'static str, StatusCode> {
    let ms = params.get("ms").and_then(|ms| ms.parse().ok());
    let mode = params.get("mode").map_or("async", String::as_str);
    let (Some(ms), "async" | "blocking") = (ms, mode) else {
        return Err(StatusCode::BAD_REQUEST);
    };
    info!(ms, mode = %mode, "slow request started");
    if mode == "async" {
        // Dropping the handler's future, as a cut connection does, ends it.
        tokio::time::sleep(Duration::from_millis(ms)).await;
    } else {
        // No cancellation reaches a blocking thread: it runs to its end.
        let work = BLOCKING.spawn_blocking(move || std::thread::sleep(Duration::from_millis(ms)));
        work.await.map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    }
    Ok("done")
}

/// What `axum::serve` accepts from. axum keeps no handle to its connections:
/// each fails its next read or write once `.1` is cancelled, and hyper drops it.
struct CutoffListener(TcpListener, CancellationToken);

struct CutoffStream {
    io: TcpStream,
    // Polled by every read and write: it wakes even an idle connection.
    cutoff: Pin<Box<WaitForCancellationFutureOwned>>,
    _open: TaskTrackerToken,
}

impl Listener for CutoffListener {
    type Io = CutoffStream;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (CutoffStream, SocketAddr) {
        // axum's own accept, which retries after errors such as EMFILE.
        let (io, addr) = Listener::accept(&mut self.0).await;
        let cutoff = Box::pin(self.1.clone().cancelled_owned());
        let _open = CONNECTIONS.token();
        (CutoffStream { io, cutoff, _open }, addr)
    }
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// The socket, unless the connection is cut off.
fn open<'a>(stream: &'a mut CutoffStream, cx: &mut Context) -> io::Result<Pin<&'a mut TcpStream>> {
    match stream.cutoff.as_mut().poll(cx) {
        Poll::Ready(()) => Err(io::ErrorKind::ConnectionAborted.into()),
        Poll::Pending => Ok(Pin::new(&mut stream.io)),
    }
}

type Polled<T> = Poll<io::Result<T>>;

impl AsyncRead for CutoffStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context, buf: &mut ReadBuf) -> Polled<()> {
        open(self.get_mut(), cx)?.poll_read(cx, buf)
    }
}

impl AsyncWrite for CutoffStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context, buf: &[u8]) -> Polled<usize> {
        open(self.get_mut(), cx)?.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context) -> Polled<()> {
        open(self.get_mut(), cx)?.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context) -> Polled<()> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
