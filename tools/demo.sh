#!/usr/bin/env bash
# `make demo`: the CelebA gender recipe end to end on a synthetic CelebA, on the
# CPU, in a few minutes: generate the dataset, train a narrow VGG16 with early
# stopping, evaluate it on the test split, and label a few test images.
#
#   tools/demo.sh [BUILD_DIR] [OUT_DIR]      (defaults: build demo-out)
set -euo pipefail
build=${1:-build}
out=${2:-demo-out}
sluice="$build/sluice"
# 4000 faces: configs/demo.toml's figures are measured on this many (fewer reach less).
count=${SLUICE_DEMO_COUNT:-4000}

step() { printf '\n== %s\n' "$*"; }

# A dataset of another size (an earlier demo's) is written afresh: the figures hold
# for $count images.
partition="$out/celeba/list_eval_partition.csv"
if [ -f "$partition" ] && [ "$(($(wc -l < "$partition") - 1))" != "$count" ]; then
  step "$out/celeba holds $(($(wc -l < "$partition") - 1)) images, not $count: writing it again"
  rm -rf "$out/celeba"
fi
if [ ! -f "$out/celeba/list_attr_celeba.csv" ]; then
  step "writing a synthetic CelebA ($count images) to $out/celeba"
  "$sluice" synth --out "$out/celeba" --count "$count" --seed 1
fi

# Each demo trains afresh: overwrite replaces the previous demo's run in $out/run.
step "sluice check configs/demo.toml"
"$sluice" check configs/demo.toml --set index.root="$out/celeba" --set train.output_dir="$out/run" \
  --set train.overwrite=true

step "training: sluice run configs/demo.toml"
"$sluice" run configs/demo.toml --set index.root="$out/celeba" --set train.output_dir="$out/run" \
  --set train.overwrite=true --profile "$out/train-profile.json"

step "evaluating on the test split: sluice run configs/demo-eval.toml"
"$sluice" run configs/demo-eval.toml --set index.root="$out/celeba" \
  --set evaluate.checkpoint="$out/run/best.pt" --set evaluate.report="$out/run/eval.json"

step "predicting a few test images: sluice predict --checkpoint $out/run/best.pt IMAGE..."
images=$(awk -F, 'NR > 1 && $2 ~ /^2/ { print $1 }' "$out/celeba/list_eval_partition.csv" | head -6 |
  sed "s|^|$out/celeba/img_align_celeba/img_align_celeba/|")
# shellcheck disable=SC2086
"$sluice" predict --checkpoint "$out/run/best.pt" $images

step "done: metrics in $out/run/metrics.jsonl, evaluation in $out/run/eval.json"
echo "next: the run on one page (open it in a browser):"
echo "  $sluice report $out/run -o $out/report.html"
echo "then your own images: README.md, \"Your own images\""
