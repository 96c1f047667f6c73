//! Lesson 9's "break it" check: step 9's checks, run against
//! `lesson9-break`, which is step 9 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson9-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `09-restart-on-a-kept-socket/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(9)]);
}
