//! Step 5 on: the bound kept against work no cancellation reaches, a
//! blocking thread and a running query (and, in steps 3 and 4, not kept).

use super::*;

// ANCHOR: deadline_ends_blocking_work
/// Steps 5+: a request on a blocking thread, which no cancellation
/// reaches, does not hold the process past the deadline: the thread is
/// left behind.
pub fn deadline_ends_blocking_work(bin: &Binary) {
    let mut server = launch_counted(bin, "500ms");
    let request = slow_in_flight(&server, "blocking");

    assert_cut_at_the_deadline(bin, &mut server, "blocking thread");

    assert!(request.join().unwrap().is_err(), "the request was cut");
    assert_abandoned(&server.logs(), 1, 1, 0, 1);
}
// ANCHOR_END: deadline_ends_blocking_work

// ANCHOR: deadline_ends_a_query
/// Steps 5+: a query still running at the deadline is stopped, its
/// transaction rolled back, and the database closed cleanly.
pub fn deadline_ends_a_query(bin: &Binary) {
    let mut server = launch_counted(bin, "500ms");
    let request = slow_in_flight(&server, "query");

    assert_cut_at_the_deadline(bin, &mut server, "running query");

    assert!(request.join().unwrap().is_err(), "the request was cut");
    assert_abandoned(&server.logs(), 1, 0, 1, 1);
    assert_cut_query_rolled_back(&server.db_path);
}
// ANCHOR_END: deadline_ends_a_query

// ANCHOR: deadline_ends_a_query_waiting_for_a_lock
/// Steps 5+: a query waiting for a lock that another connection holds (a
/// backup, an operator's `sqlite3` shell with a transaction open) waits
/// in SQLite's busy handler, up to the store's 5 s `busy_timeout`, and the
/// cut-off's interrupt does not end that wait. The close cannot have the
/// connection: it gives up at the bound and says so, and the process exits.
pub fn deadline_ends_a_query_waiting_for_a_lock(bin: &Binary) {
    let mut server = launch_counted(bin, "500ms");
    // Another process's write transaction, held until the checks below.
    let other = rusqlite::Connection::open(&server.db_path).expect("open the database");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let request = slow_in_flight(&server, "query");

    let sent = server.signal(Signal::SIGTERM);
    let after = format!(
        "the SIGTERM (SHUTDOWN_TIMEOUT={DEADLINE:?}; in flight: a query waiting for a lock \
         another connection holds)"
    );
    let stop = [
        "shutting down",
        "shutdown timed out",
        "abandoned",
        "closing the database failed",
        "server stopped",
    ];
    let status = expect_exit_after(&mut server, DEADLINE + BOUND + PROMPTLY, &after, &stop);
    let past = sent.elapsed().saturating_sub(DEADLINE);

    assert_exit_status(status, 1);
    assert!(
        past < BOUND,
        "exited {past:?} after the deadline (the bound is {BOUND:?}): the close waited for \
         the connection, which the query waiting for the lock held; it must give up in time"
    );
    assert_logged_in_order(&server.logs(), &stop);
    assert!(request.join().unwrap().is_err(), "the request was cut");
    // The lock released, the database is sound, without the query's row.
    other.execute_batch("ROLLBACK").unwrap();
    assert_sound_without_the_query(&other);
    println!("query waiting for a lock: exit {past:?} after the {DEADLINE:?} deadline");
}
// ANCHOR_END: deadline_ends_a_query_waiting_for_a_lock

// ANCHOR: work_outlives_the_deadline
/// How long the work in [`blocking_work_outlives_the_deadline`] and
/// [`query_outlives_the_deadline`] takes: long past the deadline and its
/// bound, short enough for a test.
const OUTLIVING_WORK: Duration = Duration::from_millis(2000);

/// Starts `/slow?ms=2000&mode=…`, sends SIGTERM, and asserts that the
/// process is still there well past the deadline and its bound, and exits
/// only once the work has ended: the failure step 5 fixes.
#[track_caller]
fn assert_work_outlives_the_deadline(bin: &Binary, mode: &str) {
    let mut server = launch_counted(bin, "500ms");
    let from = server.line_count();
    let url = server.url(&format!(
        "/slow?ms={}&mode={mode}",
        OUTLIVING_WORK.as_millis()
    ));
    let request = thread::spawn(move || get(&url, Duration::from_secs(10)));
    let field = format!("mode={mode}");
    let started = server.wait_for_line(from, Duration::from_secs(10), |text| {
        text.contains("slow request started") && text.split_whitespace().any(|word| word == field)
    });
    assert!(started.is_some(), "mode={mode} never started");

    let sent = server.signal(Signal::SIGTERM);
    let after = format!("the SIGTERM (SHUTDOWN_TIMEOUT={DEADLINE:?}; in flight: {mode} work)");
    expect_log(
        &mut server,
        &["shutting down", "shutdown timed out", "abandoned"],
        DEADLINE + PROMPTLY,
        &after,
    );
    let held = server.wait_exit(DEADLINE + BOUND * 2);
    let status = expect_exit_after(
        &mut server,
        OUTLIVING_WORK + PROMPTLY,
        &format!("{after}, work of {OUTLIVING_WORK:?}"),
        &with_database(bin, &["abandoned", "database closed", "server stopped"]),
    );
    let took = sent.elapsed();

    assert_eq!(
        held, None,
        "{mode}: exited within the bound, which steps 3 and 4 do not keep for this work"
    );
    assert!(request.join().unwrap().is_err(), "the request was cut");
    assert_exit_status(status, 1);
    println!("{mode} work: exit {took:?} after the signal, deadline {DEADLINE:?}");
}

/// Steps 3 and 4: a blocking thread is cut off from its client at the
/// deadline, but the process waits for the thread to end: dropping the
/// runtime of `#[tokio::main]` waits for every blocking thread.
pub fn blocking_work_outlives_the_deadline(bin: &Binary) {
    assert_work_outlives_the_deadline(bin, "blocking");
}

/// Steps 3 and 4: a running query is cut off from its client at the
/// deadline, but the statement runs on and holds the connection, so the
/// close waits for it, and so does the exit.
pub fn query_outlives_the_deadline(bin: &Binary) {
    assert_work_outlives_the_deadline(bin, "query");
}
// ANCHOR_END: work_outlives_the_deadline
