//! Step 6 on: background work stopped in order, buffers flushed, the log
//! file complete.

use super::*;

// ANCHOR: buffered_visits_are_flushed
/// Visits answered just before SIGTERM are in the database after exit,
/// although the periodic flush would not have come for an hour.
pub fn buffered_visits_are_flushed(bin: &Binary) {
    let mut server = bin.launch().env("FLUSH_INTERVAL", "1h").start();
    let id = create_bookmarks(&server, 1)[0];
    let visit = server.url(&format!("/bookmarks/{id}/visit"));
    for _ in 0..25 {
        let (status, _) = get(&visit, PROMPTLY).expect("GET /bookmarks/{id}/visit got no answer");
        assert_eq!(status, 302);
    }
    let (_, body) = get(&server.url(&format!("/bookmarks/{id}")), PROMPTLY).unwrap();
    assert!(body.contains("\"visits\":25"), "{body}");

    sigterm_stops_cleanly(
        &mut server,
        "the SIGTERM",
        &["shutting down", "server stopped"],
    );
    assert_eq!(
        stored_visits(&server.db_path, id),
        25,
        "visits in the database after the stop, of the 25 answered before the SIGTERM \
         (FLUSH_INTERVAL=1h: no periodic flush came): the visits counted in memory must be \
         written at the stop"
    );
    assert!(
        server.has_log("visits flushed visits=25"),
        "no `visits flushed visits=25` line: the buffered visits were not flushed at the stop"
    );
}
// ANCHOR_END: buffered_visits_are_flushed

// ANCHOR: steady_visits_are_not_lost
/// Under a steady stream of visits, every visit answered with 302 before
/// the exit is in the database: none is lost at SIGTERM.
pub fn steady_visits_are_not_lost(bin: &Binary) {
    let mut server = bin.launch().env("FLUSH_INTERVAL", "100ms").start();
    let id = create_bookmarks(&server, 1)[0];
    let visit = server.url(&format!("/bookmarks/{id}/visit"));
    // Each client reports every answered visit, and at its end how many
    // it sent.
    let (report, reports) = mpsc::channel();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (visit, report) = (visit.clone(), report.clone());
            thread::spawn(move || {
                // Bounded: the server stops within seconds, and with it
                // every client; the count is a backstop.
                for sent in 1..=100_000 {
                    if !matches!(get(&visit, PROMPTLY), Ok((302, _))) {
                        return sent;
                    }
                    let _ = report.send(());
                }
                100_000
            })
        })
        .collect();
    drop(report);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut answered = 0;
    while answered < 200 {
        let left = deadline.saturating_duration_since(Instant::now());
        reports.recv_timeout(left).expect("200 visits within 10 s");
        answered += 1;
    }

    server.signal(Signal::SIGTERM);
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM, with visits still coming",
        &["shutting down", "server stopped"],
    );
    let sent: i64 = clients
        .into_iter()
        .map(|client| client.join().unwrap())
        .sum();
    // The visits answered after the first 200, up to the exit.
    answered += reports.iter().count();

    assert_exit_status(status, 0);
    let answered = answered as i64;
    let stored = stored_visits(&server.db_path, id);
    assert!(
        stored >= answered,
        "lost {} of the {answered} visits answered: those counted in memory since the last \
         periodic flush (FLUSH_INTERVAL=100ms) never reached the database",
        answered - stored
    );
    assert!(stored <= sent, "{stored} stored, only {sent} sent");
    println!("steady visits: {answered} answered, {stored} stored, {sent} sent");
}
// ANCHOR_END: steady_visits_are_not_lost

// ANCHOR: unit_in_progress_is_committed_whole
/// A link-check unit in progress at the signal is finished and committed
/// whole before the process exits; no unit is ever half-written.
pub fn unit_in_progress_is_committed_whole(bin: &Binary) {
    let mut server = bin
        .launch()
        .env("SHUTDOWN_TIMEOUT", "10s")
        .env("CHECK_INTERVAL", "50ms")
        .env("CHECK_DELAY", "30ms")
        .start();
    // Five units of ten: a checker that ignored its token would go on
    // starting units after the signal.
    create_bookmarks(&server, 45);
    // The second unit of a pass: the first is committed, this one is in
    // its 300 ms of checking when the signal comes.
    let limit = Duration::from_secs(10);
    let (committed, _) = server
        .wait_for_line(0, limit, |text| text.contains("link check unit committed"))
        .expect("a link-check unit committed within 10 s");
    server
        .wait_for_line(committed + 1, limit, |text| text.contains("unit started"))
        .expect("a second unit started within 10 s");
    // A drain long enough for three more units: a worker told to stop
    // only after the drain would start them.
    let request = slow_request_in_flight(&server, 1200, Duration::from_secs(10));

    sigterm_stops_cleanly(
        &mut server,
        "the SIGTERM (SHUTDOWN_TIMEOUT=10s; a link-check unit in hand)",
        &["shutting down", "server stopped"],
    );
    assert_eq!(request.join().unwrap().map(|(status, _)| status), Ok(200));
    let logs = server.logs();
    let started = logs.iter().filter(|l| l.contains("unit started")).count();
    let committed = logs.iter().filter(|l| l.contains("unit committed")).count();
    assert_eq!(
        started, committed,
        "link-check units started, and committed: the unit in hand at the signal must be \
         finished and committed before the exit"
    );
    // The unit in hand may have been fetched just as the signal came; no
    // other may start after it.
    let signal_at = line_index(&logs, "shutting down");
    let late = logs[signal_at..]
        .iter()
        .filter(|l| l.contains("unit started"))
        .count();
    assert!(
        late <= 1,
        "{late} units started after the signal: {logs:#?}"
    );
    assert_eq!(assert_units_whole(&server.db_path), committed as i64);
    assert!(
        line_index(&logs, "shutting down")
            < logs
                .iter()
                .rposition(|l| l.contains("unit committed"))
                .unwrap(),
        "the last unit was committed after the signal"
    );
}
// ANCHOR_END: unit_in_progress_is_committed_whole

// ANCHOR: stuck_worker_is_cut_at_the_deadline
/// A worker that cannot stop in time (a unit longer than the deadline) is
/// cut off at the deadline: exit 1, the unit leaves no trace, and the
/// buffer is flushed and the database closed all the same.
pub fn stuck_worker_is_cut_at_the_deadline(bin: &Binary) {
    let mut server = bin
        .launch()
        .env("SHUTDOWN_TIMEOUT", "500ms")
        .env("CHECK_INTERVAL", "50ms")
        .env("CHECK_DELAY", "10s")
        .env("FLUSH_INTERVAL", "1h")
        .start();
    let id = create_bookmarks(&server, 1)[0];
    assert_eq!(
        get(&server.url(&format!("/bookmarks/{id}/visit")), PROMPTLY)
            .unwrap()
            .0,
        302
    );
    server.wait_for_log("link check unit started", Duration::from_secs(10));

    assert_cut_at_the_deadline(bin, &mut server, "stuck worker");

    let logs = server.logs();
    let order = assert_logged_in_order(
        &logs,
        &[
            "requests drained",
            "stopping workers",
            "phase=\"workers\"",
            "abandoned",
            "visits flushed visits=1",
            "database closed",
            "server stopped",
        ],
    );
    assert!(
        logs[order[2]].contains("shutdown timed out"),
        "the stuck worker should have run the stop out of time (`shutdown timed out`)"
    );
    // The worker was waiting at an `.await`, neither a request, nor a
    // blocking task, nor a query.
    assert_abandoned(&logs, 0, 0, 0, 0);
    assert_eq!(assert_units_whole(&server.db_path), 0, "no unit committed");
    assert_eq!(stored_visits(&server.db_path, id), 1);
}
// ANCHOR_END: stuck_worker_is_cut_at_the_deadline

// ANCHOR: second_signal_cuts_a_stuck_worker
/// A second signal cuts off a worker in the middle of a unit within the
/// bound: exit 1, the unit leaves no trace, the buffer is flushed and the
/// database closed all the same.
pub fn second_signal_cuts_a_stuck_worker(bin: &Binary) {
    let mut server = bin
        .launch()
        .env("SHUTDOWN_TIMEOUT", "30s")
        .env("CHECK_INTERVAL", "50ms")
        .env("CHECK_DELAY", "10s")
        .env("FLUSH_INTERVAL", "1h")
        .start();
    let id = create_bookmarks(&server, 1)[0];
    assert_eq!(
        get(&server.url(&format!("/bookmarks/{id}/visit")), PROMPTLY)
            .unwrap()
            .0,
        302
    );
    server.wait_for_log("link check unit started", Duration::from_secs(10));

    let stop = [
        "shutting down",
        "requests drained",
        "stopping workers",
        "forced shutdown",
        "abandoned",
        "visits flushed visits=1",
        "database closed",
        "server stopped",
    ];
    server.signal(Signal::SIGTERM);
    expect_log(
        &mut server,
        &stop[..3],
        PROMPTLY,
        "the SIGTERM (SHUTDOWN_TIMEOUT=30s; a link-check unit stuck for 10 s)",
    );
    let sent = server.signal(Signal::SIGTERM);
    let status = expect_exit_after(
        &mut server,
        BOUND + PROMPTLY,
        "a second SIGTERM, while the stop waits for the stuck worker",
        &stop,
    );
    let took = sent.elapsed();

    assert_exit_status(status, 1);
    assert!(
        took < BOUND,
        "exited {took:?} after the second signal (the bound is {BOUND:?})"
    );
    let logs = server.logs();
    assert_logged_in_order(&logs, &stop[2..]);
    assert!(
        !server.has_log("left behind"),
        "a worker was left behind after the cut-off: it should have been aborted"
    );
    assert_eq!(assert_units_whole(&server.db_path), 0, "no unit committed");
    assert_eq!(stored_visits(&server.db_path, id), 1);
    println!("stuck worker, second signal: exit {took:?} after it");
}
// ANCHOR_END: second_signal_cuts_a_stuck_worker

// ANCHOR: phases_in_order_and_log_file_complete
/// Shutdown runs its phases in order, each logged, and the log file's last
/// line is `server stopped`.
pub fn phases_in_order_and_log_file_complete(bin: &Binary) {
    let log_file = tempfile::NamedTempFile::new().unwrap();
    let mut server = bin
        .launch()
        .env("LOG_FILE", log_file.path())
        // No periodic flush before the signal: the final one must write.
        .env("FLUSH_INTERVAL", "1h")
        .start();
    let id = create_bookmarks(&server, 1)[0];
    assert_eq!(
        get(&server.url(&format!("/bookmarks/{id}/visit")), PROMPTLY)
            .unwrap()
            .0,
        302
    );

    sigterm_stops_cleanly(
        &mut server,
        "the SIGTERM",
        &["shutting down", "server stopped"],
    );
    let logs = server.logs();
    assert_logged_in_order(
        &logs,
        &[
            "server starting",
            "shutting down",
            "requests drained",
            "stopping workers",
            "workers stopped",
            "visits flushed visits=1",
            "database closed",
            "server stopped",
        ],
    );
    let file = std::fs::read_to_string(log_file.path()).unwrap();
    let last = file.lines().last().unwrap_or_default();
    assert!(
        last.contains("server stopped"),
        "the last line of LOG_FILE is {last:?}, not `server stopped`: the log file must be \
         flushed after the stop's last line"
    );
    assert!(
        file.contains("server starting"),
        "LOG_FILE has the whole run"
    );
}
// ANCHOR_END: phases_in_order_and_log_file_complete

// Step 6 on: readiness, a pre-stop delay, streams that end with the drain.
