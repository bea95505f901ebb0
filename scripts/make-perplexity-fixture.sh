#!/usr/bin/env bash
# Regenerates Tests/Fixtures/perplexity/reference.json: llama.cpp's perplexity of the default
# model on Tests/Fixtures/perplexity/text.txt (prose written for this fixture), which
# PerplexityEvaluatorTests compares `canopy perplexity`'s evaluator with (final value within
# 0.5 %, running values per chunk within 1 %).
#
# llama.cpp is the copy vendored in the PyPI sdist llama-cpp-python==0.3.36
# (scripts/build-llama-cpp.sh builds llama-perplexity from it), run as
#   llama-perplexity -m MODEL -f text.txt -c CTX --chunks CHUNKS -t THREADS
# and its output parsed: the running estimates `[1]x,[2]y,...` (stdout) and
# `Final estimate: PPL = X +/- Y` (stderr). The file records the command, the machine, the
# build's instruction sets and the model's sha256 with the numbers.
#
# Env: MODEL (models/SmolLM2-135M-Instruct.Q4_1.gguf), CTX (128), CHUNKS (12: the whole text),
#      THREADS (2), LLAMA_ISA (native; see scripts/build-llama-cpp.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
CTX=${CTX:-128}
CHUNKS=${CHUNKS:-12}
THREADS=${THREADS:-2}
dir=Tests/Fixtures/perplexity
text=$dir/text.txt
[[ -f $MODEL ]] || { echo "make-perplexity-fixture: $MODEL not found (make model)" >&2; exit 2; }
[[ -f $text ]] || { echo "make-perplexity-fixture: $text not found" >&2; exit 2; }

bin=$(bash scripts/build-llama-cpp.sh | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmd=("$bin/llama-perplexity" -m "$MODEL" -f "$text" -c "$CTX" --chunks "$CHUNKS" -t "$THREADS")
echo "make-perplexity-fixture: ${cmd[*]}" >&2
"${cmd[@]}" >"$work/stdout" 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }

python3 - "$work" "$MODEL" "$CTX" "$CHUNKS" "$THREADS" "${LLAMA_ISA:-native}" "$dir/reference.json" <<'PY'
import datetime, hashlib, json, os, platform, re, sys
work, model, ctx, chunks, threads, isa, out = sys.argv[1:]
stdout = open(os.path.join(work, "stdout")).read()
stderr = open(os.path.join(work, "stderr")).read()
running = [float(v) for _, v in re.findall(r"\[(\d+)\]([0-9.]+),", stdout)]
final = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", stderr)
if not running or not final:
    sys.exit("make-perplexity-fixture: no estimate in llama-perplexity's output:\n" + stdout + stderr)
system = re.search(r"system_info: (.*)", stderr)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
reference = {
    "ctx": int(ctx),
    "chunks": len(running),
    "running_ppl": running,
    "ppl": float(final.group(1)),
    "ppl_uncertainty": float(final.group(2)),
    "provenance": {
        "llama_cpp": "llama.cpp vendored in the PyPI sdist llama-cpp-python==0.3.36, built by scripts/build-llama-cpp.sh "
                     f"(LLAMA_ISA={isa})",
        "command": f"llama-perplexity -m {os.path.basename(model)} -f Tests/Fixtures/perplexity/text.txt "
                   f"-c {ctx} --chunks {chunks} -t {threads}",
        "script": "scripts/make-perplexity-fixture.sh",
        "model_sha256": sha,
        "machine": cpu,
        "system_info": system.group(1).strip() if system else "",
        "date": datetime.date.today().isoformat(),
    },
}
with open(out, "w") as f:
    json.dump(reference, f, indent=2)
    f.write("\n")
print(f"make-perplexity-fixture: PPL {reference['ppl']} +/- {reference['ppl_uncertainty']} "
      f"over {reference['chunks']} chunks of {ctx} -> {out}", file=sys.stderr)
PY
