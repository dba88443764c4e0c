#!/usr/bin/env bash
# Times classifier training (the classify stage's loop: batch assembly, the paper's augmentation,
# normalisation, forward, backward, Adam step) at the paper's 196x196 input, batch 32, on a
# phantom set, with and without augmentation. The rate is the stage's own images_per_second
# (training steps only: image loading, validation and test scoring are outside it).
# Usage: bench/classifier.sh [BUILD_DIR]   (prints a Markdown block for bench/RESULTS.md)
# Environment: THREADS (default 2), STEPS (default 8), DEVICE (default cpu), BATCH (default 32).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
harness="$(realpath "$build/harness")"
threads="${THREADS:-2}"
steps="${STEPS:-8}"
device="${DEVICE:-cpu}"
batch="${BATCH:-32}"
work=$(mktemp -d /tmp/mdh-bench-clf-XXXXXX)
trap 'rm -rf "$work"' EXIT

run() {
  local augment=$1
  cat > "$work/c.yaml" <<YAML
name: bench
stages: [classify]
results_dir: $work/out-$augment
device: $device
data:
  phantom: {n: 96, size: 256}
  split: {embed_per_class: 0, train: 64, val: 16, test: 16}
classify:
  arms: {real: {real: 64}}
  runs: 1
  input_size: 196
  batch: $batch
  steps: $steps
  val_every: 100000
  augment: {enabled: $augment}
YAML
  "$harness" run "$work/c.yaml" --threads "$threads" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  local rate
  rate=$(sed -n 's/.*s: \([0-9.]*\) images\/s.*/\1/p' "$work/log" | tail -1)
  [ -n "$rate" ] || { cat "$work/log" >&2; exit 1; }
  echo "| $augment | $batch | $steps | $rate | $(awk -v r="$rate" -v b="$batch" 'BEGIN{printf "%.2f", b / r}') |"
}

echo "### Classifier training, ResNet-18 at 196x196 ($device)"
echo
echo "$(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, --threads $threads,"
echo "libtorch $("$harness" info 2>/dev/null | sed -n 's/^libtorch *:* *//p' | head -1), fp32, random init, Adam 1e-4."
echo
echo "| augmentation | batch | steps | images/s | s/step |"
echo "|---|---|---|---|---|"
run true
run false
