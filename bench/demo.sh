#!/usr/bin/env bash
# Times the main job (configs/demo.yaml, README's first command) from scratch: wall time of
# the whole run and of every stage, from the run's events.log (start/complete lines), grouped
# by stage kind. Prints a Markdown block for bench/RESULTS.md.
# Usage: bench/demo.sh [BUILD_DIR]   Environment: THREADS (default: one per core), CONFIG
# (default configs/demo.yaml), RESULTS (keep the run's results there; default: a temporary
# folder that is removed).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
harness="$(realpath "$build/harness")"
threads="${THREADS:-$(nproc)}"
config="${CONFIG:-configs/demo.yaml}"
work=$(mktemp -d /tmp/mdh-bench-demo-XXXXXX)
trap 'rm -rf "$work"' EXIT

out="${RESULTS:-$work/out}"
rm -rf "$out"
start=$(date +%s.%N)
"$harness" run "$config" --results "$out" --threads "$threads" > "$work/log" 2>&1 || { tail -20 "$work/log" >&2; exit 1; }
end=$(date +%s.%N)

echo "### $(basename "$config") from scratch — $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores, --threads $threads, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| stage | variant | seconds |\n|---|---|---|\n'
# events.log: TIME HOST PID EVENT STAGE_ID [message]; variants come from the stage folders' spec.yaml.
awk '$4 == "start" || $4 == "complete" {print $1, $4, $5}' "$out/events.log" |
  while read -r t ev id; do
    s=$(date -d "$t" +%s)
    if [ "$ev" = start ]; then echo "$id $s" >> "$work/starts"; else
      b=$(awk -v id="$id" '$1 == id {print $2}' "$work/starts" | tail -1)
      v=$(sed -n 's/^variant: *//p' "$out/stages/$id/spec.yaml" | tr -d "'\"")
      echo "$id ${v:--} $((s - b))"
    fi
  done > "$work/times"
sort -k1,1 "$work/times" | awk '{printf "| %s | %s | %d |\n", $1, $2, $3}'
echo
echo "By kind (seconds, events.log has 1 s resolution):"
echo
printf '| kind | stages | total s |\n|---|---|---|\n'
awk '{k=$1; sub(/-.*/, "", k); n[k]++; t[k]+=$3} END {for (k in n) printf "| %s | %d | %d |\n", k, n[k], t[k]}' "$work/times" | sort
awk -v a="$start" -v b="$end" 'BEGIN {printf "\nWhole run: %.0f s (harness start-up and planning included).\n", b - a}'
