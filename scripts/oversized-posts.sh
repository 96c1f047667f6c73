#!/usr/bin/env bash
# How many of 100 oversized posts get their 413, for each client (Python's
# http.client, curl with `Expect:` turned off, ureq), each sending a 3 MB
# body whole, without `Expect: 100-continue`, with Content-Length and
# chunked: before src/body.rs and with it, three rounds each.
#
# "Before" is step 4 built from the parent of the commit that added
# src/body.rs (or from REVISION), in target/before.
#
#   scripts/oversized-posts.sh [REVISION]          # print the table
#   scripts/oversized-posts.sh --book [REVISION]   # and write book/src/figures/oversized-posts.txt
set -euo pipefail
cd "$(dirname "$0")/.."

book=
if [ "${1:-}" = --book ]; then book=book/src/figures/oversized-posts.txt; shift; fi
added=$(git log --diff-filter=A --format=%H -- src/body.rs | tail -1)
before=${1:-$added^}
rounds=3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tree"
git archive "$before" | tar -x -C "$tmp/tree"
scripts/timed-build.sh -q --bin step4 --manifest-path "$tmp/tree/Cargo.toml" --target-dir target/before
scripts/timed-build.sh -q --bin step4

# Appends `client|framing|413s` lines of one round against binary $2 to $1.
round() {
    OVERSIZED_BIN="$2" cargo test -q --test steps measure_oversized_posts \
        -- --ignored --quiet 2>/dev/null | grep -F '|' | cut -d'|' -f1-3 >>"$1"
}
for _ in $(seq "$rounds"); do
    round "$tmp/before" target/before/debug/step4
    round "$tmp/after" target/debug/step4
done

{
    echo "\$ scripts/oversized-posts.sh"
    echo "# 413s received of 100 posts of a 3 MB body sent whole, $rounds rounds; before:" \
        "$(git rev-parse --short "$before"), after: $(git rev-parse --short HEAD);" \
        "$(date +%F), $(uname -s) $(uname -m), $(nproc) cores"
    printf '%-20s %-15s %-14s %s\n' client framing before after
    # Every client and framing, with its rounds side by side.
    cut -d'|' -f1-2 "$tmp/before" | awk '!seen[$0]++' | while IFS='|' read -r client framing; do
        pick() { grep -F "$client|$framing|" "$1" | cut -d'|' -f3 | paste -sd' '; }
        printf '%-20s %-15s %-14s %s\n' "$client" "$framing" "$(pick "$tmp/before")" "$(pick "$tmp/after")"
    done
} | tee "$tmp/table"
if [ -n "$book" ]; then cp "$tmp/table" "$book"; echo "wrote $book"; fi
