//! Lesson 7's "break it" check: step 7's checks, run against
//! `lesson7-break`, which is step 7 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson7-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `07-ready-for-a-load-balancer/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(7)]);
}
