//! Step 4 on: a second signal cuts off at once (and, in step 3, does not).

use super::*;

// ANCHOR: second_signal_does_not_force
/// Step 3: a second signal is caught and ignored; only the deadline ends
/// the drain.
pub fn second_signal_does_not_force(bin: &Binary) {
    let mut server = bin.launch().env("SHUTDOWN_TIMEOUT", "1500ms").start();
    let _request = slow_request_in_flight(&server, 60_000, Duration::from_secs(70));

    let first = server.signal(Signal::SIGTERM);
    expect_log(&mut server, &["shutting down"], PROMPTLY, "the SIGTERM");
    server.signal(Signal::SIGINT);
    let status = expect_exit_after(
        &mut server,
        Duration::from_secs(5),
        "the SIGTERM (SHUTDOWN_TIMEOUT=1500ms; in flight: a stuck request), and a SIGINT \
         after it",
        &with_database(bin, CUT_OFF_LINES),
    );
    let took = first.elapsed();

    assert_exit_status(status, 1);
    assert!(
        took >= Duration::from_millis(1500),
        "exited {took:?} after the first signal, before the 1500ms deadline counted from \
         it: the deadline started earlier than the signal, or the second signal cut the \
         stop short (step 3 ignores it)"
    );
    assert!(
        server.has_log("shutdown timed out"),
        "no `shutdown timed out`: the drain should end at its deadline"
    );
    assert!(
        !server.has_log("forced shutdown"),
        "step 3 ignores a second signal, yet it forced the stop"
    );
}
// ANCHOR_END: second_signal_does_not_force

// ANCHOR: second_signal_forces_exit
/// Steps 4+: a second signal during the drain forces the exit at once,
/// within the bound: a request waiting at an `.await` and half a request;
/// from step 5 on, whatever is in flight, a request on a blocking thread
/// and a running query (rolled back) too. The database is still closed;
/// the status is 1.
pub fn second_signal_forces_exit(bin: &Binary, second: Signal) {
    let mut server = launch_counted(bin, "30s");
    let _half = half_request_in_flight(&server);
    let modes: &[&str] = match (bin.has.bound, bin.has.database) {
        (true, true) => &["async", "blocking", "query"],
        (true, false) => &["async", "blocking"],
        (false, _) => &["async"],
    };
    let requests: Vec<_> = modes
        .iter()
        .map(|mode| slow_in_flight(&server, mode))
        .collect();

    let stop = with_database(
        bin,
        &[
            "shutting down",
            "forced shutdown",
            "abandoned",
            "database closed",
            "server stopped",
        ],
    );
    server.signal(Signal::SIGTERM);
    expect_log(&mut server, &["shutting down"], PROMPTLY, "the SIGTERM");
    let sent = server.signal(second);
    let after = format!(
        "the second signal ({second}; SHUTDOWN_TIMEOUT=30s; in flight: half a request, and \
         requests of modes {modes:?})"
    );
    let status = expect_exit_after(&mut server, BOUND + PROMPTLY, &after, &stop);
    let took = sent.elapsed();

    assert_exit_status(status, 1);
    assert!(
        took < BOUND,
        "exited {took:?} after the second signal (the bound is {BOUND:?})"
    );
    for request in requests {
        assert!(
            request.join().unwrap().is_err(),
            "a request in flight was answered: the second signal should have cut it off"
        );
    }
    let logs = server.logs();
    assert_logged_in_order(&logs, &stop);
    let counts = |mode| usize::from(modes.contains(&mode));
    assert_abandoned(
        &logs,
        modes.len(),
        counts("blocking"),
        counts("query"),
        modes.len() + 1,
    );
    assert!(
        !server.has_log("left behind"),
        "the server task still ran after the forced cut-off (the log says `left behind`): \
         every connection must end once cut off, and `serve` must have been told to stop \
         at the drain"
    );
    if modes.contains(&"query") {
        assert_cut_query_rolled_back(&server.db_path);
    }
    println!("second {second}: exit {took:?} after it");
}
// ANCHOR_END: second_signal_forces_exit
