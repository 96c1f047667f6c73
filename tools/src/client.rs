//! What a test's client does to a step: requests with a real client
//! (`ureq`), and the moves a client library will not make (half a request
//! line, a connection left idle), on plain sockets.

use std::{
    io::Write,
    net::{SocketAddr, TcpStream},
    thread,
    time::{Duration, Instant},
};

use crate::{
    harness::Server,
    http::{Connection, Request},
};

// ANCHOR: client
/// An HTTP client that reports every status as a response, never as an
/// error, and gives up after `limit`.
pub fn client(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect is an answer to check, not to follow (`/visit` points
        // outside this machine).
        .max_redirects(0)
        .timeout_global(Some(limit))
        .build()
        .into()
}
// ANCHOR_END: client

/// What a client saw: a status and a body, or a broken connection.
pub type Answer = Result<(u16, String), String>;

/// `GET url` on a fresh connection.
pub fn get(url: &str, limit: Duration) -> Answer {
    answer(client(limit).get(url).header("Connection", "close").call())
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &serde_json::Value) -> Answer {
    answer(
        client(Duration::from_secs(10))
            .post(url)
            .header("Connection", "close")
            .send_json(body),
    )
}

/// The status and body of a response, or what broke on the way.
fn answer(sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = sent.map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|err| err.to_string())?;
    Ok((status, body))
}

// ANCHOR: in_flight
/// Starts `GET /slow?ms={ms}` in a thread and returns once the handler has
/// logged `slow request started ms={ms}`: the request is truly in flight.
#[track_caller]
pub fn slow_request_in_flight(
    server: &Server,
    ms: u64,
    limit: Duration,
) -> thread::JoinHandle<Answer> {
    let from = server.line_count();
    let url = server.url(&format!("/slow?ms={ms}"));
    let request = thread::spawn(move || get(&url, limit));
    let field = format!("ms={ms}");
    let started = server.wait_for_line(from, Duration::from_secs(10), |text| {
        text.contains("slow request started") && text.split_whitespace().any(|word| word == field)
    });
    assert!(
        started.is_some(),
        "GET /slow?ms={ms} never reached its handler"
    );
    request
}
// ANCHOR_END: in_flight

/// A keep-alive connection that has had one answer and now sits idle.
#[track_caller]
pub fn idle_keep_alive(addr: SocketAddr) -> Connection {
    let mut connection = Connection::open(addr, Duration::from_secs(5)).expect("connect");
    connection
        .write(&Request::get("/health"), true)
        .expect("send GET /health");
    let response = connection
        .read_response()
        .expect("an answer to GET /health");
    assert_eq!(response.status, 200);
    assert!(response.keep_alive, "the server keeps the connection open");
    connection
}

// ANCHOR: half_request
/// Connects and sends only the start of a request line, then waits.
pub fn half_request(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /hea")
        .expect("send half a request line");
    stream
}
// ANCHOR_END: half_request

/// Whether a new connection to `addr` is refused.
fn refuses_connections(addr: SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(_) => false,
    }
}

// ANCHOR: wait_until_refused
/// Tries to connect until new connections are refused; how long that took.
pub fn wait_until_refused(addr: SocketAddr, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if refuses_connections(addr) {
            return Some(start.elapsed());
        }
        thread::sleep(Duration::from_millis(5));
    }
    None
}
// ANCHOR_END: wait_until_refused
