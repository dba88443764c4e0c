#!/usr/bin/env bash
# Times `harness generate` (txt2img) on the tiny SD2 pipeline folder (golden pipeline_sd2) on the
# CPU: 20 steps, euler and pndm, batch 1 and 8, at 32x32 (the model's size) and 64x64 / 128x128
# to show how it scales. Two figures per run:
#   - it/s: model evaluations (one CFG UNet call on the whole batch) per second, from the timing
#     of the sampling loop that the command's final progress line reports;
#   - images/s: images over the whole command's wall time less the start-up of the program
#     (`harness --version`: loading libtorch), so it includes loading the model folder, text
#     encoding, VAE decoding and writing the PNGs; the raw wall time is reported as well.
# At 32x32 each row is the best of REPS runs (default 2), so that a scheduling hiccup on a shared
# machine does not decide a number; the larger sizes run long enough for one run to do. Attention
# over h*w latent tokens grows quadratically, so 128x128 at batch 8 (~8 minutes on 2 cores) runs
# only with FULL=1.
# Usage: bench/txt2img.sh [BUILD_DIR]   (prints a Markdown block for bench/RESULTS.md; ~4 minutes)
# Environment: THREADS (default 2), REPS (default 2), FULL (default 0), MDH_GOLDEN_DIR (default
# ../shared/golden).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
harness="$build/harness"
threads="${THREADS:-2}"
reps="${REPS:-2}"
full="${FULL:-0}"
steps=20
model="${MDH_GOLDEN_DIR:-../shared/golden}/pipeline_sd2"
[ -f "$model/model_index.json" ] || { echo "txt2img.sh: no pipeline folder at $model (set MDH_GOLDEN_DIR)" >&2; exit 2; }
work=$(mktemp -d /tmp/mdh-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{print b - a}'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b < a) ? b : a}'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b > a) ? b : a}'; }

# Start-up alone, best of three.
startup=""
for _ in 1 2 3; do
  t0=$(now)
  "$harness" --version > /dev/null
  startup=$(min "$startup" "$(elapsed "$t0" "$(now)")")
done

# The final progress line reads "... 20/20 in 2s (9.3 it/s)" (or "(1.6 s/it)" when slower).
rate_of() {
  sed -n 's#.* \([0-9]*\)/[0-9]* in [^ ]* (\([0-9.]*\) \(it/s\|s/it\)).*#\1 \2 \3#p' "$1" | tail -1 |
    awk '{ if ($3 == "s/it") printf "%s %.4f\n", $1, 1 / $2; else print $1, $2 }'
}
# Below 1 it/s the line gives s/it to 2 digits: show that as printed, not a made-up precision.
fmt_rate() { awk -v r="$1" 'BEGIN{ if (r >= 1) printf "%.1f", r; else printf "%.2g (%.1f s/it)", r, 1 / r }'; }

rows=""
for side in 32 64 128; do
  for sampler in euler pndm; do
    for batch in 1 8; do
      [ "$side" -eq 128 ] && [ "$batch" -eq 8 ] && [ "$full" != 1 ] && continue
      n_runs=1
      [ "$side" -eq 32 ] && n_runs=$reps
      best_wall="" best_rate="" evals=""
      for _ in $(seq "$n_runs"); do
        rm -rf "$work/out"
        t0=$(now)
        "$harness" generate --model "$model" --prompt "a t2w prostate mri" --sampler "$sampler" --steps "$steps" \
          --batch "$batch" --height "$side" --width "$side" --seed 1 --threads "$threads" --device cpu \
          --out "$work/out" 2> "$work/err.txt" || { cat "$work/err.txt" >&2; exit 1; }
        wall=$(elapsed "$t0" "$(now)")
        read -r evals rate <<<"$(rate_of "$work/err.txt")"
        [ -n "$rate" ] || { echo "txt2img.sh: no progress line in:" >&2; cat "$work/err.txt" >&2; exit 1; }
        best_wall=$(min "$best_wall" "$wall")
        best_rate=$(max "$best_rate" "$rate")
      done
      rows+=$(awk -v s="$side" -v smp="$sampler" -v b="$batch" -v n="$evals" -v r="$best_rate" -v w="$best_wall" \
                  -v st="$startup" -v rs="$(fmt_rate "$best_rate")" 'BEGIN{
        net = w - st
        printf "| %dx%d | %s | %d | %d | %s | %.3g s | %.3g | %.3f s | %.3g | %.3g |\n",
               s, s, smp, b, n, rs, n / r, r * b, w, b / net, b / w }')
      rows+=$'\n'
      echo "txt2img.sh: ${side}x${side} $sampler batch $batch done" >&2
    done
  done
done

printf '### txt2img, tiny SD2 pipeline, CPU — %s\n\n' "$(date -u +%Y-%m-%d)"
printf 'Machine: %s, %s cores (load average at the end: %s); harness threads %s, --device cpu, fp32; harness %s.\n' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$threads" "$("$harness" --version | cut -d' ' -f2-)"
printf 'Model: golden pipeline_sd2 (UNet 2.4 M, CLIP text encoder 1.6 M, VAE 0.84 M parameters; sample size 16, VAE factor 2); prompt "a t2w prostate mri", negative "", guidance 7.5, %s steps; at 32x32 best of %s runs per row, larger sizes one run.\n\n' \
  "$steps" "$reps"
printf '| size | sampler | batch | model evals | it/s (sampling) | sampling time | latent-steps/s (it/s × batch) | whole command (wall) | images/s (wall − start-up) | images/s (wall) |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
printf '%s' "$rows"
printf '| start-up alone (`harness --version`: loading libtorch) | | | | | | | %.3f s | | |\n' "$startup"
[ "$full" = 1 ] || printf '\n128x128 at batch 8 not run (FULL=1 runs it: several minutes per run on 2 cores).\n'
printf '\nit/s counts CFG model evaluations (one UNet call on 2 × batch latents) over the sampling loop (text encoding included, VAE decoding not), as the progress line reports it.\n'
