#!/usr/bin/env bash
# Restarts a step 10 times under load, three ways, and writes what the
# clients saw to book/src/figures/restart.txt (the step 9 chapter's table):
#
#   step7, bound anew: each process binds the port; the new one starts
#          once the old one has exited;
#   step9, overlap: one kept socket handed over as fd 3; the new process
#          starts at the old one's SIGTERM;
#   step9, after exit: the same socket; the new process starts only once
#          the old one has exited, as `systemctl restart` does.
#
# Each with SHUTDOWN_DELAY=0s, and the two step 9 ways again with 1s: during
# the delay every HTTP/1.1 answer says `Connection: close`, so no client is
# left holding a kept-alive connection when the drain closes it.
#
#   scripts/restart-figures.sh              # and write the figures file
#   scripts/restart-figures.sh --print      # print only
#
# The load and the counting are tools/src/bin/restart (see its top).
set -euo pipefail
cd "$(dirname "$0")/.."

out=book/src/figures/restart.txt
[ "${1:-}" = "--print" ] && out=/dev/null

scripts/timed-build.sh --release --quiet --bin step7 --bin step9
scripts/timed-build.sh --release --quiet -p tools --bin restart
dir=$(dirname "$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/x")

rows=("step7 --mode bind --shutdown-delay 0s"
  "step9 --mode overlap --shutdown-delay 0s"
  "step9 --mode after-exit --shutdown-delay 0s"
  "step9 --mode overlap --shutdown-delay 1s"
  "step9 --mode after-exit --shutdown-delay 1s")
{
  echo "# scripts/restart-figures.sh: 10 restarts each, 8 clients, 500 ms of load between restarts"
  printf '%-6s %-10s %5s %8s %8s %8s %8s %8s %8s %11s\n' \
    step mode delay sent ok errors refused broken unknown "longest ms"
  for row in "${rows[@]}"; do
    # shellcheck disable=SC2086 # the row is words on purpose
    line=$("$dir/restart" $row --binary "$dir/${row%% *}" --restarts 10 | tail -n 1)
    field() { sed -nE "s/.* $1=([^ ]+).*/\1/p" <<<"$line"; }
    printf '%-6s %-10s %5s %8s %8s %8s %8s %8s %8s %11s\n' \
      "${row%% *}" "$(field mode)" "${row##* }" "$(field sent)" "$(field ok)" "$(field errors)" \
      "$(field refused)" "$(field broken)" "$(field unknown)" "$(field longest_ms)"
  done
} | tee "$out"
