#!/usr/bin/env bash
# What the shutdown machinery costs while nothing is shutting down:
# throughput and latency (p50, p99) of GET /health, 32 clients each on one
# kept-alive connection for 3 s (`loadtest --health-only`), for step 1 (no
# shutdown at all), the step ready for a load balancer, the step with socket
# activation, the one-file example, axum's own example as a plain
# axum::serve service (tools/src/bin/plain-axum.rs) with its middleware and
# with the steps' middleware, and the Go program. The runs are interleaved
# (one of each server, then the next round), five rounds unless ROUNDS says
# otherwise; each cell is the median (min-max). Writes book/src/figures/overhead.txt.
#
#   scripts/overhead.sh            # and write the figures file
#   scripts/overhead.sh --print    # print only
#   scripts/overhead.sh --quick    # 1 round of 1 s, printed only
#   ROUNDS=11 scripts/overhead.sh  # more rounds (the default is 5)
set -euo pipefail
cd "$(dirname "$0")/.."
# Other work on the machine moves every figure: the header says how busy it
# was before the first run (the 1-minute load average).
load_before=$(cut -d' ' -f1 /proc/loadavg)

out=book/src/figures/overhead.txt
rounds=${ROUNDS:-5}
duration=3s
clients=32
command="${ROUNDS:+ROUNDS=$ROUNDS }scripts/overhead.sh"
case "${1:-}" in
  "") ;;
  --print) out=/dev/null; command="$command --print" ;;
  --quick) out=/dev/null; rounds=1; duration=1s; command="$command --quick" ;;
  *) echo "overhead.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
esac

# The servers: NAME EXECUTABLE [KEY=VALUE ...], in the order of the table.
# The executables are in target/release (examples/ for the example); `go`
# is built below. The three steps are the baseline (no shutdown), the step
# ready for a load balancer (/ready, SHUTDOWN_DELAY, Connection: close) and
# the one with socket activation.
baseline_step=step1
ready_step=step7
socket_step=step9
servers=(
  "$baseline_step $baseline_step"
  "$ready_step $ready_step"
  "$socket_step $socket_step"
  "example examples/graceful_shutdown"
  "axum-example plain-axum MIDDLEWARE=example"
  "axum-steps-mw plain-axum MIDDLEWARE=steps"
  "go go"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

started=$SECONDS
cargo build --release --quiet --bin "$baseline_step" --bin "$ready_step" --bin "$socket_step"
has_example=
if [ -f examples/graceful_shutdown.rs ]; then
  cargo build --release --quiet --example graceful_shutdown
  has_example=1
fi
cargo build --release --quiet -p tools --bin loadtest --bin plain-axum --bin medians
go_version="skipped: go not installed"
if command -v go >/dev/null; then
  # GOTOOLCHAIN=local: use the installed Go, never download another.
  (cd go/shutdown && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$tmp/go" .)
  go_version=$(go version | cut -d' ' -f3)
fi
echo "overhead.sh: built in $((SECONDS - started)) s" >&2
release=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

skipped=()
for round in $(seq "$rounds"); do
  for row in "${servers[@]}"; do
    read -r name executable settings <<<"$row"
    binary=$release/$executable
    [ "$name" = go ] && binary=$tmp/go
    if [ "$name" = example ] && [ -z "$has_example" ]; then
      [ "$round" = 1 ] && skipped+=("example: skipped, no examples/graceful_shutdown.rs")
      continue
    fi
    if [ "$name" = go ] && [ ! -x "$binary" ]; then
      [ "$round" = 1 ] && skipped+=("go: $go_version")
      continue
    fi
    env_args=()
    for setting in $settings; do env_args+=(--env "$setting"); done
    line=$("$release/loadtest" "$name" --binary "$binary" "${env_args[@]}" --health-only \
      --clients "$clients" --duration "$duration" | tail -n 1)
    echo "round=$round $line" | tee -a "$tmp/runs" >&2
  done
done

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
{
  echo "\$ $command"
  echo "# $(date -u +%F), $(uname -s) $(uname -m), $(nproc) cores${cpu:+ ($cpu)};" \
    "$(git rev-parse --short HEAD); Go: $go_version"
  echo "# load average (1 min) before the first run: $load_before"
  echo "# GET /health, $clients clients each on one kept-alive connection, $duration;" \
    "$rounds round(s), interleaved"
  "$release/medians" --by step --fields rps:0,p50_ms:2,p99_ms:2 <"$tmp/runs"
  echo "each cell: median (min-max) over the rounds; rps: answers a second before the signal"
  for note in "${skipped[@]}"; do echo "$note"; done
  # The targets, from the medians.
  median() { # NAME FIELD: the median of FIELD over NAME's runs
    grep " step=$1 " "$tmp/runs" | sed -nE "s/.* $2=([0-9.]+).*/\1/p" | sort -g |
      awk '{ v[NR] = $1 } END { if (!NR) exit 1; print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
  }
  # Each round runs every server one after the other, so a ratio taken
  # within a round cancels most of what the machine does across rounds.
  paired() { # NAME OTHER: "median min max" of NAME's rps / OTHER's, round by round
    for round in $(seq "$rounds"); do
      a=$(grep "^round=$round step=$1 " "$tmp/runs" | sed -nE 's/.* rps=([0-9.]+).*/\1/p')
      b=$(grep "^round=$round step=$2 " "$tmp/runs" | sed -nE 's/.* rps=([0-9.]+).*/\1/p')
      [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { print a / b }'
    done | sort -g | awk '{ v[NR] = $1 } END { if (!NR) exit 1
      print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'
  }
  target() { # NAME OTHER LEAST: NAME's median throughput at least LEAST x OTHER's
    local a b pairs
    a=$(median "$1" rps) && b=$(median "$2" rps) || { echo "target $1 vs $2: not measured"; return; }
    pairs=$(paired "$1" "$2")
    awk -v a="$a" -v b="$b" -v least="$3" -v n1="$1" -v n2="$2" -v pairs="$pairs" 'BEGIN {
      ratio = a / b; verdict = ratio >= least ? "met" : "MISSED"
      split(pairs, p, " ")
      printf "target: %s at least %.0f%% of %s'\''s throughput: %.1f%%, %s", n1, least * 100, n2, ratio * 100, verdict
      printf " (round by round: median %.1f%%, %.1f-%.1f%%)\n", p[1] * 100, p[2] * 100, p[3] * 100 }'
  }
  target "$ready_step" "$baseline_step" 0.97
  target "$baseline_step" axum-steps-mw 0.90
} | tee "$tmp/figures"
if [ "$out" != /dev/null ]; then
  cp "$tmp/figures" "$out"
  echo "wrote $out" >&2
fi
