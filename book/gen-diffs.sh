#!/usr/bin/env bash
# Writes book/src/diffs/stepN.diff: what changed from src/bin/step(N-1).rs
# to src/bin/stepN.rs, as `diff -u` prints it; and book/src/diffs/stepN.rs,
# the step's code as the diffs see it, which each chapter shows whole at
# its end. The chapters include these files; `cargo xtask check book` fails
# when one no longer matches the code.
#
# Left out on both sides: lines holding `ANCHOR:` or `ANCHOR_END:` markers
# (they only mark code for the book, and mdBook hides them too), and the
# `//!` doc header of each step, which the chapter says in prose; the diff
# shows code. `cargo xtask check book` reads the steps the same way.
#
# Run from anywhere: book/gen-diffs.sh
set -euo pipefail
cd "$(dirname "$0")/.."

out=book/src/diffs
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

strip_anchors() {
    grep -v -E -e 'ANCHOR(_END)?:[[:space:]]*[A-Za-z0-9_-]+' -e '^[[:space:]]*//!' "$1" || true
}

for file in src/bin/step*.rs; do
    n=${file#src/bin/step}
    n=${n%.rs}
    case $n in '' | *[!0-9]*) continue ;; esac
    strip_anchors "$file" >"$out/step$n.rs"
    echo "$out/step$n.rs: $file"
    prev=src/bin/step$((n - 1)).rs
    [ -f "$prev" ] || continue
    strip_anchors "$prev" >"$tmp/old"
    strip_anchors "$file" >"$tmp/new"
    # diff exits 1 when the files differ, which is the point here.
    status=0
    diff -u --label "a/$prev" --label "b/$file" "$tmp/old" "$tmp/new" \
        >"$out/step$n.diff" || status=$?
    if [ "$status" -gt 1 ]; then
        echo "diff failed for $prev -> $file" >&2
        exit "$status"
    fi
    echo "$out/step$n.diff: $prev -> $file"
done
