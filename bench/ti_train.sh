#!/usr/bin/env bash
# Times textual-inversion training (`harness train-embedding`) on the tiny SD2 pipeline folder
# (golden pipeline_sd2, 32x32 images, 16x16 latents) on the CPU: optimizer steps per second at
# batch 1, 4 and 8 (images per step), with 8 vectors per token, latents cached ("once"), and with
# gradient checkpointing at batch 4. The rate is the command's own (training loop only: model
# loading and the final writes are outside it). Training images are made by `harness generate`.
# Usage: bench/ti_train.sh [BUILD_DIR]   (prints a Markdown block for bench/RESULTS.md; ~2 minutes)
# Environment: THREADS (default 2), STEPS (default 60), MDH_GOLDEN_DIR (default ../shared/golden).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
harness="$build/harness"
threads="${THREADS:-2}"
steps="${STEPS:-60}"
model="${MDH_GOLDEN_DIR:-../shared/golden}/pipeline_sd2"
[ -f "$model/model_index.json" ] || { echo "ti_train.sh: no pipeline folder at $model (set MDH_GOLDEN_DIR)" >&2; exit 2; }
work=$(mktemp -d /tmp/mdh-bench-ti-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$harness" generate --model "$model" --prompt "a photo of a cat" --batch 8 --steps 5 --seed 1 \
  --threads "$threads" --quiet --out "$work/images"

echo "### Textual inversion training, tiny SD2 pipeline (CPU)"
echo
echo "$(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, --threads $threads,"
echo "libtorch $("$harness" info 2>/dev/null | sed -n 's/^libtorch *:* *//p' | head -1), fp32, 32x32, 8 vectors, $steps steps, latents cached."
echo
echo "| batch | gradient checkpointing | steps/s | images/s |"
echo "|---|---|---|---|"
run() {
  local batch=$1 gc=$2 extra=()
  [ "$gc" = yes ] && extra=(--gradient-checkpointing)
  rm -rf "$work/out"
  "$harness" train-embedding --model "$model" --images "$work/images" --token "<bench>" --vectors 8 \
    --steps "$steps" --batch-size "$batch" --seed 3 --threads "$threads" --device cpu \
    --checkpoint-every 100000 "${extra[@]}" --out "$work/out" 2> "$work/log"
  local rate
  rate=$(sed -n 's/.*steps (\([0-9.]*\) steps\/s).*/\1/p' "$work/log" | tail -1)
  [ -n "$rate" ] || { cat "$work/log" >&2; exit 1; }
  echo "| $batch | $gc | $rate | $(awk -v r="$rate" -v b="$batch" 'BEGIN{printf "%.1f", r * b}') |"
}
run 1 no
run 4 no
run 8 no
run 4 yes
