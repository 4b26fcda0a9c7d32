#!/bin/bash
# Steps in total: one training job on both cores (2 threads) vs two jobs pinned to a core each (1 thread),
# measured one after the other in one script with `latentlab bench train`. Usage: scripts/one-vs-two-jobs.sh [RECIPE] [STEPS]
set -euo pipefail
R=${1:-vocos}; N=${2:-30}
LATENTLAB=${LATENTLAB:-.venv/bin/latentlab}
T=$(mktemp -d)
echo "before: $(uptime)"
"$LATENTLAB" bench train "$R" --steps "$N" --threads 2 --json 2>/dev/null | tail -1 > "$T/one.json"
echo "between: $(uptime)"
taskset -c 0 "$LATENTLAB" bench train "$R" --steps "$N" --threads 1 --json 2>/dev/null | tail -1 > "$T/a.json" &
taskset -c 1 "$LATENTLAB" bench train "$R" --steps "$N" --threads 1 --json 2>/dev/null | tail -1 > "$T/b.json" &
wait
echo "after: $(uptime)"
python3 - "$T" <<'PY'
import json, sys
step = lambda name: json.load(open(f"{sys.argv[1]}/{name}.json"))["rows"][0]["step_s"]
one, a, b = step("one"), step("a"), step("b")
print(f"one job, 2 threads: {one:.3f} s a step -> {1 / one:.2f} steps/s")
print(f"two jobs, 1 thread each (taskset -c 0 / -c 1): {a:.3f} and {b:.3f} s a step -> {1 / a + 1 / b:.2f} steps/s in total")
print(f"two jobs / one job: {(1 / a + 1 / b) * one:.2f}x")
PY
rm -rf "$T"
