//! Lesson 3's "break it" check: step 3's checks, run against
//! `lesson3-break`, which is step 3 with one common mistake planted.
//!
//! ```text
//! cargo test -p lessons --test lesson3-break
//! ```
//!
//! As shipped, some fail; find the mistake from what they report, fix it
//! in `03-drain-deadline/break-it.rs`, and they all pass.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson_break(3)]);
}
