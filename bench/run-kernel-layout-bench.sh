#!/usr/bin/env bash
# Q4_1 products through canopy_gemm from the file's rows and from the interleaved copy
# (bench/kernel-layout/q4_1_interleaved.c; once the prototype of both, see its history), same
# weights and activations, rounds interleaved, best of ROUNDS, at the token counts of a decode
# step (1), a verification window (2-9) and a full step (32). The program exits non-zero if
# either path differs in any bit from its own scalar spelling of Q4_1's arithmetic.
# Writes bench/results/<date>-<sha>-kernel-layout.md and prints it.
#
# Env: THREADS (2), MATRICES (140: about one SmolLM2-135M step of 1536 x 576 matrices),
#      ROUNDS (20), TOKENS ("1 2 3 4 5 6 7 8 9 32").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

THREADS="${THREADS:-2}"; MATRICES="${MATRICES:-140}"; ROUNDS="${ROUNDS:-20}"; TOKENS="${TOKENS:-1 2 3 4 5 6 7 8 9 32}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=Sources/CCanopyKernels
# The kernels as SwiftPM builds them: -O3, no fp contraction (the canonical arithmetic fixes it).
clang -O3 -ffp-contract=off -I"$src/include" -I"$src" -o "$work/q4_1_interleaved" \
    bench/kernel-layout/q4_1_interleaved.c "$src"/*.c -lpthread -lm

commit=$(git rev-parse --short HEAD)
out="bench/results/$(date -u +%F)-$commit-kernel-layout.md"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$({ grep -o -w -E 'avx512_vnni|amx_int8' /proc/cpuinfo || true; } | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086
table=$("$work/q4_1_interleaved" "$THREADS" "$MATRICES" "$ROUNDS" $TOKENS)
{
    echo "# Q4_1 GEMM through canopy_gemm: the file's rows against the interleaved copy"
    echo
    echo "- date: $(date -u +%FT%TZ), commit $commit, $cpu, $(nproc) cores (${isa:-no AVX-512 VNNI or AMX}), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $MATRICES matrices of 1536 x 576 per pass, $THREADS threads, best of $ROUNDS interleaved rounds;"
    echo "  canopy_gemm runs the kernels this CPU selects (bench/kernel-layout/q4_1_interleaved.c)"
    echo
    echo "$table"
} | tee "$out"
