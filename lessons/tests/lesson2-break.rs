//! Lesson 2's "break it" check: step 2's checks, run against
//! `lesson2-break`, which is step 2 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson2-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `02-catch-the-signal/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(2)]);
}
