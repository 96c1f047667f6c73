#!/usr/bin/env bash
# Draws one shutdown timeline per step for the book:
# book/src/timelines/stepN.svg, and beside it stepN.txt, the same run as the
# tool printed it.
#
#   scripts/timelines.sh              # every step in src/bin
#   scripts/timelines.sh step2 step3  # only these
#
# Each picture is one real run (`cargo run --release -p tools --bin timeline -- stepN
# --svg …`), so the milliseconds differ a little from one drawing to the next.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then
  steps=("$@")
else
  mapfile -t steps < <(ls src/bin | sed -nE 's/^(step[0-9]+)(\.rs)?$/\1/p' | sort -V)
fi

bins=(--bin timeline)
for step in "${steps[@]}"; do bins+=(--bin "$step"); done
scripts/timed-build.sh --release --quiet --package bookmarks --package tools "${bins[@]}"
release="${CARGO_TARGET_DIR:-target}/release"

# Copies under another name: a `kill "$(pgrep -x step3)"` typed in another
# terminal cannot reach the process being drawn.
copies=$(mktemp -d)
trap 'rm -rf "$copies"' EXIT
for step in "${steps[@]}"; do cp "$release/$step" "$copies/$step-drawn"; done

mkdir -p book/src/timelines
for step in "${steps[@]}"; do
  svg="book/src/timelines/$step.svg"
  # The text is written aside and moved into place only whole (set -e
  # stops the script on a failure, leaving the book's file as it was); the
  # tool writes the picture itself, once the run is over.
  {
    echo "\$ cargo run --release -p tools --bin timeline -- $step --svg $svg"
    "$release/timeline" "$step" --binary "$copies/$step-drawn" --svg "$svg"
  } > "book/src/timelines/$step.txt.new"
  mv "book/src/timelines/$step.txt.new" "book/src/timelines/$step.txt"
  echo "$svg"
done
