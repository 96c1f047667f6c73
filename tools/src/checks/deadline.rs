//! Step 3 on: the drain deadline, counted from the signal, and the cut-off.

use super::*;

// ANCHOR: deadline_ends_a_stuck_request
/// Steps 3+: the drain ends at `SHUTDOWN_TIMEOUT` after the signal. The
/// stuck request (waiting at an `.await`) is cut, the database still
/// closed, the exit status 1, within the bound.
pub fn deadline_ends_a_stuck_request(bin: &Binary) {
    let mut server = launch_counted(bin, "500ms");
    let request = slow_request_in_flight(&server, 60_000, Duration::from_secs(70));

    assert_cut_at_the_deadline(bin, &mut server, "stuck request");

    let answer = request.join().unwrap();
    assert!(answer.is_err(), "the stuck request was cut: {answer:?}");
    assert_abandoned(&server.logs(), 1, 0, 0, 1);
}
// ANCHOR_END: deadline_ends_a_stuck_request

// ANCHOR: deadline_starts_at_the_signal
/// Steps 3+: the deadline counts from the signal, not from the start: a
/// server that has been up longer than `SHUTDOWN_TIMEOUT` still drains.
pub fn deadline_starts_at_the_signal(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "1s").start();
    // Outlive the deadline before the signal (the warm-up alone takes
    // longer than it), then put in flight a request that fits the budget
    // only if the clock starts at the signal.
    let warm_up = slow_request_in_flight(&server, 1200, Duration::from_secs(10));
    assert_eq!(warm_up.join().unwrap().map(|(status, _)| status), Ok(200));
    let request = slow_request_in_flight(&server, 500, Duration::from_secs(10));

    server.signal(Signal::SIGTERM);
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM (SHUTDOWN_TIMEOUT=1s; in flight: a request of 500 ms)",
        &with_database(bin, &["shutting down", "database closed", "server stopped"]),
    );

    assert_eq!(
        request.join().unwrap(),
        Ok((200, "done".to_owned())),
        "a request that fits the budget counted from the signal must be answered"
    );
    assert_exit_status(status, 0);
    assert!(
        !server.has_log("shutdown timed out"),
        "the drain timed out though the request fit the budget counted from the signal: \
         is the deadline counted from start-up?"
    );
}
// ANCHOR_END: deadline_starts_at_the_signal

// ANCHOR: half_request_does_not_outlive_the_deadline
/// Steps 3+: a client that sent half a request line cannot hold the
/// process beyond the deadline.
pub fn half_request_does_not_outlive_the_deadline(bin: &Binary) {
    let mut server = launch_counted(bin, "500ms");
    let _half = half_request_in_flight(&server);

    assert_cut_at_the_deadline(bin, &mut server, "half request");

    assert_abandoned(&server.logs(), 0, 0, 0, 1);
}
// ANCHOR_END: half_request_does_not_outlive_the_deadline
