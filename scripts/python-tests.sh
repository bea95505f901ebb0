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
STAMP=$VENV/.requirements.sha256

want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ ! -x $VENV/bin/python || ! -f $STAMP || $(cat "$STAMP") != "$want" ]]; then
    echo "python-tests: setting up $VENV from $REQUIREMENTS" >&2
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        echo "python-tests: python3 -m venv failed: install the Debian package python3-venv (make setup)" >&2
        exit 1
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$want" > "$STAMP"
fi

# The committed generated code must match the .proto (same check as scripts/gen-protos.sh).
PYTHON="$VENV/bin/python" bash scripts/gen-python-protos.sh --check

export CANOPY_MODEL=${CANOPY_MODEL:-$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf}
cd "$PY_DIR"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfEs "$@" tests
