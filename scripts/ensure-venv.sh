#!/usr/bin/env bash
# ensure-venv.sh VENV REQUIREMENTS: makes VENV a virtual environment with REQUIREMENTS
# installed, unless it already has them (a sha256 stamp of the file, VENV/.requirements.sha256).
# Used by scripts/python-tests.sh and scripts/make-apar-model.sh.
set -euo pipefail
venv=$1 requirements=$2
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "ensure-venv: setting up $venv from $requirements" >&2
    if ! python3 -m venv "$venv" 2>/dev/null; then
        echo "ensure-venv: python3 -m venv failed: install the Debian package python3-venv (make setup)" >&2
        exit 1
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi
