//! Step 8 on: the accept loop of our own serves a silent connection at the
//! drain (and `axum::serve`, in steps 2 to 7, cancels it).

use super::*;

// ANCHOR: silent_connection_is_served
/// Steps 8+: a connection accepted but still silent when the drain begins
/// sends its request after the signal and gets its answer. hyper's
/// graceful shutdown alone would cancel it (it has not yet seen which
/// protocol the connection speaks); the accept loop of step 8 waits for
/// the first bytes instead.
pub fn silent_connection_is_served(bin: &Binary) {
    let (mut server, answer) = request_on_a_connection_silent_at_the_drain(bin);
    let status = server.expect_exit(PROMPTLY);

    match answer {
        Ok(response) => assert_eq!(response.status, 200, "the silent connection's answer"),
        Err(failure) => panic!(
            "a connection accepted before the SIGTERM, silent until the drain began, got no \
             answer to the request it sent then ({}): it was closed at the drain, not served",
            failure.describe()
        ),
    }
    assert_exit_status(status, 0);
}

/// Steps 2 to 7: `axum::serve` cancels a connection still silent when the
/// drain begins; the request it sends next meets a closed connection. The
/// failure step 8 fixes.
pub fn silent_connection_is_cancelled_at_the_drain(bin: &Binary) {
    let (mut server, answer) = request_on_a_connection_silent_at_the_drain(bin);
    let status = server.expect_exit(PROMPTLY);

    assert!(
        answer.is_err(),
        "the silent connection was served: {:?}",
        answer.map(|response| response.status)
    );
    assert_exit_status(status, 0);
}

/// Opens a connection that sends nothing, starts the drain, then sends a
/// request on it and reads the answer, if any.
fn request_on_a_connection_silent_at_the_drain(
    bin: &Binary,
) -> (Server, Result<crate::http::Response, crate::http::Failure>) {
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "10s").start();
    let addr = server.addr();
    let mut silent = Connection::open(addr, Duration::from_secs(5)).expect("connect");
    // Connections are accepted in the order they arrive: once a later one
    // is answered, the silent one has been accepted.
    assert_eq!(
        get(&server.url("/health"), PROMPTLY),
        Ok((200, "ok".into()))
    );

    server.signal(Signal::SIGTERM);
    expect_log(&mut server, &["shutting down"], PROMPTLY, "the SIGTERM");
    assert!(
        wait_until_refused(addr, PROMPTLY).is_some(),
        "new connections still accepted after `shutting down`"
    );
    // The listener is closed and the drain begun; give it a moment to
    // reach the connection's task before the request does.
    thread::sleep(Duration::from_millis(50));
    let answer = silent
        .write(&Request::get("/health"), true)
        .and_then(|()| silent.read_response());
    (server, answer)
}
// ANCHOR_END: silent_connection_is_served

// ANCHOR: half_request_closed_at_header_timeout_is_abandoned
/// Steps 8+: a client that sent half a request line before the signal is
/// closed at `HEADER_TIMEOUT` during the drain, unanswered: the stop says
/// so (`abandoned … unanswered=1`) and exits 1, not 0. Exit 0 means every
/// request that began was answered.
pub fn half_request_closed_at_header_timeout_is_abandoned(bin: &Binary) {
    let mut server = bin
        .launch()
        .env("SHUTDOWN_TIMEOUT", "10s")
        .env("HEADER_TIMEOUT", "300ms")
        .start();
    let _half = half_request_in_flight(&server);

    let stop = [
        "shutting down",
        "request closed unanswered during the drain",
        "abandoned",
        "database closed",
        "server stopped",
    ];
    let sent = server.signal(Signal::SIGTERM);
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM (HEADER_TIMEOUT=300ms, SHUTDOWN_TIMEOUT=10s; in flight: half a request \
         head)",
        &stop,
    );
    let took = sent.elapsed();

    assert_exit_status(status, 1);
    assert!(
        took < Duration::from_secs(2),
        "held {took:?}, past HEADER_TIMEOUT"
    );
    let logs = server.logs();
    assert_logged_in_order(&logs, &stop);
    let line = &logs[line_index(&logs, "abandoned requests=")];
    assert!(line.contains("unanswered=1"), "{line}");
    println!("half request at the drain: exit 1 after {took:?}");
}
// ANCHOR_END: half_request_closed_at_header_timeout_is_abandoned

// ANCHOR: slow_header
/// `HEADER_TIMEOUT` in the checks of a slow head: short, so that a
/// connection still open well past it shows that nothing bounds it.
const SHORT_HEADER_TIMEOUT: Duration = Duration::from_millis(300);

/// Sends half a request line and returns what the connection did over the
/// next second: `Ok(elapsed)` when the server closed it, `Err(())` when it
/// was still open.
fn half_a_head_for_a_second(bin: &Binary) -> Result<Duration, ()> {
    let server = bin
        .launch()
        .env(
            "HEADER_TIMEOUT",
            format!("{}ms", SHORT_HEADER_TIMEOUT.as_millis()),
        )
        .start();
    let mut half = half_request_in_flight(&server);
    let sent = Instant::now();
    half.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("a read timeout");
    let mut buf = [0; 256];
    match half.read(&mut buf) {
        // Closed (with or without a reset): no answer came.
        Ok(0) => Ok(sent.elapsed()),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => Ok(sent.elapsed()),
        Ok(n) => panic!(
            "half a request line got an answer: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => Err(()),
    }
}

/// Steps 2 to 7: `axum::serve` 0.8 installs no timer, so hyper's header
/// timeout never runs. A client that sent half a request line keeps its
/// connection, and its task, whatever `HEADER_TIMEOUT` says: the failure
/// step 8 fixes.
pub fn slow_header_keeps_its_connection(bin: &Binary) {
    let closed = half_a_head_for_a_second(bin);
    assert!(
        closed.is_err(),
        "the half request was closed after {closed:?}, with a header timeout \
         that axum::serve does not have"
    );
}

/// Steps 8+: the accept loop's timer runs hyper's header timeout: half a
/// request line is closed, unanswered, at `HEADER_TIMEOUT`.
pub fn slow_header_is_closed_at_header_timeout(bin: &Binary) {
    let closed = half_a_head_for_a_second(bin).unwrap_or_else(|()| {
        panic!(
            "half a request line still open 1 s after it was sent, with HEADER_TIMEOUT=300ms: \
             nothing closes a connection whose request head is not whole in time"
        )
    });
    // The line went out before `sent`: the timer may have run a little.
    assert!(
        closed + Duration::from_millis(100) >= SHORT_HEADER_TIMEOUT,
        "closed after {closed:?}, before HEADER_TIMEOUT"
    );
    println!("half a head: closed {closed:?} after it was sent");
}
// ANCHOR_END: slow_header
