#!/usr/bin/env bash
# Rolling restarts behind HAProxy, 10 per row, and the table the book
# includes (book/src/figures/rollout.txt), plus one rollout's timeline
# (book/src/figures/rollout-timeline.txt).
#
#   scripts/rollout.sh               # every row, 10 rollouts each
#   scripts/rollout.sh --rollouts 2  # fewer
#
# Needs haproxy (Debian: apt-get install haproxy). Everything listens on
# 127.0.0.1. HAProxy checks every 500ms and takes an instance out after 2
# failed checks, so the sized delay is 500ms x 2 + 500ms = 1500ms.
set -euo pipefail
cd "$(dirname "$0")/.."

rollouts=10
while [ $# -gt 0 ]; do
  case "$1" in
    --rollouts)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "rollout.sh: --rollouts needs a positive number" >&2; exit 2; }
      rollouts=$2; shift 2 ;;
    *) echo "rollout.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done

scripts/timed-build.sh --release --quiet -p tools --bin rollout
scripts/timed-build.sh --release --quiet --bin step2 --bin step7
rollout=target/release/rollout
out=book/src/figures/rollout.txt
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

row() {
  local label=$1; shift
  local line
  line=$("$rollout" --rollouts "$rollouts" "$@" | tail -n 1)
  echo "$line" >&2
  # step=… delay=… retry=… rollouts=… sent=… ok=… refused=… broken=… 5xx=… unknown=… other=… duplicated=… unclean_exits=… median_shutdown_ms=…
  printf '%-34s' "$label" >>"$tmp"
  for field in ok refused broken 5xx unknown duplicated unclean_exits median_shutdown_ms; do
    value=$(tr ' ' '\n' <<<"$line" | sed -n "s/^$field=//p")
    printf ' %10s' "$value" >>"$tmp"
  done
  echo >>"$tmp"
}

{
  printf '%-34s' "row ($rollouts rollouts of 2 instances)"
  printf ' %10s' ok refused broken 5xx unknown duplicated unclean shutdown_ms
  echo
} >"$tmp"
row "step 2" step2 --binary target/release/step2
row "step 7, SHUTDOWN_DELAY=0" step7 --binary target/release/step7 --delay 0s
row "step 7, delay sized (1500ms)" step7 --binary target/release/step7 --sized-delay
row "step 7, delay 0, HAProxy retry-on" step7 --binary target/release/step7 --delay 0s --retry
cp "$tmp" "$out"
cat "$out"

"$rollout" --rollouts 1 --timeline step7 --binary target/release/step7 --sized-delay \
  | grep -v '^step=' >book/src/figures/rollout-timeline.txt
echo "wrote $out and book/src/figures/rollout-timeline.txt"
