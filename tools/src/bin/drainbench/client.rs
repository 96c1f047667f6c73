//! The clients: thousands of connections held from one tokio thread.
//!
//! On a machine of two cores, a client that reads while the server drains
//! takes CPU from the drain it is timing, and reads late whenever it is
//! itself kept waiting. So from the signal until the server has exited the
//! clients do nothing at all; only then does each read what came. Each
//! answer's time is when the kernel received it, not when it was read:
//! `SO_TIMESTAMPNS` stamps each incoming packet, and `recvmsg(2)` hands the
//! stamp over with the data, however late.

use std::{
    io::{self, IoSliceMut},
    net::SocketAddr,
    os::fd::{AsRawFd, RawFd},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use nix::sys::{
    socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt::ReceiveTimestampns},
    time::TimeSpec,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, Interest},
    net::TcpStream,
    runtime::Runtime,
    sync::{Semaphore, mpsc, watch},
    task::JoinHandle,
    time::timeout,
};
use tools::http::{Request, parse_response};

/// Turns the kernel's receive stamps on for good, and returns the socket
/// that keeps them on: keep it until the last run is read.
///
/// Linux stamps incoming packets only while some socket asks for it, and
/// turns the stamping on a moment after the first one does (the static key
/// behind `net_enable_timestamp` in `net/core/dev.c` is switched from a
/// work queue): a connection opened just before its answer could get it
/// unstamped.
pub fn keep_timestamps_on() -> io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    setsockopt(&socket, ReceiveTimestampns, &true)?;
    Ok(socket)
}

/// How many connects (and, idle, first requests) run at once: enough to
/// open 5,000 connections in well under a second, few enough never to
/// overflow a listen backlog of 1,024 (tokio's).
const CONNECTS_AT_ONCE: usize = 128;

/// What one connection saw.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Its answer, with the status: to the `GET /health` of an idle
    /// connection, to the `GET /slow` of one in flight, with the moment
    /// the kernel received it.
    pub answer: Option<(Instant, u16)>,
    /// The server closed it (an end of stream or a reset).
    pub closed: bool,
    pub error: Option<String>,
}

/// Connections being held, their tasks waiting to read. Dropped before
/// [`collect`], the tasks are aborted and their connections closed.
pub struct Held {
    tasks: Vec<JoinHandle<Outcome>>,
    read: watch::Sender<bool>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens `count` connections to `addr` and sends `GET /health` on each;
/// returns once every one has its answer and sits idle, kept alive.
pub fn hold_idle(
    runtime: &Runtime,
    addr: SocketAddr,
    count: usize,
    limit: Duration,
) -> Result<Held, String> {
    let connects = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let (ready, mut readies) = mpsc::unbounded_channel();
    let (read, reading) = watch::channel(false);
    let request = Request::get("/health").encode(&addr.to_string(), true);
    let tasks = (0..count)
        .map(|_| {
            let connects = Arc::clone(&connects);
            let ready = ready.clone();
            let mut reading = reading.clone();
            let request = request.clone();
            runtime.spawn(bounded(limit, async move {
                let mut outcome = Outcome::default();
                let permit = connects.acquire_owned().await;
                let mut stream = match open(addr).await {
                    Ok(stream) => stream,
                    Err(err) => return failed(outcome, &ready, err),
                };
                if let Err(err) = stream.write_all(&request).await {
                    return failed(outcome, &ready, format!("write: {err}"));
                }
                // Answered before the signal: when does not matter.
                match read_answer(&stream).await {
                    Ok((stamp, status)) => {
                        outcome.answer = Some((stamp.unwrap_or_else(Instant::now), status));
                    }
                    Err(err) => return failed(outcome, &ready, err),
                }
                drop(permit);
                let _ = ready.send(Ok(()));
                let _ = reading.wait_for(|read| *read).await;
                outcome.closed = until_closed(&mut stream).await;
                outcome
            }))
        })
        .collect();
    drop(ready);
    let held = Held { tasks, read };
    runtime.block_on(wait_for(&mut readies, count, limit, "answered"))?;
    Ok(held)
}

/// Opens `count` connections to `addr`, then sends `GET /slow?ms=slow_ms`
/// on all of them at once; returns once every request is written.
pub fn hold_in_flight(
    runtime: &Runtime,
    addr: SocketAddr,
    count: usize,
    slow_ms: u64,
    limit: Duration,
) -> Result<Held, String> {
    let connects = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let (connected, mut connecteds) = mpsc::unbounded_channel();
    let (written, mut writtens) = mpsc::unbounded_channel();
    let (go, gone) = watch::channel(false);
    let (read, reading) = watch::channel(false);
    let request = Request::get(format!("/slow?ms={slow_ms}")).encode(&addr.to_string(), true);
    let tasks = (0..count)
        .map(|_| {
            let connects = Arc::clone(&connects);
            let connected = connected.clone();
            let written = written.clone();
            let mut gone = gone.clone();
            let mut reading = reading.clone();
            let request = request.clone();
            runtime.spawn(bounded(limit, async move {
                let outcome = Outcome::default();
                let permit = connects.acquire_owned().await;
                let mut stream = match open(addr).await {
                    Ok(stream) => stream,
                    Err(err) => return failed(outcome, &connected, err),
                };
                drop(permit);
                let _ = connected.send(Ok(()));
                // Every request goes out together, once all are connected,
                // so that all of them are still in flight at the signal.
                if gone.wait_for(|go| *go).await.is_err() {
                    return outcome;
                }
                if let Err(err) = stream.write_all(&request).await {
                    return failed(outcome, &written, format!("write: {err}"));
                }
                let _ = written.send(Ok(()));
                let _ = reading.wait_for(|read| *read).await;
                answer_then_close(stream, outcome).await
            }))
        })
        .collect();
    drop((connected, written));
    let held = Held { tasks, read };
    runtime.block_on(wait_for(&mut connecteds, count, limit, "connected"))?;
    let _ = go.send(true);
    runtime.block_on(wait_for(&mut writtens, count, limit, "written"))?;
    Ok(held)
}

/// Lets every connection read what came, and waits, at most `limit`, for
/// them all to end; a task still running then is aborted and counted as
/// such.
pub fn collect(runtime: &Runtime, mut held: Held, limit: Duration) -> Vec<Outcome> {
    let tasks = std::mem::take(&mut held.tasks);
    let _ = held.read.send(true);
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + limit;
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            let abort = task.abort_handle();
            outcomes.push(match tokio::time::timeout_at(deadline, task).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(err)) => Outcome {
                    error: Some(format!("client task: {err}")),
                    ..Outcome::default()
                },
                Err(_) => {
                    abort.abort();
                    Outcome {
                        error: Some("still running at the limit".to_owned()),
                        ..Outcome::default()
                    }
                }
            });
        }
        outcomes
    })
}

async fn bounded(limit: Duration, work: impl std::future::Future<Output = Outcome>) -> Outcome {
    timeout(limit, work).await.unwrap_or_else(|_| Outcome {
        error: Some(format!("no end within {limit:?}")),
        ..Outcome::default()
    })
}

async fn open(addr: SocketAddr) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|err| format!("connect: {err}"))?;
    stream
        .set_nodelay(true)
        .map_err(|err| format!("TCP_NODELAY: {err}"))?;
    setsockopt(&stream, ReceiveTimestampns, &true)
        .map_err(|err| format!("SO_TIMESTAMPNS: {err}"))?;
    Ok(stream)
}

/// Reads an answer: when the kernel received its last packet, if it was
/// stamping (see [`keep_timestamps_on`]), and its status.
async fn read_answer(stream: &TcpStream) -> Result<(Option<Instant>, u16), String> {
    let mut received = Vec::with_capacity(512);
    let mut chunk = [0_u8; 1024];
    loop {
        let (read, stamp) = stream
            .async_io(Interest::READABLE, || {
                receive(stream.as_raw_fd(), &mut chunk)
            })
            .await
            .map_err(|err| format!("read: {err}"))?;
        if read == 0 {
            return Err("closed without an answer".to_owned());
        }
        received.extend_from_slice(&chunk[..read]);
        match parse_response(&received) {
            Ok(Some(response)) => return Ok((stamp, response.status)),
            Ok(None) => continue,
            Err(failure) => return Err(failure.describe()),
        }
    }
}

/// One recvmsg(2): the bytes read, and the kernel's receive time of the
/// packet they came in.
fn receive(fd: RawFd, buffer: &mut [u8]) -> io::Result<(usize, Option<Instant>)> {
    let mut parts = [IoSliceMut::new(buffer)];
    let mut control = nix::cmsg_space!(TimeSpec);
    let message = recvmsg::<()>(fd, &mut parts, Some(&mut control), MsgFlags::empty())?;
    let stamp = message.cmsgs()?.find_map(|control| match control {
        ControlMessageOwned::ScmTimestampns(stamp) => Some(stamp),
        _ => None,
    });
    Ok((message.bytes, stamp.and_then(to_instant)))
}

/// A `CLOCK_REALTIME` stamp as an [`Instant`], through the offset between
/// the two clocks now: the runs are too short for it to drift.
fn to_instant(stamp: TimeSpec) -> Option<Instant> {
    let stamp = Duration::new(
        u64::try_from(stamp.tv_sec()).ok()?,
        u32::try_from(stamp.tv_nsec()).ok()?,
    );
    let (now, wall) = (Instant::now(), SystemTime::now());
    let ago = wall.duration_since(UNIX_EPOCH).ok()?.checked_sub(stamp)?;
    now.checked_sub(ago)
}

async fn answer_then_close(mut stream: TcpStream, mut outcome: Outcome) -> Outcome {
    let read = read_answer(&stream)
        .await
        .and_then(|(stamp, status)| Ok((stamp.ok_or("the kernel gave no receive time")?, status)));
    match read {
        Ok(answer) => outcome.answer = Some(answer),
        Err(err) => {
            outcome.error = Some(err);
            outcome.closed = true;
            return outcome;
        }
    }
    outcome.closed = until_closed(&mut stream).await;
    outcome
}

/// Reads until the server closes; whatever it sends first (nothing, on an
/// idle connection) is thrown away. Always true: the task's bound ends a
/// connection that stays open.
async fn until_closed(stream: &mut TcpStream) -> bool {
    let mut chunk = [0_u8; 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
}

fn failed(
    mut outcome: Outcome,
    progress: &mpsc::UnboundedSender<Result<(), String>>,
    err: String,
) -> Outcome {
    let _ = progress.send(Err(err.clone()));
    outcome.error = Some(err);
    outcome
}

/// Waits for `count` reports of progress; the first failure, or running
/// out of time, ends the wait with an error.
async fn wait_for(
    reports: &mut mpsc::UnboundedReceiver<Result<(), String>>,
    count: usize,
    limit: Duration,
    what: &str,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + limit;
    for done in 0..count {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(err))) => {
                return Err(format!("{done} of {count} {what}, then: {err}"));
            }
            Ok(None) => return Err(format!("{done} of {count} {what}, then the clients ended")),
            Err(_) => return Err(format!("{done} of {count} {what} within {limit:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer read long after it came carries the time it came.
    #[test]
    fn an_answer_read_late_keeps_the_time_it_arrived() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _stamping = keep_timestamps_on().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = open(addr).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            server
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone")
                .await
                .unwrap();
            let sent = Instant::now();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (at, status) = read_answer(&client).await.unwrap();
            let at = at.expect("a receive time");
            assert_eq!(status, 200);
            let off = if at > sent { at - sent } else { sent - at };
            assert!(
                off < Duration::from_millis(50),
                "stamped {off:?} from the send"
            );
        });
    }
}
