#!/usr/bin/env bash
# Measures the harness's own overhead, separate from any model work: planning time for large
# sweeps, the cost per stage of running (HDF5 file, fsyncs, renames, locks) with toy stages
# that compute almost nothing, and the cost of re-running a sweep that is already complete.
# Usage: bench/runner_overhead.sh [BUILD_DIR]   (prints a Markdown block for bench/RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
harness="$build/harness"
threads="${THREADS:-$(nproc)}"
work=$(mktemp -d /tmp/mdh-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{print b - a}'; }

cat > "$work/plan_big.yaml" <<'YAML'
name: plan_big
stages: [toy_eval]
toy: {fit: {models: [constant, linear, quadratic]}}
sweep:
  grid:
    toy.data.noise: {from: 0.01, to: 0.2, step: 0.01}
    toy.fit.lr: {from: 0.01, to: 0.2, step: 0.01}
  seeds: 25
YAML
cat > "$work/tiny.yaml" <<'YAML'
name: tiny
stages: [toy_eval]
results_dir: out
toy:
  data: {n_train: 10, n_test: 10}
  fit: {models: [constant, linear, quadratic], steps: 1, batch: 1}
sweep:
  grid: {toy.data.noise: {from: 0.1, to: 1.0, step: 0.1}}
  seeds: 10
YAML

t0=$(now); "$harness" plan configs/toy_sweep.yaml --results "$work/r0" >/dev/null; t1=$(now)
plan80=$(elapsed "$t0" "$t1")
t0=$(now); "$harness" plan "$work/plan_big.yaml" --results "$work/r1" --stages-only > "$work/plan_big.txt"; t1=$(now)
plan10k=$(elapsed "$t0" "$t1")
points_big=$(head -1 "$work/plan_big.txt" | sed 's/.*: \([0-9]*\) points, \([0-9]*\) unique.*/\1 points, \2 stages/')

cd "$work"
t0=$(now); "$OLDPWD/$harness" run tiny.yaml --quiet --threads "$threads"; t1=$(now)
run_s=$(elapsed "$t0" "$t1")
stages=$(ls out/stages | wc -l)
t0=$(now); "$OLDPWD/$harness" run tiny.yaml --quiet --threads "$threads"; t1=$(now)
rerun_s=$(elapsed "$t0" "$t1")
cd "$OLDPWD"

printf '### Runner overhead — %s\n\n' "$(date -u +%Y-%m-%d)"
printf 'Machine: %s, %s cores, %s; threads %s; harness %s.\n\n' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" \
  "$(df -T "$work" | awk 'NR==2{print $2}') temp dir" "$threads" "$("$harness" --version | cut -d' ' -f2-)"
printf '| measurement | result |\n|---|---|\n'
printf '| `harness plan` configs/toy_sweep.yaml (80 points, 340 stages) | %.2f s |\n' "$plan80"
printf '| `harness plan` 20 x 20 grid x 25 seeds (%s) | %.2f s |\n' "$points_big" "$plan10k"
printf '| `harness run`, %s toy stages computing ~nothing | %.2f s (%.1f ms per stage) |\n' "$stages" "$run_s" \
  "$(awk -v t="$run_s" -v n="$stages" 'BEGIN{print t * 1000 / n}')"
printf '| re-run of the complete sweep (all skipped) | %.2f s |\n' "$rerun_s"
