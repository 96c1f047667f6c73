#!/usr/bin/env bash
# The drain at scale, server beside server: every step, the one-file
# example, a plain axum::serve service (axum's own graceful-shutdown
# example, tools/src/bin/plain-axum.rs) and the Go program of go/shutdown,
# each holding 100, 1,000 and 5,000 connections, idle or with a request in
# flight, when SIGTERM comes. The measuring is tools/src/bin/drainbench
# (see its top); this script builds everything in release mode and writes
# book/src/figures/drain-scale.txt, and the Go chapter's part of it (step 1,
# step 2, the last step, plain axum, Go and the Go target) to
# book/src/figures/drain-scale-go.txt.
#
#   scripts/drain-scale.sh            # 3 runs of each; writes the figures file
#   scripts/drain-scale.sh --print    # the same, printed only
#   scripts/drain-scale.sh --quick    # 1 run, 100 connections, printed only
#   RUNS=10 scripts/drain-scale.sh    # more runs of each (the default is 3)
#
# Go is optional: without it the Go program is left out, and the table says
# so. Takes about ten minutes on two cores, after the build.
set -euo pipefail
cd "$(dirname "$0")/.."
# Other work on the machine moves every figure: the header says how busy it
# was before the first run (the 1-minute load average).
load_before=$(cut -d' ' -f1 /proc/loadavg)

out=book/src/figures/drain-scale.txt
go_out=book/src/figures/drain-scale-go.txt
runs=${RUNS:-3}
connections=100,1000,5000
command="${RUNS:+RUNS=$RUNS }scripts/drain-scale.sh"
case "${1:-}" in
  "") ;;
  --print) out=/dev/null; go_out=/dev/null; command="$command --print" ;;
  --quick) out=/dev/null; go_out=/dev/null; runs=1; connections=100; command="$command --quick" ;;
  *) echo "drain-scale.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

started=$SECONDS
cargo build --release --quiet --bins
if [ -f examples/graceful_shutdown.rs ]; then
  cargo build --release --quiet --example graceful_shutdown
fi
cargo build --release --quiet -p tools --bin drainbench --bin plain-axum
go_version="skipped: go not installed"
if command -v go >/dev/null; then
  # GOTOOLCHAIN=local: use the installed Go, never download another.
  (cd go/shutdown && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$tmp/go-shutdown" .)
  go_version=$(go version | cut -d' ' -f3)
fi
echo "drain-scale.sh: built in $((SECONDS - started)) s" >&2
release=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

# The servers, in the order of the tables. Every step in src/bin; step 1,
# which has no handler, is the teardown limit.
servers=()
steps=$(ls src/bin | sed -nE 's/^(step[0-9]+)\.rs$/\1/p' | sort -V)
for step in $steps; do
  servers+=(--server "$step=$release/$step")
done
if [ -f examples/graceful_shutdown.rs ]; then
  servers+=(--server "example=$release/examples/graceful_shutdown")
fi
servers+=(--server "plain-axum=$release/plain-axum")
references=(--teardown step1)
if [ -x "$tmp/go-shutdown" ]; then
  servers+=(--server "go=$tmp/go-shutdown")
  references+=(--go go)
fi

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
{
  echo "\$ $command"
  echo "# $(date -u +%F), $(uname -s) $(uname -m), $(nproc) cores${cpu:+ ($cpu)};" \
    "$(git rev-parse --short HEAD); Go: $go_version"
  echo "# load average (1 min) before the first run: $load_before"
  echo "# SIGTERM with N connections held; SHUTDOWN_TIMEOUT=30s; $runs run(s) of each, interleaved"
  echo
  "$release/drainbench" "${servers[@]}" "${references[@]}" \
    --connections "$connections" --runs "$runs"
} | tee "$tmp/figures"
if [ "$out" != /dev/null ]; then
  cp "$tmp/figures" "$out"
  echo "wrote $out" >&2
fi
# The Go chapter's rows: every line but the other servers' rows, and of the
# targets only those against Go (with their wrapped lines).
awk -v keep="step1 step2 $(tail -n 1 <<<"$steps") plain-axum go" '
  BEGIN { n = split(keep, names, " "); for (i = 1; i <= n; i++) wanted[names[i]] = 1 }
  /^targets/ { targets = 1; print "targets against Go"; next }
  targets { if ($0 ~ /^  in flight/) shown = 1; else if ($0 !~ /^      /) shown = 0
            if (shown) print; next }
  ($1 in wanted) || $0 !~ /^[a-z0-9-]+ +[0-9]+ / { print }
' "$tmp/figures" >"$go_out"
[ "$go_out" = /dev/null ] || echo "wrote $go_out" >&2
