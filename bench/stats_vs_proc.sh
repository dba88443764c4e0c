#!/usr/bin/env bash
# Times `harness stats` bootstraps against R's pROC on the same data in the same run: a
# stratified bootstrap CI of one AUC and a paired bootstrap of two, 10,000 replicates each, on
# n = 600 (300 positives, 300 negatives) with two correlated scores. pROC is timed by
# system.time() inside one R session (R start-up and loading pROC excluded); the harness the same
# way, by the "compute_seconds" its JSON reports (start-up and CSV reading excluded), and also by
# wall clock around the whole command. The ratio compares computation with computation.
# Usage: bench/stats_vs_proc.sh [BUILD_DIR]   (prints a Markdown block for bench/RESULTS.md)
# Target (issue 3): the harness at least 100 times faster than pROC.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
harness="$build/harness"
threads="${THREADS:-$(nproc)}"
boot_n=10000
work=$(mktemp -d /tmp/mdh-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{print b - a}'; }

Rscript --vanilla - "$work" "$boot_n" > "$work/r.txt" <<'R'
suppressMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; boot.n <- as.integer(args[2])
set.seed(2024)
y <- rep(c(0, 1), each = 300)
common <- rnorm(600)
d <- data.frame(y = y, s1 = common + 0.9 * y, s2 = 0.6 * common + 0.8 * rnorm(600) + 0.7 * y)
write.csv(d, file.path(dir, "data.csv"), row.names = FALSE)
roc1 <- roc(d$y, d$s1, levels = c(0, 1), direction = "<", quiet = TRUE)
roc2 <- roc(d$y, d$s2, levels = c(0, 1), direction = "<", quiet = TRUE)
set.seed(1)
t1 <- system.time(ci1 <- ci.auc(roc1, method = "bootstrap", boot.n = boot.n, progress = "none"))
t2 <- system.time(rt <- roc.test(roc1, roc2, method = "bootstrap", boot.n = boot.n, paired = TRUE,
                                 progress = "none"))
cat(sprintf("ci_s %.4f\ntest_s %.4f\nauc1 %.4f\nci_lo %.4f\nci_hi %.4f\ntest_z %.4f\nversion %s %s\n",
            t1[["elapsed"]], t2[["elapsed"]], as.numeric(auc(roc1)), ci1[1], ci1[3], rt$statistic,
            getRversion(), packageVersion("pROC")))
R
rval() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$work/r.txt"; }

# The harness, run right after R on the same file; best of three so that a stray
# scheduling hiccup on a shared machine does not decide the ratio.
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b < a) ? b : a}'; }
# Prints "WALL COMPUTE": the best of three of each (COMPUTE only for `harness stats` runs).
best_of_3() {
  local best="" best_c="" t0 t1 c
  for _ in 1 2 3; do
    t0=$(now)
    "$@" > "$work/h.json"
    t1=$(now)
    best=$(min "$best" "$(elapsed "$t0" "$t1")")
    c=$(sed -n 's/.*"compute_seconds":[[:space:]]*\([0-9.eE+-]*\).*/\1/p' "$work/h.json")
    [ -n "$c" ] && best_c=$(min "$best_c" "$c")
  done
  echo "$best ${best_c:-0}"
}
time_harness() {
  best_of_3 "$harness" stats "$work/data.csv" --label y "$@" --method bootstrap --boot-n "$boot_n" --stratified \
    --threads "$threads" --format json
}
read -r h_ci h_ci_c <<<"$(time_harness --score s1)"
h_ci_json=$(tr -d ' \n\t' < "$work/h.json")
read -r h_test h_test_c <<<"$(time_harness --score s1 --score s2)"
h_test_json=$(tr -d ' \n\t' < "$work/h.json")
# Start-up alone (loading the program and its libraries), to show how much of the above is
# computation.
read -r h_start _ <<<"$(best_of_3 "$harness" --version)"

p_ci=$(rval ci_s)
p_test=$(rval test_s)
ratio() { awk -v p="$1" -v h="$2" 'BEGIN{printf "%.0f", p / h}'; }
pct=$(printf '%s' "$h_ci_json" | sed -n 's/.*"percentile":\[\([^],]*\),\([^]]*\)\].*/\1 \2/p' | head -1)
h_z=$(printf '%s' "$h_test_json" | sed -n 's/.*"paired".*"bootstrap":{"z":\([^,]*\),.*/\1/p')

printf '### Bootstrap vs pROC — %s\n\n' "$(date -u +%Y-%m-%d)"
printf 'Machine: %s, %s cores; harness threads %s; harness %s; R %s, pROC %s.\n' \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" "$(nproc)" "$threads" \
  "$("$harness" --version | cut -d' ' -f2-)" $(rval version)
printf 'Data: n = 600 (300 / 300), two correlated scores (R, set.seed(2024)); %s replicates, stratified.\n\n' "$boot_n"
printf '| measurement | harness computation (best of 3) | pROC (system.time) | pROC / harness | harness whole command (wall) |\n'
printf '|---|---|---|---|---|\n'
printf '| bootstrap CI of one AUC | %.4f s | %.2f s | **%s×** | %.3f s |\n' "$h_ci_c" "$p_ci" "$(ratio "$p_ci" "$h_ci_c")" "$h_ci"
printf '| paired bootstrap of two AUCs (the harness also computes both CIs) | %.4f s | %.2f s | **%s×** | %.3f s |\n' \
  "$h_test_c" "$p_test" "$(ratio "$p_test" "$h_test_c")" "$h_test"
printf '| harness start-up alone (`harness --version`: loading libtorch) | | | | %.3f s |\n' "$h_start"
printf '\nSame data, different random draws: percentile 95%% CI harness %s, pROC %s–%s (AUC %s); paired z harness %.4f, pROC %s. Target: ≥ 100×.\n' \
  "$(awk -v s="$pct" 'BEGIN{split(s, a, " "); printf "%.4f–%.4f", a[1], a[2]}')" "$(rval ci_lo)" "$(rval ci_hi)" \
  "$(rval auc1)" "$h_z" "$(rval test_z)"
