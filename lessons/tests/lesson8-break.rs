//! Lesson 8's "break it" check: step 8's checks, run against
//! `lesson8-break`, which is step 8 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson8-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `08-an-accept-loop-of-our-own/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(8)]);
}
