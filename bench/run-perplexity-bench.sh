#!/usr/bin/env bash
# The perplexity table of `make bench`: `canopy perplexity` and llama.cpp's llama-perplexity on
# the same model, text and settings, in the same run. The text is one every machine with
# Python has: the python3 on PATH's `pydoc_data/topics.py` (about 800 KB of English; Python
# 3.11.7's gives SmolLM2 7.6436 +/- 0.31 with llama-perplexity -c 512 --chunks 16 -t 2).
# Both tokenize it whole, cut it into CHUNKS non-overlapping chunks of CTX tokens and score
# the second half of each; the PPLs should agree within 0.5 %. Tokens/s are the tokens run
# through the model (CTX x CHUNKS) over the time of the chunks (model load and tokenization
# not included: llama-perplexity's from its log's timestamps, canopy's from --json).
# Prints a markdown table and writes it to bench/results/<date>-<sha>-perplexity-<model>.md.
#
# Env: MODEL (models/SmolLM2-135M-Instruct.Q4_1.gguf), CANOPY (.build/release/canopy),
#      TEXT (default: python3's pydoc_data/topics.py), CTX (512), CHUNKS (16), THREADS (2),
#      SKIP_LLAMA=1 to leave llama-perplexity out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
CANOPY=${CANOPY:-.build/release/canopy}
CTX=${CTX:-512}
CHUNKS=${CHUNKS:-16}
THREADS=${THREADS:-2}
[[ -f $MODEL ]] || { echo "perplexity-bench: $MODEL not found (make model)" >&2; exit 2; }
[[ -x $CANOPY ]] || { echo "perplexity-bench: $CANOPY not found (swift build -c release --product canopy)" >&2; exit 2; }
if [[ -z ${TEXT:-} ]]; then
    TEXT=$(python3 -c 'import pydoc_data.topics as t; print(t.__file__)') \
        || { echo "perplexity-bench: python3 has no pydoc_data/topics.py; set TEXT to a text file" >&2; exit 2; }
    text_name="Python $(python3 -c 'import platform; print(platform.python_version())')'s pydoc_data/topics.py"
else
    text_name=$(basename "$TEXT")
fi
[[ -f $TEXT ]] || { echo "perplexity-bench: $TEXT not found" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "perplexity-bench: canopy perplexity -c $CTX --chunks $CHUNKS -t $THREADS on $TEXT" >&2
"$CANOPY" perplexity --model "$MODEL" --file "$TEXT" --ctx "$CTX" --chunks "$CHUNKS" --threads "$THREADS" --json \
    >"$work/canopy.json"

if [[ ${SKIP_LLAMA:-0} != 1 ]]; then
    bin=$(bash scripts/build-llama-cpp.sh | tail -n 1)
    echo "perplexity-bench: llama-perplexity -c $CTX --chunks $CHUNKS -t $THREADS" >&2
    "$bin/llama-perplexity" -m "$MODEL" -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" -t "$THREADS" \
        >"$work/llama.stdout" 2>"$work/llama.stderr" || { tail -20 "$work/llama.stderr" >&2; exit 1; }
fi

sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
stem=$(basename "$MODEL" .gguf)
out=bench/results/$(date -u +%Y-%m-%d)-$sha-perplexity-$stem.md
mkdir -p bench/results
python3 - "$work" "$sha" "$MODEL" "$text_name" "$CTX" "$CHUNKS" "$THREADS" <<'PY' | tee "$out"
import json, math, os, platform, re, sys
work, sha, model, text_name, ctx, chunks, threads = sys.argv[1:]
ctx, chunks = int(ctx), int(chunks)
ours = json.load(open(os.path.join(work, "canopy.json")))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())

def llama_result():
    path = os.path.join(work, "llama.stderr")
    if not os.path.exists(path):
        return None
    err, out = open(path).read(), open(os.path.join(work, "llama.stdout")).read()
    final = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", err)
    running = [float(v) for v in re.findall(r"\[\d+\]([0-9.]+),", out)]
    # Log lines start with a timestamp "M.SS.mmm.uuu": the chunks run from the line that
    # announces them to the final estimate.
    def stamp(pattern):
        m = re.search(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) \w " + pattern, err, re.M)
        return int(m[1]) * 60 + int(m[2]) + int(m[3]) / 1e3 + int(m[4]) / 1e6 if m else None
    start = stamp(r"perplexity: calculating perplexity")
    end = re.search(r"(\d+)\.(\d+)\.(\d+)\.(\d+) \w Final estimate", err)
    seconds = (int(end[1]) * 60 + int(end[2]) + int(end[3]) / 1e3 + int(end[4]) / 1e6 - start) if end and start is not None else None
    return {"ppl": float(final[1]), "ppl_uncertainty": float(final[2]), "running_ppl": running,
            "seconds": seconds, "chunks": len(running)}

theirs = llama_result()
print(f"# Perplexity, commit {sha}\n")
print(f"{text_name}, {chunks} chunks of {ctx} tokens (the second half of each scored), model "
      f"{os.path.basename(model)}, {threads} threads; {os.cpu_count()} cores, {cpu}.\n")
print("| engine | PPL | +/- | chunks | seconds | tokens/s |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| canopy perplexity | {ours['ppl']:.4f} | {ours['ppl_uncertainty']:.5f} | {ours['chunks']} | "
      f"{ours['seconds']:.1f} | {ours['tokens_per_second']:.1f} |")
if theirs:
    rate = (ctx * theirs["chunks"] / theirs["seconds"]) if theirs["seconds"] else float("nan")
    secs = f"{theirs['seconds']:.1f}" if theirs["seconds"] else "?"
    print(f"| llama-perplexity | {theirs['ppl']:.4f} | {theirs['ppl_uncertainty']:.5f} | {theirs['chunks']} | "
          f"{secs} | {rate:.1f} |")
    ratio = ours["ppl"] / theirs["ppl"]
    speed = ours["tokens_per_second"] / rate if theirs["seconds"] else float("nan")
    verdict = "within" if abs(ratio - 1) < 0.005 else "NOT within"
    print(f"\nPPL ratio canopy / llama.cpp: {ratio:.5f} (relative difference {100 * (ratio - 1):+.3f} %, "
          f"{verdict} 0.5 %); speed canopy / llama.cpp: {speed:.2f}x.\n")
    print("Running estimates after each chunk:\n")
    print("| chunk | canopy | llama.cpp | difference |")
    print("|---:|---:|---:|---:|")
    for i, (a, b) in enumerate(zip(ours["running_ppl"], theirs["running_ppl"]), 1):
        print(f"| {i} | {a:.4f} | {b:.4f} | {100 * (a / b - 1):+.2f} % |")
else:
    print("\nllama-perplexity skipped (SKIP_LLAMA=1).")
print(f"\nCommands: `canopy perplexity --model {model} --file TEXT --ctx {ctx} --chunks {chunks} --threads {threads}`; "
      f"`llama-perplexity -m {model} -f TEXT -c {ctx} --chunks {chunks} -t {threads}` (llama.cpp from the "
      f"llama-cpp-python==0.3.36 sdist, scripts/build-llama-cpp.sh).")
PY
