//! Lesson 5's "break it" check: step 5's checks, run against
//! `lesson5-break`, which is step 5 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson5-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `05-keep-the-bound/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(5)]);
}
