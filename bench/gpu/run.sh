#!/usr/bin/env bash
# The GPU benchmark, everything on one GPU in one run:
#   1. VGG16 training images/s at 224x224, batch 64 and 128, bf16 autocast +
#      channels_last, features frozen (the recipe), on synthetic tensors:
#      `sluice bench train` against the same step in PyTorch eager Python
#      (bench/gpu/pytorch_eager.py); then the fully trainable variant at batch 64.
#   2. sluice end to end on synthetic CelebA JPEGs (sluice synth; celeba.index ->
#      image.decode -> image.augment -> batch 64 -> train.vgg at 224 on the GPU, two
#      epochs over a fixed number of images; the second epoch's rate is reported)
#      against its own synthetic-tensor rate at batch 64.
#   3. Model FLOP utilisation: 3 x 15.47 GFLOPs per image (the forward pass counted
#      in multiply-adds, torchvision's figure) against the card's dense bf16 peak.
# Writes the raw log and a summary table to bench/results/gpu-<card>.{log,md}.
#
# usage: bench/gpu/run.sh [--build DIR] [--python PY] [--peak-tflops P] [--steps N]
#                         [--e2e-images N] [--cpu-smoke]
#   --build        the build folder (default build-gpu, as tools/gpu/build.sh makes it;
#                  its env.sh, when present, puts the unpacked libraries on the path)
#   --python       Python with torch for the eager baseline (default: python3)
#   --peak-tflops  dense bf16 peak of the card (default: from its name; H100 SXM 989)
#   --steps        timed steps per synthetic-tensor measurement (default 100)
#   --e2e-images   train images per epoch end to end (default 6400: 100 steps of 64)
#   --cpu-smoke    prove the script on a CPU: narrow VGG16 (width/16), 64x64, batches
#                  8 and 16, few steps; writes bench/results/gpu-script-cpu-smoke.*
set -euo pipefail
command_line="bench/gpu/run.sh $*"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="$repo/build-gpu"
python="${PYTHON:-}"
peak=""
steps=100
warmup=20
e2e_images=6400
smoke=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$(realpath -m "$2")"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --peak-tflops) peak="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --e2e-images) e2e_images="$2"; shift 2 ;;
    --cpu-smoke) smoke=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
sluice_bin="$build/sluice"
[[ -x "$sluice_bin" ]] || { echo "run.sh: $sluice_bin not built (tools/gpu/build.sh)" >&2; exit 1; }
if [[ -z "$python" ]]; then
  for candidate in python3 /usr/bin/python3; do
    if "$candidate" -c "import torch" 2> /dev/null; then python="$candidate"; break; fi
  done
  [[ -n "$python" ]] || { echo "run.sh: no Python with torch (--python PY)" >&2; exit 1; }
fi
# sluice runs with the unpacked Debian libraries; Python keeps its own environment.
sluice() { (if [[ -f "$build/env.sh" ]]; then source "$build/env.sh"; fi; exec "$sluice_bin" "$@"); }

if [[ "$smoke" == 1 ]]; then
  card="cpu (smoke run)"
  name="gpu-script-cpu-smoke"
  device=cpu
  model=(--width-divisor 16 --size 64)
  batches=(8 16)
  steps=5
  warmup=2
  e2e_images=64
  e2e_size=64
  peak="${peak:-1}"  # nominal: exercises the arithmetic, means nothing on a CPU
else
  command -v nvidia-smi > /dev/null || { echo "run.sh: no nvidia-smi (--cpu-smoke?)" >&2; exit 1; }
  card="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  name="gpu-$(echo "$card" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//')"
  device=cuda
  model=(--width-divisor 1 --size 224)
  batches=(64 128)
  e2e_size=224
  if [[ -z "$peak" ]]; then
    case "$card" in  # dense bf16 tensor-core peaks, TFLOP/s
      *H200*|*H100*SXM*|*H100*HBM3*) peak=989 ;;
      *H100*NVL*) peak=835 ;;
      *H100*PCIe*) peak=756 ;;
      *A100*) peak=312 ;;
      *) echo "run.sh: unknown peak for '$card': pass --peak-tflops" >&2; exit 2 ;;
    esac
  fi
fi
results="$repo/bench/results"
mkdir -p "$results"
log="$results/$name.log"
summary_file="$results/$name.md"
work="${TMPDIR:-/tmp}/sluice-gpu-bench"
rm -rf "$work/run"
mkdir -p "$work"
exec > >(tee "$log") 2>&1

value() { sed -n "s/^$1: //p" | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else print "n/a" }'; }

echo "== $(date -u '+%Y-%m-%d %H:%M UTC') sluice GPU benchmark on: $card"
echo "sluice: $sluice_bin ($(sluice --version)); python: $python"
if [[ "$device" == cuda ]]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
fi
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) cores"
echo "peak for MFU: $peak TFLOP/s (dense bf16)"

rows=()
declare -A rate=()
fwd=""
executed=""
measure() {  # measure LABEL BATCH FREEZE: sluice then eager, same settings
  local label="$1" batch="$2" freeze="$3" s e
  echo
  echo "== $label: sluice bench train, batch $batch, freeze $freeze"
  s="$(sluice bench train --device "$device" "${model[@]}" --batch "$batch" --freeze "$freeze" \
       --steps "$steps" --warmup "$warmup" --peak-tflops "$peak" -q)"
  echo "$s"
  local gflops sl_ips sl_tf sl_mfu
  gflops="$(echo "$s" | value model_gflops_per_image)"
  sl_ips="$(echo "$s" | value images_per_second)"
  sl_tf="$(echo "$s" | value model_tflops)"
  sl_mfu="$(echo "$s" | value mfu)"
  echo
  echo "== $label: PyTorch eager, batch $batch, freeze $freeze"
  e="$("$python" "$here/pytorch_eager.py" --device "$device" "${model[@]}" --batch "$batch" \
       --freeze "$freeze" --steps "$steps" --warmup "$warmup" --model-gflops "$gflops" \
       --peak-tflops "$peak")"
  echo "$e"
  local py_ips py_mfu
  py_ips="$(echo "$e" | value images_per_second)"
  py_mfu="$(echo "$e" | value mfu)"
  rate[$label]="$sl_ips"
  if [[ "$freeze" == features ]]; then
    fwd="$(echo "$s" | value forward_gmacs_per_image)"
    executed="$(echo "$s" | value executed_gflops_per_image)"
  fi
  rows+=("| $label | $batch | $sl_ips | $py_ips | **$(ratio "$sl_ips" "$py_ips")x** | $sl_tf | $(percent "$sl_mfu" 1) | $(percent "$py_mfu" 1) |")
}

for b in "${batches[@]}"; do measure "frozen features, batch $b" "$b" features; done
measure "fully trainable, batch ${batches[0]}" "${batches[0]}" none
echo
echo "== PyTorch eager without the per-step read-back (--sync end), batch ${batches[0]}, frozen"
nosync="$("$python" "$here/pytorch_eager.py" --device "$device" "${model[@]}" \
  --batch "${batches[0]}" --freeze features --steps "$steps" --warmup "$warmup" --sync end)"
echo "$nosync"
nosync_ips="$(echo "$nosync" | value images_per_second)"

# --- end to end on synthetic CelebA JPEGs -------------------------------------------
b="${batches[0]}"
count=$(( e2e_images * 5 / 4 + 100 ))  # the synthetic partition keeps ~80% for train
data="$work/celeba-$count"
echo
if [[ ! -f "$data/list_attr_celeba.csv" ]]; then
  echo "== sluice synth: $count images into $data"
  sluice synth --out "$data" --count "$count" --seed 1
fi
cat > "$work/e2e.toml" <<EOF
# End to end: the recipe's graph (graphs/train.toml) with the train split only and a
# fixed number of images per epoch.
[pipeline]
name = "gpu-e2e"
seed = 1

[stages.index]
use = "celeba.index"
root = "$data"
split = ["train"]
label = "Male"
epochs = 2
limit = $e2e_images

[stages.decode]
use = "image.decode"
input = "index"

[stages.augment]
use = "image.augment"
input = "decode"
width = $e2e_size
height = $e2e_size
shear = 0.2
zoom = [0.2]
flip = true
normalize = "imagenet"

[stages.batch]
use = "image.batch"
input = "augment"
batch_size = $b

[stages.train]
use = "train.vgg"
input = "batch"
arch = "vgg16"
width_divisor = ${model[1]}
head = "replace_last"
freeze = "features"
optimizer = "adam"
lr = 1e-4
device = "$device"
monitor = "loss"
save_best = false
output_dir = "$work/run"
EOF
echo "== sluice run (end to end, batch $b, $e2e_images train images x 2 epochs)"
cat "$work/e2e.toml"
sluice run "$work/e2e.toml" --profile "$work/e2e-profile.json" --log-level info
e2e_ips="$(sed -n '2p' "$work/run/metrics.jsonl" | "$python" -c \
  'import json, sys; print("%.1f" % json.loads(sys.stdin.read())["images_per_s"])')"
synthetic_ips="${rate["frozen features, batch $b"]}"
echo "end to end, epoch 2: $e2e_ips images/s; synthetic tensors at batch $b: $synthetic_ips images/s"

summary="$(cat <<EOF
$( [[ "$smoke" == 1 ]] && printf '%s\n\n' "**CPU smoke run of bench/gpu/run.sh, not a GPU result**: narrow VGG16 (width/16), 64x64, batches 8 and 16, $steps steps; the MFU columns use a nominal 1 TFLOP/s peak and mean nothing. It shows the script runs end to end; the numbers, taken on a small shared machine, say nothing about a GPU (at this size the images prefetched during the first checkpoint even push the end-to-end rate above the synthetic one).")
Card: $card. $(date -u '+%Y-%m-%d %H:%M UTC'). sluice $(sluice --version | awk '{print $NF}'), $("$python" -c 'import torch; print("torch", torch.__version__)').
Synthetic tensors: random uint8 NHWC batches (in pinned memory on CUDA), uploaded and
normalised on the device every step; $( [[ "$device" == cuda ]] && echo "bf16 autocast + channels_last" || echo "fp32 (CPU)"); Adam lr 1e-4; replace_last head;
$steps timed steps after $warmup warm-up steps; loss read back every step in both.

| measurement | batch | sluice img/s | PyTorch eager img/s | sluice / eager | model TFLOP/s (sluice) | MFU sluice | MFU eager |
|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

Both loops read the loss (and the correct count) back every step, as train.vgg does;
PyTorch eager without that read-back, frozen, batch ${batches[0]}: $nosync_ips img/s.

End to end ($e2e_images synthetic CelebA JPEGs per epoch: decode + Keras augment + resize $e2e_size + batch $b + train, features frozen, second epoch):
**$e2e_ips img/s = $(percent "$e2e_ips" "$synthetic_ips")** of sluice's synthetic-tensor rate ($synthetic_ips img/s). Targets: sluice / eager >= 1.0x, end to end >= 95%.
(train.vgg times an epoch from its first batch; the images already in flight when the
first epoch's checkpoint was being written, at most max_in_flight, make it a little
optimistic: about one batch in $(( e2e_images / b )).)

MFU = img/s x 3 x $fwd GFLOP / $peak TFLOP/s: the issue's convention, counting a
multiply-add as one FLOP (torchvision's "15.47 GFLOPS" for VGG16 are multiply-adds);
with 2 FLOPs per multiply-add, as the peak counts them, double it. With the features
frozen, autograd skips their weight and input gradients: the work actually done is
about $executed GFLOP-as-MAC per image, not 3 x $fwd, so the frozen rows' MFU
understates how busy the card is (the fully trainable row does the full 3x).
EOF
)"
echo
echo "== summary"
echo "$summary"
{
  echo "# GPU benchmark: $card"
  echo
  echo "$summary"
  echo
  echo "Raw log: [$name.log]($name.log). Command: \`$command_line\`."
} > "$summary_file"
echo "wrote $summary_file and $log"
