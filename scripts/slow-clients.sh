#!/usr/bin/env bash
# The hostile-client sweep of tests/clients.rs with the default timeouts
# (HEADER_TIMEOUT, BODY_TIMEOUT, IDLE_TIMEOUT all 10s), on step 8: what
# each client sees and when, the server's memory (VmRSS from /proc) with
# 500 and then 5000 silent connections open, and how many requests of
# another client were served meanwhile. Takes about 25 seconds.
#
#   scripts/slow-clients.sh          # print the results
#   scripts/slow-clients.sh --book   # and write book/src/figures/slow-clients.txt
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/timed-build.sh -q --bin step8
out=$(mktemp)
trap 'rm -f "$out"' EXIT
{
    echo "\$ scripts/slow-clients.sh"
    echo "# step 8, default timeouts; $(date +%F), $(uname -s) $(uname -m), $(nproc) cores"
    cargo test -q --test steps measure_with_default_timeouts -- --ignored --quiet 2>/dev/null |
        grep -vE '^(running|test |\.*$)'
} | tee "$out"
if [ "${1:-}" = --book ]; then
    cp "$out" book/src/figures/slow-clients.txt
    echo "wrote book/src/figures/slow-clients.txt"
fi
