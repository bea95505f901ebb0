#!/usr/bin/env bash
# Builds the llama.cpp reference binaries (llama-bench, llama-batched-bench,
# llama-quantize for the K-quant rows, llama-lookup for the speculative table:
# n-gram prompt-lookup decoding, run with --spec-draft-n-max 0 as its own no-speculation
# anchor, see bench/run-llama-lookup.sh, llama-perplexity for the perplexity table and
# the perplexity test fixture, and llama-server for the HTTP serving table) that `make bench`
# compares Canopy against.
#
# The source is the copy vendored in the PyPI sdist llama-cpp-python==0.3.36 (the same
# build the test fixtures were produced with), kept in a cache outside the repository:
#   ${CANOPY_CACHE:-$HOME/.cache/canopy}/llama.cpp-0.3.36
# Does nothing when the binaries are already built. Prints the bin directory last.
# Env: JOBS (default 1: the machine is shared; raise it on an idle box);
#      LLAMA_ISA: the instruction set to build for, matching Canopy's CANOPY_MAX_ISA levels:
#        native (default; -DGGML_NATIVE=ON as the test fixtures were made; on an AMX CPU
#               the same instruction sets listed without AMX, in build-noamx),
#        avx2   (what an AVX2-only CPU such as a Zen 3 runs: SSE4.2/AVX/AVX2/BMI2/FMA/F16C, no AVX-512),
#        scalar (baseline x86-64: every GGML SIMD option off, so SSE2 only).
#      Each level builds in its own folder (build or build-noamx, build-avx2, build-scalar).
set -euo pipefail

version=0.3.36
cache="${CANOPY_CACHE:-$HOME/.cache/canopy}"
root="$cache/llama.cpp-$version"
src="$root/src/llama_cpp_python-$version/vendor/llama.cpp"
jobs="${JOBS:-1}"
isa="${LLAMA_ISA:-native}"
simd_off=(-DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX_VNNI=OFF -DGGML_AVX2=OFF -DGGML_BMI2=OFF -DGGML_AVX512=OFF
          -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF
          -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
case "$isa" in
    # -march=native, except on a CPU with AMX (Xeon Sapphire Rapids and later): there
    # llama.cpp 0.3.36's AMX matmul segfaults on the first product (gdb:
    # ggml_backend_amx_mul_mat), and -march=native enables it whatever GGML_AMX_* say, so
    # the native instruction sets are listed one by one without AMX (the fixtures were
    # made with the AVX-512 kernels).
    native) if grep -qw amx_int8 /proc/cpuinfo 2>/dev/null; then
                build="$root/build-noamx"
                isa_flags=(-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON -DGGML_FMA=ON
                           -DGGML_F16C=ON -DGGML_AVX_VNNI=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON
                           -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
                           -DGGML_AMX_BF16=OFF)
            else
                build="$root/build"; isa_flags=(-DGGML_NATIVE=ON)
            fi ;;
    avx2) build="$root/build-avx2"
          isa_flags=(-DGGML_NATIVE=OFF "${simd_off[@]}" -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON
                     -DGGML_FMA=ON -DGGML_F16C=ON) ;;
    scalar) build="$root/build-scalar"; isa_flags=(-DGGML_NATIVE=OFF "${simd_off[@]}") ;;
    *) echo "build-llama-cpp: LLAMA_ISA=$isa is not one of native, avx2, scalar" >&2; exit 1 ;;
esac
bin="$build/bin"
targets=(llama-bench llama-batched-bench llama-quantize llama-lookup llama-perplexity llama-server llama-tokenize)

all_built() {
    local t
    for t in "${targets[@]}"; do [ -x "$bin/$t" ] || return 1; done
}

if all_built; then
    echo "$bin"
    exit 0
fi

command -v cmake >/dev/null 2>&1 || { echo "build-llama-cpp: cmake not found; run 'make setup'" >&2; exit 1; }
mkdir -p "$root"

if [ ! -f "$src/CMakeLists.txt" ]; then
    sdist_dir="$root/sdist"
    mkdir -p "$sdist_dir"
    if ! ls "$sdist_dir"/llama_cpp_python-$version.tar.gz >/dev/null 2>&1; then
        echo "build-llama-cpp: downloading llama-cpp-python==$version sdist" >&2
        # Only the project itself must come as an sdist; pip still prepares its
        # metadata, and its build backend (scikit-build-core) may come as a wheel.
        python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
            --dest "$sdist_dir" "llama-cpp-python==$version" >&2
    fi
    rm -rf "$root/src.tmp"
    mkdir -p "$root/src.tmp"
    tar -xzf "$sdist_dir/llama_cpp_python-$version.tar.gz" -C "$root/src.tmp"
    rm -rf "$root/src"
    mv "$root/src.tmp" "$root/src"
    [ -f "$src/CMakeLists.txt" ] || { echo "build-llama-cpp: $src/CMakeLists.txt missing after extraction" >&2; exit 1; }
fi

echo "build-llama-cpp: configuring (CPU only, $isa: ${isa_flags[*]}) in $build" >&2
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    "${isa_flags[@]}" -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_OPENMP=ON \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=ON >&2
echo "build-llama-cpp: building ${targets[*]} with -j$jobs" >&2
cmake --build "$build" --config Release -j "$jobs" --target "${targets[@]}" >&2

all_built || { echo "build-llama-cpp: build finished but binaries are missing in $bin" >&2; exit 1; }
echo "$bin"
