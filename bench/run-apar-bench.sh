#!/usr/bin/env bash
# The APAR table of `make bench`: the 50 held-out list-shaped prompts of scripts/apar/prompts.py
# through canopyd, answered autoregressively (AR) by the model the APAR one was tuned from, at
# the same quantization (the default model's weights in Q8_0, finetune.py requantize), and with
# APAR by the APAR model (make apar-model), in the same run. (The APAR model with forking
# forbidden is no baseline: it then writes answers half as long.)
#   - 1 and 16 concurrent requests on the default KV arena;
#   - 16 concurrent requests on a fixed, small KV arena (KV_ARENA, default 48M), where
#     sequences compete for blocks and are preempted.
# Per load: wall time, completion tokens (all branches) and tokens/s, answers/s, the engine's
# decode steps (Stats), latency p50/p90 over all answers and over the answers APAR forked.
# Prints a markdown table and writes it to bench/results/<date>-<sha>-apar.md.
#
# Env: BIN (.build/release), APAR_MODEL (models/SmolLM2-135M-Instruct-APAR.Q8_0.gguf),
# BASE (models/SmolLM2-135M-Instruct.Q4_1.gguf),
# KV_ARENA (48M), APAR_VENV (~/.cache/canopy/venv-apar, made by make apar-model).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-.build/release}
APAR_MODEL=${APAR_MODEL:-models/SmolLM2-135M-Instruct-APAR.Q8_0.gguf}
BASE=${BASE:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
KV_ARENA=${KV_ARENA:-48M}
VENV=${APAR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/canopy/venv-apar}
PY=$VENV/bin/python

[[ -f $APAR_MODEL ]] || { echo "apar-bench: $APAR_MODEL not found; run 'make apar-model' (about an hour)" >&2; exit 2; }
[[ -x $PY ]] || { echo "apar-bench: $PY not found; run 'make apar-model'" >&2; exit 2; }

work=$(mktemp -d)
source scripts/daemon-lifecycle.sh
trap 'stop_daemon; rm -rf "$work"' EXIT

"$PY" scripts/apar/prompts.py "$work/prompts" 2>/dev/null
prompts=$work/prompts/held-out-prompts.jsonl

"$PY" scripts/apar/finetune.py requantize --base "$BASE" --out "$work/base.Q8_0.gguf"
# load MODEL MODE CONCURRENCY NAME [canopyd flags...]
load() {
    local model=$1 mode=$2 c=$3 name=$4; shift 4
    start_daemon "$model" "$work/canopyd.sock" "$@"
    echo "apar-bench: $name, $mode, $c concurrent" >&2
    "$PY" bench/apar_bench.py "$work/canopyd.sock" "$prompts" "$mode" "$c" "$work/$name-$mode-$c.json"
    stop_daemon
}
for c in 1 16; do
    load "$work/base.Q8_0.gguf" ar "$c" default
    load "$APAR_MODEL" apar "$c" default
done
load "$work/base.Q8_0.gguf" ar 16 small --kv-cache-memory "$KV_ARENA"
load "$APAR_MODEL" apar 16 small --kv-cache-memory "$KV_ARENA"

sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
out=bench/results/$(date -u +%Y-%m-%d)-$sha-apar.md
mkdir -p bench/results
"$PY" - "$work" "$KV_ARENA" "$sha" "$APAR_MODEL" <<'EOF' | tee "$out"
import json, os, statistics, sys
work, arena, sha, model = sys.argv[1:5]

def load(name):
    return json.load(open(os.path.join(work, name + ".json")))

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# APAR bench, commit {sha}\n")
print(f"{model}, 50 held-out list-shaped prompts (scripts/apar/prompts.py), greedy, repetition penalty 1.1, "
      f"max_tokens 400, canopyd on {os.cpu_count()} cores ({cpu}), a fresh daemon per load. AR: the model "
      f"APAR was tuned from, in Q8_0 like the APAR model. \"forked\": the prompts whose APAR answer "
      f"forked at 1 request; their latencies are compared on the same prompts in both modes.\n")
rows = [("default", c, m) for c in (1, 16) for m in ("ar", "apar")] + [("small", 16, m) for m in ("ar", "apar")]
runs = {r: load(f"{r[0]}-{r[2]}-{r[1]}") for r in rows}
forked_ids = {q["id"] for q in runs[("default", 1, "apar")]["requests"] if q["branches"] > 1}
print("| KV arena | requests in flight | mode | answers forked | tokens (all branches) | decode steps | tokens/s | answers/s | latency p50 s | latency p90 s | p50 on forked s | preemptions |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    d = runs[r]
    q = d["requests"]
    lat = [x["latency"] for x in q]
    lat_f = [x["latency"] for x in q if x["id"] in forked_ids]
    toks = sum(x["completion_tokens"] for x in q)
    print(f"| {'default' if r[0] == 'default' else arena} | {r[1]} | {r[2].upper()} | "
          f"{sum(x['branches'] > 1 for x in q)}/{len(q)} | {toks} | {d['steps']} | {toks / d['wall_seconds']:.1f} | "
          f"{len(q) / d['wall_seconds']:.3f} | {pct(lat, .5):.2f} | {pct(lat, .9):.2f} | {pct(lat_f, .5):.2f} | {d['preemptions']} |")

def ratio(a, b):
    return a / b if b else float("nan")

def by_id(run):
    return {x["id"]: x["latency"] for x in run["requests"]}

ar1, ap1 = by_id(runs[("default", 1, "ar")]), by_id(runs[("default", 1, "apar")])
per_prompt = [ar1[i] / ap1[i] for i in forked_ids]
print()
print(f"- Latency at 1 request, answers APAR forked ({len(forked_ids)}): AR/APAR p50 "
      f"{ratio(pct([ar1[i] for i in forked_ids], .5), pct([ap1[i] for i in forked_ids], .5)):.2f}x, "
      f"geometric mean of per-prompt ratios "
      f"{statistics.geometric_mean(per_prompt) if per_prompt else float('nan'):.2f}x (target >= 1.5x).")
for arena_name, label in (("default", "default arena"), ("small", f"{arena} arena")):
    a, p = runs[(arena_name, 16, "ar")], runs[(arena_name, 16, "apar")]
    print(f"- Throughput at 16 requests, {label}: answers/s APAR/AR "
          f"{ratio(len(p['requests']) / p['wall_seconds'], len(a['requests']) / a['wall_seconds']):.2f}x, "
          f"tokens/s {ratio(sum(x['completion_tokens'] for x in p['requests']) / p['wall_seconds'], sum(x['completion_tokens'] for x in a['requests']) / a['wall_seconds']):.2f}x (target >= 1.2x).")
print(f"- Decode steps per generated token at 1 request: AR "
      f"{ratio(runs[('default', 1, 'ar')]['steps'], runs[('default', 1, 'ar')]['generated_tokens']):.2f}, APAR "
      f"{ratio(runs[('default', 1, 'apar')]['steps'], runs[('default', 1, 'apar')]['generated_tokens']):.2f}.")
EOF
echo "apar-bench: wrote $out" >&2
