#!/usr/bin/env bash
# Python iteration of a sluice pipeline against `sluice bench data` and the
# PyTorch DataLoader, in one run, on the same files and the same cores:
#   1. sluice bench data (index -> decode -> augment -> batch, 224x224), C++ sink
#   2. the same graph iterated from Python (bench/python/iterate.py)
#   3. PyTorch DataLoader + torchvision with the same augmentation, N workers
#      (bench/data/torch_dataloader.py)
#
# usage: bench/python/bench_python.sh [--build DIR] [--count N] [--data DIR]
#                                     [--threads N] [--epochs E] [--record FILE]
#   --epochs  passes over the train split for the two sluice runs (default 3;
#             the DataLoader makes one, its rate does not depend on it)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build"
count=3000
data=""
record=""
threads=2
epochs=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --record) record="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench_python.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
data="${data:-${TMPDIR:-/tmp}/sluice-bench-celeba-$count}"
sluice="$build/sluice"
python="${PYTHON:-/usr/bin/python3}"
[[ -x "$sluice" ]] || { echo "bench_python.sh: $sluice not built" >&2; exit 1; }
[[ -f "$build/python/sluice/__init__.py" ]] || {
  echo "bench_python.sh: the Python module is not built (cmake --build $build --target sluice_python)" >&2
  exit 1
}

if [[ ! -f "$data/list_attr_celeba.csv" ]]; then
  echo "== generating $count synthetic CelebA images in $data"
  "$sluice" synth --out "$data" --count "$count" --seed 1
fi
cat "$data"/img_align_celeba/img_align_celeba/*.jpg > /dev/null

pin=()
if command -v taskset > /dev/null && [[ "$(nproc)" -ge "$threads" ]]; then
  pin=(taskset -c "0-$((threads - 1))")
fi
value() { sed -n "s/^$1: //p" | tail -1; }

echo "== sluice bench data ($threads threads)"
cpp_out="$("${pin[@]}" "$sluice" bench data --root "$data" --threads "$threads" --batch 32 --epochs "$epochs" --log-level warn)"
echo "$cpp_out"
cpp_ips="$(echo "$cpp_out" | value images_per_second)"

echo "== Python iteration of the same graph ($threads threads)"
py_out="$(PYTHONPATH="$build/python" "${pin[@]}" "$python" "$here/iterate.py" --root "$data" --threads "$threads" --batch 32 --epochs "$epochs")"
echo "$py_out"
py_ips="$(echo "$py_out" | value images_per_second)"

echo "== PyTorch DataLoader + torchvision ($threads workers)"
torch_out="$("${pin[@]}" "$python" "$repo/bench/data/torch_dataloader.py" --root "$data" --workers "$threads" --batch 32)"
echo "$torch_out"
torch_ips="$(echo "$torch_out" | value images_per_second)"
torch_version="$(echo "$torch_out" | value torch)"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
py_vs_cpp="$(ratio "$py_ips" "$cpp_ips")"
py_vs_torch="$(ratio "$py_ips" "$torch_ips")"
images="$(echo "$torch_out" | value images)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
machine="$cpu, $(nproc) cores visible, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"

summary="| measurement | images/s |
|---|---|
| sluice bench data, $threads threads (C++ sink) | $cpp_ips |
| the same graph iterated from Python, $threads threads | $py_ips |
| PyTorch DataLoader + torchvision $torch_version, $threads workers | $torch_ips |

Python / sluice bench data: **$(awk -v r="$py_vs_cpp" 'BEGIN { printf "%.0f", r * 100 }')%** (target >= 90%); Python / DataLoader: **${py_vs_torch}x** (target >= 3x)"
echo
echo "== summary ($images train images from $data; $machine)"
echo "$summary"

if [[ -n "$record" ]]; then
  {
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Command: \`bench/python/bench_python.sh --count $count --threads $threads --epochs $epochs\`."
    echo "Machine: $machine. Data: $images synthetic CelebA train images (178x218 JPEG, \`sluice synth --seed 1\`)."
    echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "$summary"
  } >> "$record"
  echo "recorded in $record"
fi
