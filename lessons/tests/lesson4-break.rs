//! Lesson 4's "break it" check: step 4's checks, run against
//! `lesson4-break`, which is step 4 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson4-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `04-second-signal/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(4)]);
}
