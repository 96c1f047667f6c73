//! Step 1 dies mid-request; step 2 on drains: the checks of catching the
//! signal, and what a drain without a deadline cannot end.

use super::*;

// ANCHOR: signal_kills_mid_request
/// Step 1: a signal ends the process mid-request. The client's connection
/// breaks, the process dies by the signal, and nothing is cleaned up: the
/// database is left with its write-ahead log beside it, as after a crash.
pub fn signal_kills_mid_request(bin: &Binary, signal: Signal) {
    let mut server = bin.launch().start();
    let request = slow_request_in_flight(&server, 5000, Duration::from_secs(10));

    server.signal(signal);
    let status = server.expect_exit(PROMPTLY);

    assert_eq!(status.signal(), Some(signal as i32), "killed by {signal}");
    let answer = request.join().unwrap();
    assert!(answer.is_err(), "the in-flight request broke: {answer:?}");
    // A clean close would have checkpointed the log and removed it.
    let wal = server.db_path.with_extension("db-wal");
    assert!(
        wal.exists(),
        "the database was closed: no {}",
        wal.display()
    );
}
// ANCHOR_END: signal_kills_mid_request

// ANCHOR: drain_completes_in_flight_request
/// Steps 2+: after the signal the listener closes (new connections are
/// refused) while the request in flight still completes with 200; the log
/// tells the story in order and the exit status is 0.
pub fn drain_completes_in_flight_request(bin: &Binary, signal: Signal) {
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "10s").start();
    let addr = server.addr();
    let request = slow_request_in_flight(&server, 1500, Duration::from_secs(10));

    let stop = with_database(
        bin,
        &[
            "server starting",
            "shutting down",
            "database closed",
            "server stopped",
        ],
    );
    let sent = server.signal(signal);
    let after = format!("the {signal}");
    expect_log(&mut server, &["shutting down"], PROMPTLY, &after);
    let refused_after = wait_until_refused(addr, PROMPTLY);
    let answer = request.join().unwrap();
    let status = expect_exit_after(&mut server, Duration::from_secs(10), &after, &stop);
    let took = sent.elapsed();

    assert!(
        refused_after.is_some(),
        "new connections were still accepted after `shutting down`"
    );
    assert_eq!(
        answer,
        Ok((200, "done".to_owned())),
        "the request in flight at the signal must get its whole answer (an Err is a \
         connection that broke)"
    );
    assert_exit_status(status, 0);
    assert!(
        took >= Duration::from_millis(1000),
        "exited after {took:?}, before the request could have finished"
    );
    let logs = server.logs();
    assert_logged_in_order(&logs, &stop);
    assert!(
        logs.last().unwrap().contains("server stopped"),
        "`server stopped` is the last line"
    );
    let named = if signal == Signal::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    assert!(
        server.has_log(&format!("signal=\"{named}\"")),
        "names {named}"
    );
}
// ANCHOR_END: drain_completes_in_flight_request

// ANCHOR: idle_keep_alive_does_not_delay_exit
/// Steps 2+: an idle keep-alive connection does not hold the drain.
pub fn idle_keep_alive_does_not_delay_exit(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "10s").start();
    let mut idle = idle_keep_alive(server.addr());

    let sent = server.signal(Signal::SIGTERM);
    // The server closes the idle connection itself, at once: the client
    // reads end-of-stream (within the 5 s read timeout), not an error.
    assert_eq!(
        idle.wait_closed(),
        Ok(()),
        "the idle keep-alive connection was not closed after the SIGTERM: it holds the drain"
    );
    let status = expect_exit_after(
        &mut server,
        PROMPTLY,
        "the SIGTERM, with an idle keep-alive connection open",
        &with_database(bin, &["shutting down", "database closed", "server stopped"]),
    );
    let took = sent.elapsed();

    assert_exit_status(status, 0);
    println!("idle keep-alive: exit {took:?} after SIGTERM");
}
// ANCHOR_END: idle_keep_alive_does_not_delay_exit

// ANCHOR: stuck_request_holds_the_drain
/// Step 2: one stuck request holds the drain for as long as it lasts.
pub fn stuck_request_holds_the_drain(bin: &Binary) {
    let mut server = bin.launch().start();
    let _request = slow_request_in_flight(&server, 60_000, Duration::from_secs(70));

    assert_signal_leaves_it_draining(&mut server);
}
// ANCHOR_END: stuck_request_holds_the_drain

// ANCHOR: query_in_flight_is_committed
/// Step 2, which has no deadline, waits for a query in flight at the
/// signal and commits it: the contrast with the cut-off of step 3 on.
pub fn query_in_flight_is_committed(bin: &Binary) {
    let mut server = bin.launch().start();
    let from = server.line_count();
    let url = server.url("/slow?ms=1000&mode=query");
    let request = thread::spawn(move || get(&url, Duration::from_secs(10)));
    let started = server.wait_for_line(from, Duration::from_secs(10), |text| {
        text.contains("slow request started") && text.contains("mode=query")
    });
    assert!(started.is_some(), "the query never started");

    let sent = server.signal(Signal::SIGTERM);
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(10),
        "the SIGTERM, with a 1 s query in flight",
        &["shutting down", "database closed", "server stopped"],
    );
    let took = sent.elapsed();

    assert_exit_status(status, 0);
    assert_eq!(
        request.join().unwrap(),
        Ok((200, "done".to_owned())),
        "the query in flight at the signal must be answered"
    );
    // Looked at before opening the database, which makes a -wal of its own.
    assert!(
        !server.db_path.with_extension("db-wal").exists(),
        "closed cleanly"
    );
    let conn = rusqlite::Connection::open(&server.db_path).expect("open the database");
    assert_eq!(slow_query_rows(&conn), 1, "the query was committed");
    println!("query in flight: committed, exit {took:?} after SIGTERM");
}
// ANCHOR_END: query_in_flight_is_committed

// ANCHOR: half_request_holds_the_drain
/// Step 2: a client that sent half a request line holds the drain as long
/// as it keeps the connection open.
pub fn half_request_holds_the_drain(bin: &Binary) {
    let mut server = bin.launch().start();
    let _half = half_request_in_flight(&server);

    assert_signal_leaves_it_draining(&mut server);
}
// ANCHOR_END: half_request_holds_the_drain

// ANCHOR: acknowledged_writes_are_in_the_database
/// Steps 2+: every write acknowledged before the signal is in the database
/// after the process exits, and a write in flight at the signal completes.
pub fn acknowledged_writes_are_in_the_database(bin: &Binary) {
    // A deadline far off: from step 5 on, twenty new bookmarks give the
    // link checker a unit of up to ten links (a second of checking) that
    // may be in hand at the signal, and this check is about the writes.
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "10s").start();
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let body =
            json!({ "url": format!("https://example.com/{n}"), "title": format!("page {n}") });
        let (status, body) = post_json(&server.url("/bookmarks"), &body)
            .expect("POST /bookmarks got no answer before the signal");
        assert_eq!(status, 201, "{body}");
        let stored: serde_json::Value = serde_json::from_str(&body).unwrap();
        acknowledged.push(stored["id"].as_i64().expect("an id"));
    }
    // One more in flight at the signal: the handler has asked for its
    // body (the server answered `100 Continue`), which is not sent yet.
    let body = json!({ "url": "https://example.com/late", "title": "late" }).to_string();
    let mut late = TcpStream::connect(server.addr()).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        late,
        "POST /bookmarks HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
         Expect: 100-continue\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut interim = [0; 25];
    late.read_exact(&mut interim)
        .expect("the server did not answer `100 Continue` to a POST with `Expect: 100-continue`");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");

    server.signal(Signal::SIGTERM);
    expect_log(&mut server, &["shutting down"], PROMPTLY, "the SIGTERM");
    late.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    late.read_to_string(&mut answer)
        .expect("a POST whose body was sent just after the signal got no whole answer: the drain dropped it");
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM",
        &with_database(bin, &["shutting down", "database closed", "server stopped"]),
    );

    assert!(answer.starts_with("HTTP/1.1 201"), "late write: {answer}");
    let late_id: serde_json::Value =
        serde_json::from_str(answer.split("\r\n\r\n").last().unwrap()).unwrap();
    acknowledged.push(late_id["id"].as_i64().expect("an id"));
    assert_exit_status(status, 0);
    assert_eq!(
        stored_ids(&server.db_path),
        acknowledged,
        "the ids in the database after the stop, and the ids of the writes answered 201"
    );
    // A clean close checkpoints the write-ahead log and removes it.
    let wal = server.db_path.with_extension("db-wal");
    assert!(!wal.exists(), "{} left behind", wal.display());
}
// ANCHOR_END: acknowledged_writes_are_in_the_database

// Step 5 on: background work, buffered writes, shutdown in order.
