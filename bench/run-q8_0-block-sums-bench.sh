#!/usr/bin/env bash
# The proposed Q8_0 arithmetic (per-block exact int32 sums, 16 rows interleaved: see
# bench/kernel-layout/q8_0_block_sums.c) against the engine's canopy_gemm on SmolLM2's tied
# output matrix (Q8_0, 49152 x 576), 2 threads, at the token counts of a decode step (1) and of
# verification windows (2-9). Three runs of the program, each the best of ROUNDS alternated
# calls; it exits non-zero if the prototype differs in any bit from its scalar spelling.
# Needs AVX-512 VNNI (the prototype has no other level); elsewhere it says so and does nothing.
# Writes bench/results/<date>-<sha>-q8_0-block-sums.md and prints it. (The arithmetic is in the
# engine since; bench/run-q8_0-gemm-ab.sh compares the engine's kernels across revisions.)
#
# Env: ROUNDS (20), TOKENS ("1 2 3 4 5 9").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-20}"; TOKENS="${TOKENS:-1 2 3 4 5 9}"
if ! grep -q -w avx512_vnni /proc/cpuinfo; then
    echo "q8_0-block-sums-bench: this CPU has no AVX-512 VNNI; the prototype needs it" >&2
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=Sources/CCanopyKernels
# The kernels as SwiftPM builds them (-O3, no fp contraction); the prototype with the
# instruction set it uses enabled.
for f in "$src"/*.c; do
    clang -O3 -ffp-contract=off -I"$src/include" -I"$src" -c "$f" -o "$work/$(basename "$f" .c).o"
done
clang -O3 -ffp-contract=off -mavx512f -mavx512vnni -mavx512bw -mavx512vl -mf16c -mfma -I"$src/include" \
    -c bench/kernel-layout/q8_0_block_sums.c -o "$work/main.o"
clang -o "$work/q8_0_block_sums" "$work"/*.o -lpthread -lm

commit=$(git rev-parse --short HEAD)
out="bench/results/$(date -u +%F)-$commit-q8_0-block-sums.md"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    echo "# Q8_0 per-block sums (prototype) against the engine's Q8_0, commit $commit"
    echo
    echo "SmolLM2's tied output matrix shape (49152 x 576 Q8_0, random weights and activations), 2 threads on canopy's pool; $(nproc) cores, $cpu; best of $ROUNDS calls per token count, engine and prototype alternated in every round; \`bench/run-q8_0-block-sums-bench.sh\`. The prototype is bench/kernel-layout/q8_0_block_sums.c: not in the engine (its arithmetic differs from the engine's by rounding, last column)."
    for run in 1 2 3; do
        echo
        echo "Run $run:"
        echo
        # shellcheck disable=SC2086
        "$work/q8_0_block_sums" "$ROUNDS" $TOKENS
    done
} > "$out"
cat "$out"
