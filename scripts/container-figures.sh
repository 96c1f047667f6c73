#!/usr/bin/env bash
# Stops the steps in containers built from deploy/Dockerfile, with podman,
# 10 times per case, and writes how long each stop took (median and
# range) and how the container ended to book/src/figures/container.txt
# (the production chapter's table). The cases are tests/container.rs's,
# on release builds, and the image as shipped (the Dockerfile's own BIN
# and SHUTDOWN_TIMEOUT) against Docker's default grace period.
#
#   scripts/container-figures.sh              # and write the figures file
#   scripts/container-figures.sh --print      # print only
#   RUNS=3 scripts/container-figures.sh --print
#
# `stop s` is the wall time of `podman stop --time N` (of the second
# `podman kill` and `podman wait` for the second-signal case): what an
# operator waits, podman's own work included. `step s` leaves podman out:
# the median time from the step's `shutting down` line (`forced shutdown`
# for the second signal) to its `server stopped`, by the step's own
# timestamps. `exit` is what `podman inspect` reports (137 = SIGKILL,
# 143 = 128 + SIGTERM). `drained` counts the runs whose log, read with
# `podman logs`, ends in `server stopped`.
# Needs podman and the base image scripts/container-base.sh makes.
set -euo pipefail
# Each case runs in a command substitution: a failure there fails the run.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

runs=${RUNS:-10}
out=book/src/figures/container.txt
[ "${1:-}" = "--print" ] && out=/dev/null
base=localhost/debian:bookworm-slim
image=localhost/bookmarks-figures
# The step the Dockerfile runs unless told otherwise.
shipped=$(sed -nE 's/^ARG BIN=(.+)$/\1/p' deploy/Dockerfile)

scripts/container-base.sh >/dev/null
cargo build --release --quiet --bin step1 --bin step2 --bin step3 --bin step4 --bin "$shipped"
release="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release"

# As scripts/container-base.sh: podman's default limits exceed what a
# sandboxed root may set.
at_most() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(at_most "$(ulimit -Hn)" 1048576)
nproc=$(at_most "$(ulimit -Hu)" 32768)
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

# The reader's prebuilt build, with target/release as the context.
for step in step1 step2 step3 step4 "$shipped"; do
  podman build --quiet --label bookmarks-figures "${ulimits[@]}" -f deploy/Dockerfile --build-arg "BASE=$base" \
    --build-arg "BIN=$step" --build-arg BINARY_FROM=prebuilt -t "$image:$step" "$release" >/dev/null
done
# Whatever a run leaves, even one that fails: its containers and the
# images its builds replaced, found by their label, and the temporary
# directories under $work.
work=$(mktemp -d)
cleanup() {
  podman ps --all --quiet --filter label=bookmarks-figures | xargs -r podman rm --force --time 0 >/dev/null
  podman image prune --force --filter label=bookmarks-figures >/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/context"
printf 'FROM %s\nENTRYPOINT /usr/local/bin/bookmarks\n' "$image:step2" >"$work/context/Dockerfile"
podman build --quiet --label bookmarks-figures -t "$image:step2-shell-form" "$work/context" >/dev/null

now() { date +%s.%N; }
since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.3f", end - start }'; }

# The container's log, whole: read first and searched after, since a
# grep that stops at its match would end podman's output with SIGPIPE.
logs() { podman logs "$id" 2>/dev/null; }

# Waits, at most 10 s, for a line matching $1 in the container's log.
wait_log() {
  for _ in $(seq 200); do
    grep -q -- "$1" <<<"$(logs)" && return 0
    sleep 0.05
  done
  echo "container-figures.sh: no '$1' in the log of $id" >&2
  podman logs "$id" >&2
  return 1
}

# start IMAGE [OPTION…]: runs it, waits for `server starting`, sets $id
# and $port.
start() {
  local image=$1
  shift
  volume=$(mktemp -d "$work/volume.XXXXXX")
  chmod 777 "$volume"
  id=$(podman run --detach --label bookmarks-figures --network host --volume "$volume:/data" \
    --env HOST=127.0.0.1 --env PORT=0 "${ulimits[@]}" "$@" "$image")
  wait_log "server starting"
  port=$(logs | sed -nE 's/.*server starting addr=127\.0\.0\.1:([0-9]+).*/\1/p')
}

# request MS: a GET /slow?ms=MS in the background, returned once its
# handler has logged that it started.
request() {
  curl --silent --output /dev/null --max-time 70 "http://127.0.0.1:$port/slow?ms=$1" &
  wait_log "slow request started ms=$1"
}

# The moment of the first log line with $1 in it, in seconds, by the
# step's own clock; - if there is none.
logged_at() {
  local stamp
  stamp=$(grep -m 1 -- "$1" <<<"$(logs)" | cut -d' ' -f1) || true
  if [ -n "$stamp" ]; then date -d "$stamp" +%s.%N; else echo -; fi
}

# finish SECONDS [FROM]: one run's result: seconds, exit code, 1 if the
# log ends in `server stopped`, the step's own time from the line with
# FROM (default `shutting down`) to that last line; then the container
# and its volume go.
finish() {
  local seconds=$1 code drained=0 from to step=-
  code=$(podman inspect --format '{{.State.ExitCode}}' "$id")
  tail -n 1 <<<"$(logs)" | grep -q "server stopped" && drained=1
  from=$(logged_at "${2:-shutting down}")
  to=$(logged_at "server stopped")
  if [ "$from" != - ] && [ "$to" != - ]; then
    step=$(awk -v from="$from" -v to="$to" 'BEGIN { printf "%.3f", to - from }')
  fi
  podman rm --force --time 0 "$id" >/dev/null
  rm -rf "$volume"
  wait 2>/dev/null || true
  echo "$seconds $code $drained $step"
}

stopped() { # GRACE: podman stop's wall time
  local started
  started=$(now)
  podman stop --time "$1" "$id" >/dev/null 2>&1
  since "$started"
}

run_case() {
  case $1 in
  drain)
    start "$image:step2"
    request 1000
    finish "$(stopped 10)"
    ;;
  deadline)
    start "$image:step3" --env SHUTDOWN_TIMEOUT=1s
    request 60000
    finish "$(stopped 3)"
    ;;
  second-signal)
    start "$image:step4" --env SHUTDOWN_TIMEOUT=30s
    request 60000
    podman kill --signal INT "$id" >/dev/null
    wait_log "shutting down"
    local started
    started=$(now)
    podman kill --signal INT "$id" >/dev/null
    podman wait --interval 10ms "$id" >/dev/null
    finish "$(since "$started")" "forced shutdown"
    ;;
  step1)
    start "$image:step1"
    finish "$(stopped 2)"
    ;;
  step1-init)
    start "$image:step1" --init
    finish "$(stopped 10)"
    ;;
  shell-form)
    start "$image:step2-shell-form"
    finish "$(stopped 2)"
    ;;
  shell-form-init)
    start "$image:step2-shell-form" --init
    finish "$(stopped 10)"
    ;;
  shipped-idle)
    start "$image:$shipped"
    finish "$(stopped 10)"
    ;;
  shipped-stuck)
    # The image's own settings: SHUTDOWN_TIMEOUT=8s, SHUTDOWN_DELAY=0s.
    start "$image:$shipped"
    request 60000
    finish "$(stopped 10)"
    ;;
  esac
}

# case | image and options | what happens in it | podman's grace period
cases=(
  "drain|step2|1 s request in flight|10"
  "deadline|step3, SHUTDOWN_TIMEOUT=1s|stuck request|3"
  "second-signal|step4, SHUTDOWN_TIMEOUT=30s|stuck request, kill -s INT twice|-"
  "step1|step1 (no handler)|idle|2"
  "step1-init|step1, --init|idle|10"
  "shell-form|step2, shell-form ENTRYPOINT|idle|2"
  "shell-form-init|step2, shell-form, --init|idle|10"
  "shipped-idle|$shipped as shipped, SHUTDOWN_TIMEOUT=8s|idle|10"
  "shipped-stuck|$shipped as shipped, SHUTDOWN_TIMEOUT=8s|stuck request|10"
)

{
  echo "# scripts/container-figures.sh: $runs runs per case, release builds, $(podman --version), runc $(runc --version | sed -n '1s/runc version //p')"
  # Other work on the machine slows podman down: say how busy it was.
  echo "# $(nproc) cores, load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf '%-16s %-38s %-34s %5s %7s %11s %7s %5s %7s\n' \
    case image "in flight at the stop" grace "stop s" "min-max s" "step s" exit drained
  for row in "${cases[@]}"; do
    IFS='|' read -r name what load grace <<<"$row"
    results=$(for _ in $(seq "$runs"); do run_case "$name"; done)
    summary=$(awk '{ print $1 }' <<<"$results" | sort -n | awk '
      { v[NR] = $1 }
      END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f %.2f-%.2f", m, v[1], v[NR]
      }')
    step=$(awk '$4 != "-" { print $4 }' <<<"$results" | sort -n | awk '
      { v[NR] = $1 }
      END {
        if (NR == 0) { print "-"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f", m
      }')
    codes=$(awk '{ print $2 }' <<<"$results" | sort -u | paste -sd/)
    drained=$(awk '{ n += $3 } END { print n }' <<<"$results")
    read -r median range <<<"$summary"
    printf '%-16s %-38s %-34s %5s %7s %11s %7s %5s %7s\n' \
      "$name" "$what" "$load" "$grace" "$median" "$range" "$step" "$codes" "$drained/$runs"
  done
} | tee "$out"
