#!/usr/bin/env bash
# The idle SIGTERM→exit latency of every step: no clients, a tenth of a
# second of quiet, SIGTERM, and the time until the process is gone; the
# median and range over 10 runs per step.
#
#   scripts/idle-exit.sh            # print the table
#   scripts/idle-exit.sh --book     # and write book/src/figures/idle-exit.txt
set -euo pipefail
exec "$(dirname "$0")/figures.sh" --idle "$@"
