#!/usr/bin/env bash
# How many of 100 oversized posts get their 413, for each client (Python's
# http.client, curl with `Expect:` turned off, ureq), each sending a 3 MB
# body whole without `Expect: 100-continue`, with Content-Length and
# chunked: before src/body.rs and with it.
#
# "Before" is step 4 built from the parent of the commit that added
# src/body.rs (or from the revision given), in target/before.
#
# Usage: scripts/oversized-posts.sh [REVISION]
set -euo pipefail
cd "$(dirname "$0")/.."

added=$(git log --diff-filter=A --format=%H -- src/body.rs | tail -1)
before=${1:-$added^}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive "$before" | tar -x -C "$tmp"
echo "building step4 at $(git rev-parse --short "$before") (before) and as checked out (after)"
cargo build -q --bin step4 --manifest-path "$tmp/Cargo.toml" --target-dir target/before
cargo build -q --bin step4

measure() {
    OVERSIZED_BIN="$1" cargo test -q --test clients measure_oversized_posts \
        -- --ignored --nocapture 2>/dev/null | grep -E 'got 413|not installed'
}
echo "--- before"
measure target/before/debug/step4
echo "--- after"
measure target/debug/step4
