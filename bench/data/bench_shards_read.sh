#!/usr/bin/env bash
# Training-input preparation (decode, augment to 224x224, batch) read from shards
# of pre-resized images vs from the raw CelebA-size JPEGs (178x218), side by side
# in one run on the same cores:
#   1. sluice synth: N CelebA-size faces (the Kaggle layout)
#   2. configs/celeba-prep.toml on them: train split cut to 224x224, JPEG 95,
#      WebDataset shards of 1000 with a manifest; and once more at 178x218 (the
#      source size: the same pixels, so that the format alone is compared)
#   3. sluice bench data --root (celeba.index, the JPEG folder), then
#      sluice bench data --manifest (shard.index) on each shard set, in turn,
#      --repeats times each; the best and the median of each are reported
#
# usage: bench/data/bench_shards_read.sh [--build DIR] [--count N] [--threads T]
#                                   [--repeats R] [--record FILE]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
count=4000
threads=2
repeats=3
record=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --repeats) repeats="$2"; shift 2 ;;
    --record) record="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench_shards_read.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
sluice="$build/sluice"
[[ -x "$sluice" ]] || { echo "bench_shards_read.sh: $sluice not built" >&2; exit 1; }
work="${TMPDIR:-/tmp}/sluice-bench-shards-$count"
data="$work/celeba"
shards="$work/shards"
same="$work/shards-178x218"

if [[ ! -f "$data/list_attr_celeba.csv" ]]; then
  echo "== generating $count synthetic CelebA images (178x218) in $data"
  "$sluice" synth --out "$data" --count "$count" --seed 1
fi
if [[ ! -f "$shards/manifest.json" ]]; then
  echo "== writing shards with configs/celeba-prep.toml (train split, 224x224, JPEG 95)"
  "$sluice" run "$repo/configs/celeba-prep.toml" --log-level warn \
    --set "index.root=\"$data\"" --set 'index.split=["train"]' \
    --set "write.prefix=\"$shards/celeba-{split}\""
fi
if [[ ! -f "$same/manifest.json" ]]; then
  echo "== writing shards at the source size, 178x218, JPEG 95"
  "$sluice" run "$repo/configs/celeba-prep.toml" --log-level warn \
    --set "index.root=\"$data\"" --set 'index.split=["train"]' \
    --set resize.width=178 --set resize.height=218 \
    --set "write.prefix=\"$same/celeba-{split}\""
fi
# Same starting point for both: the files in the page cache.
cat "$data"/img_align_celeba/img_align_celeba/*.jpg "$shards"/*.tar "$same"/*.tar > /dev/null

pin=()
if command -v taskset > /dev/null && [[ "$(nproc)" -ge "$threads" ]]; then
  pin=(taskset -c "0-$((threads - 1))")
fi
ips() { sed -n 's/^images_per_second: //p' | tail -1; }
jpeg=(); shard=(); same_ips=()
for ((i = 0; i < repeats; ++i)); do
  jpeg+=("$("${pin[@]}" "$sluice" bench data --root "$data" --threads "$threads" --log-level warn | ips)")
  shard+=("$("${pin[@]}" "$sluice" bench data --manifest "$shards/manifest.json" --threads "$threads" --log-level warn | ips)")
  same_ips+=("$("${pin[@]}" "$sluice" bench data --manifest "$same/manifest.json" --threads "$threads" --log-level warn | ips)")
  echo "round $((i + 1)): jpeg folder ${jpeg[-1]}, shards 224 ${shard[-1]}, shards 178x218 ${same_ips[-1]} images/s"
done
stats() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {printf "best %s, median %s", v[NR], v[int((NR+1)/2)]}'; }
jpeg_bytes="$(du -sb "$data/img_align_celeba" | cut -f1)"
shard_bytes="$(du -cb "$shards"/*.tar | tail -1 | cut -f1)"
same_bytes="$(du -cb "$same"/*.tar | tail -1 | cut -f1)"
train="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["splits"]["train"]["samples"])' "$shards/manifest.json")"
summary="$(cat <<END
| input | images/s (${threads} threads, ${repeats} runs) | bytes on disk |
|---|---|---|
| raw JPEGs, 178x218 (celeba.index) | $(stats "${jpeg[@]}") | $jpeg_bytes (all $count) |
| shards, 224x224 JPEG 95 (shard.index) | $(stats "${shard[@]}") | $shard_bytes (train ${train:-?}) |
| shards, 178x218 JPEG 95 (shard.index) | $(stats "${same_ips[@]}") | $same_bytes (train ${train:-?}) |
END
)"
echo "$summary"
if [[ -n "$record" ]]; then
  {
    echo
    echo "## $(date -u +%Y-%m-%d) $(uname -m), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
    echo
    echo "$summary"
    echo
    echo "Runs (images/s): jpeg ${jpeg[*]}; shards 224 ${shard[*]}; shards 178x218 ${same_ips[*]}."
  } >> "$record"
fi
