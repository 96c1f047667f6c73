#!/usr/bin/env bash
# What the shutdown machinery costs per request, counted instead of timed:
# the user-space instructions each server executes per GET /health, under
# Valgrind's callgrind. Throughput on a shared 2-core machine moves by a
# quarter from one run to the next (scripts/overhead.sh gives the ranges);
# an instruction count does not, so it can see a few percent.
#
# Each server runs twice under callgrind, with `loadtest --health-only`
# (8 clients) for 2 s and then for 6 s. The count per request is the
# slope, (instructions of the long run - of the short run) / (answers of
# the long run - of the short run), which leaves start-up and shutdown
# out. The kernel's share (TCP, epoll) is not counted: it is the same for
# every server here, and larger than the user-space share.
#
#   scripts/instructions.sh            # and write book/src/figures/instructions.txt
#   scripts/instructions.sh --print    # print only
#
# Needs valgrind (Debian: apt-get install valgrind); says so and stops
# without it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Other work on the machine moves every figure: the header says how busy it
# was before the first run (the 1-minute load average).
load_before=$(cut -d' ' -f1 /proc/loadavg)

out=book/src/figures/instructions.txt
command="scripts/instructions.sh"
case "${1:-}" in
  "") ;;
  --print) out=/dev/null; command="$command --print" ;;
  *) echo "instructions.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
esac
if ! command -v valgrind >/dev/null; then
  echo "instructions.sh: skipped: valgrind not installed (apt-get install valgrind)" >&2
  exit 0
fi

# NAME EXECUTABLE [KEY=VALUE ...]: step 1 (no shutdown), step 6 (the drain,
# the deadline, the bound, the workers), step 7 (step 6 plus readiness and
# `Connection: close`), step 9, the example, and axum's own example with
# its middleware and with the steps'.
servers=(
  "step1 step1"
  "step6 step6"
  "step7 step7"
  "step9 step9"
  "example examples/graceful_shutdown"
  "axum-example plain-axum MIDDLEWARE=example"
  "axum-steps-mw plain-axum MIDDLEWARE=steps"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo build --release --quiet --bin step1 --bin step6 --bin step7 --bin step9
cargo build --release --quiet --example graceful_shutdown
cargo build --release --quiet -p tools --bin loadtest --bin plain-axum
release=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

# One run: NAME EXECUTABLE DURATION SETTINGS -> "answers instructions".
# loadtest names a server's log target after its file name, so the
# wrapper that starts callgrind has the executable's name.
run() {
  local name=$1 executable=$2 duration=$3 settings=$4 wrapper line answers profile
  mkdir -p "$tmp/$name"
  wrapper=$tmp/$name/$(basename "$executable")
  printf '#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s/callgrind.%%p %s "$@"\n' \
    "$tmp/$name" "$release/$executable" >"$wrapper"
  chmod +x "$wrapper"
  rm -f "$tmp/$name"/callgrind.*
  env_args=()
  for setting in $settings; do env_args+=(--env "$setting"); done
  line=$("$release/loadtest" "$name" --binary "$wrapper" "${env_args[@]}" --health-only \
    --clients 8 --duration "$duration" --exit-limit 60s | tail -n 1)
  answers=$(sed -nE 's/.* ok=([0-9]+).*/\1/p' <<<"$line")
  profile=$(ls "$tmp/$name"/callgrind.* | head -n 1)
  echo "$answers $(sed -nE 's/^summary: ([0-9]+)/\1/p' "$profile")"
}

rows=()
for row in "${servers[@]}"; do
  read -r name executable settings <<<"$row"
  read -r short_answers short_count <<<"$(run "$name" "$executable" 2s "${settings:-}")"
  read -r long_answers long_count <<<"$(run "$name" "$executable" 6s "${settings:-}")"
  if [ -z "$short_count" ] || [ -z "$long_count" ] || [ -z "$short_answers" ] ||
    [ -z "$long_answers" ] || [ "$long_answers" -le "$short_answers" ]; then
    echo "instructions.sh: $name: no usable runs ($short_answers and $long_answers answers)" >&2
    exit 1
  fi
  per=$(( (long_count - short_count) / (long_answers - short_answers) ))
  echo "$name: $per instructions per request ($short_answers and $long_answers answers)" >&2
  rows+=("$name $per $short_answers $long_answers")
done

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
{
  echo "\$ $command"
  echo "# $(date -u +%F), $(uname -s) $(uname -m), $(nproc) cores${cpu:+ ($cpu)};" \
    "$(git rev-parse --short HEAD); $(valgrind --version)"
  echo "# load average (1 min) before the first run: $load_before"
  echo "# GET /health, 8 clients on kept-alive connections, under callgrind; 2 s and 6 s runs"
  printf '%-14s %12s %9s %16s\n' server "instr/req" "vs step1" "answers (2s, 6s)"
  base=
  for row in "${rows[@]}"; do
    read -r name per short long <<<"$row"
    [ -z "$base" ] && base=$per
    printf '%-14s %12s %8s%% %16s\n' "$name" "$per" \
      "$(awk -v a="$per" -v b="$base" 'BEGIN { printf "%.0f", a * 100 / b }')" "$short, $long"
  done
  echo "instr/req: user-space instructions per answer (the kernel's are not counted)"
} | tee "$tmp/figures"
if [ "$out" != /dev/null ]; then
  cp "$tmp/figures" "$out"
  echo "wrote $out" >&2
fi
