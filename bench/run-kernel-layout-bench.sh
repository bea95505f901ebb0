#!/usr/bin/env bash
# Q4_1 products through canopy_gemm from the file's rows and from the interleaved copy
# (bench/kernel-layout/q4_1_interleaved.c; once the prototype of both, see its history), same
# weights and activations, rounds interleaved, best of ROUNDS, at the token counts of a decode
# step (1), a verification window (2-9) and a full step (32). The program exits non-zero if
# either path differs in any bit from its own scalar spelling of Q4_1's arithmetic.
# On a CPU with AVX-512 VNNI it also runs the program capped at AVX2 (CANOPY_MAX_ISA=avx2),
# alternating with the uncapped runs, and tabulates the interleaved kernel at both levels.
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
# The kernels as SwiftPM builds them (Package.swift: -O3, no fp contraction; the canonical
# arithmetic fixes the order of every float operation).
clang -O3 -ffp-contract=off -I"$src/include" -I"$src" -o "$work/q4_1_interleaved" \
    bench/kernel-layout/q4_1_interleaved.c "$src"/*.c -lpthread -lm

commit=$(git rev-parse --short HEAD)
out="bench/results/$(date -u +%F)-$commit-kernel-layout.md"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$({ grep -o -w -E 'avx512_vnni|amx_int8' /proc/cpuinfo || true; } | sort -u | tr '\n' ' ')
# shellcheck disable=SC2086
table=$("$work/q4_1_interleaved" "$THREADS" "$MATRICES" "$ROUNDS" $TOKENS)
levels=""
# The level the kernels chose (the program prints it: the library's own cpuid/xgetbv check).
if [ "$(echo "$table" | sed -n 's/^kernel level: //p')" = avx512vnni ]; then
    # Both levels, alternated four times (run-to-run drift on a shared VM is larger than the
    # difference): the interleaved column of each run, best per token count and level.
    for round in 1 2 3 4; do
        for level in avx2 avx512vnni; do
            # shellcheck disable=SC2086
            CANOPY_MAX_ISA=$level "$work/q4_1_interleaved" "$THREADS" "$MATRICES" "$ROUNDS" $TOKENS |
                awk -F'|' -v level=$level '/^\| [0-9]/ { gsub(/ /, "", $2); gsub(/ /, "", $4); print level, $2, $4 }' >> "$work/levels"
        done
    done
    levels=$(awk '{ key = $2; if (!(key in seen)) { seen[key] = 1; keys[n++] = key }
                    if (!((key, $1) in best) || $3 < best[key, $1]) best[key, $1] = $3 }
                  END { print "| tokens | interleaved, AVX2 kernel (ms) | interleaved, VNNI kernel (ms) | VNNI speed-up |"
                        print "|---:|---:|---:|---:|"
                        for (i = 0; i < n; i++) { k = keys[i]
                            printf "| %s | %.3f | %.3f | %.2fx |\n", k, best[k, "avx2"], best[k, "avx512vnni"], best[k, "avx2"] / best[k, "avx512vnni"] } }' "$work/levels")
fi
{
    echo "# Q4_1 GEMM through canopy_gemm: the file's rows against the interleaved copy"
    echo
    echo "- date: $(date -u +%FT%TZ), commit $commit, $cpu, $(nproc) cores (${isa:-no AVX-512 VNNI or AMX}), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $MATRICES matrices of 1536 x 576 per pass, $THREADS threads, best of $ROUNDS interleaved rounds;"
    echo "  canopy_gemm runs the kernels this CPU selects (bench/kernel-layout/q4_1_interleaved.c)"
    echo
    echo "$table"
    if [ -n "$levels" ]; then
        echo
        echo "The interleaved kernel at both levels (CANOPY_MAX_ISA=avx2 and this CPU's AVX-512 VNNI;"
        echo "4 alternated runs of $ROUNDS rounds each, best per level):"
        echo
        echo "$levels"
    fi
} | tee "$out"
