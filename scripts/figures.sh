#!/usr/bin/env bash
# Runs the load tool many times per step and prints, per step, the median
# and the range (min–max) of what it found.
#
#   scripts/figures.sh                 # 10 runs of `loadtest stepN` per step
#   scripts/figures.sh --runs 3        # fewer runs
#   scripts/figures.sh --idle          # idle SIGTERM→exit latency instead
#                                      # (what scripts/idle-exit.sh runs)
#   scripts/figures.sh --book          # also write the tables the book includes,
#                                      # under book/src/figures/
#   scripts/figures.sh -- --clients 16 # anything after -- goes to loadtest
#
# Every step binary in src/bin is measured (step1, step2, … and any later
# one). They are built once and copied aside first, so that a rebuild
# during the measurement cannot change what is measured; under their own
# names, which the load tool reads the log target from. A run that fails
# is reported and left out of the figures.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10
idle=false
book=false
loadtest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "figures.sh: --runs needs a positive number" >&2; exit 2; }
      runs=$2; shift 2 ;;
    --idle) idle=true; shift ;;
    --book) book=true; shift ;;
    --) shift; loadtest_args=("$@"); break ;;
    *) echo "figures.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
if $idle; then
  # No clients: the server sits idle for a moment, then gets SIGTERM.
  loadtest_args=(--clients 0 --duration 100ms "${loadtest_args[@]}")
  fields=(shutdown_ms)
  what="idle SIGTERM→exit latency"
  name=idle-exit
else
  fields=(sent broken unknown lost_writes shutdown_ms)
  what="loadtest under load"
  name=loadtest
fi

mapfile -t steps < <(ls src/bin | sed -nE 's/^(step[0-9]+)(\.rs)?$/\1/p' | sort -V)
bins=(--bin loadtest)
for step in "${steps[@]}"; do bins+=(--bin "$step"); done
scripts/timed-build.sh --release --quiet --package bookmarks --package tools "${bins[@]}"
release="${CARGO_TARGET_DIR:-target}/release"

frozen=$(mktemp -d)
trap 'rm -rf "$frozen"' EXIT
cp "$release/loadtest" "$frozen/"
mkdir -p "$frozen/measured"
for step in "${steps[@]}"; do cp "$release/$step" "$frozen/measured/$step"; done

if $idle; then
  command_line="scripts/idle-exit.sh --runs $runs"
else
  command_line="scripts/figures.sh --runs $runs"
fi
[ ${#loadtest_args[@]} -gt 0 ] && ! $idle && command_line+=" -- ${loadtest_args[*]}"
# awk stops at the first match itself: `sed | head` under pipefail could
# die of SIGPIPE on a machine with many cores.
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
machine="$(uname -sm), $(getconf _NPROCESSORS_ONLN) cores${cpu:+ ($cpu)}"
summaries="$frozen/summaries.txt"
: > "$summaries"
if $book; then mkdir -p book/src/figures; fi

failed=0
for step in "${steps[@]}"; do
  for run in $(seq 1 "$runs"); do
    # A different request mix each run (--seed), the same for every step.
    if ! output=$("$frozen/loadtest" "$step" --binary "$frozen/measured/$step" \
      --seed "$run" "${loadtest_args[@]}"); then
      echo "$step run $run/$runs: loadtest failed (its message is above); left out" >&2
      failed=$((failed + 1))
      continue
    fi
    summary=$(tail -n 1 <<<"$output")
    echo "$summary" >> "$summaries"
    echo "$step run $run/$runs: $summary" >&2
    # One whole report per step, for the book: the first run's.
    if $book && ! $idle && [ "$run" = 1 ]; then
      {
        echo "\$ cargo run --release -p tools --bin loadtest -- $step${loadtest_args[*]:+ ${loadtest_args[*]}}"
        echo "$output"
      } > "book/src/figures/loadtest-$step.txt"
    fi
  done
done

# Per step and field: median (the mean of the middle two for an even
# count), min and max. The exit statuses are counted instead.
table=$(awk -v fields="${fields[*]}" '
  function median(list,   n, sorted, i, j, t) {
    n = split(list, sorted, " ")
    for (i = 2; i <= n; i++) {            # insertion sort: n is small
      t = sorted[i] + 0
      for (j = i - 1; j >= 1 && sorted[j] + 0 > t; j--) sorted[j + 1] = sorted[j]
      sorted[j + 1] = t
    }
    lo = sorted[1]; hi = sorted[n]
    return (n % 2) ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
  }
  function fmt(x) { return (x == int(x)) ? sprintf("%d", x) : sprintf("%.1f", x) }
  {
    for (i = 1; i <= NF; i++) { split($i, kv, "="); value[kv[1]] = kv[2] }
    step = value["step"]
    if (!(step in seen)) { seen[step] = 1; order[++steps] = step }
    runs[step]++
    nf = split(fields, names, " ")
    for (f = 1; f <= nf; f++) values[step, names[f]] = values[step, names[f]] " " value[names[f]]
    exits[step, value["exit"]]++
    if (!((step, value["exit"]) in exit_seen)) { exit_seen[step, value["exit"]] = 1; exit_list[step] = exit_list[step] " " value["exit"] }
  }
  END {
    nf = split(fields, names, " ")
    printf "%-6s %4s", "step", "runs"
    for (f = 1; f <= nf; f++) printf "  %-22s", names[f]
    printf "  %s\n", "exit"
    for (s = 1; s <= steps; s++) {
      step = order[s]
      printf "%-6s %4d", step, runs[step]
      for (f = 1; f <= nf; f++) {
        m = median(values[step, names[f]])
        printf "  %-22s", fmt(m) " (" fmt(lo) "-" fmt(hi) ")"
      }
      n = split(exit_list[step], statuses, " ")
      line = ""
      for (e = 1; e <= n; e++) line = line (e > 1 ? ", " : "") statuses[e] " x" exits[step, statuses[e]]
      printf "  %s\n", line
    }
    print "each cell: median (min-max) over the runs; exit: status x runs"
  }' "$summaries")

report=$(
  echo "\$ $command_line"
  echo "# $what, $runs runs per step; $(date -u +%Y-%m-%d), $machine"
  echo "$table"
  if [ "$failed" -gt 0 ]; then echo "# $failed runs failed and are left out"; fi
)
echo "$report"
if $book; then
  echo "$report" > "book/src/figures/$name.txt"
  { echo "\$ $command_line  # every run's summary line"; cat "$summaries"; } > "book/src/figures/$name-runs.txt"
fi

# The book also shows the tool's other modes once each: the verdicts
# checked against the request log, a second signal, and SIGKILL.
if $book && ! $idle; then
  extra() {
    local file=$1 step=$2
    shift 2
    # Written aside and moved into place only whole: a failed run leaves
    # the book's file as it was.
    if {
      echo "\$ cargo run --release -p tools --bin loadtest -- $step $*"
      "$frozen/loadtest" "$step" --binary "$frozen/measured/$step" "$@"
    } > "book/src/figures/$file.txt.new"; then
      mv "book/src/figures/$file.txt.new" "book/src/figures/$file.txt"
    else
      rm -f "book/src/figures/$file.txt.new"
      echo "figures.sh: $file failed; book/src/figures/$file.txt left as it was" >&2
    fi
  }
  extra verify-step1 step1 --verify
  extra verify-step2 step2 --verify
  extra second-signal-step4 step4 --second-signal 50ms
  extra kill-step4 step4 --kill
fi
[ "$failed" -eq 0 ]
