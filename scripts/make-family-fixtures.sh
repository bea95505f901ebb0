#!/usr/bin/env bash
# Makes Tests/Fixtures/families/<family>/ for qwen2, qwen3, llama3 and phi3: a tiny random
# model (scripts/make-family-models.py) and llama.cpp's reference outputs for it (greedy tokens,
# per-step top-5 logits, first-step logits from scripts/make-llama-reference.sh; token ids of
# test texts from llama-tokenize), then checks the models against the script's own numpy forward
# pass and prints how long each greedy run stays clear of near ties.
#
# Usage: bash scripts/make-family-fixtures.sh [OUT_ROOT]   (default Tests/Fixtures/families)
# Env: PYTHON: a Python with numpy and gguf==0.19.0 (default ~/.cache/canopy/venv-apar/bin/python,
#      else python3); the llama.cpp build is the one scripts/build-llama-cpp.sh makes (see
#      scripts/make-llama-reference.sh for its provenance).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${1:-$here/../Tests/Fixtures/families}"
py="${PYTHON:-}"
if [ -z "$py" ]; then
    py="$HOME/.cache/canopy/venv-apar/bin/python"
    [ -x "$py" ] || py=python3
fi

"$py" "$here/make-family-models.py" "$root"
bin="$(bash "$here/build-llama-cpp.sh" | tail -n 1)"
for family in qwen2 qwen3 llama3 phi3; do
    dir="$root/$family"
    bash "$here/make-llama-reference.sh" "$dir/model.gguf" "$dir/prompts.jsonl" "$dir" \
        --n-predict 24 --threads 2 --logits-prompts 4
done
"$py" "$here/make-family-models.py" --tokenizer "$root" "$bin"
"$py" "$here/make-family-models.py" --check "$root"
