#!/usr/bin/env bash
# The data path benchmark, all three measurements in one run on the same files
# and the same number of cores:
#   1. sluice bench data (index -> decode -> augment -> batch, 224x224) with 2 threads
#   2. TurboJPEG decode-only (read + decode to RGB, nothing else), 2 threads
#   3. PyTorch DataLoader + torchvision (Resize 224, RandomAffine shear+scale,
#      RandomHorizontalFlip, ToTensor), 2 worker processes
#
# usage: bench/data/bench_data.sh [--build DIR] [--count N] [--data DIR] [--record FILE]
#   --count   synthetic images to generate if --data has none (default 5000)
#   --record  append the results, with the machine description, to FILE (markdown)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
count=5000
data=""
record=""
threads=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --record) record="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench_data.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
data="${data:-${TMPDIR:-/tmp}/sluice-bench-celeba-$count}"
sluice="$build/sluice"
decode_only="$build/bench/bench_decode_only"
python="${PYTHON:-/usr/bin/python3}"
for f in "$sluice" "$decode_only"; do
  [[ -x "$f" ]] || { echo "bench_data.sh: $f not built (cmake --build $build --target sluice bench_decode_only)" >&2; exit 1; }
done

if [[ ! -f "$data/list_attr_celeba.csv" ]]; then
  echo "== generating $count synthetic CelebA images in $data"
  "$sluice" synth --out "$data" --count "$count" --seed 1
fi
# Same starting point for everyone: the files in the page cache.
cat "$data"/img_align_celeba/img_align_celeba/*.jpg > /dev/null

pin=()
if command -v taskset > /dev/null && [[ "$(nproc)" -ge "$threads" ]]; then
  pin=(taskset -c "0-$((threads - 1))")
fi

value() { sed -n "s/^$1: //p" | tail -1; }

echo "== sluice bench data ($threads threads)"
sluice_out="$("${pin[@]}" "$sluice" bench data --root "$data" --threads "$threads" --batch 32 --log-level warn)"
echo "$sluice_out"
sluice_ips="$(echo "$sluice_out" | value images_per_second)"

echo "== TurboJPEG decode-only ($threads threads)"
decode_out="$("${pin[@]}" "$decode_only" --root "$data" --threads "$threads")"
echo "$decode_out"
decode_ips="$(echo "$decode_out" | value decode_only_images_per_second)"

echo "== PyTorch DataLoader + torchvision ($threads workers)"
torch_out="$("${pin[@]}" "$python" "$here/torch_dataloader.py" --root "$data" --workers "$threads" --batch 32)"
echo "$torch_out"
torch_ips="$(echo "$torch_out" | value images_per_second)"
torch_version="$(echo "$torch_out" | value torch)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
vs_torch="$(ratio "$sluice_ips" "$torch_ips")"
vs_decode="$(ratio "$sluice_ips" "$decode_ips")"
images="$(echo "$sluice_out" | value images)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
machine="$cpu, $(nproc) cores visible, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"

summary="| measurement | images/s |
|---|---|
| sluice bench data, $threads threads (decode + Keras augment + resize 224 + batch 32) | $sluice_ips |
| TurboJPEG decode-only, $threads threads | $decode_ips |
| PyTorch DataLoader + torchvision $torch_version, $threads workers | $torch_ips |

sluice / DataLoader: **${vs_torch}x** (target >= 3x); sluice / decode-only: **$(awk -v r="$vs_decode" 'BEGIN { printf "%.0f", r * 100 }')%** (target >= 50%)"
echo
echo "== summary ($images train images from $data; $machine)"
echo "$summary"

if [[ -n "$record" ]]; then
  {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $machine. Data: $images synthetic CelebA train images (178x218 JPEG, \`sluice synth --seed 1\`)."
    echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "$summary"
  } >> "$record"
  echo "recorded in $record"
fi
