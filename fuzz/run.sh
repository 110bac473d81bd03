#!/usr/bin/env bash
# Runs every fuzz target of a SLUICE_FUZZ build for a while, one after another:
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# The committed corpus (fuzz/corpus/<target>) seeds each run; new inputs go to a
# scratch folder (FUZZ_WORK, default /tmp/sluice-fuzz/<target>), never into the
# repository; crashes, leaks and timeouts go to fuzz/crashes/<target>-* (ignored
# by git). Each target runs in libFuzzer's fork mode with crashes, timeouts and
# out-of-memory inputs recorded and skipped, so one finding does not end the
# run. Prints execs, corpus size and the result per target; exits 1 if any
# target found something.
set -u
build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config set index decode checkpoint)
here=$(cd "$(dirname "$0")" && pwd)
work=${FUZZ_WORK:-/tmp/sluice-fuzz}
mkdir -p "$here/crashes"

# Longest input per target: configs and --set lines are text; images and .pt
# files need room for a real seed.
max_len() {
  case $1 in
    config) echo 16384 ;;
    set) echo 1024 ;;
    index) echo 16384 ;;
    decode) echo 65536 ;;
    checkpoint) echo 131072 ;;
  esac
}

summary=()
status=0
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "no $bin: build it with make fuzz" >&2
    exit 2
  fi
  mkdir -p "$work/$t"
  log="$work/$t.log"
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=(-dict="$here/dict/$t.dict")
  echo "== fuzz_$t for ${seconds}s (log $log)"
  before=$(ls "$here/crashes" | grep -c "^$t-")
  "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$here/crashes/$t-" "${dict[@]}" \
    "$work/$t" "$here/corpus/$t" >"$log" 2>&1
  # Fork mode's status lines: "#EXECS: cov: N ft: N corp: FILES exec/s N oom/timeout/crash: A/B/C ..."
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  execs=$(echo "$last" | sed -E 's/^#([0-9]+):.*/\1/')
  corpus="$(echo "$last" | sed -E 's/.* corp: ([0-9]+) .*/\1/') files"
  otc=$(echo "$last" | sed -E 's#.*oom/timeout/crash: ([0-9/]+).*#\1#')
  new=$(($(ls "$here/crashes" | grep -c "^$t-") - before))
  if [ "$new" -eq 0 ]; then
    result="ok (oom/timeout/crash ${otc:-0/0/0})"
  else
    result="FOUND $new (oom/timeout/crash $otc): $(ls -t "$here/crashes" | grep "^$t-" | head -"$new" | tr '\n' ' ')"
    status=1
  fi
  summary+=("$(printf '%-11s %6ss  execs %-10s corpus %-12s %s' "$t" "$seconds" "${execs:-?}" "${corpus:-?}" "$result")")
  echo "${summary[-1]}"
done
echo
echo "== summary (target, seconds, execs, corpus, result; inputs in fuzz/crashes/)"
printf '%s\n' "${summary[@]}"
exit $status
