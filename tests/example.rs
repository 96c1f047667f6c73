//! The one-file example, `examples/graceful_shutdown.rs`: its routes and
//! its refusals of bad settings. Its shutdown is checked as a step's is,
//! in `tests/steps.rs` (`graceful_shutdown::…`), from `tools::matrix`.

use libtest2_mimic::Trial;
use tools::{
    checks::PROMPTLY,
    client::get,
    harness::{Launch, assert_exit_code},
    matrix::EXAMPLE,
};

use crate::config::{refuses, refuses_a_port_in_use};

/// This file's tests, for `tests/steps.rs` to run.
pub(crate) fn trials() -> Vec<Trial> {
    trials![
        health_and_slow_answer_as_the_contract_says,
        shutdown_timeout_that_is_not_a_duration,
        port_that_is_not_a_number,
        rust_log_that_is_not_a_filter,
        port_already_in_use,
    ]
}

/// The example as the harness names it (`target/debug/examples/…`), once
/// it is built: `cargo test --test steps` builds no example itself.
fn example() -> &'static str {
    EXAMPLE.path();
    "examples/graceful_shutdown"
}

/// The routes of the contract: `/health` says `ok`; `/slow` refuses a mode
/// it does not know, and a missing `ms`.
fn health_and_slow_answer_as_the_contract_says() {
    let mut server = Launch::new(example()).start();
    assert_eq!(
        get(&server.url("/health"), PROMPTLY),
        Ok((200, "ok".into()))
    );
    for refused in ["/slow?ms=1&mode=query", "/slow?mode=async"] {
        let answer = get(&server.url(refused), PROMPTLY);
        assert_eq!(answer.map(|(status, _)| status), Ok(400), "{refused}");
    }
    assert_eq!(
        get(&server.url("/slow?ms=1"), PROMPTLY),
        Ok((200, "done".into()))
    );
    assert_exit_code(server.stop(PROMPTLY), 0);
}

/// `SHUTDOWN_TIMEOUT=soon` is one line naming it, and exit 2.
fn shutdown_timeout_that_is_not_a_duration() {
    refuses(example(), "SHUTDOWN_TIMEOUT", "soon");
}

/// `PORT=abc` is refused, naming PORT.
fn port_that_is_not_a_number() {
    refuses(example(), "PORT", "abc");
}

/// `RUST_LOG` that is not a filter.
fn rust_log_that_is_not_a_filter() {
    refuses(example(), "RUST_LOG", "info,graceful_shutdown=louder");
}

/// A port that another process holds: exit 2, naming the address.
fn port_already_in_use() {
    refuses_a_port_in_use(example());
}
