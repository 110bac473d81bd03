#!/usr/bin/env bash
# image.cache against decoding every epoch, in one run on the same files and the
# same cores (bench_cache_epochs runs the three variants one after the other):
#   decode         index -> image.decode -> image.augment (random, SIZE) -> batch
#   cache          index -> image.cache (full size, memory) -> image.augment -> batch
#   cache_resized  index -> image.cache (resized to SIZE first) -> image.augment -> batch
# and prints images/s of epoch 1 (decoding, filling the cache) and of epochs 2..E.
#
# usage: bench/data/bench_cache.sh [--build DIR] [--count N] [--data DIR] [--epochs E]
#                                  [--size S] [--threads T] [--record FILE]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
count=2000
data=""
record=""
threads=2
epochs=4
size=128
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --size) size="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --record) record="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench_cache.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
data="${data:-${TMPDIR:-/tmp}/sluice-bench-celeba-$count}"
sluice="$build/sluice"
bench="$build/bench/bench_cache_epochs"
for f in "$sluice" "$bench"; do
  [[ -x "$f" ]] || { echo "bench_cache.sh: $f not built (cmake --build $build --target sluice bench_cache_epochs)" >&2; exit 1; }
done
if [[ ! -f "$data/list_attr_celeba.csv" ]]; then
  echo "== generating $count synthetic CelebA images in $data"
  "$sluice" synth --out "$data" --count "$count" --seed 1
fi
cat "$data"/img_align_celeba/img_align_celeba/*.jpg > /dev/null  # page cache warm for all

pin=()
if command -v taskset > /dev/null && [[ "$(nproc)" -ge "$threads" ]]; then
  pin=(taskset -c "0-$((threads - 1))")
fi
load="$(cut -d' ' -f1-3 /proc/loadavg)"
out="$("${pin[@]}" "$bench" --root "$data" --threads "$threads" --epochs "$epochs" --size "$size")"
echo "$out"

field() { echo "$out" | sed -n "s/^$1: .*$2 \([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
dec="$(field decode later_epochs_images_per_second)"
row() {
  echo "| $1 | $(field "$2" epoch1_images_per_second) | $(field "$2" later_epochs_images_per_second) | $(ratio "$(field "$2" later_epochs_images_per_second)" "$dec")x | $(field "$2" hits) / $(field "$2" misses) |"
}
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
machine="$cpu, $(nproc) cores visible, $(uname -sr)"
summary="| input path ($threads threads, augment ${size}x${size}, batch 32) | epoch 1 images/s | epochs 2-$epochs images/s | vs decode | cache hits / misses |
|---|---|---|---|---|
$(row "image.decode every epoch" decode)
$(row "image.cache (full size, memory)" cache)
$(row "image.cache resizing to ${size}x${size}" cache_resized)"
echo
echo "$summary"
if [[ -n "$record" ]]; then
  {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $machine. Data: $(echo "$out" | sed -n 's/^decode: images_per_epoch \([0-9]*\).*/\1/p') synthetic CelebA train images (178x218 JPEG) from \`$data\`, $epochs epochs."
    echo "Load average at the start: $load."
    echo
    echo "$summary"
  } >> "$record"
  echo "recorded in $record"
fi
