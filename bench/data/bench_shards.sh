#!/usr/bin/env bash
# Shard writing throughput (shard.write, docs/data.md "Writing shards"), on
# synthetic CelebA (178x218 JPEG), page cache warm, the same cores for every run:
#   1. prep: configs/celeba-prep.toml as shipped -- celeba.index (all splits) ->
#      image.decode -> image.resize (224x224, centred crop) -> image.encode (JPEG
#      95, 4:2:0) -> shard.write (1000 per shard)
#   2. pack: celeba.index -> shard.write, the original files packed unchanged (the
#      writer alone: read, tar, CRC-32, fsync per shard)
# Each reports images/s and MB/s of shard bytes written (manifest sizes, 10^6
# bytes) over the run's wall time (wall_s of --profile: from the sources' start to
# the last stage's finish, so the last shard's fsync and the manifest included),
# and the whole process's time (start-up: loading libraries, validation).
#
# usage: bench/data/bench_shards.sh [--build DIR] [--count N] [--data DIR] [--out DIR]
#                                   [--threads N] [--record FILE]
#   --count   synthetic images to generate if --data has none (default 4000)
#   --out     where the shards go (default: a temporary folder, removed after)
#   --record  append the results, with the machine description, to FILE (markdown)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
count=4000
data=""
out=""
record=""
threads=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --record) record="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_shards.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
data="${data:-${TMPDIR:-/tmp}/sluice-bench-celeba-$count}"
sluice="$build/sluice"
python="${PYTHON:-/usr/bin/python3}"
[[ -x "$sluice" ]] || { echo "bench_shards.sh: $sluice not built (cmake --build $build --target sluice)" >&2; exit 1; }
cleanup=""
if [[ -z "$out" ]]; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-shards.XXXXXX")"
  cleanup="$out"
fi
trap '[[ -n "$cleanup" ]] && rm -rf "$cleanup"' EXIT

if [[ ! -f "$data/list_attr_celeba.csv" ]]; then
  echo "== generating $count synthetic CelebA images in $data"
  "$sluice" synth --out "$data" --count "$count" --seed 1
fi
cat "$data"/img_align_celeba/img_align_celeba/*.jpg > /dev/null

pin=()
if command -v taskset > /dev/null && [[ "$(nproc)" -ge "$threads" ]]; then
  pin=(taskset -c "0-$((threads - 1))")
fi

pack_config="$out/pack.toml"
cat > "$pack_config" <<TOML
[pipeline]
name = "pack"
[stages.index]
use = "celeba.index"
root = "$data"
split = ["train", "validation", "test"]
shuffle = false
[stages.write]
use = "shard.write"
input = "index"
prefix = "$out/pack/celeba-{split}"
max_samples = 1000
TOML

# run NAME CONFIG [--set ...]: prints "images run_seconds megabytes shards process_seconds"
run() {
  local name="$1"; shift
  local start end
  start="$(date +%s.%N)"
  "${pin[@]}" "$sluice" run "$@" --threads "$threads" --log-level warn \
    --profile "$out/$name.json" > "$out/$name.log" 2>&1
  end="$(date +%s.%N)"
  "$python" - "$out/$name/manifest.json" "$out/$name.json" "$start" "$end" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["complete"], "the manifest is not complete"
size = sum(s["bytes"] for s in m["shards"])
wall = json.load(open(sys.argv[2]))["wall_s"]
print(m["samples"], wall, size / 1e6, len(m["shards"]), float(sys.argv[4]) - float(sys.argv[3]))
PY
}

echo "== prep: decode, crop 224, JPEG 95, shard.write ($threads threads)"
read -r prep_n prep_s prep_mb prep_shards prep_p < <(run prep "$repo/configs/celeba-prep.toml" \
  --set "index.root=$data" --set "write.prefix=\"$out/prep/celeba-{split}\"")
echo "$prep_n images, $prep_shards shards, $prep_mb MB in $prep_s s (process $prep_p s)"
echo "== pack: the original files into shards ($threads threads)"
read -r pack_n pack_s pack_mb pack_shards pack_p < <(run pack "$pack_config")
echo "$pack_n images, $pack_shards shards, $pack_mb MB in $pack_s s (process $pack_p s)"

rate() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
machine="$cpu, $(nproc) cores visible, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
fs_type="$(stat -f -c %T "$out")"
summary="| run | images | shards | MB written | run s | images/s | MB/s | process s |
|---|---|---|---|---|---|---|---|
| prep: decode + crop 224 + JPEG 95 + shard.write, $threads threads | $prep_n | $prep_shards | $(printf %.1f "$prep_mb") | $(printf %.2f "$prep_s") | $(rate "$prep_n" "$prep_s") | $(rate "$prep_mb" "$prep_s") | $(printf %.2f "$prep_p") |
| pack: original files -> shard.write, $threads threads | $pack_n | $pack_shards | $(printf %.1f "$pack_mb") | $(printf %.2f "$pack_s") | $(rate "$pack_n" "$pack_s") | $(rate "$pack_mb" "$pack_s") | $(printf %.2f "$pack_p") |"
echo
echo "$summary"

if [[ -n "$record" ]]; then
  {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $machine. Binary: $sluice. Shards on $fs_type. Data: $count synthetic CelebA images (178x218 JPEG, \`sluice synth --seed 1\`), all splits."
    echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "$summary"
  } >> "$record"
  echo "recorded in $record"
fi
