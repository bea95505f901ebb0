#!/usr/bin/env bash
# `make apar-model`: turns the default model (SmolLM2-135M-Instruct Q4_1) into an APAR model
# that forks its list- and paragraph-shaped answers, on this machine's CPU, and checks it.
#
#   1. prompts      scripts/apar/prompts.py: list/paragraph prompts and short questions;
#                   50 list prompts on topics never trained on are held out.
#   2. data         canopyd on the default model answers every training prompt twice
#                   (scripts/apar/make_data.py); structured answers become APAR examples,
#                   mixed 50/50 with unstructured ones.
#   3. fine-tune    scripts/apar/finetune.py train: full fine-tune with JAX + optax on the CPU,
#                   checkpointed every 20 steps; rerunning resumes.
#   4. export       finetune.py export: GGUF with [SplitMask]/[SplitSop], matrices in Q8_0
#                   (Q4_1 would round the fine-tune away) -> $OUT.
#   5. evaluate     scripts/apar/evaluate.py: base vs APAR on the held-out prompts (fork
#                   fraction, items covered, repetition) -> $WORK/eval.md.
#
# Each step is skipped when its output exists, so an interrupted run continues where it
# stopped; `rm -rf $WORK` starts over. Took 46-55 minutes on 2 cores (23-37 of them step 3).
#
# Env: BIN (.build/release), BASE (models/SmolLM2-135M-Instruct.Q4_1.gguf),
# OUT (models/SmolLM2-135M-Instruct-APAR.Q8_0.gguf), WORK (models/apar-work),
# STEPS (200), APAR_VENV (~/.cache/canopy/venv-apar).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${BIN:-.build/release}
BASE=${BASE:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
OUT=${OUT:-models/SmolLM2-135M-Instruct-APAR.Q8_0.gguf}
WORK=$(realpath -m "${WORK:-models/apar-work}")
STEPS=${STEPS:-200}
VENV=${APAR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/canopy/venv-apar}
REQUIREMENTS=scripts/apar/requirements.txt
mkdir -p "$WORK"
log() { echo "apar-model: $*" >&2; }

bash scripts/ensure-venv.sh "$VENV" "$REQUIREMENTS"
PY=$VENV/bin/python
source scripts/daemon-lifecycle.sh
trap stop_daemon EXIT

began=$SECONDS
if [[ ! -f $WORK/prompts/held-out-prompts.jsonl ]]; then
    log "1/5 prompts"
    "$PY" scripts/apar/prompts.py "$WORK/prompts"
fi

if [[ ! -f $WORK/data/train.jsonl ]]; then
    log "2/5 answering the training prompts with $BASE"
    start_daemon "$BASE" "$WORK/canopyd.sock"
    t=$SECONDS
    "$PY" scripts/apar/make_data.py "$WORK/canopyd.sock" "$WORK/prompts/train-prompts.jsonl" "$WORK/data.tmp"
    stop_daemon
    rm -rf "$WORK/data" && mv "$WORK/data.tmp" "$WORK/data"
    log "data took $((SECONDS - t)) s"
fi

if [[ ! -f $WORK/finetune/train-log.json ]] || ! grep -q "\"steps\": $STEPS," "$WORK/finetune/train-log.json"; then
    log "3/5 fine-tuning ($STEPS steps, checkpoints in $WORK/finetune)"
    t=$SECONDS
    "$PY" scripts/apar/finetune.py train --base "$BASE" --data "$WORK/data/train.jsonl" \
        --work "$WORK/finetune" --steps "$STEPS"
    log "fine-tune took $((SECONDS - t)) s"
fi

if [[ ! -f $OUT || $OUT -ot $WORK/finetune/checkpoint.pkl ]]; then
    log "4/5 exporting $OUT"
    "$PY" scripts/apar/finetune.py export --base "$BASE" --work "$WORK/finetune" --out "$OUT.tmp"
    mv "$OUT.tmp" "$OUT"
fi

if [[ ! -f $WORK/eval.md || $WORK/eval.md -ot $OUT ]]; then
    log "5/5 evaluating on the held-out prompts"
    start_daemon "$BASE" "$WORK/canopyd.sock"
    "$PY" scripts/apar/evaluate.py answer "$WORK/canopyd.sock" "$WORK/prompts/held-out-prompts.jsonl" "$WORK/eval-base.jsonl"
    stop_daemon
    start_daemon "$OUT" "$WORK/canopyd.sock"
    "$PY" scripts/apar/evaluate.py answer "$WORK/canopyd.sock" "$WORK/prompts/held-out-prompts.jsonl" "$WORK/eval-apar.jsonl"
    stop_daemon
    "$PY" scripts/apar/evaluate.py report "$WORK/eval-base.jsonl" "$WORK/eval-apar.jsonl" > "$WORK/eval.md.tmp"
    mv "$WORK/eval.md.tmp" "$WORK/eval.md"
fi
cat "$WORK/eval.md"
log "done in $((SECONDS - began)) s: $OUT"
