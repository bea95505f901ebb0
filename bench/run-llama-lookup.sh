#!/usr/bin/env bash
# llama.cpp's prompt-lookup speculative decoding (llama-lookup) against plain decoding,
# on a JSONL of rendered prompts (bench/speculative_prompts.py), one stream, greedy.
#
#   bench/run-llama-lookup.sh PROMPTS.jsonl OUT.json
#
# For each prompt, llama-lookup runs twice on the same model and threads:
#   off: --spec-draft-n-max 0  (nothing is drafted: one token per decode, i.e. plain
#        decoding through the very same loop, timers and sampler)
#   on:  --spec-draft-n-max $SPEC_TOKENS  (n-gram drafts from the prompt and the text so
#        far; llama-lookup's n-gram sizes are fixed at 1..4, LLAMA_NGRAM_MIN/MAX: the
#        --spec-ngram-* flags belong to llama-server/llama-speculative, not to it)
# The decode speed is llama-lookup's own "decoded N tokens in S seconds" line: its timer
# starts after the prompt (and the prompt's last token) has been processed, so prompt
# processing is excluded in both modes alike. The first generated token comes from the
# prompt's logits, so S covers N samples and N-1 (off) decode calls.
#
# Prompts are passed with -f and --no-escape: llama-lookup tokenizes with special-token
# parsing on (<|im_start|> and <|im_end|> become single tokens), -f drops one trailing
# newline (so the file gets one extra), and escape processing, on by default, would turn
# the two characters "\n" inside the code prompts into a newline.
#
# Env: MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf), GEN_TOKENS (128: runs with
#      -n GEN_TOKENS-1, as llama-lookup stops only once it has sampled more than -n tokens,
#      or at end of generation; with speculation on, a draft accepted in full on the last
#      step can carry it up to SPEC_TOKENS past that), SPEC_TOKENS (8), THREADS (2),
#      CTX (2048), REPEATS (1: runs each mode this many times per prompt, off and on
#      alternating, and keeps each mode's fastest run: on a shared 2-core machine a
#      concurrent build can slow a 2-thread OpenMP run tenfold), LLAMA_BIN (the folder with llama-lookup; default: what
#      scripts/build-llama-cpp.sh prints, building it when missing).
# OUT.json: per-prompt rows and totals: tokens/s per mode = total decoded tokens / total
# decode seconds, speedup = on / off, acceptance = accepted / drafted.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 PROMPTS.jsonl OUT.json" >&2
    exit 2
fi
prompts="$1"
out="$2"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
[ -f "$model" ] || { echo "run-llama-lookup: model $model not found (make model)" >&2; exit 1; }
[ -f "$prompts" ] || { echo "run-llama-lookup: $prompts not found" >&2; exit 1; }
bin="${LLAMA_BIN:-$(bash "$root/scripts/build-llama-cpp.sh" | tail -n 1)}"
[ -x "$bin/llama-lookup" ] || { echo "run-llama-lookup: $bin/llama-lookup missing" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$prompts" "$out" "$bin/llama-lookup" "$model" "$work" \
    "${GEN_TOKENS:-128}" "${SPEC_TOKENS:-8}" "${THREADS:-2}" "${CTX:-2048}" "${REPEATS:-1}" <<'PY'
import json, os, re, subprocess, sys

prompts_path, out_path, lookup, model, work, gen, spec, threads, ctx, repeats = sys.argv[1:]
gen, spec, threads, ctx, repeats = int(gen), int(spec), int(threads), int(ctx), max(int(repeats), 1)
load_start = os.getloadavg()

DECODED = re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds, speed:\s+([\d.]+) t/s")
ENCODED = re.compile(r"encoded\s+(\d+) tokens in\s+([\d.]+) seconds")
DRAFTED = re.compile(r"n_drafted\s*=\s*(\d+)")
ACCEPT = re.compile(r"n_accept\s*=\s*(\d+)")

def flags(n_draft):
    return ["-m", model, "-t", str(threads), "-c", str(ctx), "-n", str(max(gen - 1, 1)),
            "--temp", "0", "--top-k", "1", "--no-escape", "--spec-draft-n-max", str(n_draft)]

def run(prompt_file, prompt_text, n_draft):
    cmd = [lookup] + flags(n_draft) + ["-f", prompt_file]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode("utf-8", "replace")
    m = DECODED.search(err)
    if p.returncode != 0 or m is None:
        sys.stderr.write(err[-4000:])
        sys.exit(f"run-llama-lookup: {' '.join(cmd)} failed (exit {p.returncode})")
    e = ENCODED.search(err)
    d, a = DRAFTED.search(err), ACCEPT.search(err)
    return {
        "prompt_tokens": int(e.group(1)) if e else None,
        "prompt_seconds": float(e.group(2)) if e else None,
        "decoded": int(m.group(1)),
        "decode_seconds": float(m.group(2)),
        "tokens_per_s": float(m.group(3)),
        "drafted": int(d.group(1)) if d else 0,
        "accepted": int(a.group(1)) if a else 0,
        "output": generated_text(p.stdout.decode("utf-8", "replace"), prompt_text),
    }

def generated_text(stdout, prompt_text):
    # stdout: "\n\n", the prompt's tokens as text, the generated text, "\n\n" (before
    # the statistics, which go to stderr) and "\n\n" (at exit).
    head = "\n\n" + prompt_text
    text = stdout[len(head):] if stdout.startswith(head) else stdout
    return text[:-4] if text.endswith("\n\n\n\n") else text

def same_greedy_output(a, b):
    # Speculation on may run a few tokens past -n (a draft accepted on the last step):
    # the outputs agree when the shorter is a prefix of the longer.
    return a.startswith(b) or b.startswith(a)

rows = []
with open(prompts_path, encoding="utf-8") as f:
    items = [json.loads(line) for line in f if line.strip()]
for i, item in enumerate(items):
    path = os.path.join(work, f"prompt-{i}.txt")
    with open(path, "w", encoding="utf-8") as pf:
        pf.write(item["text"] + "\n")   # -f strips one trailing newline
    offs, ons = [], []
    for _ in range(repeats):
        offs.append(run(path, item["text"], 0))
        ons.append(run(path, item["text"], spec))
    off = max(offs, key=lambda r: r["tokens_per_s"])
    on = max(ons, key=lambda r: r["tokens_per_s"])
    same = same_greedy_output(off["output"], on["output"])
    row = {
        "id": item.get("id", str(i)), "kind": item.get("kind"),
        "prompt_tokens": off["prompt_tokens"],
        "off": {k: off[k] for k in ("decoded", "decode_seconds", "tokens_per_s")},
        "on": {k: on[k] for k in ("decoded", "decode_seconds", "tokens_per_s", "drafted", "accepted")},
        "speedup": round(on["tokens_per_s"] / off["tokens_per_s"], 3) if off["tokens_per_s"] else None,
        "acceptance": round(on["accepted"] / on["drafted"], 4) if on["drafted"] else None,
        # Greedy speculation is exact only up to arithmetic: a batch of drafts goes
        # through llama.cpp's batched matmul kernels, which round differently from the
        # one-token ones, so near ties can flip and the texts part ways.
        "same_output": same,
        "output_off": off["output"],
        "output_on": on["output"],
    }
    rows.append(row)
    print(f"{row['id']:>14}  prompt {row['prompt_tokens']:>4}  off {off['decoded']:>4} tok {off['tokens_per_s']:7.1f} t/s"
          f"  on {on['decoded']:>4} tok {on['tokens_per_s']:7.1f} t/s  x{row['speedup']}"
          f"  accepted {on['accepted']}/{on['drafted']}{'' if same else '  OUTPUT DIFFERS'}",
          file=sys.stderr, flush=True)

def total(mode):
    toks = sum(r[mode]["decoded"] for r in rows)
    secs = sum(r[mode]["decode_seconds"] for r in rows)
    return {"decoded": toks, "decode_seconds": round(secs, 3),
            "tokens_per_s": round(toks / secs, 2) if secs else None}

t_off, t_on = total("off"), total("on")
drafted = sum(r["on"]["drafted"] for r in rows)
accepted = sum(r["on"]["accepted"] for r in rows)
by_kind = {}
for kind in sorted({r["kind"] for r in rows}, key=str):
    sel = [r for r in rows if r["kind"] == kind]
    off_tps = sum(r["off"]["decoded"] for r in sel) / sum(r["off"]["decode_seconds"] for r in sel)
    on_tps = sum(r["on"]["decoded"] for r in sel) / sum(r["on"]["decode_seconds"] for r in sel)
    d = sum(r["on"]["drafted"] for r in sel)
    by_kind[kind] = {"prompts": len(sel), "off_tokens_per_s": round(off_tps, 2),
                     "on_tokens_per_s": round(on_tps, 2), "speedup": round(on_tps / off_tps, 3),
                     "acceptance": round(sum(r["on"]["accepted"] for r in sel) / d, 4) if d else None}
result = {
    "tool": "llama-lookup",
    "binary": lookup,
    "model": model,
    "flags": {"off": flags(0), "on": flags(spec)},
    "gen_tokens": gen, "spec_tokens": spec, "threads": threads, "repeats": repeats,
    # 1-minute load averages before and after; the run itself adds about `threads`, so
    # well above that means other work shared the cores and the speeds are suspect.
    "loadavg_1m": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
    "prompts": len(rows),
    "totals": {
        "off": t_off, "on": t_on,
        "speedup": round(t_on["tokens_per_s"] / t_off["tokens_per_s"], 3),
        "drafted": drafted, "accepted": accepted,
        "acceptance": round(accepted / drafted, 4) if drafted else None,
        "same_output": sum(r["same_output"] for r in rows),
    },
    "by_kind": by_kind,
    "rows": rows,
}
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")
print(f"llama-lookup: off {t_off['tokens_per_s']} t/s, on {t_on['tokens_per_s']} t/s, "
      f"speed-up x{result['totals']['speedup']}, acceptance {result['totals']['acceptance']} "
      f"({accepted}/{drafted}), same output {result['totals']['same_output']}/{len(rows)}",
      file=sys.stderr)
PY
