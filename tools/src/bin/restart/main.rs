//! Restart a step again and again under load, and count what a client saw.
//!
//! Run with
//!
//! ```not_rust
//! cargo run --release -p tools --bin restart -- step6 --mode bind
//! cargo run --release -p tools --bin restart -- step7 --mode overlap
//! cargo run --release -p tools --bin restart -- step7 --mode after-exit
//! cargo run --release -p tools --bin restart -- step9 --mode reuseport
//! ```
//!
//! The tool plays the service manager. With `--mode bind` each process
//! binds the port itself, as steps 1 to 6 do: the new one is started once
//! the old one has exited (before that the port is taken). With the other
//! two modes the tool binds the socket once, as systemd's `.socket` unit
//! does, and hands it to every process as fd 3 with `LISTEN_FDS=1` and
//! `LISTEN_PID` (see `Launch::with_listener`): `overlap` starts the new
//! process at the moment the old one is sent SIGTERM, `after-exit` only
//! once the old one has exited, as `systemctl restart` does.
//!
//! `--mode reuseport` is the other recipe often given for restarts without
//! downtime: each process gets a listening socket of its own, bound with
//! `SO_REUSEPORT` to the same port (the tool makes it and hands it over as
//! fd 3, so a step that serves an inherited socket serves it unchanged,
//! and closes its own copy). The new process is started, and has said
//! `server starting`, before the old one is sent SIGTERM: the order most
//! in its favour. The kernel spreads new connections over the two sockets'
//! queues; when the old one closes, what waits in its queue is reset
//! (see the test `queued_connections_die_with_their_reuseport_listener`).
//!
//! Meanwhile clients send requests: half open a new connection for each,
//! half keep one alive (and check it is still open before reusing it);
//! every fourth sends `GET /slow?ms=100`, so some are in flight at each
//! signal, the rest `GET /health`. Each request ends `ok`, `errors`
//! (another status), `refused` (the connect was refused, or a new
//! connection was reset before the server read it; `reset=` in the last
//! line counts those), `broken` (the server
//! took it and never answered) or `unknown` (a reused connection closed
//! just as the request went out: the client cannot tell). `longest_ms` is
//! the longest a `GET /health` took from connect to answer: with a kept
//! socket, the longest wait in its backlog, plus well under a millisecond
//! of work. The last line sums the run up for `scripts/restart-figures.sh`.
//!
//! All traffic goes to 127.0.0.1, and every loop is bounded.

use std::{
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use clap::{Parser, ValueEnum};
use socket2::{Domain, Protocol, Socket, Type};
use tools::{
    build_release,
    harness::{Launch, Server, Signal, describe_status},
    http::{Connection, Failure, Request},
    millis, parse_duration, step_number,
};

/// Restart a step under load, and count what the clients saw.
#[derive(Debug, Parser)]
#[command(name = "restart")]
struct Options {
    /// The step to restart: step6, step7, …
    #[arg(value_parser = step)]
    step: String,
    /// How the restart is done
    #[arg(long, value_enum)]
    mode: Mode,
    /// How many restarts
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    restarts: u32,
    /// Concurrent clients
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    clients: u32,
    /// Load between two restarts
    #[arg(long, value_name = "D", default_value = "500ms", value_parser = bounded_duration)]
    interval: Duration,
    /// SHUTDOWN_DELAY for the step, passed on as typed
    #[arg(long, value_name = "D", default_value = "0s", value_parser = duration_as_typed)]
    shutdown_delay: String,
    /// Run this executable as STEP instead of building it
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Each process binds HOST:PORT; the new one starts after the old exits
    Bind,
    /// One kept socket; the new process starts at the old one's signal
    Overlap,
    /// One kept socket; the new process starts after the old one exited
    AfterExit,
    /// A socket of its own for each process, SO_REUSEPORT on one port; the
    /// new process is serving before the old one is signalled
    Reuseport,
}

fn step(text: &str) -> Result<String, String> {
    step_number(text).map(|_| text.to_owned())
}

fn duration_as_typed(text: &str) -> Result<String, String> {
    bounded_duration(text).map(|_| text.to_owned())
}

/// At most a minute: every wait in this tool has an end.
fn bounded_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration > Duration::from_secs(60) {
        return Err("at most 1m".to_owned());
    }
    Ok(duration)
}

/// How long a process may take to exit after SIGTERM.
const EXIT_LIMIT: Duration = Duration::from_secs(15);
/// How long a client waits for one answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let options = Options::parse();
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("restart: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ok: u64,
    errors: u64,
    refused: u64,
    /// Of the refused: connections the kernel accepted and then reset
    /// before the server read a byte (the rest were refused at connect).
    reset: u64,
    broken: u64,
    unknown: u64,
    longest: Duration,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.refused += other.refused;
        self.reset += other.reset;
        self.broken += other.broken;
        self.unknown += other.unknown;
        self.longest = self.longest.max(other.longest);
    }

    fn sent(&self) -> u64 {
        self.ok + self.errors + self.refused + self.broken + self.unknown
    }
}

fn run(options: &Options) -> Result<(), String> {
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => build_release(&options.step)?,
    };
    let scratch = tempfile::tempdir().map_err(|err| format!("a temporary directory: {err}"))?;
    let database = scratch.path().join("bookmarks.db");
    // The socket a service manager would keep; only the kept modes use it.
    let kept = match options.mode {
        Mode::Overlap | Mode::AfterExit => {
            Some(TcpListener::bind("127.0.0.1:0").map_err(|err| format!("bind: {err}"))?)
        }
        Mode::Bind | Mode::Reuseport => None,
    };
    let start = |port: u16| -> Result<Server, String> {
        let launch = Launch::binary(&options.step, &binary)
            .env("DATABASE_URL", &database)
            .env("SHUTDOWN_TIMEOUT", "5s")
            .env("SHUTDOWN_DELAY", &options.shutdown_delay)
            .env("PORT", port.to_string())
            .env("RUST_LOG", format!("warn,{}=info", options.step));
        match (&kept, options.mode) {
            (Some(listener), _) => launch.with_listener(listener).try_start(),
            (None, Mode::Reuseport) => {
                let own = reuseport_listener(port)
                    .map_err(|err| format!("a SO_REUSEPORT socket on port {port}: {err}"))?;
                // The process has its copy at fd 3 once started; ours is
                // closed here, or it would stay in the group, queueing
                // connections nobody accepts.
                launch.with_listener(&own).try_start()
            }
            (None, _) => launch.try_start(),
        }
    };
    let mut server = start(0)?;
    let addr = server.addr();

    let stop = AtomicBool::new(false);
    let deadline = Instant::now()
        + (options.interval + EXIT_LIMIT + Duration::from_secs(5)) * (options.restarts + 1);
    let mut exits = Vec::new();
    let (counts, ended) = thread::scope(|scope| {
        let clients: Vec<_> = (0..options.clients)
            .map(|index| {
                let stop = &stop;
                scope.spawn(move || client(index, addr, stop, deadline))
            })
            .collect();
        let ended = (|| -> Result<(), String> {
            thread::sleep(options.interval);
            for _ in 0..options.restarts {
                match options.mode {
                    Mode::Reuseport => {
                        let next = start(addr.port())?;
                        server.try_signal(Signal::SIGTERM)?;
                        exits.push(wait_exit(&mut server)?);
                        server = next;
                    }
                    Mode::Overlap => {
                        server.try_signal(Signal::SIGTERM)?;
                        let next = start(addr.port())?;
                        exits.push(wait_exit(&mut server)?);
                        server = next;
                    }
                    Mode::Bind | Mode::AfterExit => {
                        server.try_signal(Signal::SIGTERM)?;
                        exits.push(wait_exit(&mut server)?);
                        server = start(addr.port())?;
                    }
                }
                thread::sleep(options.interval);
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        let mut counts = Counts::default();
        for handle in clients {
            counts.add(handle.join().unwrap_or_default());
        }
        (counts, ended)
    });
    ended?;
    server.try_signal(Signal::SIGTERM)?;
    exits.push(wait_exit(&mut server)?);

    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11}",
        "mode", "sent", "ok", "errors", "refused", "broken", "unknown", "longest ms"
    );
    let mode = options.mode.to_possible_value().expect("a named mode");
    println!(
        "{:<10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>11}",
        mode.get_name(),
        counts.sent(),
        counts.ok,
        counts.errors,
        counts.refused,
        counts.broken,
        counts.unknown,
        millis(counts.longest)
    );
    println!(
        "step={} mode={} restarts={} sent={} ok={} errors={} refused={} broken={} unknown={} longest_ms={} exits={} reset={}",
        options.step,
        mode.get_name(),
        options.restarts,
        counts.sent(),
        counts.ok,
        counts.errors,
        counts.refused,
        counts.broken,
        counts.unknown,
        millis(counts.longest),
        exits.join(","),
        counts.reset
    );
    Ok(())
}

/// A listening socket on 127.0.0.1:`port` (0: a free one) with
/// `SO_REUSEPORT`, so that another such socket can bind the same port.
fn reuseport_listener(port: u16) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    // tokio's backlog, as the steps have when they bind themselves.
    socket.listen(1024)?;
    Ok(socket.into())
}

fn wait_exit(server: &mut Server) -> Result<String, String> {
    match server.wait_exit(EXIT_LIMIT) {
        Some(status) => Ok(describe_status(status)),
        None => {
            server.kill();
            Err(format!(
                "{} did not exit within {EXIT_LIMIT:?}",
                server.name
            ))
        }
    }
}

/// One client, until `stop` (or `deadline`): client `index` keeps its
/// connection alive if odd, and sends slow requests if a multiple of four.
fn client(index: u32, addr: SocketAddr, stop: &AtomicBool, deadline: Instant) -> Counts {
    let keep_alive = index % 2 == 1;
    let slow = index.is_multiple_of(4);
    let request = if slow {
        Request::get("/slow?ms=100")
    } else {
        Request::get("/health")
    };
    let mut counts = Counts::default();
    let mut connection: Option<Connection> = None;
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        if connection
            .as_ref()
            .is_some_and(Connection::closed_by_server)
        {
            connection = None;
        }
        let reused = connection.is_some();
        let started = Instant::now();
        let mut open = match connection.take() {
            Some(open) => open,
            None => match Connection::open(addr, ANSWER_LIMIT) {
                Ok(open) => open,
                Err(Failure::Refused) => {
                    counts.refused += 1;
                    // Nothing listens: try again soon, without spinning.
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(_) => {
                    counts.broken += 1;
                    continue;
                }
            },
        };
        let answer = open
            .write(&request, keep_alive)
            .and_then(|()| open.read_response());
        match answer {
            Ok(response) if (200..300).contains(&response.status) => {
                counts.ok += 1;
                if !slow {
                    counts.longest = counts.longest.max(started.elapsed());
                }
                if keep_alive && response.keep_alive {
                    connection = Some(open);
                }
            }
            Ok(_) => counts.errors += 1,
            // A reused connection the server closed as the request went
            // out: the client cannot know whether it ran.
            Err(Failure::WriteFailed | Failure::NoAnswer { .. }) if reused => counts.unknown += 1,
            // A new connection reset before a byte was read: the server
            // never took it.
            Err(Failure::WriteFailed | Failure::NoAnswer { reset: true }) => {
                counts.refused += 1;
                counts.reset += 1;
            }
            Err(Failure::NoAnswer { reset: false })
                if open.reset_follows(Duration::from_millis(250)) =>
            {
                counts.refused += 1;
                counts.reset += 1;
            }
            Err(_) => counts.broken += 1,
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use std::{
        fs,
        io::{ErrorKind, Read},
        net::TcpStream,
    };

    use super::*;

    /// Linux's `net.ipv4.tcp_migrate_req` (5.14 on): when set, a closing
    /// listener's queue moves to another socket of its group instead.
    fn migrates_queued_connections() -> bool {
        fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req")
            .is_ok_and(|value| value.trim() != "0")
    }

    /// What `--mode reuseport` loses, shown on bare sockets: connections
    /// the kernel has queued on one SO_REUSEPORT listener are reset when
    /// that listener closes unaccepted, although another listener of the
    /// group still serves the port. A kept socket handed from process to
    /// process never closes, and keeps its queue.
    #[test]
    fn queued_connections_die_with_their_reuseport_listener() {
        let old = reuseport_listener(0).unwrap();
        let port = old.local_addr().unwrap().port();
        let new = reuseport_listener(port).unwrap();
        // The handshake completes in the kernel: each connect returns once
        // its connection waits in one of the two queues.
        let clients: Vec<TcpStream> = (0..64)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        drop(old);
        new.set_nonblocking(true).unwrap();
        let mut accepted = Vec::new();
        while let Ok((stream, _)) = new.accept() {
            accepted.push(stream);
        }
        // On loopback the resets are sent as the listener closes; a moment
        // more for them to be taken in.
        thread::sleep(Duration::from_millis(50));
        let mut reset = 0;
        for mut client in clients {
            client.set_nonblocking(true).unwrap();
            match client.read(&mut [0_u8; 1]) {
                Err(err) if err.kind() == ErrorKind::ConnectionReset => reset += 1,
                // Accepted by the new listener: open, nothing to read.
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        if migrates_queued_connections() {
            assert_eq!((reset, accepted.len()), (0, 64), "tcp_migrate_req is on");
        } else {
            // The kernel's hash puts about half in each queue: the chance
            // that all 64 went to the new one is 2^-64.
            assert!(
                reset > 0 && !accepted.is_empty(),
                "reset {reset}, accepted {}",
                accepted.len()
            );
            assert_eq!(reset + accepted.len(), 64);
        }
    }
}
