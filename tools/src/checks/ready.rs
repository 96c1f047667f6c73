//! Step 7 on: ready for a load balancer: `/ready`, the delay,
//! `Connection: close`, streams ended properly.

use super::*;

// ANCHOR: ready_flips_while_serving_through_the_delay
/// During `SHUTDOWN_DELAY` the server says 503 on `/ready` yet accepts new
/// connections and serves everything else; after it, connections are
/// refused and the drain runs as before.
pub fn ready_flips_while_serving_through_the_delay(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_DELAY", "1500ms").start();
    assert_eq!(
        get(&server.url("/ready"), PROMPTLY),
        Ok((200, "ready".into()))
    );

    let sent = server.signal(Signal::SIGTERM);
    expect_log(
        &mut server,
        &["not ready"],
        PROMPTLY,
        "the SIGTERM (SHUTDOWN_DELAY=1500ms)",
    );

    // Each request below is a new connection: all accepted during the delay.
    let ready = get(&server.url("/ready"), PROMPTLY)
        .expect("GET /ready right after the signal got no answer: the server must keep serving through the delay");
    assert_eq!(
        ready.0, 503,
        "GET /ready right after the signal must say not ready"
    );
    assert_eq!(
        get(&server.url("/health"), PROMPTLY),
        Ok((200, "ok".into()))
    );
    let written = create_bookmarks(&server, 1);
    let listed = get(&server.url("/bookmarks"), PROMPTLY).expect(
        "GET /bookmarks during the delay got no answer: the server must keep serving through it",
    );
    assert_eq!(listed.0, 200);
    assert!(
        !server.has_log("shutting down"),
        "`shutting down` less than 1500ms after the signal: the drain must wait for the end \
         of SHUTDOWN_DELAY"
    );
    assert!(
        sent.elapsed() < Duration::from_millis(1500),
        "checked within the delay"
    );

    expect_log(
        &mut server,
        &["not ready", "shutting down"],
        Duration::from_secs(5),
        "the SIGTERM (SHUTDOWN_DELAY=1500ms)",
    );
    assert!(
        wait_until_refused(server.addr(), PROMPTLY).is_some(),
        "refused after the delay"
    );
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM (SHUTDOWN_DELAY=1500ms)",
        &["not ready", "shutting down", "server stopped"],
    );
    assert_exit_status(status, 0);
    assert!(
        sent.elapsed() >= Duration::from_millis(1500),
        "served the whole delay"
    );
    assert_eq!(
        stored_ids(&server.db_path),
        written,
        "the write answered during the delay is kept"
    );
}
// ANCHOR_END: ready_flips_while_serving_through_the_delay

// ANCHOR: event_stream_ends_with_the_drain
/// An open `/events` stream gets its bookmark events, then a `shutdown`
/// event and its end when the drain begins, and does not hold the exit
/// until the deadline.
pub fn event_stream_ends_with_the_drain(bin: &Binary) {
    let mut server = bin
        .launch()
        .env("SHUTDOWN_DELAY", "300ms")
        .env("SHUTDOWN_TIMEOUT", "10s")
        .start();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut seen = String::new();
    let mut read_until = |stream: &mut TcpStream, needle: &str| -> bool {
        let mut buf = [0; 4096];
        while !seen.contains(needle) {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        true
    };
    assert!(
        read_until(&mut stream, "text/event-stream"),
        "headers: {seen}"
    );
    create_bookmarks(&server, 1);
    assert!(
        read_until(&mut stream, "event: bookmark"),
        "bookmark event: {seen}"
    );

    let sent = server.signal(Signal::SIGTERM);
    assert!(
        read_until(&mut stream, "event: shutdown"),
        "shutdown event: {seen}"
    );
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM (SHUTDOWN_DELAY=300ms), with an /events stream open",
        &["not ready", "shutting down", "server stopped"],
    );
    let took = sent.elapsed();
    // The body ends with the stream: the last chunk, then the close.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    seen.push_str(&String::from_utf8_lossy(&rest));

    assert_exit_status(status, 0);
    assert!(
        seen.ends_with("0\r\n\r\n"),
        "the stream ended cleanly: {seen:?}"
    );
    assert!(
        took < Duration::from_millis(300) + PROMPTLY,
        "took {took:?}"
    );
    println!(
        "open /events: exit {:?} after the 300ms delay",
        took.saturating_sub(Duration::from_millis(300))
    );
}
// ANCHOR_END: event_stream_ends_with_the_drain

// ANCHOR: second_signal_during_the_delay_forces_exit
/// A second signal during the delay forces the exit at once, within the
/// bound, cutting the request still in flight.
pub fn second_signal_during_the_delay_forces_exit(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_DELAY", "30s").start();
    let request = slow_request_in_flight(&server, 60_000, Duration::from_secs(70));

    server.signal(Signal::SIGTERM);
    expect_log(
        &mut server,
        &["not ready"],
        PROMPTLY,
        "the SIGTERM (SHUTDOWN_DELAY=30s)",
    );
    let sent = server.signal(Signal::SIGINT);
    let status = expect_exit_after(
        &mut server,
        BOUND + PROMPTLY,
        "a SIGINT during the 30 s SHUTDOWN_DELAY",
        &[
            "not ready",
            "forced shutdown",
            "database closed",
            "server stopped",
        ],
    );
    let took = sent.elapsed();

    assert_exit_status(status, 1);
    assert!(
        took < BOUND,
        "exited {took:?} after the second signal (the bound is {BOUND:?})"
    );
    assert!(
        request.join().unwrap().is_err(),
        "a request in flight was answered though the stop was forced: it should have been cut off"
    );
    println!("second signal in the delay: exit {took:?} after it");
    let logs = server.logs();
    assert_logged_in_order(
        &logs,
        &[
            "not ready",
            "forced shutdown",
            "database closed",
            "server stopped",
        ],
    );
}
// ANCHOR_END: second_signal_during_the_delay_forces_exit

// ANCHOR: keep_alive_told_to_close
/// From the signal on, a keep-alive client's next response says
/// `Connection: close`, and the server closes the connection after it,
/// while the delay still runs: a pooled client leaves before the drain.
pub fn keep_alive_told_to_close_during_the_delay(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_DELAY", "1500ms").start();
    let mut connection = Connection::open(server.addr(), PROMPTLY).unwrap();
    connection.write(&Request::get("/health"), true).unwrap();
    let before = connection
        .read_response()
        .expect("GET /health before the signal got no answer");
    assert!(before.keep_alive, "kept alive before the signal");

    let sent = server.signal(Signal::SIGTERM);
    expect_log(
        &mut server,
        &["not ready"],
        PROMPTLY,
        "the SIGTERM (SHUTDOWN_DELAY=1500ms)",
    );
    connection.write(&Request::get("/health"), true).unwrap();
    let after = connection.read_response().expect(
        "GET /health on a kept-alive connection during the delay got no answer: the server must keep serving through the delay",
    );
    assert_eq!(after.status, 200);
    assert!(
        !after.keep_alive,
        "GET /health on a kept-alive connection during the delay came back without \
         `Connection: close`: from the signal on, every HTTP/1.1 response must tell its \
         client to close the connection"
    );
    assert_eq!(
        connection.wait_closed(),
        Ok(()),
        "the server must close the connection after a response that says \
         `Connection: close`"
    );
    assert!(
        sent.elapsed() < Duration::from_millis(1500) && !server.has_log("shutting down"),
        "all within the delay"
    );
    assert_exit_status(server.expect_exit(Duration::from_secs(5)), 0);
}
// ANCHOR_END: keep_alive_told_to_close

/// Opens `GET /ws` with a real WebSocket client, reads bounded by `limit`.
fn open_websocket(server: &Server, limit: Duration) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    let url = format!("ws://{}/ws", server.addr());
    let (socket, response) = tungstenite::client(url, stream).expect("the WebSocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// A WebSocket opened during the delay is upgraded and works: its 101
/// keeps `Connection: upgrade` (a `Connection: close` there would end the
/// handshake), it gets its bookmark, then the Close 1001 at the drain.
pub fn websocket_opens_during_the_delay(bin: &Binary) {
    let mut server = bin
        .launch()
        .env("SHUTDOWN_DELAY", "1500ms")
        .env("SHUTDOWN_TIMEOUT", "10s")
        .start();
    server.signal(Signal::SIGTERM);
    expect_log(
        &mut server,
        &["not ready"],
        PROMPTLY,
        "the SIGTERM (SHUTDOWN_DELAY=1500ms)",
    );
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let url = format!("ws://{}/ws", server.addr());
    let mut socket = match tungstenite::client(url, stream) {
        Ok((socket, _)) => socket,
        Err(err) => panic!(
            "GET /ws during the delay was not upgraded to a WebSocket: {err}: the 101 that \
             switches protocols must not say `Connection: close`"
        ),
    };
    let ids = create_bookmarks(&server, 1);
    let message = socket
        .read()
        .expect("a message for the bookmark, on a WebSocket opened during the delay");
    let bookmark: serde_json::Value =
        serde_json::from_str(message.to_text().expect("a text message")).unwrap();
    assert_eq!(bookmark["id"], ids[0], "{bookmark}");
    let close = socket.read().expect("a Close frame at the drain");
    let Message::Close(Some(frame)) = close else {
        panic!("expected a Close frame at the drain, got {close:?}");
    };
    assert_eq!(frame.code, CloseCode::Away, "close code 1001");
    while socket.read().is_ok() {}
    let status = expect_exit_after(
        &mut server,
        PROMPTLY,
        "the SIGTERM, with a WebSocket opened during the delay (its Close answered)",
        &["shutting down", "server stopped"],
    );
    assert_exit_status(status, 0);
}

// ANCHOR: websocket_closes_with_1001
/// An open `/ws` gets a JSON text message per bookmark created; when the
/// drain begins it gets a Close frame with code 1001 (going away), and
/// once the client answers it the process exits 0, long before the
/// deadline.
pub fn websocket_closes_with_1001(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "10s").start();
    let mut socket = open_websocket(&server, Duration::from_secs(5));
    // The handler subscribes before it answers the upgrade: a bookmark
    // created now is one it sees.
    let ids = create_bookmarks(&server, 1);
    let message = socket.read().expect("a message for the bookmark");
    let bookmark: serde_json::Value =
        serde_json::from_str(message.to_text().expect("a text message")).unwrap();
    assert_eq!(bookmark["id"], ids[0], "{bookmark}");

    let sent = server.signal(Signal::SIGTERM);
    let close = socket.read().expect("a Close frame");
    let Message::Close(Some(frame)) = close else {
        panic!("expected a Close frame, got {close:?}");
    };
    assert_eq!(frame.code, CloseCode::Away, "close code 1001");
    // Reading the Close queued our answer; this sends it, and the server
    // then closes the connection.
    loop {
        match socket.read() {
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(err) => panic!("the WebSocket did not close cleanly: {err}"),
        }
    }
    let status = expect_exit_after(
        &mut server,
        PROMPTLY,
        "the SIGTERM, with a WebSocket open (its Close answered)",
        &["shutting down", "server stopped"],
    );
    let took = sent.elapsed();
    assert_exit_status(status, 0);
    assert!(took < PROMPTLY, "took {took:?}");
    println!("open /ws: close 1001 answered, exit {took:?} after SIGTERM");
}
// ANCHOR_END: websocket_closes_with_1001

// ANCHOR: deaf_websocket_is_cut
/// A WebSocket client that never answers the Close holds the drain until
/// the deadline, and no longer: exit 1 within the bound.
pub fn websocket_deaf_to_close_is_cut_at_the_deadline(bin: &Binary) {
    let mut server = bin.launch().start();
    // Opened, then never read again: the Close is never answered.
    let _socket = open_websocket(&server, Duration::from_secs(5));
    assert_cut_at_the_deadline(bin, &mut server, "a WebSocket deaf to the Close");
}
// ANCHOR_END: deaf_websocket_is_cut
