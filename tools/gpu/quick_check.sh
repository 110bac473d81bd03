#!/usr/bin/env bash
# One bounded pass on a CUDA machine: build (no full ctest), the GPU benchmark
# with fewer steps, then the GPU and training-step tests. Every log is
# copied to OUT_DIR (default $OUT, else ./gpu-check) as it is written, so a run
# cut short still leaves what it measured.
#
#   tools/gpu/quick_check.sh [OUT_DIR] [STEPS]
set -uo pipefail
out="${1:-${OUT:-gpu-check}}"
steps="${2:-40}"
mkdir -p "$out"
start=$(date +%s)
stamp() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$out/steps.log"; }

stamp "build"
tools/gpu/build.sh --no-test > "$out/build.log" 2>&1
stamp "build exit $?"
cp build-gpu/*.log "$out/" 2>/dev/null
[ -x build-gpu/sluice ] || { stamp "no sluice binary"; exit 1; }
# shellcheck disable=SC1091
source build-gpu/env.sh
stamp "benchmark"
bench/gpu/run.sh --steps "$steps" --e2e-images "${E2E_IMAGES:-3200}" > "$out/bench.log" 2>&1
stamp "benchmark exit $?"
cp bench/results/gpu-* "$out/" 2>/dev/null
stamp "gpu tests"
(cd build-gpu && ctest -R "Gpu|TrainBench|Trainer|Checkpoint|Vgg" -j8 --timeout 120 \
  --output-on-failure) > "$out/ctest-gpu.log" 2>&1
stamp "gpu tests exit $?"
stamp "done"
