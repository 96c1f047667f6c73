//! Lesson 4's check: the checks that prove step 4, run against your
//! `lesson4`. The table in `tools/src/matrix.rs` says which; they are the
//! very functions (`tools::checks`) the root `cargo test` runs on `step4`.
//!
//! ```text
//! cargo test -p lessons --test lesson4
//! ```
//!
//! As shipped, the exercise fails its goal checks (its README lists
//! them); that is the point. When they all pass, the lesson is done.

fn main() {
    #[cfg(unix)]
    tools::matrix::run_checks(&[tools::matrix::lesson(4)]);
}
