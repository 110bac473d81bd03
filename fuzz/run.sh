#!/usr/bin/env bash
# Runs every fuzz target of a SLUICE_FUZZ build for a while, one after another:
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# The committed corpus (fuzz/corpus/<target>) seeds each run; new inputs go to a
# scratch folder (FUZZ_WORK, default /tmp/sluice-fuzz/<target>), never into the
# repository; crashes, leaks and timeouts go to fuzz/crashes/<target>-* (ignored
# by git). A target that finds something is started again for the rest of its
# time. Prints execs, corpus size and the result per target; exits 1 if any
# target found something.
set -u
build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config set index decode shard manifest checkpoint)
here=$(cd "$(dirname "$0")" && pwd)
work=${FUZZ_WORK:-/tmp/sluice-fuzz}
mkdir -p "$here/crashes"
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# The harnesses' scratch files (index files, .pt files): removed at the end, with
# whatever a crashed harness could not remove itself.
export SLUICE_FUZZ_SCRATCH
SLUICE_FUZZ_SCRATCH=$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )/sluice-fuzz-run-$$
trap 'rm -rf "$SLUICE_FUZZ_SCRATCH"' EXIT

# Longest input per target: configs and --set lines are text; images and .pt
# files need room for a real seed.
max_len() {
  case $1 in
    config) echo 16384 ;;
    set) echo 1024 ;;
    index) echo 16384 ;;
    decode) echo 65536 ;;
    checkpoint) echo 131072 ;;
    shard) echo 65536 ;;
    manifest) echo 16384 ;;
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
  # libFuzzer stops at the first finding; start it again (the corpus it built so
  # far is kept) until the time is used up, at most 20 times.
  deadline=$((SECONDS + seconds))
  execs=0 starts=0 found=()
  : >"$log"
  while [ $SECONDS -lt "$deadline" ] && [ $starts -lt 20 ]; do
    starts=$((starts + 1))
    "$bin" -max_total_time=$((deadline - SECONDS)) -max_len="$(max_len "$t")" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$here/crashes/$t-" "${dict[@]}" \
      "$work/$t" "$here/corpus/$t" >"$log.run" 2>&1
    rc=$?
    cat "$log.run" >>"$log"
    n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log.run" | grep -o '[0-9]*$' | tail -1)
    execs=$((execs + ${n:-0}))
    if [ $rc -ne 0 ]; then
      unit=$(grep -o 'Test unit written to .*' "$log.run" | tail -1 | sed 's/Test unit written to //')
      kind=$(grep -o -m1 'fuzz property violated\|ERROR: [A-Za-z]*Sanitizer: [a-z-]*\|runtime error\|terminate called after throwing an instance of [^ ]*\|ERROR: libFuzzer: [a-z -]*' "$log.run" | head -1)
      found+=("${kind:-rc $rc}: ${unit:-no input saved}")
      [ -n "$unit" ] || break
    fi
  done
  rm -f "$log.run"
  # Units in the fuzzer's corpus at the end (seeds + new), and the new ones saved.
  corpus="$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2) ($(find "$work/$t" -type f | wc -l) new)"
  if [ ${#found[@]} -eq 0 ]; then
    result=ok
  else
    result="FOUND ${#found[@]}: $(printf '[%s] ' "${found[@]}")"
    status=1
  fi
  summary+=("$(printf '%-11s %6ss  execs %-9s corpus %-20s %s' "$t" "$seconds" "${execs:-?}" "${corpus:-?}" "$result")")
  echo "${summary[-1]}"
done
echo
echo "== summary (target, seconds, execs, corpus, result; inputs in fuzz/crashes/)"
printf '%s\n' "${summary[@]}"
exit $status
