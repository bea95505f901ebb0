#!/usr/bin/env bash
# Produces llama.cpp reference outputs for a model (greedy tokens, per-step top-5 logits,
# first-step logits) that Canopy's tests compare against, e.g. Tests/Fixtures/gemma3-270m/.
#
# Usage: bash scripts/make-llama-reference.sh MODEL PROMPTS.jsonl OUT_DIR [extra args]
#   extra args go to llama-reference: [--n-predict 32] [--threads 2] [--logits-prompts 4] [--verbose]
#   PROMPTS.jsonl holds one {"prompt": "..."} per line; OUT_DIR is created if missing and
#   receives greedy.jsonl and logits-<i>.f16 (formats in the header of scripts/llama-reference.cpp).
#
# Provenance: llama.cpp is the copy vendored in the PyPI sdist llama-cpp-python==0.3.36, built
# by scripts/build-llama-cpp.sh (CPU backend, static libraries, OpenMP, -DGGML_NATIVE=ON or the
# instruction sets LLAMA_ISA asks for) in ${CANOPY_CACHE:-$HOME/.cache/canopy}/llama.cpp-0.3.36.
# scripts/llama-reference.cpp (Canopy's own code, on llama.h's public C API) is compiled
# against that build's libllama.a, libggml.a, libggml-cpu.a and libggml-base.a with the system
# C++ compiler (-O2 -std=c++17) into <build>/bin/llama-reference, recompiled when the .cpp or
# the libraries are newer than the binary.
# Env: CXX (default: g++, else clang++, else c++); LLAMA_ISA and JOBS are passed on to
#      scripts/build-llama-cpp.sh.
set -euo pipefail

die() { echo "make-llama-reference: $*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: bash scripts/make-llama-reference.sh MODEL PROMPTS.jsonl OUT_DIR [--n-predict N] [--threads N] [--logits-prompts N]"
model="$1"; prompts="$2"; out_dir="$3"; shift 3
[ -f "$model" ] || die "model $model not found (fetch it with 'make model MODEL=...')"
[ -f "$prompts" ] || die "prompts file $prompts not found"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cpp="$here/llama-reference.cpp"
[ -f "$cpp" ] || die "$cpp missing"

# 1. llama.cpp (does nothing when already built); its last line of output is the bin directory
bin="$(bash "$here/build-llama-cpp.sh" | tail -n 1)"
[ -d "$bin" ] || die "scripts/build-llama-cpp.sh did not report a bin directory (got '$bin')"
build="$(dirname "$bin")"
src="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
[ -n "$src" ] && [ -f "$src/include/llama.h" ] || die "llama.cpp sources not found for $build (no llama.h under '$src/include')"

# the static libraries, in link order; build-llama-cpp.sh's targets do not all need them
# as separate files, so build the library targets when one is missing
libs=("$build/src/libllama.a" "$build/ggml/src/libggml.a" "$build/ggml/src/libggml-cpu.a" "$build/ggml/src/libggml-base.a")
for lib in "${libs[@]}"; do
    if [ ! -f "$lib" ]; then
        echo "make-llama-reference: $lib missing; building the llama and ggml library targets" >&2
        cmake --build "$build" --config Release -j "${JOBS:-1}" --target llama ggml ggml-cpu ggml-base >&2
        break
    fi
done
for lib in "${libs[@]}"; do [ -f "$lib" ] || die "$lib missing after the build"; done

# 2. compile llama-reference when missing or older than its source or the libraries
exe="$bin/llama-reference"
stale=0
[ -x "$exe" ] || stale=1
for dep in "$cpp" "${libs[@]}"; do [ "$stale" = 1 ] || [ ! "$dep" -nt "$exe" ] || stale=1; done
if [ "$stale" = 1 ]; then
    cxx="${CXX:-}"
    if [ -z "$cxx" ]; then
        for c in g++ clang++ c++; do command -v "$c" >/dev/null 2>&1 && { cxx="$c"; break; }; done
    fi
    [ -n "$cxx" ] || die "no C++ compiler found (install g++ or set CXX)"
    # ggml built with GGML_OPENMP=ON references the GNU OpenMP runtime (GOMP_*/omp_*).
    # (grep -c, not grep -q: -q would close the pipe early and, under pipefail, nm's SIGPIPE
    # would read as "no match")
    omp=()
    n_omp="$(nm "$build/ggml/src/libggml-cpu.a" "$build/ggml/src/libggml-base.a" 2>/dev/null | grep -cE ' U (GOMP_|omp_)' || true)"
    if [ "${n_omp:-0}" -gt 0 ]; then omp=(-fopenmp); fi
    group_start=(); group_end=()
    if [ "$(uname -s)" = Linux ]; then group_start=(-Wl,--start-group); group_end=(-Wl,--end-group); fi
    echo "make-llama-reference: compiling $exe with $cxx ${omp[*]}" >&2
    tmp="$exe.tmp.$$"
    "$cxx" -O2 -std=c++17 "${omp[@]}" -I"$src/include" -I"$src/ggml/include" "$cpp" -o "$tmp" \
        "${group_start[@]}" "${libs[@]}" "${group_end[@]}" "${omp[@]}" -lpthread -lm -ldl \
        || { rm -f "$tmp"; die "compiling $cpp failed"; }
    mv -f "$tmp" "$exe"
fi

# 3. run it
mkdir -p "$out_dir"
echo "make-llama-reference: $exe $model $prompts $out_dir $*" >&2
exec "$exe" "$model" "$prompts" "$out_dir" "$@"
