//! Lesson 6's "break it" check: step 6's checks, run against
//! `lesson6-break`, which is step 6 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson6-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `06-shutdown-in-order/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(6)]);
}
