//! Broken, slow and hostile clients, on the real binary: each gets its
//! answer or a bounded close, and the server keeps serving everyone else.
//!
//! - `bad_requests`: an oversized body gets its 413 however the client
//!   sends it, and other bad input its status;
//! - `sweep`: slow headers, a trickling body, hundreds of silent
//!   connections, half-closed and slow-reading clients, with timeouts of a
//!   few hundred milliseconds set through the environment;
//! - `http2`: an HTTP/2 stream in flight at the signal completes, and the
//!   client is told to go away.
//!
//! `scripts/slow-clients.sh` measures the same with the default timeouts.

#![cfg(unix)]

use std::{
    collections::BTreeMap,
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use bookmarks::{body::DISCARD_LIMIT, routes::BODY_LIMIT};
use libtest2_mimic::Trial;
use tools::harness::{Launch, Server, Signal};

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    let mut all = trials![
        header_timeout_ends_a_half_request_during_the_drain,
        half_request_on_a_reused_connection_does_not_hold_the_drain,
        a_connection_that_sends_nothing_holds_the_drain_until_idle_timeout,
    ];
    all.extend(bad_requests::trials());
    all.extend(sweep::trials());
    all.extend(http2::trials());
    all
}

/// The step these tests run: step 8, the first with the timeouts on slow
/// clients (its own accept loop); the routes and bodies are every step's.
const STEP: &str = "step8";

/// Step `bin` on the harness, with `env` on top and the library's debug
/// lines (what it stopped reading, what it refused) in the log.
#[track_caller]
fn start(bin: &str, env: &[(&str, &str)]) -> Server {
    with_env(Launch::new(bin), env).start()
}

/// The same for the executable at `path` (the measurements' release build).
#[track_caller]
fn start_binary(path: &Path, env: &[(&str, &str)]) -> Server {
    with_env(Launch::binary(STEP, path), env).start()
}

fn with_env(launch: Launch, env: &[(&str, &str)]) -> Launch {
    let launch = launch.env("RUST_LOG", "info,bookmarks=debug");
    env.iter()
        .fold(launch, |launch, (key, value)| launch.env(key, value))
}

/// The resident memory of the process, in KiB, from /proc.
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("/proc/PID/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

// Raw HTTP/1.1 over a socket, for what a polite client would not send.

/// What a raw client saw: the bytes before the connection ended, how long
/// it stayed open, and how it ended (`None`: the server closed it cleanly).
struct Seen {
    bytes: Vec<u8>,
    after: Duration,
    ended_by: Option<io::ErrorKind>,
}

impl Seen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn status(&self) -> Option<u16> {
        let line = self.text();
        let code = line.strip_prefix("HTTP/1.1 ")?.get(..3)?.to_owned();
        code.parse().ok()
    }
}

/// Reads until the server closes the connection, or `limit` passes.
fn read_until_closed(stream: &mut TcpStream, started: Instant, limit: Duration) -> Seen {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0; 64 * 1024];
    let ended_by = loop {
        match stream.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(err) => break Some(err.kind()),
        }
    };
    Seen {
        bytes,
        after: started.elapsed(),
        ended_by,
    }
}

/// Sends `request` on a fresh connection and reads the whole answer.
fn exchange(addr: SocketAddr, request: &[u8]) -> Seen {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request).expect("send the request");
    read_until_closed(&mut stream, started, Duration::from_secs(10))
}

fn post(addr: SocketAddr, body: &[u8]) -> Seen {
    let mut request = format!(
        "POST /bookmarks HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(addr, &request)
}

fn health(addr: SocketAddr) -> Option<u16> {
    exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .status()
}

/// Asserts a JSON `{"error": …}` answer with `status`.
#[track_caller]
fn assert_json_error(seen: &Seen, status: u16) {
    assert_eq!(seen.status(), Some(status), "{}", seen.text());
    let text = seen.text();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|err| panic!("a JSON body, got {body:?}: {err}"));
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{json}"
    );
}

/// A bookmark whose title makes the body `size` bytes or a little more.
fn oversized_body(size: usize) -> Vec<u8> {
    serde_json::json!({"url": "https://a.example/", "title": "x".repeat(size)})
        .to_string()
        .into_bytes()
}

/// The tries of one client: how many ended with each status, or with each
/// kind of failure.
#[derive(Debug, Default)]
struct Tally(BTreeMap<String, u32>);

impl Tally {
    fn add(&mut self, outcome: impl Into<String>) {
        *self.0.entry(outcome.into()).or_default() += 1;
    }

    fn got(&self, outcome: &str) -> u32 {
        self.0.get(outcome).copied().unwrap_or(0)
    }
}

/// How the oversized posts are sent.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    ContentLength,
    Chunked,
}

/// `program`, to be run at the lowest CPU priority (nice 19). The
/// oversized posts take seconds of CPU, which the suite's timed checks,
/// running beside them, must not wait for; alone on a machine, it changes
/// nothing.
fn niced(program: &str) -> Command {
    let mut command = Command::new("nice");
    command.args(["-n", "19", program]);
    command
}

/// What a `niced` command printed; `None` if its program is not installed
/// (nice's exit status 127).
fn niced_output(mut command: Command) -> Option<Vec<u8>> {
    let output = command.output().ok()?;
    (output.status.code() != Some(127)).then_some(output.stdout)
}

/// Python's `http.client`, as a script would use it: a fresh connection,
/// the body sent whole, then the answer read. `None` without `python3`.
fn python_posts(addr: SocketAddr, body: &Path, framing: Framing, tries: u32) -> Option<Tally> {
    const SCRIPT: &str = r#"
import http.client, sys
host, port, path, framing, tries = sys.argv[1:]
body = open(path, "rb").read()
for _ in range(int(tries)):
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        headers = {"Content-Type": "application/json"}
        if framing == "chunked":
            pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
            conn.request("POST", "/bookmarks", iter(pieces), headers, encode_chunked=True)
        else:
            conn.request("POST", "/bookmarks", body, headers)
        response = conn.getresponse()
        response.read()
        print(response.status, flush=True)
        conn.close()
    except Exception as err:
        print(type(err).__name__, flush=True)
"#;
    let framing = if framing == Framing::Chunked {
        "chunked"
    } else {
        "length"
    };
    let mut command = niced("python3");
    command
        .args([
            "-c",
            SCRIPT,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .arg(body)
        .args([framing, &tries.to_string()]);
    Some(tally_lines(&niced_output(command)?, tries))
}

/// curl, told not to send `Expect: 100-continue` (which it does for bodies
/// over 1 MB), each try on a fresh connection. `None` without `curl`.
fn curl_posts(addr: SocketAddr, body: &Path, framing: Framing, tries: u32) -> Option<Tally> {
    let config = body.with_file_name(format!("{framing:?}.curlrc"));
    let url = format!("url = \"http://{addr}/bookmarks\"\noutput = \"/dev/null\"\n");
    std::fs::write(&config, url.repeat(tries as usize)).unwrap();
    let mut command = niced("curl");
    command
        .args(["-s", "-w", "%{http_code}\\n", "-H", "Expect:"])
        .args([
            "-H",
            "Connection: close",
            "-H",
            "Content-Type: application/json",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg("-K")
        .arg(&config);
    if framing == Framing::Chunked {
        command.args(["-H", "Transfer-Encoding: chunked"]);
    }
    Some(tally_lines(&niced_output(command)?, tries))
}

/// ureq, the Rust client of these tests: it too sends the body whole.
fn ureq_posts(addr: SocketAddr, body: &[u8], framing: Framing, tries: u32) -> Tally {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut tally = Tally::default();
    for _ in 0..tries {
        let request = agent
            .post(format!("http://{addr}/bookmarks"))
            .header("Content-Type", "application/json")
            .header("Connection", "close");
        let sent = match framing {
            Framing::ContentLength => request.send(body),
            Framing::Chunked => request.send(ureq::SendBody::from_reader(&mut &body[..])),
        };
        match sent {
            Ok(mut response) => {
                let _ = response.body_mut().read_to_vec();
                tally.add(response.status().as_str());
            }
            Err(ureq::Error::Io(err)) => tally.add(format!("{:?}", err.kind())),
            Err(err) => tally.add(err.to_string()),
        }
    }
    tally
}

/// One outcome a line; tries that printed nothing count as `no answer`.
fn tally_lines(stdout: &[u8], tries: u32) -> Tally {
    let mut tally = Tally::default();
    let text = String::from_utf8_lossy(stdout);
    for line in text.lines() {
        tally.add(line.trim());
    }
    for _ in text.lines().count() as u32..tries {
        tally.add("no answer");
    }
    tally
}

/// How many of `tries` oversized posts got their 413, for each client and
/// framing: the figure the book quotes. The three clients post at once, as
/// three users would; the two framings one after the other, or with
/// `framings_at_once` side by side, six clients at once, in half the time.
fn oversized_posts(
    addr: SocketAddr,
    size: usize,
    tries: u32,
    framings_at_once: bool,
) -> Vec<(&'static str, Framing, Option<Tally>)> {
    let dir = tempfile::tempdir().unwrap();
    let body = oversized_body(size);
    let path = dir.path().join("body.json");
    std::fs::write(&path, &body).unwrap();
    let (body, path) = (&body, &path);
    let one_framing = |framing| {
        let (python, curl, ureq) = thread::scope(|s| {
            let python = s.spawn(|| python_posts(addr, path, framing, tries));
            let curl = s.spawn(|| curl_posts(addr, path, framing, tries));
            let ureq = s.spawn(|| ureq_posts(addr, body, framing, tries));
            (
                python.join().unwrap(),
                curl.join().unwrap(),
                ureq.join().unwrap(),
            )
        });
        [
            ("python http.client", framing, python),
            ("curl -H 'Expect:'", framing, curl),
            ("ureq", framing, Some(ureq)),
        ]
    };
    let framings = [Framing::ContentLength, Framing::Chunked];
    if !framings_at_once {
        return framings.into_iter().flat_map(one_framing).collect();
    }
    thread::scope(|s| {
        let posting = framings.map(|framing| s.spawn(move || one_framing(framing)));
        posting
            .into_iter()
            .flat_map(|framing| framing.join().unwrap())
            .collect()
    })
}

mod bad_requests {
    use super::*;

    pub(super) fn trials() -> Vec<Trial> {
        trials![
            oversized_bodies_get_their_413_from_every_client,
            expect_continue_with_an_oversized_length_is_refused_before_the_body,
            bodies_beyond_the_discard_limit_are_not_read,
            bad_requests_get_their_status_and_the_server_stays_healthy,
            #[ignore = "a measurement: scripts/oversized-posts.sh"]
            measure_oversized_posts,
        ]
    }

    // ANCHOR: oversized
    /// A 3 MB body sent whole, without `Expect: 100-continue`: every one of
    /// 100 posts per client and framing gets its 413, and the server reads
    /// each body to its end (3 MB is under `DISCARD_LIMIT`), no further.
    fn oversized_bodies_get_their_413_from_every_client() {
        // Niced, as the clients are (see `niced`).
        let launch = with_env(Launch::new(STEP), &[]).wrapped_in(&["nice", "-n", "19"]);
        let mut server = launch.start();
        let tries = 100;
        for (client, framing, tally) in oversized_posts(server.addr(), 3_000_000, tries, true) {
            // `.ci/run` installs both, and the README lists them: a missing
            // one fails the test rather than pass it unseen.
            let tally = tally.unwrap_or_else(|| panic!("{client} is not installed"));
            println!("{client:20} {framing:?}: {tally:?}");
            assert_eq!(tally.got("413"), tries, "{client} {framing:?}: {tally:?}");
        }
        let reads: Vec<u64> = server
            .logs()
            .iter()
            .filter(|line| line.contains("request body too large"))
            .filter_map(|line| {
                line.split("read=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        // Each body was read to its end, and no further, which is what lets
        // the client read its answer: 3 MB is under `DISCARD_LIMIT`.
        assert_eq!(reads.len(), 6 * tries as usize, "one log line per post");
        let size = oversized_body(3_000_000).len() as u64;
        let other = reads.iter().find(|&&read| read != size);
        assert_eq!(other, None, "a body of {size} bytes read otherwise");

        assert_eq!(health(server.addr()), Some(200));
        assert!(server.stop(Duration::from_secs(5)).success());
    }

    // ANCHOR_END: oversized

    /// A client that asks first is refused before it sends: the 413 comes
    /// instead of `100 Continue`, and the server closes.
    fn expect_continue_with_an_oversized_length_is_refused_before_the_body() {
        let server = start(STEP, &[]);
        let head = |length: usize| {
            format!(
                "POST /bookmarks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                 Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
            )
        };

        let seen = exchange(server.addr(), head(3_000_000).as_bytes());
        assert_json_error(&seen, 413);
        assert!(!seen.text().contains("100 Continue"), "{}", seen.text());
        assert!(seen.text().contains("connection: close"), "{}", seen.text());
        assert_eq!(seen.ended_by, None, "closed cleanly");

        // The same question about a body within the limit gets its
        // `100 Continue`, so the check above could have seen one.
        let body = br#"{"url": "https://a.example/", "title": "small"}"#;
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(head(body.len()).as_bytes()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0; 256];
        let n = stream.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 100 Continue"),
            "{:?}",
            &buf[..n]
        );
        stream.write_all(body).unwrap();
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 201"), "{:?}", &buf[..n]);
    }

    /// Past `DISCARD_LIMIT` the server stops reading: a body declared
    /// bigger is refused unread, one of unknown length is read no further
    /// than the limit (and its sender may see a reset instead of the 413).
    fn bodies_beyond_the_discard_limit_are_not_read() {
        let server = start(STEP, &[]);
        let huge = 4 * DISCARD_LIMIT;

        let head = format!(
            "POST /bookmarks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
             Content-Length: {huge}\r\n\r\n"
        );
        assert_json_error(&exchange(server.addr(), head.as_bytes()), 413);
        server.wait_for_log("request body too large, not read", Duration::from_secs(5));

        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .write_all(
                b"POST /bookmarks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                  Transfer-Encoding: chunked\r\n\r\n",
            )
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
            let mut sent = 0;
            while sent < huge && writer.write_all(chunk.as_bytes()).is_ok() {
                sent += 64 * 1024;
            }
            sent
        });
        let seen = read_until_closed(&mut stream, Instant::now(), Duration::from_secs(10));
        let sent = sender.join().unwrap();
        println!(
            "sent {sent} of {huge} bytes, saw {:?} then {:?}",
            seen.status(),
            seen.ended_by
        );
        assert!(sent < huge, "the server read everything");
        let line = server.wait_for_log("stopped reading", Duration::from_secs(5));
        let read: u64 = line.split("read=").nth(1).unwrap().trim().parse().unwrap();
        // The piece that crosses the limit is read whole: at most hyper's
        // read buffer, a few hundred KiB.
        assert!(read <= DISCARD_LIMIT + 512 * 1024, "{line}");
        assert_eq!(health(server.addr()), Some(200));
    }

    /// Each bad request gets its status, and the server is none the worse.
    fn bad_requests_get_their_status_and_the_server_stays_healthy() {
        let mut server = start(STEP, &[]);
        let addr = server.addr();

        // Oversized headers: hyper refuses a head over its buffer (about
        // 400 KiB) with 431. It has no request to hand to the API yet, so
        // the answer has no JSON body. The head is sent from another thread
        // while this one reads: the 431 comes before the head is through.
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let head = format!(
                "GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
                "x".repeat(600_000)
            );
            let _ = writer.write_all(head.as_bytes());
        });
        let seen = read_until_closed(&mut stream, Instant::now(), Duration::from_secs(5));
        sender.join().unwrap();
        assert_eq!(seen.status(), Some(431), "{}", seen.text());

        // A malformed request line, by hyper too.
        for line in [
            "garbage\r\n\r\n",
            "GET /he alth HTTP/1.1\r\nHost: t\r\n\r\n",
        ] {
            let seen = exchange(addr, line.as_bytes());
            assert_eq!(seen.status(), Some(400), "{line:?}: {}", seen.text());
        }

        // A wrong method: 405, what is allowed, and the API's JSON error.
        let seen = exchange(
            addr,
            b"PUT /bookmarks HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        );
        assert_json_error(&seen, 405);
        assert!(
            seen.text().contains("allow: GET,HEAD,POST"),
            "{}",
            seen.text()
        );

        // Bodies that are not JSON the API can read.
        assert_json_error(
            &post(
                addr,
                b"{\"url\": \"https://a.example/\", \"title\": \"\xff\xfe\"}",
            ),
            400,
        );
        let nested = format!(
            r#"{{"url": "https://a.example/", "title": "t", "extra": {}{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(nested.len() < BODY_LIMIT);
        assert_json_error(&post(addr, nested.as_bytes()), 400);
        let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_json_error(&post(addr, nested.as_bytes()), 400);

        assert_eq!(health(addr), Some(200));
        let created = post(addr, br#"{"url": "https://a.example/", "title": "fine"}"#);
        assert_eq!(created.status(), Some(201), "{}", created.text());
        assert!(server.stop(Duration::from_secs(5)).success());
    }

    /// The figures of the book: how many of 100 oversized posts got their
    /// 413, per client, from the binary at `OVERSIZED_BIN` (by default this
    /// step). `scripts/oversized-posts.sh` runs it before and after.
    fn measure_oversized_posts() {
        let server = match std::env::var_os("OVERSIZED_BIN") {
            Some(path) => start_binary(Path::new(&path), &[]),
            None => start(STEP, &[]),
        };
        let size: usize = std::env::var("OVERSIZED_SIZE").map_or(3_000_000, |s| s.parse().unwrap());
        // One line per client and framing: `client|framing|413s|all outcomes`.
        for (client, framing, tally) in oversized_posts(server.addr(), size, 100, false) {
            match tally {
                Some(tally) => println!("{client}|{framing:?}|{}|{:?}", tally.got("413"), tally.0),
                None => println!("{client}|{framing:?}|-|not installed"),
            }
        }
    }
}

mod sweep {
    use std::{
        os::fd::AsFd,
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
    };

    use super::*;

    pub(super) fn trials() -> Vec<Trial> {
        trials![
            hostile_clients_are_closed_at_their_timeouts_while_others_are_served,
            idle_timeout_ends_silence_not_slow_work,
            #[ignore = "a measurement: scripts/slow-clients.sh"]
            measure_with_default_timeouts,
        ]
    }

    /// Asks for `/health` on a fresh connection every few milliseconds
    /// while the hostile clients do their worst; every answer must be 200.
    struct Prober {
        stop: Arc<AtomicBool>,
        handle: thread::JoinHandle<(u32, Vec<Option<u16>>)>,
    }

    impl Prober {
        fn start(addr: SocketAddr) -> Prober {
            let stop = Arc::new(AtomicBool::new(false));
            let handle = thread::spawn({
                let stop = Arc::clone(&stop);
                move || {
                    let (mut served, mut failed) = (0, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        match health(addr) {
                            Some(200) => served += 1,
                            other => failed.push(other),
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    (served, failed)
                }
            });
            Prober { stop, handle }
        }

        /// How many were served meanwhile.
        #[track_caller]
        fn finish(self) -> u32 {
            self.stop.store(true, Ordering::Relaxed);
            let (served, failed) = self.handle.join().unwrap();
            assert!(failed.is_empty(), "others were not served: {failed:?}");
            assert!(served > 0);
            served
        }
    }

    /// Asserts `took` is `bound` or a little more: timers fire late, never
    /// early, and a loaded machine adds its own delay.
    #[track_caller]
    fn assert_near(took: Duration, bound: Duration, what: &str) {
        assert!(
            took >= bound.saturating_sub(Duration::from_millis(20)),
            "{what}: closed after {took:?}, before {bound:?}"
        );
        assert!(
            took < bound + Duration::from_millis(1500),
            "{what}: closed after {took:?}, long after {bound:?}"
        );
    }

    /// A request line, then one header byte every 50 ms: hyper closes the
    /// connection at `header`, without an answer.
    fn slow_headers(addr: SocketAddr, header: Duration) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nX-Slow: ")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut buf = [0; 1024];
        let ended = loop {
            assert!(started.elapsed() < Duration::from_secs(10), "never closed");
            if stream.write_all(b"x").is_err() {
                break "a failed write";
            }
            match stream.read(&mut buf) {
                Ok(0) => break "end of stream",
                Ok(n) => panic!("an answer: {:?}", String::from_utf8_lossy(&buf[..n])),
                Err(err) if matches!(err.kind(), io::ErrorKind::WouldBlock) => continue,
                Err(_) => break "a reset",
            }
        };
        let took = started.elapsed();
        println!("slow headers: no answer, {ended} after {took:?}");
        assert_near(took, header, "slow headers");
    }

    /// A body that keeps arriving is read to its end, however long it
    /// takes in all: its last ten bytes come one at a time, each well
    /// within `body` of the one before, and the bookmark is created.
    /// `BODY_TIMEOUT` bounds a pause, not an upload.
    fn trickling_body(addr: SocketAddr, body: Duration) {
        let json = br#"{"url": "https://example.com/trickle", "title": "trickled"}"#;
        let (whole, last) = json.split_at(json.len() - 10);
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = format!(
            "POST /bookmarks HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            json.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(whole).unwrap();
        for byte in last {
            thread::sleep(body / 3);
            stream.write_all(&[*byte]).unwrap();
        }
        let seen = read_until_closed(&mut stream, started, Duration::from_secs(10));
        println!("trickling body: {:?} after {:?}", seen.status(), seen.after);
        // Sent over three times `BODY_TIMEOUT`, and created all the same.
        assert_eq!(seen.status(), Some(201), "{}", seen.text());
    }

    /// Ten bytes of a hundred-byte body, then nothing: 408 at `body`.
    fn stalled_body(addr: SocketAddr, body: Duration) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(
                b"POST /bookmarks HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"url\": \"",
            )
            .unwrap();
        let seen = read_until_closed(&mut stream, started, Duration::from_secs(10));
        println!("stalled body: {:?} after {:?}", seen.status(), seen.after);
        assert_json_error(&seen, 408);
        assert!(seen.text().contains("connection: close"), "{}", seen.text());
        assert_near(seen.after, body, "stalled body");
    }

    /// One request on a keep-alive connection, then silence: closed after
    /// `bound`, counted from the answer.
    fn keep_alive_idle(addr: SocketAddr, bound: Duration) {
        let mut stream = TcpStream::connect(addr).unwrap();
        let sent = Instant::now();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = [0; 1024];
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let answered = Instant::now();
        let seen = read_until_closed(&mut stream, answered, Duration::from_secs(10));
        println!("idle keep-alive: closed {:?} after its answer", seen.after);
        assert!(seen.bytes.is_empty() && seen.ended_by.is_none());
        // The server's clock starts when its answer is out: after the
        // request was sent, and before this thread read the answer, which
        // on a busy machine may be a while later. So the time since the
        // request is the lower bound, the time since the answer the upper.
        let since_sent = answered + seen.after - sent;
        assert!(
            since_sent >= bound.saturating_sub(Duration::from_millis(20)),
            "idle keep-alive: closed {since_sent:?} after its request, before {bound:?}"
        );
        assert!(
            seen.after < bound + Duration::from_millis(1500),
            "idle keep-alive: closed {:?} after its answer, long after {bound:?}",
            seen.after
        );
    }

    /// A request, then the client shuts its sending side (a half-close).
    /// hyper takes the end of the stream for a client that left (its
    /// `half_close` setting is off by default) and drops the request: no
    /// answer, and the connection is freed at once.
    fn half_closed(addr: SocketAddr) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /slow?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let seen = read_until_closed(&mut stream, started, Duration::from_secs(10));
        println!(
            "half-closed: {} bytes, closed after {:?}",
            seen.bytes.len(),
            seen.after
        );
        assert!(seen.bytes.is_empty(), "{}", seen.text());
        assert!(seen.after < Duration::from_millis(500), "{:?}", seen.after);
    }

    /// A request, then nothing at all, not even a read: what the server
    /// sees of a peer that vanished without a FIN (a half-open connection).
    /// The answer goes into the socket buffer and the connection, idle
    /// from then on, is closed at `bound`.
    fn vanished_after_request(addr: SocketAddr, bound: Duration) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        thread::sleep(bound + Duration::from_millis(300));
        let seen = read_until_closed(&mut stream, started, Duration::from_secs(5));
        println!(
            "vanished: its answer waited, then closed by {:?}",
            seen.after
        );
        assert_eq!(seen.status(), Some(200));
        assert_eq!(seen.ended_by, None, "the server closed it");
    }

    /// `count` connections that never send a byte: the server's memory
    /// with them open, and each closed at `idle`.
    fn silent_connections(server: &Server, count: usize, idle: Duration) {
        let before = rss_kib(server);
        let started = Instant::now();
        // In batches that fit the listen backlog (128 on Linux by default):
        // a burst beyond it loses handshakes, which clients retry after a
        // second. The listener accepts in order, so once a later request
        // is answered, the batch before it has been accepted.
        let mut streams = Vec::new();
        while streams.len() < count {
            let batch = (count - streams.len()).min(100);
            streams.extend((0..batch).map(|_| TcpStream::connect(server.addr()).expect("connect")));
            assert_eq!(health(server.addr()), Some(200));
        }
        let open = rss_kib(server);
        println!("{count} silent connections: RSS {before} KiB before, {open} KiB with them open");
        assert!(open < before + 64 * 1024, "{open} KiB");
        let mut first = None;
        let deadline = started + idle + Duration::from_secs(5);
        for stream in &mut streams {
            let left = deadline.saturating_duration_since(Instant::now());
            let seen = read_until_closed(stream, started, left.max(Duration::from_millis(1)));
            assert!(seen.bytes.is_empty());
            assert_eq!(seen.ended_by, None, "still open after {:?}", seen.after);
            first.get_or_insert(seen.after);
        }
        let all = started.elapsed();
        println!("{count} silent connections: first closed after {first:?}, all by {all:?}");
        assert_near(first.unwrap(), idle, "the first silent connection");
        assert!(all < idle + Duration::from_secs(2), "all closed by {all:?}");
    }

    /// `/slow` for longer than `idle` on a keep-alive connection: a request
    /// in flight is not idleness, so the answer comes and the connection
    /// stays open for the next request.
    fn slow_handler(server: &Server, idle: Duration) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let ms = (idle * 3).as_millis();
        let mut answer = |request: &str| {
            stream.write_all(request.as_bytes()).unwrap();
            let mut buf = [0; 1024];
            let n = stream.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let slow = answer(&format!("GET /slow?ms={ms} HTTP/1.1\r\nHost: t\r\n\r\n"));
        let took = started.elapsed();
        let next = answer("GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
        println!("slow handler: answered after {took:?}, then the same connection served another");
        assert!(
            slow.starts_with("HTTP/1.1 200") && slow.ends_with("done"),
            "{slow}"
        );
        assert!(!slow.contains("connection: close"), "{slow}");
        assert!(next.starts_with("HTTP/1.1 200"), "{next:?}");
    }

    /// A big answer read 16 KiB at a time, every 10 ms, with a small
    /// receive buffer: it arrives whole, however long past `idle`.
    fn slow_reader(server: &Server, idle: Duration) {
        let started = Instant::now();
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        nix::sys::socket::setsockopt(&stream.as_fd(), nix::sys::socket::sockopt::RcvBuf, &16384)
            .unwrap();
        stream
            .write_all(b"GET /bookmarks HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0; 16 * 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(err) => panic!("slow reader: {err} after {} bytes", answer.len()),
            }
            thread::sleep(Duration::from_millis(10));
        }
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        println!("slow reader: {} bytes in {took:?}", body.len());
        assert!(head.starts_with("HTTP/1.1 200"));
        assert_eq!(body.len(), length, "the whole answer");
        assert!(
            took > idle,
            "read in {took:?}: not slow enough to show anything"
        );
    }

    /// Fills the database with `count` bookmarks of about 15 KB each, so
    /// that `GET /bookmarks` is bigger than the socket buffers.
    fn fill(server: &Server, count: usize) {
        let mut db = rusqlite::Connection::open(&server.db_path).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        let tx = db.transaction().unwrap();
        for i in 0..count {
            tx.execute(
                "INSERT INTO bookmarks (url, title) VALUES (?1, ?2)",
                (format!("https://a.example/{i}"), "x".repeat(15_000)),
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    // ANCHOR: hostile
    /// Short header and body timeouts, a longer idle one: each hostile
    /// client gets its bounded close while others are served.
    fn hostile_clients_are_closed_at_their_timeouts_while_others_are_served() {
        let (header, body, idle) = (
            Duration::from_millis(400),
            Duration::from_millis(300),
            Duration::from_secs(1),
        );
        let mut server = start(
            STEP,
            &[
                ("HEADER_TIMEOUT", "400ms"),
                ("BODY_TIMEOUT", "300ms"),
                ("IDLE_TIMEOUT", "1s"),
            ],
        );
        let addr = server.addr();
        let prober = Prober::start(addr);
        thread::scope(|s| {
            s.spawn(|| slow_headers(addr, header));
            s.spawn(|| stalled_body(addr, body));
            s.spawn(|| trickling_body(addr, body));
            // hyper's header timer starts again once an answer is out, so
            // with `HEADER_TIMEOUT` the shorter, it ends idle keep-alive.
            s.spawn(|| keep_alive_idle(addr, header));
            s.spawn(|| half_closed(addr));
            s.spawn(|| vanished_after_request(addr, header));
            s.spawn(|| silent_connections(&server, 500, idle));
        });
        println!("served meanwhile: {}", prober.finish());
        assert!(server.stop(Duration::from_secs(5)).success());
    }

    // ANCHOR_END: hostile

    /// The idle timeout the shortest: it ends silent and idle keep-alive
    /// connections, but not a head still arriving, a slow handler or a
    /// slow reader.
    fn idle_timeout_ends_silence_not_slow_work() {
        let (header, idle) = (Duration::from_secs(1), Duration::from_millis(300));
        let mut server = start(STEP, &[("HEADER_TIMEOUT", "1s"), ("IDLE_TIMEOUT", "300ms")]);
        fill(&server, 100);
        let addr = server.addr();
        let prober = Prober::start(addr);
        thread::scope(|s| {
            s.spawn(|| keep_alive_idle(addr, idle));
            s.spawn(|| silent_connections(&server, 20, idle));
            s.spawn(|| slow_headers(addr, header));
            s.spawn(|| slow_handler(&server, idle));
            s.spawn(|| slow_reader(&server, idle));
        });
        println!("served meanwhile: {}", prober.finish());
        assert!(server.stop(Duration::from_secs(5)).success());
    }
    /// The sweep with the default timeouts (10 s each) and more silent
    /// connections: `scripts/slow-clients.sh` runs it for the book.
    fn measure_with_default_timeouts() {
        let ten = Duration::from_secs(10);
        let mut server = start(STEP, &[]);
        let addr = server.addr();
        let prober = Prober::start(addr);
        thread::scope(|s| {
            s.spawn(|| slow_headers(addr, ten));
            s.spawn(|| stalled_body(addr, ten));
            s.spawn(|| keep_alive_idle(addr, ten));
            s.spawn(|| silent_connections(&server, 500, ten));
        });
        let second = rss_kib(&server);
        println!("RSS after they closed: {second} KiB");
        thread::scope(|s| {
            s.spawn(|| silent_connections(&server, 5000, ten));
        });
        println!("served meanwhile: {}", prober.finish());
        assert!(server.stop(Duration::from_secs(5)).success());
    }
}

/// The timeouts keep running during the drain: a client that sent half a
/// request line holds it only until `HEADER_TIMEOUT`, shorter here than
/// the deadline. It was never answered, so the stop is not a clean one:
/// exit 1 (the check `half_request_closed_at_header_timeout_is_abandoned`
/// looks at the log lines).
fn header_timeout_ends_a_half_request_during_the_drain() {
    let mut server = start(
        STEP,
        &[("HEADER_TIMEOUT", "300ms"), ("SHUTDOWN_TIMEOUT", "5s")],
    );
    let mut half = TcpStream::connect(server.addr()).unwrap();
    half.write_all(b"GET /hea").unwrap();
    // Accepted in order: once this is answered, the half request is in.
    assert_eq!(health(server.addr()), Some(200));
    let started = Instant::now();
    let status = server.stop(Duration::from_secs(5));
    let took = started.elapsed();
    println!("step 8 with half a request line open: exit {status:?} after {took:?}");
    assert_eq!(status.code(), Some(1), "a request closed unanswered");
    // The drain waited for the half request, and no longer than its timeout.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_millis(1800), "{took:?}");
    let seen = read_until_closed(&mut half, started, Duration::from_secs(1));
    assert!(seen.bytes.is_empty(), "{}", seen.text());
}

/// Half a request on a keep-alive connection that has already served one
/// does not hold the drain: hyper counts the connection idle until it has
/// read a whole request head, and its graceful shutdown closes an idle
/// connection at once. (On a fresh connection the same half request holds
/// the drain until `HEADER_TIMEOUT`: the test above.) Its client began a
/// request that gets no answer: exit 1.
fn half_request_on_a_reused_connection_does_not_hold_the_drain() {
    let mut server = start(
        STEP,
        &[("HEADER_TIMEOUT", "10s"), ("SHUTDOWN_TIMEOUT", "5s")],
    );
    let mut reused = TcpStream::connect(server.addr()).unwrap();
    reused
        .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    reused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut first = Vec::new();
    let mut buf = [0; 1024];
    // `/health` answers `ok`: the whole answer ends with it.
    while !first.ends_with(b"ok") {
        let n = reused.read(&mut buf).expect("the first answer");
        assert!(n > 0, "closed before the first answer");
        first.extend_from_slice(&buf[..n]);
    }
    reused.write_all(b"GET /hea").unwrap();
    // Most likely read by now; if hyper has not read it, the connection is
    // idle all the more, and the assertions hold the same.
    assert_eq!(health(server.addr()), Some(200));
    let started = Instant::now();
    let status = server.stop(Duration::from_secs(5));
    let took = started.elapsed();
    println!("step 8 with half a second request open: exit {status:?} after {took:?}");
    assert_eq!(status.code(), Some(1), "a request closed unanswered");
    assert!(took < Duration::from_millis(1800), "{took:?}");
    let seen = read_until_closed(&mut reused, started, Duration::from_secs(1));
    assert!(seen.bytes.is_empty(), "{}", seen.text());
}

/// A connection accepted before the drain that has sent nothing yet is
/// waited for, as a request on its way would be (the accept loop keeps
/// hyper-util from cancelling it), but only until `IDLE_TIMEOUT`: then it
/// is closed, with no answer, and the exit follows.
fn a_connection_that_sends_nothing_holds_the_drain_until_idle_timeout() {
    let mut server = start(
        STEP,
        &[("IDLE_TIMEOUT", "300ms"), ("SHUTDOWN_TIMEOUT", "5s")],
    );
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    let connected = Instant::now();
    assert_eq!(health(server.addr()), Some(200));
    let started = Instant::now();
    assert!(server.stop(Duration::from_secs(5)).success());
    let took = connected.elapsed();
    let seen = read_until_closed(&mut silent, started, Duration::from_secs(2));
    assert!(seen.bytes.is_empty() && seen.ended_by.is_none());
    // Held, and no longer than its idle timeout allows.
    assert!(took >= Duration::from_millis(250), "{took:?}");
    assert!(took < Duration::from_millis(1800), "{took:?}");
}

// ANCHOR: http2
mod http2 {
    use axum::http::{Request, StatusCode};

    use super::*;

    pub(super) fn trials() -> Vec<Trial> {
        trials![
            step2_stream_completes_after_goaway,
            step7_stream_completes_after_goaway,
            step8_stream_completes_after_goaway,
        ]
    }

    fn get(server: &Server, path: &str) -> Request<()> {
        Request::get(server.url(path)).body(()).unwrap()
    }

    /// The drain on HTTP/2: a stream in flight at SIGTERM is answered, the
    /// client gets GOAWAY and opens no new stream, and the step exits 0.
    fn stream_completes_after_goaway(step: &str) {
        let mut server = start(step, &[("SHUTDOWN_TIMEOUT", "5s")]);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
            let (client, connection) = h2::client::handshake(tcp).await.unwrap();
            let connection = tokio::spawn(connection);
            let mut client = client.ready().await.unwrap();
            let (slow, _) = client
                .send_request(get(&server, "/slow?ms=1000"), true)
                .unwrap();
            server.wait_for_log("slow request started", Duration::from_secs(5));

            server.signal(Signal::SIGTERM);
            // New streams, until one is refused.
            let mut served_after = 0;
            let signalled = Instant::now();
            let (refused, when) = loop {
                assert!(
                    signalled.elapsed() < Duration::from_secs(5),
                    "{served_after} new streams served after the signal, none refused"
                );
                let sent = client.clone().ready().await.and_then(|mut client| {
                    client
                        .send_request(get(&server, "/health"), true)
                        .map(|(answer, _)| answer)
                });
                match sent {
                    Ok(answer) => match answer.await {
                        Ok(_) => served_after += 1,
                        Err(err) => break (err, "after it was sent"),
                    },
                    Err(err) => break (err, "before it was sent"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            println!(
                "{step}: {served_after} new streams served after the signal, then one refused \
                 {when}: {refused} (GOAWAY: {}, from the server: {}, reason {:?})",
                refused.is_go_away(),
                refused.is_remote(),
                refused.reason()
            );
            // Whether the client had sent the stream or not, what refused
            // it is the server's GOAWAY.
            assert!(refused.is_go_away() && refused.is_remote(), "{refused}");

            let answer = slow.await.expect("the stream in flight is answered");
            assert_eq!(answer.status(), StatusCode::OK);
            let mut body = answer.into_body();
            let mut text = Vec::new();
            while let Some(chunk) = body.data().await {
                text.extend_from_slice(&chunk.unwrap());
            }
            assert_eq!(text, b"done");
            let closed = connection.await.unwrap();
            println!("{step}: connection ended {closed:?}");
        });
        // SIGTERM went out above: the drain ends with the stream.
        let status = server.expect_exit(Duration::from_secs(5));
        assert!(status.success(), "{status:?}");
    }

    fn step2_stream_completes_after_goaway() {
        stream_completes_after_goaway("step2");
    }

    fn step7_stream_completes_after_goaway() {
        stream_completes_after_goaway("step7");
    }

    fn step8_stream_completes_after_goaway() {
        stream_completes_after_goaway("step8");
    }
}
// ANCHOR_END: http2
