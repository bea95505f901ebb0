#!/usr/bin/env bash
# The speculative decoding table of `make bench`: the input-grounded prompts of
# bench/speculative_prompts.py (summarise, rewrite, extract, code edit: answers that repeat
# their prompt), greedy, up to GEN_TOKENS tokens each, in the same run:
#   - Canopy (canopy-bench speculative, the serving engine in one process) at 1, 8 and 32
#     concurrent requests, with speculation off and on (n-gram proposals, --spec-tokens
#     SPEC_TOKENS), checking that every request's tokens are the same both ways;
#   - Canopy at 1 stream on each kind of prompt alone (off and on), beside llama-lookup's
#     figures for that kind: which workloads speculation pays on;
#   - llama.cpp's llama-lookup (bench/run-llama-lookup.sh) on the same prompts and model, one
#     stream, with drafting off (--spec-draft-n-max 0) and on (SPEC_TOKENS).
# Canopy's tokens/s are generated tokens over the wall time of the whole workload, prompts
# included (which dilutes its speed-up a little); llama-lookup's are its own decode-only
# figures. Then what a verification step costs by its size (canopy-bench single --windows), and
# bench/speculative_ceiling.py on the greedy outputs: the engine's proposal policy replayed
# at that cost against the best any prompt-lookup proposer could do.
# Prints markdown tables and writes them to bench/results/<date>-<sha>-speculative.md.
#
# Env: MODEL (models/SmolLM2-135M-Instruct.Q4_1.gguf), CANOPY_BENCH (.build/release/canopy-bench),
#      GEN_TOKENS (128), SPEC_TOKENS (8), STREAMS (1,8,32), THREADS (2), REPEATS (3: runs of each
#      mode, alternating, on both engines; the fastest of each is kept, as the machine's speed
#      drifts, and every round's on/off ratio is shown with their median),
#      SKIP_LLAMA=1 to leave llama-lookup out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
BENCH=${CANOPY_BENCH:-.build/release/canopy-bench}
GEN_TOKENS=${GEN_TOKENS:-128}
SPEC_TOKENS=${SPEC_TOKENS:-8}
STREAMS=${STREAMS:-1,8,32}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-3}
[[ -f $MODEL ]] || { echo "speculative-bench: $MODEL not found (make model)" >&2; exit 2; }
[[ -x $BENCH ]] || { echo "speculative-bench: $BENCH not found (swift build -c release --product canopy-bench)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 bench/speculative_prompts.py "$work/prompts.jsonl"

echo "speculative-bench: canopy at $STREAMS streams" >&2
"$BENCH" speculative --model "$MODEL" --prompts "$work/prompts.jsonl" --streams "$STREAMS" \
    --gen-tokens "$GEN_TOKENS" --spec-tokens "$SPEC_TOKENS" --threads "$THREADS" --repeats "$REPEATS" \
    --dump "$work/outputs.jsonl" | tee "$work/canopy.jsonl" >&2
# Step cost by size at 160 cached tokens and at this workload's mean context (prompt plus half
# the output): a window's attention grows with the context, so the latter is what the runs
# above paid, and what the replay below uses.
context=$(python3 -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(round(sum(len(r["prompt"]) + len(r["output"]) / 2 for r in rows) / len(rows)))' "$work/outputs.jsonl")
for c in $(printf "160\n%s\n" "$context" | sort -nu); do
    echo "speculative-bench: verification step cost by size at $c cached tokens" >&2
    "$BENCH" single --model "$MODEL" --threads "$THREADS" --windows $((SPEC_TOKENS + 1)) --window-context "$c" \
        --repetitions 1 --prompt-tokens 16 --gen-tokens 1 | grep '"window"' | tee "$work/windows-$c.jsonl" >&2
done
# The same at 1 stream for each kind of prompt alone: where speculation pays and where it does not.
kinds=$(python3 -c 'import json, sys
print(" ".join(sorted({json.loads(l)["kind"] for l in open(sys.argv[1]) if l.strip()})))' "$work/prompts.jsonl")
for kind in $kinds; do
    echo "speculative-bench: canopy at 1 stream, $kind prompts" >&2
    python3 -c 'import json, sys
for line in open(sys.argv[1]):
    if line.strip() and json.loads(line)["kind"] == sys.argv[2]: print(line, end="")' "$work/prompts.jsonl" "$kind" > "$work/prompts-$kind.jsonl"
    "$BENCH" speculative --model "$MODEL" --prompts "$work/prompts-$kind.jsonl" --streams 1 \
        --gen-tokens "$GEN_TOKENS" --spec-tokens "$SPEC_TOKENS" --threads "$THREADS" --repeats "$REPEATS" \
        | tee "$work/canopy-$kind.jsonl" >&2
done
if [[ ${SKIP_LLAMA:-0} != 1 ]]; then
    echo "speculative-bench: llama-lookup" >&2
    MODEL="$MODEL" GEN_TOKENS="$GEN_TOKENS" SPEC_TOKENS="$SPEC_TOKENS" THREADS="$THREADS" REPEATS="$REPEATS" \
        bash bench/run-llama-lookup.sh "$work/prompts.jsonl" "$work/llama.json" >&2
fi

sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
out=bench/results/$(date -u +%Y-%m-%d)-$sha-speculative.md
mkdir -p bench/results
REPEATS="$REPEATS" python3 - "$work" "$sha" "$MODEL" "$GEN_TOKENS" "$SPEC_TOKENS" "$context" <<'PY' | tee "$out"
import json, os, platform, statistics, sys
work, sha, model, gen, spec, context = sys.argv[1:]
rows = [json.loads(line) for line in open(os.path.join(work, "canopy.jsonl")) if line.strip()]
prompts = sum(1 for line in open(os.path.join(work, "prompts.jsonl")) if line.strip())
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
print(f"# Speculative decoding, commit {sha}\n")
print(f"{prompts} input-grounded prompts (bench/speculative_prompts.py), greedy, up to {gen} tokens, "
      f"{spec} proposals at most per step; model {os.path.basename(model)}; {os.cpu_count()} cores, {cpu}; "
      f"each figure the fastest of {os.environ.get('REPEATS', '3')} alternating runs.\n")
print("| engine | streams | off tokens/s | on tokens/s | speed-up | per round (median) | decode-only off | decode-only on | decode speed-up | acceptance | tokens per step (on) | learned token cost | output identical |")
print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|")
by = {(r["streams"], r["mode"]): r for r in rows}
for streams in sorted({r["streams"] for r in rows}):
    off, on = by[(streams, "off")], by[(streams, "ngram")]
    per_step = on["generated_tokens"] / on["steps"] if on["steps"] else 0
    # Decode-only time is per request; with several requests at once it overlaps, so it is shown at 1 only.
    decode = (f"{off['decode_tokens_per_s']:.1f} | {on['decode_tokens_per_s']:.1f} | "
              f"{on['decode_tokens_per_s'] / off['decode_tokens_per_s']:.2f}x") if streams == 1 else " | | "
    ratios = on.get("round_ratios", [])
    rounds = (", ".join(f"{r:.2f}" for r in ratios) + f" ({statistics.median(ratios):.2f}x)") if ratios else ""
    print(f"| canopy | {streams} | {off['gen_tokens_per_s']:.1f} | {on['gen_tokens_per_s']:.1f} | "
          f"{on['gen_tokens_per_s'] / off['gen_tokens_per_s']:.2f}x | {rounds} | {decode} | "
          f"{100 * on['acceptance']:.1f} % | {per_step:.2f} | {on.get('token_cost', 0):.2f} | "
          f"{'yes' if on['identical_to_off'] else 'NO'} |")
llama = os.path.join(work, "llama.json")
if os.path.exists(llama):
    d = json.load(open(llama))
    t = d["totals"]
    print(f"| llama-lookup | 1 | | | | | {t['off']['tokens_per_s']:.1f} | {t['on']['tokens_per_s']:.1f} | "
          f"{t['speedup']:.2f}x | {100 * t['acceptance']:.1f} % | | | {t['same_output']}/{d['prompts']} |")
print("\n" + "By kind of prompt, 1 stream, decode-only tokens/s (each kind's prompts run alone, fastest of "
      f"{os.environ.get('REPEATS', '3')} alternating runs; llama-lookup's by kind from the run above):\n")
print("| kind | prompts | canopy off | canopy on | canopy speed-up | acceptance | tokens per step | llama-lookup speed-up |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
llama_kinds = json.load(open(os.path.join(work, "llama.json")))["by_kind"] if os.path.exists(os.path.join(work, "llama.json")) else {}
for name in sorted(f[len("canopy-"):-len(".jsonl")] for f in os.listdir(work) if f.startswith("canopy-")):
    kind_rows = {r["mode"]: r for r in (json.loads(l) for l in open(os.path.join(work, f"canopy-{name}.jsonl")) if l.strip())}
    off, on = kind_rows["off"], kind_rows["ngram"]
    count = sum(1 for l in open(os.path.join(work, f"prompts-{name}.jsonl")) if l.strip())
    lk = f"{llama_kinds[name]['speedup']:.2f}x" if name in llama_kinds else ""
    print(f"| {name} | {count} | {off['decode_tokens_per_s']:.1f} | {on['decode_tokens_per_s']:.1f} | "
          f"{on['decode_tokens_per_s'] / off['decode_tokens_per_s']:.2f}x | {100 * on['acceptance']:.1f} % | "
          f"{on['generated_tokens'] / on['steps']:.2f} | {lk} |")
print("\nCanopy: tokens/s are generated tokens over the wall time of all requests (prompts included); "
      "decode-only is tokens after each request's first over the time from its first token to its end, "
      "summed over requests (at 1 stream, what llama-lookup reports). Speculation is chosen per request in "
      "one engine; at 8 and 32 streams the step is compute-bound and the engine proposes little or nothing. "
      "Per round: each round's on/off ratio of tokens/s (the two runs adjacent in time, off first in even "
      "rounds, on first in odd ones), their median in brackets: where speculation proposes little, how far "
      "this machine's drift alone moves the ratio. Learned token cost: the share of a one-token step "
      "that one more token costs, as the engine had measured it when its fastest run ended "
      "(VerificationCostModel; compare the window table below). "
      "llama-lookup: its own decode-only speed with --spec-draft-n-max 0 (off) and the same maximum (on); "
      "its last column counts prompts whose greedy text is the same both ways.")
print("\n## Verification step cost\n")
print("A decode step of n tokens, logits after each, after C cached tokens (canopy-bench single --windows "
      f"--window-context C), median of 40, in one-token steps; C = 160, and {context}: these prompts' mean "
      "context (prompt plus half the output):\n")
costs, tables = {}, {}
for c in sorted({"160", context}, key=int):
    windows = [json.loads(line) for line in open(os.path.join(work, f"windows-{c}.jsonl")) if line.strip()]
    if not costs:
        print("| C | " + " | ".join(f"{w['window']}" for w in windows) + " | cost per token |")
        print("|---:|" + "---:|" * len(windows) + "---:|")
    last = windows[-1]
    costs[c] = (last["one_token_steps"] - 1) / (last["window"] - 1) if last["window"] > 1 else 0.32
    tables[c] = ",".join(f"{w['one_token_steps']:.4f}" for w in windows)
    print(f"| {c} | " + " | ".join(f"{w['one_token_steps']:.2f}" for w in windows) + f" | {costs[c]:.2f} |")
cost = costs[context]
print(f"\nAbout 1 + {cost:.2f} (n - 1) at C = {context}. Replayed with the step costs measured at C = {context} "
      "on the greedy outputs above (bench/speculative_ceiling.py, no model run):\n")
sys.stdout.flush()
import subprocess
subprocess.run([sys.executable, "bench/speculative_ceiling.py", os.path.join(work, "outputs.jsonl"), tables[context], spec], check=True)
PY
