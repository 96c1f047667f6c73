#!/usr/bin/env bash
# Four ways to restart the socket-activation step under load, side by side:
# 10 restarts each, 8 clients, 500 ms of load between restarts
# (tools/src/bin/restart: see its top), three rounds, interleaved:
#
#   bind        each process binds the port itself; the new one starts once
#               the old one has exited;
#   reuseport   each process gets a socket of its own, SO_REUSEPORT on the
#               same port; the new one is serving before the old one is
#               signalled;
#   overlap     one kept socket handed to every process as fd 3; the new
#               process starts at the old one's signal;
#   after-exit  the same kept socket; the new process starts once the old
#               one has exited, as `systemctl restart` does.
#
# And, where this machine lets a network namespace be made (root, unshare,
# ip), `reuseport` again inside one with net.ipv4.tcp_migrate_req=1, the
# Linux setting (5.14 on) that moves a closing listener's queue to another
# socket of its group.
#
#   scripts/restart-strategies.sh            # and write book/src/figures/restart-strategies.txt
#   scripts/restart-strategies.sh --print    # print only
#   scripts/restart-strategies.sh --quick    # 1 round of 3 restarts, printed only
set -euo pipefail
cd "$(dirname "$0")/.."
# Other work on the machine moves every figure: the header says how busy it
# was before the first run (the 1-minute load average).
load_before=$(cut -d' ' -f1 /proc/loadavg)

out=book/src/figures/restart-strategies.txt
rounds=3
restarts=10
command="scripts/restart-strategies.sh"
case "${1:-}" in
  "") ;;
  --print) out=/dev/null; command="$command --print" ;;
  --quick) out=/dev/null; rounds=1; restarts=3; command="$command --quick" ;;
  *) echo "restart-strategies.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
esac

# The step that serves an inherited socket (LISTEN_FDS), and the
# strategies, in the order of the table.
step=step9
strategies=(bind reuseport overlap after-exit)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

started=$SECONDS
cargo build --release --quiet --bin "$step"
cargo build --release --quiet -p tools --bin restart --bin medians
echo "restart-strategies.sh: built in $((SECONDS - started)) s" >&2
release=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

# A namespace of our own with only a loopback, and tcp_migrate_req on.
migrate=(unshare --net sh -c \
  'ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=1 && exec "$@"' sh)
notes=()
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null &&
  "${migrate[@]}" true 2>/dev/null; then
  strategies+=(reuseport+migrate)
else
  notes+=("reuseport+migrate: skipped, no network namespace with tcp_migrate_req here")
fi

for round in $(seq "$rounds"); do
  for strategy in "${strategies[@]}"; do
    run=("$release/restart" "$step" --binary "$release/$step" --restarts "$restarts" --clients 8)
    case "$strategy" in
      reuseport+migrate) run=("${migrate[@]}" "${run[@]}" --mode reuseport) ;;
      *) run+=(--mode "$strategy") ;;
    esac
    line=$("${run[@]}" | tail -n 1)
    echo "strategy=$strategy round=$round $line" | tee -a "$tmp/runs" >&2
  done
done

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
{
  echo "\$ $command"
  echo "# $(date -u +%F), $(uname -s) $(uname -m) $(uname -r), $(nproc) cores${cpu:+ ($cpu)};" \
    "$(git rev-parse --short HEAD)"
  echo "# load average (1 min) before the first run: $load_before"
  echo "# $step, $restarts restarts per run, 8 clients, 500 ms of load between restarts;"
  echo "# $rounds round(s), interleaved"
  "$release/medians" --by strategy \
    --fields refused:0,reset:0,broken:0,unknown:0,longest_ms:0 <"$tmp/runs"
  echo "each cell: median (min-max) over the rounds; reset: of the refused, connections the"
  echo "kernel accepted, then reset unread; longest_ms: the longest GET /health, connect to"
  echo "answer (errors: none unless listed)"
  # Any answer with another status than 2xx is worth a line of its own.
  awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^errors=/ && $i != "errors=0") print "errors:", $0 }' "$tmp/runs"
  for note in "${notes[@]}"; do echo "$note"; done
} | tee "$tmp/figures"
if [ "$out" != /dev/null ]; then
  cp "$tmp/figures" "$out"
  echo "wrote $out" >&2
fi
