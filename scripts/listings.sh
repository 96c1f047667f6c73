#!/usr/bin/env bash
# Regenerates the book's listings of runs: for each
# book/src/listings/NAME.scenario, book/src/listings/NAME.txt is what
# `listing` prints playing it against the step it starts (the format is
# described at the top of tools/src/bin/listing.rs). The scenarios run side
# by side, each on a port of its own. `cargo xtask check book` plays them
# again and fails when a committed listing no longer matches.
#
# Run from anywhere: scripts/listings.sh [NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet --package bookmarks --bins
cargo build --quiet --package tools --bin listing
target=${CARGO_TARGET_DIR:-target}

if [ "$#" -gt 0 ]; then
    names=("$@")
else
    names=()
    for scenario in book/src/listings/*.scenario; do
        name=${scenario##*/}
        names+=("${name%.scenario}")
    done
fi

pids=()
for name in "${names[@]}"; do
    "$target/debug/listing" "book/src/listings/$name.scenario" \
        >"book/src/listings/$name.txt.new" &
    pids+=("$!")
done
failed=0
for i in "${!pids[@]}"; do
    name=${names[$i]}
    if wait "${pids[$i]}"; then
        mv "book/src/listings/$name.txt.new" "book/src/listings/$name.txt"
        echo "book/src/listings/$name.txt"
    else
        rm -f "book/src/listings/$name.txt.new"
        echo "book/src/listings/$name.scenario: failed" >&2
        failed=1
    fi
done
# The lessons' quizzes show some of these listings as their answers.
cargo xtask answers
exit "$failed"
