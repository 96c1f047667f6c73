#!/usr/bin/env bash
# `cargo build ARGS…`, saying first that a first build takes minutes and
# then how long this one took, so that a script that seems to hang at its
# start is seen to be compiling. Cargo's own progress stays as the caller
# asked (most pass --quiet).
#
#   scripts/timed-build.sh --release --quiet --bin step2
set -euo pipefail
echo "building: cargo build $* (a first build takes minutes)" >&2
start=$(date +%s)
cargo build "$@"
echo "built in $(( $(date +%s) - start )) s" >&2
