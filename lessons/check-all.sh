#!/usr/bin/env bash
# For every lesson: run its check on the exercise as shipped (it must
# fail), then on the reference step copied over the exercise (it must
# pass), and restore the exercise; and run its break-it check (it must
# fail: the planted mistake shows). Prints one line per lesson and each
# run's test summary; exits non-zero if any lesson misbehaves. Lesson 3's
# own cutoff.rs is left as shipped: step3.rs, copied over the exercise,
# uses the kit's.
#
#   lessons/check-all.sh            # every lesson
#   lessons/check-all.sh 3 4        # lessons 3 and 4
set -uo pipefail
cd "$(dirname "$0")/.."

lessons=("$@")
if [ ${#lessons[@]} -eq 0 ]; then
  for dir in lessons/0*-*/; do lessons+=("$(basename "$dir" | cut -c2)"); done
fi
status=0

for n in "${lessons[@]}"; do
  dir=$(ls -d lessons/0"$n"-*/ 2>/dev/null | head -n 1)
  [ -n "$dir" ] || { echo "lesson $n: no directory"; status=1; continue; }
  exercise="${dir}exercise.rs"
  backup=$(mktemp)
  cp "$exercise" "$backup"
  # Whatever happens below, the shipped exercise comes back.
  trap 'cp "$backup" "$exercise"' EXIT

  shipped=$(cargo test -q -p lessons --test "lesson$n" 2>&1 | grep -E '^test result')
  cp "src/bin/step$n.rs" "$exercise"
  reference=$(cargo test -q -p lessons --test "lesson$n" 2>&1 | grep -E '^test result')
  cp "$backup" "$exercise"
  trap - EXIT
  rm -f "$backup"
  broken=$(cargo test -q -p lessons --test "lesson$n-break" 2>&1 | grep -E '^test result')

  verdict=ok
  case "$shipped" in *FAILED*) ;; *) verdict="WRONG: the shipped exercise passes"; status=1 ;; esac
  case "$reference" in *"result: ok"*) ;; *) verdict="WRONG: step$n fails the check"; status=1 ;; esac
  case "$broken" in *FAILED*) ;; *) verdict="WRONG: break-it.rs passes its check"; status=1 ;; esac
  echo "lesson $n: $verdict"
  echo "  as shipped:        ${shipped:-no result}"
  echo "  with step$n.rs:    ${reference:-no result}"
  echo "  break-it.rs:       ${broken:-no result}"
done
exit $status
