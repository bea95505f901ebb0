#!/usr/bin/env bash
# KV swap (--kv-swap-space) against recompute-only preemption on a preemption-heavy
# workload (issue 13, item 5): STREAMS concurrent greedy requests of NPP random prompt tokens
# and NTG generated tokens, with a KV arena of ARENA_BLOCKS blocks (a fraction of what they
# need together), through `canopy-bench batched` once with the swap tier off and once with
# SWAP_SPACE bytes of it. Reports wall time, tokens run through the model (recomputation
# shows up there), preemptions and how many were swapped, and the time saved.
#
# Usage: bench/run-kv-swap-bench.sh MODEL.gguf
# Env: THREADS (2), STREAMS (16), NPP (128), NTG (64), ARENA_BLOCKS (64), BLOCK_BYTES (bytes of
#      one KV block of the model at f16 and 16 positions; default SmolLM2-135M's 368640),
#      SWAP_SPACE (bytes, 256 MiB), CANOPY_BENCH (default .build/release/canopy-bench),
#      OUT (default bench/results/<date>-<commit>-kv-swap.md). The swap file goes to $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:?usage: bench/run-kv-swap-bench.sh MODEL.gguf}
threads=${THREADS:-2}
streams=${STREAMS:-16}
npp=${NPP:-128}
ntg=${NTG:-64}
arena_blocks=${ARENA_BLOCKS:-64}
block_bytes=${BLOCK_BYTES:-368640}
swap_space=${SWAP_SPACE:-$((256 << 20))}
bench=${CANOPY_BENCH:-.build/release/canopy-bench}
commit=$(git rev-parse --short HEAD)
out=${OUT:-bench/results/$(date +%F)-$commit-kv-swap.md}
[ -x "$bench" ] || { echo "run-kv-swap-bench: $bench not built (swift build -c release --product canopy-bench)" >&2; exit 1; }

kv=$((arena_blocks * block_bytes))
need_blocks=$((streams * ((npp + ntg + 15) / 16)))
run() {
    "$bench" batched --model "$model" --threads "$threads" --streams "$streams" --prompt-tokens "$npp" \
        --gen-tokens "$ntg" --kv-cache-memory "$kv" --kv-swap-space "$1" | tail -1
}
recompute=$(run 0)
swap=$(run "$swap_space")

python3 - "$recompute" "$swap" "$out" <<PY
import json, sys
r, s, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
rows = [("recompute only (--kv-swap-space 0)", r), ("swap ($swap_space bytes)", s)]
lines = [
    "# KV swap vs recompute-only preemption",
    "",
    "Commit $commit, \`bench/run-kv-swap-bench.sh $model\`, $(date -u +%F), $(lscpu | sed -n 's/^Model name: *//p'), $threads threads.",
    "",
    f"Workload: $streams concurrent greedy requests, $npp random prompt tokens + $ntg generated each "
    f"({$need_blocks} KV blocks together) in an arena of $arena_blocks blocks ($kv bytes).",
    "",
    "| preemption | seconds | gen tokens/s | tokens run | preemptions | swapped | bytes swapped out |",
    "|---|---|---|---|---|---|---|",
]
for name, m in rows:
    lines.append(f"| {name} | {m['seconds']:.2f} | {m['gen_tokens_per_s']:.1f} | {m['batched_tokens']} | "
                 f"{m['preemptions']} | {m['swap_preemptions']} | {m['swap_out_bytes']} |")
saved = r["seconds"] - s["seconds"]
lines += ["", f"Time saved by swapping: {saved:.2f} s ({100 * saved / r['seconds']:.1f} %); "
          f"tokens not recomputed: {r['batched_tokens'] - s['batched_tokens']}.", ""]
text = "\n".join(lines)
open(out, "w").write(text)
print(text)
PY
echo "written to $out" >&2
