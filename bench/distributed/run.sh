#!/usr/bin/env bash
# Gloo all-reduce overhead per training step on the CPU, for a narrow VGG16.
#
# Trains VGG16 (channels / WIDTH_DIVISOR, GAP head) on 48x48 synthetic faces, batch 16 per
# process, one intra-op thread per process (OMP_NUM_THREADS=1), three ways:
#   single  one process (no c10d at all)
#   twin    two independent single processes at the same time (the CPU contention of
#           two processes, without communication)
#   pair    two ranks on loopback (WORLD_SIZE=2, Gloo), each on its own half of the data
# The Gloo overhead per step is pair's step time minus twin's.
# and reports, from the profiles and the ranks' logs: the train stage's time per step,
# and the time each rank spends after backward waiting for the gradient all-reduce
# (which also absorbs any imbalance between the ranks).
#
# usage: bench/distributed/run.sh [BUILD_DIR] [STEPS] [WIDTH_DIVISOR]   (defaults: build, 32, 16)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(realpath -m "${1:-$repo/build}")"
steps="${2:-32}"
divisor="${3:-16}"
sluice="$build/tools/sluice"
[[ -x "$sluice" ]] || sluice="$build/sluice"
work="$(mktemp -d /tmp/sluice-dist-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT

"$sluice" synth --out "$work/celeba" --count 800 --seed 2 >/dev/null 2>&1

config() {  # $1 = out dir, $2 = train samples (the whole job's)
  cat >"$1.toml" <<TOML
[pipeline]
name = "dist-bench"
seed = 3
threads = 2
[stages.index]
use = "celeba.index"
root = "$work/celeba"
split = ["train"]
limit = $2
[stages.decode]
use = "image.decode"
input = "index"
[stages.augment]
use = "image.augment"
input = "decode"
width = 48
height = 48
normalize = "none"
rescale = 0.00392156862745098
[stages.batch]
use = "image.batch"
input = "augment"
batch_size = 16
[stages.train]
use = "train.vgg"
input = "batch"
arch = "vgg16"
width_divisor = $divisor
head = "gap"
freeze = "none"
optimizer = "sgd"
lr = 0.01
device = "cpu"
patience = 0
output_dir = "$1"
TOML
}

per_step() {  # profile -> ms per train step
  python3 - "$1" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
s = [s for s in p["stages"] if s["id"] == "train"][0]
print(f'{1000 * s["busy_s"] / max(s["items_in"], 1):.1f}')
PY
}

samples=$((16 * steps))
export OMP_NUM_THREADS=1
config "$work/single" "$samples"
"$sluice" run "$work/single.toml" --profile "$work/single.json" >"$work/single.log" 2>&1
for t in 0 1; do
  "$sluice" run "$work/single.toml" --set train.output_dir="$work/twin$t" \
    --profile "$work/twin$t.json" >"$work/twin$t.log" 2>&1 &
done
wait
config "$work/pair" $((2 * samples))
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for r in 0 1; do
  RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    "$sluice" run "$work/pair.toml" --profile "$work/pair.json" >"$work/pair$r.log" 2>&1 &
done
wait

single_ms=$(per_step "$work/single.json")
echo "steps per process: $steps, batch 16 per process, 48x48, VGG16/$divisor GAP, OMP_NUM_THREADS=1"
echo "single process: train step ${single_ms} ms"
echo "two independent processes: train step $(per_step "$work/twin0.json") ms and $(per_step "$work/twin1.json") ms"
for r in 0 1; do
  ms=$(per_step "$work/pair.json.rank$r")
  wait_s=$(grep -o 'distributed: [0-9.]* s in gradient' "$work/pair$r.log" | grep -o '[0-9.]*' | head -1)
  echo "rank $r of 2: train step ${ms} ms, of which $(python3 -c "print(f'{1000*$wait_s/$steps:.1f}')") ms waiting for the gradient all-reduce"
done
grep -h "parameters" "$work/single.log" | head -1 || true
