//! HTTP/1.1 over plain sockets, for the measuring tools.
//!
//! Why not a client library: `loadtest` and `timeline` report *how* each
//! connection ended, and those facts live below any library's API. Whether
//! the request went out on a new or a reused connection; whether a single
//! byte of the answer came back before the end; whether the end was an
//! orderly close (FIN) or a reset (RST), and whether a reset followed the
//! orderly close a moment later ([`Connection::reset_follows`] reads
//! `SO_ERROR`); whether a pooled connection was closed while idle
//! ([`Connection::closed_by_server`] peeks at it). A client library folds
//! all of that into one error and a retry; the shutdown figures are made of
//! it. So the sockets are ours, and the parsing of what comes back is
//! `httparse`'s.
//!
//! Only what the steps answer is understood: a status line, headers, and a
//! body sized by `Content-Length`, by chunks, or by the end of the
//! connection.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    thread,
    time::{Duration, Instant},
};

/// How long a connect may take on the loopback interface before we call it
/// failed: a listening socket answers in microseconds.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);

/// The largest answer head we accept: the steps send a few hundred bytes.
const HEAD_LIMIT: usize = 64 * 1024;

/// A request, encoded when it is written.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub target: String,
    pub json: Option<String>,
}

impl Request {
    pub fn get(target: impl Into<String>) -> Request {
        Request {
            method: "GET",
            target: target.into(),
            json: None,
        }
    }

    pub fn post_json(target: impl Into<String>, json: String) -> Request {
        Request {
            method: "POST",
            target: target.into(),
            json: Some(json),
        }
    }

    /// The bytes on the wire. `keep_alive: false` asks the server to close
    /// the connection after answering.
    pub fn encode(&self, host: &str, keep_alive: bool) -> Vec<u8> {
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\n",
            self.method, self.target
        );
        if !keep_alive {
            head.push_str("Connection: close\r\n");
        }
        if let Some(json) = &self.json {
            head.push_str("Content-Type: application/json\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", json.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some(json) = &self.json {
            bytes.extend_from_slice(json.as_bytes());
        }
        bytes
    }
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Whether the server left the connection open for another request:
    /// HTTP/1.1 does unless it says `Connection: close`, which a draining
    /// server says on its last answer.
    pub keep_alive: bool,
}

/// How an exchange ended without a whole answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The connect was refused: nothing listens on the port any more.
    Refused,
    /// The connect failed some other way (timed out, no route).
    ConnectFailed(io::ErrorKind),
    /// Writing the request failed: the server had already reset the
    /// connection.
    WriteFailed,
    /// The connection ended before one byte of the answer came back.
    /// `reset` tells a reset (RST), which the kernel sends when a socket is
    /// closed with bytes nobody read, from an orderly close (FIN) alone;
    /// see [`Connection::reset_follows`] for a reset that comes just after
    /// the orderly close.
    NoAnswer { reset: bool },
    /// Part of an answer came back, then the connection ended.
    CutMidAnswer,
    /// Nothing more came back within the read limit.
    TimedOut,
    /// Bytes that are not an HTTP/1.1 answer.
    Malformed(String),
}

impl Failure {
    /// How the timeline and the tables name it.
    pub fn describe(&self) -> String {
        match self {
            Failure::Refused => "connection refused".to_owned(),
            Failure::ConnectFailed(kind) => format!("connect failed ({kind})"),
            Failure::WriteFailed => "connection reset before the request was written".to_owned(),
            Failure::NoAnswer { reset: false } => "connection closed, no answer".to_owned(),
            Failure::NoAnswer { reset: true } => "connection reset, no answer".to_owned(),
            Failure::CutMidAnswer => "connection closed mid-answer".to_owned(),
            Failure::TimedOut => "no answer in time".to_owned(),
            Failure::Malformed(why) => format!("malformed answer: {why}"),
        }
    }
}

/// One client connection to a step.
pub struct Connection {
    stream: TcpStream,
    host: String,
    /// Answers read on this connection so far: a connection with one or
    /// more is being *reused* by the next request.
    pub answered: u32,
}

impl Connection {
    /// Connects, with `limit` on every later read and write.
    pub fn open(addr: SocketAddr, limit: Duration) -> Result<Connection, Failure> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_LIMIT).map_err(|err| {
            if err.kind() == io::ErrorKind::ConnectionRefused {
                Failure::Refused
            } else {
                Failure::ConnectFailed(err.kind())
            }
        })?;
        let configured = stream
            .set_read_timeout(Some(limit))
            .and_then(|()| stream.set_write_timeout(Some(limit)))
            // A request goes out in one write; do not let Nagle hold it.
            .and_then(|()| stream.set_nodelay(true));
        configured.map_err(|err| Failure::ConnectFailed(err.kind()))?;
        Ok(Connection {
            stream,
            host: addr.to_string(),
            answered: 0,
        })
    }

    /// Whether the server has closed this connection while it sat idle.
    ///
    /// A careful client asks before reusing a pooled connection: a server
    /// that closed it has already sent its FIN, and a peek sees it without
    /// waiting. It narrows the keep-alive race to the instants when the
    /// close and the next request cross on the wire; it cannot remove it.
    pub fn closed_by_server(&self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0; 1];
        let closed = match self.stream.peek(&mut byte) {
            // End of stream, or bytes nobody asked for: either way this is
            // no connection to send a request on.
            Ok(_) => true,
            Err(err) => err.kind() != io::ErrorKind::WouldBlock,
        };
        self.stream.set_nonblocking(false).is_err() || closed
    }

    /// Writes the whole request.
    pub fn write(&mut self, request: &Request, keep_alive: bool) -> Result<(), Failure> {
        let bytes = request.encode(&self.host, keep_alive);
        self.stream.write_all(&bytes).map_err(|err| {
            if is_timeout(&err) {
                Failure::TimedOut
            } else {
                Failure::WriteFailed
            }
        })
    }

    /// Reads one whole answer.
    pub fn read_response(&mut self) -> Result<Response, Failure> {
        let mut received = Vec::with_capacity(1024);
        let mut chunk = [0; 8192];
        let mut head: Option<(Head, usize)> = None;
        loop {
            if head.is_none() {
                head = parse_head(&received)?;
                if head.is_none() && received.len() > HEAD_LIMIT {
                    return Err(Failure::Malformed("head too long".to_owned()));
                }
            }
            if let Some((head, start)) = &head
                && let Some(body) = head.complete_body(&received[*start..], false)?
            {
                self.answered += 1;
                return Ok(head.response(body));
            }
            let read = match self.stream.read(&mut chunk) {
                Ok(read) => read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if is_timeout(&err) => return Err(Failure::TimedOut),
                Err(_) if received.is_empty() => return Err(Failure::NoAnswer { reset: true }),
                Err(_) => return Err(Failure::CutMidAnswer),
            };
            if read == 0 {
                // The server closed its side. Only an answer whose length is
                // "until the end" is whole now.
                if let Some((head, start)) = &head
                    && let Some(body) = head.complete_body(&received[*start..], true)?
                {
                    self.answered += 1;
                    return Ok(head.response(body));
                }
                return Err(if received.is_empty() {
                    Failure::NoAnswer { reset: false }
                } else {
                    Failure::CutMidAnswer
                });
            }
            received.extend_from_slice(&chunk[..read]);
        }
    }

    /// After an orderly close that brought no answer: whether a reset
    /// follows within `limit`.
    ///
    /// A server that closes a connection politely, with shutdown(2) and
    /// then close(2), sends FIN first; if our request still sat unread in
    /// its socket, the close(2) then sends RST. The client reads the FIN as
    /// an ordinary end of stream, and only the error the reset leaves on the
    /// socket (`SO_ERROR`) tells the two apart. The kernel sends that reset
    /// at once; `limit` only covers a server thread descheduled between its
    /// two calls. A server that read the request and then died or dropped
    /// it sends no reset, and the whole `limit` passes.
    pub fn reset_follows(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            match self.stream.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return true,
            }
            if Instant::now() >= until {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits, with the read limit, for the server to close an idle
    /// connection: `Ok` on an orderly close, the failure otherwise.
    pub fn wait_closed(&mut self) -> Result<(), Failure> {
        let mut byte = [0; 1];
        loop {
            match self.stream.read(&mut byte) {
                Ok(0) => return Ok(()),
                Ok(_) => return Err(Failure::Malformed("bytes on an idle connection".to_owned())),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if is_timeout(&err) => return Err(Failure::TimedOut),
                Err(_) => return Err(Failure::NoAnswer { reset: true }),
            }
        }
    }
}

/// A read or write error that means "nothing yet" rather than "no
/// connection".
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What the head of an answer says about its body.
#[derive(Debug)]
struct Head {
    status: u16,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

impl Head {
    /// The body, once `bytes` hold all of it; `None` while more must come.
    fn complete_body(&self, bytes: &[u8], at_end: bool) -> Result<Option<Vec<u8>>, Failure> {
        if matches!(self.status, 100..=199 | 204 | 304) {
            return Ok(Some(Vec::new()));
        }
        if self.chunked {
            return decode_chunked(bytes);
        }
        match self.content_length {
            Some(length) => Ok((bytes.len() >= length).then(|| bytes[..length].to_vec())),
            None => Ok(at_end.then(|| bytes.to_vec())),
        }
    }

    fn response(&self, body: Vec<u8>) -> Response {
        Response {
            status: self.status,
            body,
            keep_alive: !self.close && (self.content_length.is_some() || self.chunked),
        }
    }
}

/// The answer at the start of `received`, once the whole of it has
/// arrived: for a client that does its own reading (drainbench's, on
/// tokio). A body delimited only by the close is never complete here.
pub fn parse_response(received: &[u8]) -> Result<Option<Response>, Failure> {
    let Some((head, length)) = parse_head(received)? else {
        return Ok(None);
    };
    Ok(head
        .complete_body(&received[length..], false)?
        .map(|body| head.response(body)))
}

/// The head at the start of `received` and its length in bytes, once it
/// has all arrived.
fn parse_head(received: &[u8]) -> Result<Option<(Head, usize)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let length = match parsed.parse(received) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(Failure::Malformed(format!("answer head: {err}"))),
    };
    let status = parsed
        .code
        .ok_or_else(|| Failure::Malformed("no status".to_owned()))?;
    let mut head = Head {
        status,
        content_length: None,
        chunked: false,
        // HTTP/1.0 closes after each answer unless told otherwise.
        close: parsed.version == Some(0),
    };
    for header in parsed.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| Failure::Malformed(format!("header {} not UTF-8", header.name)))?
            .trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = value
                .parse()
                .map_err(|_| Failure::Malformed(format!("Content-Length {value:?}")))?;
            head.content_length = Some(length);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.eq_ignore_ascii_case("chunked");
        } else if header.name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        }
    }
    Ok(Some((head, length)))
}

/// The body of a chunked answer, once its last chunk has arrived.
fn decode_chunked(mut bytes: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let mut body = Vec::new();
    loop {
        let (start, size) = match httparse::parse_chunk_size(bytes) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(Failure::Malformed("chunk size".to_owned())),
        };
        bytes = &bytes[start..];
        if size == 0 {
            // The last chunk: complete once the (empty) trailer has ended.
            let ended = bytes.starts_with(b"\r\n") || find(bytes, b"\r\n\r\n").is_some();
            return Ok(ended.then_some(body));
        }
        // A size near u64::MAX is a broken server, not a reason to panic.
        let Some(with_crlf) = usize::try_from(size)
            .ok()
            .and_then(|size| size.checked_add(2))
        else {
            return Err(Failure::Malformed(format!("chunk size {size}")));
        };
        if bytes.len() < with_crlf {
            return Ok(None);
        }
        body.extend_from_slice(&bytes[..with_crlf - 2]);
        bytes = &bytes[with_crlf..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, thread};

    use super::*;

    /// A one-connection server that reads the request (or not) and then
    /// writes `answer` and closes.
    fn serve_once(read_request: bool, answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            if read_request {
                let mut buf = [0; 4096];
                let _ = stream.read(&mut buf);
            }
            let _ = stream.write_all(answer);
        });
        addr
    }

    fn exchange(read_request: bool, answer: &'static [u8]) -> Result<Response, Failure> {
        let addr = serve_once(read_request, answer);
        let mut connection = Connection::open(addr, Duration::from_secs(5)).unwrap();
        connection.write(&Request::get("/health"), true)?;
        connection.read_response()
    }

    #[test]
    fn a_sized_answer_keeps_the_connection() {
        let answer = exchange(true, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(
            answer,
            Ok(Response {
                status: 200,
                body: b"ok".to_vec(),
                keep_alive: true
            })
        );
    }

    #[test]
    fn connection_close_is_honoured() {
        let answer = exchange(
            true,
            b"HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 4\r\n\r\n{}\r\n",
        )
        .unwrap();
        assert_eq!(answer.status, 201);
        assert!(!answer.keep_alive);
    }

    #[test]
    fn chunked_and_close_delimited_bodies_are_read_whole() {
        let chunked = exchange(
            true,
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n3\r\n!!!\r\n0\r\n\r\n",
        );
        assert_eq!(chunked.unwrap().body, b"ok!!!");
        let until_close = exchange(true, b"HTTP/1.1 200 OK\r\n\r\nuntil the end").unwrap();
        assert_eq!(until_close.body, b"until the end");
        assert!(!until_close.keep_alive);
    }

    #[test]
    fn a_close_after_reading_is_an_orderly_no_answer() {
        assert_eq!(exchange(true, b""), Err(Failure::NoAnswer { reset: false }));
    }

    #[test]
    fn half_an_answer_is_cut_mid_answer() {
        let answer = exchange(true, b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nok");
        assert_eq!(answer, Err(Failure::CutMidAnswer));
    }

    /// The fact the load tool's classification rests on: a socket closed
    /// with our request still unread resets the connection instead of
    /// closing it in order.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_close_without_reading_resets() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut connection = Connection::open(addr, Duration::from_secs(5)).unwrap();
        connection.write(&Request::get("/health"), true).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        drop(accepted);
        assert_eq!(
            connection.read_response(),
            Err(Failure::NoAnswer { reset: true })
        );
    }

    /// A polite close (FIN) over a request nobody read is followed by a
    /// reset; a close after reading it is not.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_reset_after_the_orderly_close_tells_an_unread_request() {
        use std::net::Shutdown;

        for read_it in [false, true] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut connection = Connection::open(addr, Duration::from_secs(5)).unwrap();
            connection.write(&Request::get("/health"), true).unwrap();
            let (mut accepted, _) = listener.accept().unwrap();
            if read_it {
                // The request is one small segment: one read takes it all.
                let mut buf = [0; 4096];
                let _ = accepted.read(&mut buf).unwrap();
            }
            accepted.shutdown(Shutdown::Write).unwrap();
            assert_eq!(
                connection.read_response(),
                Err(Failure::NoAnswer { reset: false })
            );
            drop(accepted);
            let limit = Duration::from_millis(if read_it { 50 } else { 2000 });
            assert_eq!(connection.reset_follows(limit), !read_it, "read: {read_it}");
        }
    }

    #[test]
    fn a_closed_idle_connection_is_seen_before_reuse() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connection = Connection::open(addr, Duration::from_secs(5)).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(!connection.closed_by_server());
        drop(accepted);
        let mut closed = false;
        // The FIN crosses the loopback interface in microseconds; bound
        // the look anyway.
        for _ in 0..1000 {
            closed = connection.closed_by_server();
            if closed {
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        assert!(closed);
    }

    #[test]
    fn a_response_is_parsed_once_whole() {
        let whole = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone";
        for cut in 0..whole.len() {
            assert_eq!(parse_response(&whole[..cut]), Ok(None), "{cut} bytes");
        }
        let response = parse_response(whole).unwrap().unwrap();
        assert_eq!((response.status, &response.body[..]), (200, &b"done"[..]));
        assert!(response.keep_alive);
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap().unwrap().body, b"ok");
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }

    #[test]
    fn requests_are_encoded_with_their_length() {
        let post = Request::post_json("/bookmarks", "{}".to_owned());
        let text = String::from_utf8(post.encode("127.0.0.1:1", false)).unwrap();
        assert_eq!(
            text,
            "POST /bookmarks HTTP/1.1\r\nHost: 127.0.0.1:1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
