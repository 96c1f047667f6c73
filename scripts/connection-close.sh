#!/usr/bin/env bash
# What `Connection: close` from the signal on does for pooled clients:
# `loadtest step7 --shutdown-delay 1s`, seeds 1 to 10, against step 7 as
# it is and against the same tree with the header taken out (one condition
# in src/lifecycle.rs made false, in a copy under target/). The column to
# read is `unknown`: requests sent on a kept-alive connection just as the
# drain closed it, which the client cannot tell ran or not.
#
#   scripts/connection-close.sh          # print the runs
#   scripts/connection-close.sh --book   # and write book/src/figures/connection-close.txt
set -euo pipefail
cd "$(dirname "$0")/.."

book=
[ "${1:-}" = --book ] && book=book/src/figures/connection-close.txt
runs=10
# Both builds must be of the commit the figures name: "without" is built
# from it, "with" from the work tree.
if ! git diff --quiet HEAD -- src Cargo.toml Cargo.lock tools; then
    echo "connection-close.sh: commit the changes to src/, tools/ and Cargo.* first" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The tree as committed, without the header: the one line that decides it.
mkdir "$tmp/tree"
git archive HEAD | tar -x -C "$tmp/tree"
python3 - "$tmp/tree/src/lifecycle.rs" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
rule = "if http1 && not_ready.is_cancelled()"
if text.count(rule) != 1:
    sys.exit(f"{path}: expected one `{rule}`; update this script")
open(path, "w").write(text.replace(rule, "if false && http1 && not_ready.is_cancelled()"))
PY
scripts/timed-build.sh -q --release --bin step7 --manifest-path "$tmp/tree/Cargo.toml" \
    --target-dir target/without-close
scripts/timed-build.sh -q --release --bin step7
scripts/timed-build.sh -q --release -p tools --bin loadtest
dir=$(dirname "$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/x")

{
    echo "# scripts/connection-close.sh: loadtest step7 --shutdown-delay 1s, seeds 1..$runs," \
        "without Connection: close and with it; $(git rev-parse --short HEAD)," \
        "$(date +%F), $(uname -s) $(uname -m), $(nproc) cores"
    for variant in without with; do
        binary=$dir/step7
        [ "$variant" = without ] && binary=target/without-close/release/step7
        for seed in $(seq "$runs"); do
            line=$("$dir/loadtest" step7 --shutdown-delay 1s --seed "$seed" --binary "$binary" | tail -n 1)
            echo "$variant $line"
        done
    done
} | tee "$tmp/runs"
for variant in without with; do
    printf '# %s: unknown per run ' "$variant"
    grep "^$variant " "$tmp/runs" | sed -nE 's/.* unknown=([0-9]+).*/\1/p' | paste -sd' '
done | tee -a "$tmp/runs"
if [ -n "$book" ]; then cp "$tmp/runs" "$book"; echo "wrote $book"; fi
