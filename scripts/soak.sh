#!/usr/bin/env bash
# soak.sh [soak.py arguments]: a bounded soak of canopyd (scripts/soak.py) with the venv's
# Python, writing bench/results/<date>-<commit>-soak.md. Environment: MINUTES (20), MODEL
# (models/SmolLM2-135M-Instruct.Q4_1.gguf), CANOPYD (.build/release/canopyd), OUT (the report).
# Exits non-zero when the soak fails (see scripts/soak.py).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=clients/python/.venv-canopy
bash scripts/ensure-venv.sh "$VENV" clients/python/requirements.txt
OUT=${OUT:-bench/results/$(date -u +%F)-$(git rev-parse --short HEAD)-soak.md}
exec "$VENV/bin/python" scripts/soak.py --canopyd "${CANOPYD:-.build/release/canopyd}" \
    --model "${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}" --minutes "${MINUTES:-20}" --out "$OUT" "$@"
