#!/usr/bin/env bash
# Runs the Python client's tests (clients/python/tests) against a real canopyd.
# Uses the virtual environment clients/python/.venv-canopy (override: CANOPY_VENV), creating
# it and installing clients/python/requirements.txt when it is missing or out of date.
# Binaries: CANOPYD / CANOPY, else .build-tests/release, else .build/release; model:
# CANOPY_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf. Extra arguments go to pytest.
# Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

PY_DIR=clients/python
VENV=$(realpath -m "${CANOPY_VENV:-$PY_DIR/.venv-canopy}")
REQUIREMENTS=$PY_DIR/requirements.txt

bash scripts/ensure-venv.sh "$VENV" "$REQUIREMENTS"

# The committed generated code must match the .proto (same check as scripts/gen-protos.sh).
PYTHON="$VENV/bin/python" bash scripts/gen-python-protos.sh --check

export CANOPY_MODEL=${CANOPY_MODEL:-$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf}
cd "$PY_DIR"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfEs "$@" tests
