#!/usr/bin/env bash
# How long after the drain deadline each step exits, with one kind of work
# in flight that outlives the deadline: the median and range (min-max) of
# several stops per step and kind.
#
#   scripts/bound.sh                  # 10 stops per step and kind, steps 5-9,
#                                     # the steps with the bound
#   scripts/bound.sh --runs 3         # fewer stops
#   scripts/bound.sh --second         # a second SIGTERM 100 ms after the
#                                     # first: time after it
#   scripts/bound.sh --book           # also write book/src/figures/bound.txt
#                                     # (bound-second.txt with --second)
#   scripts/bound.sh --bins DIR       # measure DIR/step3 … instead of a
#                                     # release build of this tree
#   scripts/bound.sh --work 3000      # how long the work would run, in ms
#   scripts/bound.sh --steps "step3 step4" --work 3000
#                                     # steps 3 and 4, which wait for the
#                                     # blocking thread and the query
#
# The kinds of work (`/slow`'s modes, and two more):
#   async     GET /slow?ms=WORK                awaiting a timer
#   blocking  GET /slow?ms=WORK&mode=blocking  a blocking thread sleeping
#   query     GET /slow?ms=WORK&mode=query     a write transaction, SQLite busy
#   half      half a request line, `GET /hea`, and then nothing
#   worker    steps 6-9: a link-check unit of WORK ms in progress
#
# Each stop: start the step (PORT=0, a fresh database, SHUTDOWN_TIMEOUT of
# 500 ms), put the work in flight, wait until the step logs that it has it,
# send SIGTERM, and time until the process is gone. The figure is that
# time minus the deadline (minus the 100 ms gap with --second, so the
# figure counts from the second signal). The steps are built once and
# copied aside under other names, as scripts/figures.sh does. Every wait
# is bounded: a step still running 5 s after the work would have ended is
# killed and the stop reported as failed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10
work_ms=60000
deadline_ms=500
gap_ms=100
second=false
book=false
bins=""
bins_arg=""
steps=(step5 step6 step7 step8 step9)
kinds=(async blocking query half worker)
while [ $# -gt 0 ]; do
  case "$1" in
    --runs)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "bound.sh: --runs needs a positive number" >&2; exit 2; }
      runs=$2; shift 2 ;;
    --work)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "bound.sh: --work needs milliseconds" >&2; exit 2; }
      work_ms=$2; shift 2 ;;
    --second) second=true; shift ;;
    --book) book=true; shift ;;
    --bins)
      [ -d "${2:-}" ] || { echo "bound.sh: --bins needs a directory" >&2; exit 2; }
      bins=$(cd "$2" && pwd); bins_arg=$2; shift 2 ;;
    --steps) read -r -a steps <<<"${2:-}"; shift 2 ;;
    --kinds) read -r -a kinds <<<"${2:-}"; shift 2 ;;
    *) echo "bound.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
command -v curl >/dev/null || { echo "bound.sh: needs curl" >&2; exit 2; }
if $second; then
  # Step 3 does not listen for a second signal.
  filtered=()
  for step in "${steps[@]}"; do [ "$step" = step3 ] || filtered+=("$step"); done
  steps=("${filtered[@]}")
  deadline_ms=30000
fi

frozen=$(mktemp -d)
cleanup() {
  # Whatever is still running from a stop that failed half-way.
  for pid in $(jobs -p); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$frozen"
}
trap cleanup EXIT
if [ -z "$bins" ]; then
  build=()
  for step in "${steps[@]}"; do build+=(--bin "$step"); done
  scripts/timed-build.sh --release --quiet "${build[@]}"
  bins="${CARGO_TARGET_DIR:-target}/release"
fi
for step in "${steps[@]}"; do
  [ -x "$bins/$step" ] || { echo "bound.sh: no $bins/$step" >&2; exit 2; }
  cp "$bins/$step" "$frozen/$step-measured"
done

# Microseconds since the epoch. The timings below read $EPOCHREALTIME in
# place, not through this function: a command substitution forks, and the
# fork would be timed too.
now_us() { local t=${EPOCHREALTIME//[!0-9]/}; echo "$((10#$t))"; }

# Waits until the file has a line containing $2, for at most $3 seconds.
wait_log() {
  local file=$1 needle=$2 limit=$3 start
  start=$(now_us)
  until grep -qF -- "$needle" "$file"; do
    if [ $(( $(now_us) - start )) -gt $((limit * 1000000)) ]; then return 1; fi
    sleep 0.005
  done
}

# One stop. Prints the milliseconds past the deadline (or past the second
# signal) and the exit status, or fails. Runs in a subshell of its own
# (`$(stop_once …)`), so `jobs` are this stop's processes only.
stop_once() {
  local step=$1 kind=$2 dir log pid port watchdog status t0 t1 fd=""
  dir=$(mktemp -d -p "$frozen")
  log=$dir/log
  local env=(PATH="$PATH" PORT=0 DATABASE_URL="$dir/bookmarks.db"
    SHUTDOWN_TIMEOUT="${deadline_ms}ms" RUST_LOG=info)
  if [ "$kind" = worker ]; then
    env+=(CHECK_INTERVAL=50ms CHECK_DELAY="${work_ms}ms")
  fi
  env -i "${env[@]}" "$frozen/$step-measured" >"$log" 2>&1 &
  pid=$!
  give_up() {
    echo "$1" >&2
    for job in $(jobs -p); do kill -KILL "$job" 2>/dev/null || true; done
    wait 2>/dev/null || true
    return 1
  }
  wait_log "$log" "server starting" 20 || { give_up "no server starting line"; return 1; }
  port=$(grep -o 'server starting addr=[0-9.]*:[0-9]*' "$log" | sed 's/.*://')
  local base=http://127.0.0.1:$port
  case $kind in
    async | blocking | query)
      curl -s -o /dev/null --max-time $((work_ms / 1000 + 10)) \
        "$base/slow?ms=$work_ms&mode=$kind" >/dev/null 2>&1 &
      wait_log "$log" "slow request started" 10 || { give_up "the request never started"; return 1; } ;;
    half)
      exec {fd}<>"/dev/tcp/127.0.0.1/$port"
      printf 'GET /hea' >&"$fd"
      # A whole request on a second connection, answered: the first one
      # was accepted before it.
      curl -sf -o /dev/null --max-time 5 "$base/health" || { give_up "no answer to /health"; return 1; } ;;
    worker)
      curl -sf -o /dev/null --max-time 5 -H 'content-type: application/json' \
        -d '{"url":"https://example.com/","title":"example"}' "$base/bookmarks" \
        || { give_up "cannot add a bookmark"; return 1; }
      wait_log "$log" "link check unit started" 10 || { give_up "no link check unit"; return 1; } ;;
    *) give_up "bound.sh: unknown kind $kind"; return 1 ;;
  esac
  # The backstop: no stop may run longer than the work itself plus 5 s.
  # The watchdog's own sleep is killed with it.
  (
    sleep $(( (deadline_ms + work_ms) / 1000 + 5 )) &
    trap 'kill $! 2>/dev/null; exit 0' TERM
    wait $!
    kill -KILL "$pid" 2>/dev/null
  ) >/dev/null 2>&1 &
  watchdog=$!
  kill -TERM "$pid"
  t0=${EPOCHREALTIME//[!0-9]/}
  if $second; then
    sleep "$((gap_ms / 1000)).$(printf '%03d' $((gap_ms % 1000)))"
    kill -TERM "$pid"
    t0=${EPOCHREALTIME//[!0-9]/}
  fi
  status=0
  wait "$pid" || status=$?
  t1=${EPOCHREALTIME//[!0-9]/}
  kill "$watchdog" 2>/dev/null || true
  if [ -n "$fd" ]; then exec {fd}>&-; fi
  # The client of the cut request, if it is still waiting.
  for job in $(jobs -p); do kill "$job" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ "$status" -ne 137 ] || { echo "killed by the backstop" >&2; return 1; }
  local past_us=$(( 10#$t1 - 10#$t0 ))
  $second || past_us=$(( past_us - deadline_ms * 1000 ))
  # A bounded wait that ran out says so in the log: count those stops.
  local gave_up=0
  if grep -qE 'left behind|closing the database failed|flushing visits failed' "$log"; then
    gave_up=1
    grep -E 'left behind|failed' "$log" | sed "s/^/$kind $step: /" >&2
  fi
  awk -v us="$past_us" -v status="$status" -v gave_up="$gave_up" \
    'BEGIN { printf "%.1f %d %d\n", us / 1000, status, gave_up }'
}

results=$frozen/results.txt
: >"$results"
failed=0
for kind in "${kinds[@]}"; do
  for step in "${steps[@]}"; do
    if [ "$kind" = worker ] && [[ "$step" =~ ^step[1-5]$ ]]; then continue; fi
    for run in $(seq 1 "$runs"); do
      if line=$(stop_once "$step" "$kind"); then
        echo "$kind $step $line" >>"$results"
        read -r ms status gave_up <<<"$line"
        note=""
        [ "$gave_up" = 1 ] && note=", a wait after the cut-off gave up"
        echo "$kind $step run $run/$runs: $ms ms, exit $status$note" >&2
      else
        echo "$kind $step run $run/$runs: failed; left out" >&2
        failed=$((failed + 1))
      fi
    done
  done
done

if $second; then
  what="ms from the second SIGTERM (sent ${gap_ms} ms after the first) to the exit"
  name=bound-second
else
  what="ms from the drain deadline (SHUTDOWN_TIMEOUT=${deadline_ms}ms after SIGTERM) to the exit"
  name=bound
fi
args=""
[ "$runs" != 10 ] && args+=" --runs $runs"
[ "$work_ms" != 60000 ] && args+=" --work $work_ms"
$second && args+=" --second"
[ "${steps[*]}" != "step5 step6 step7 step8 step9" ] && args+=" --steps \"${steps[*]}\""
[ "${kinds[*]}" != "async blocking query half worker" ] && args+=" --kinds \"${kinds[*]}\""
[ -n "$bins_arg" ] && args+=" --bins $bins_arg"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
machine="$(uname -sm), $(getconf _NPROCESSORS_ONLN) cores${cpu:+ ($cpu)}"
table=$(awk -v steps="${steps[*]}" '
  function sort(list, sorted,   n, i, j, t) {
    n = split(list, sorted, " ")
    for (i = 2; i <= n; i++) {            # insertion sort: n is small
      t = sorted[i] + 0
      for (j = i - 1; j >= 1 && sorted[j] + 0 > t; j--) sorted[j + 1] = sorted[j]
      sorted[j + 1] = t
    }
    return n
  }
  function fmt(x) { return sprintf("%.1f", x) }
  {
    kind = $1; step = $2
    if (!(kind in seen)) { seen[kind] = 1; order[++kinds] = kind }
    values[kind, step] = values[kind, step] " " $3
    if ($4 != 1) odd[kind, step] = odd[kind, step] " " $4
    if ($5 == 1) gaveup[kind, step]++
  }
  END {
    ns = split(steps, names, " ")
    printf "%-9s", "work"
    for (s = 1; s <= ns; s++) printf "  %-20s", names[s]
    printf "\n"
    for (k = 1; k <= kinds; k++) {
      kind = order[k]
      printf "%-9s", kind
      for (s = 1; s <= ns; s++) {
        n = sort(values[kind, names[s]], v)
        if (n == 0) { printf "  %-20s", "-"; continue }
        m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        cell = fmt(m) " (" fmt(v[1]) "-" fmt(v[n]) ")"
        if ((kind, names[s]) in odd) { cell = cell " !"; notes = notes "\n# " kind " " names[s] ": exit statuses other than 1:" odd[kind, names[s]] }
        if ((kind, names[s]) in gaveup) { cell = cell " *"; notes = notes "\n# " kind " " names[s] ": " gaveup[kind, names[s]] " stops where a wait after the cut-off gave up" }
        printf "  %-20s", cell
      }
      printf "\n"
    }
    print "each cell: median (min-max) over the runs; every run exited with status 1 unless marked !,"
    print "and no wait after the cut-off gave up (`left behind`, `… failed` in the log) unless marked *" notes
  }' "$results")
report=$(
  echo "\$ scripts/bound.sh$args"
  echo "# $what; $runs runs per cell; $(date -u +%Y-%m-%d), $machine"
  echo "$table"
  if [ "$failed" -gt 0 ]; then echo "# $failed stops failed and are left out"; fi
)
echo "$report"
if $book; then
  echo "$report" >"book/src/figures/$name.txt"
fi
[ "$failed" -eq 0 ]
