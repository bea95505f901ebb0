#!/usr/bin/env bash
# Q8_0 products through canopy_gemm, the kernels of revision OLD against those of the working
# tree, on SmolLM2's tied output matrix shape (49152 x 576, 2 threads): the file's rows and,
# where a revision has one, the interleaved copy (bench/kernel-layout/q8_0_gemm.c), at each
# instruction-set level this CPU has (AVX2, and AVX-512 VNNI), at the token counts of a decode
# step, of verification windows and of a prefill tile. The two builds alternate ROUNDS_AB times
# (each call the best of ROUNDS products per token count), so a slow stretch of the machine
# falls on both. Writes bench/results/<date>-<sha>-q8_0-gemm-ab.md and prints it.
#
# Usage: bench/run-q8_0-gemm-ab.sh OLD   Env: ROUNDS (20), ROUNDS_AB (3), TOKENS ("1 2 3 4 9 64").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
old="${1:?usage: $0 OLD-REVISION}"
ROUNDS="${ROUNDS:-20}"; ROUNDS_AB="${ROUNDS_AB:-3}"; TOKENS="${TOKENS:-1 2 3 4 9 64}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/old" "$work/new"
git archive "$old" Sources/CCanopyKernels | tar -x -C "$work/old"
cp -r Sources "$work/new/"
for side in old new; do
    src="$work/$side/Sources/CCanopyKernels"
    flags=""
    grep -q canopy_q8_0_interleave "$src/include/canopy_kernels.h" && flags="-DHAS_Q8_0_INTERLEAVE"
    # The kernels as SwiftPM builds them (-O3, no fp contraction).
    for f in "$src"/*.c; do
        clang -O3 -ffp-contract=off -I"$src/include" -I"$src" -c "$f" -o "$work/$side/$(basename "$f" .c).o"
    done
    clang -O3 $flags -I"$src/include" -c bench/kernel-layout/q8_0_gemm.c -o "$work/$side/main.o"
    clang -o "$work/$side/q8_0_gemm" "$work/$side"/*.o -lpthread -lm
done
levels="1"
grep -q -w avx512_vnni /proc/cpuinfo && levels="1 2"
commit=$(git rev-parse --short HEAD)
[ -n "$(git status --porcelain -- Sources)" ] && commit="$commit+"
old_short=$(git rev-parse --short "$old")
out="bench/results/$(date -u +%F)-$commit-q8_0-gemm-ab.md"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    echo "# Q8_0 through canopy_gemm: $old_short's kernels against $commit's"
    echo
    echo "49152 x 576 Q8_0 (random weights and activations), 2 threads on canopy's pool; $(nproc) cores, $cpu. Each cell: the best of $ROUNDS products, in ms; the two builds alternated $ROUNDS_AB times (one row per call). \`bench/run-q8_0-gemm-ab.sh $old\`."
    for level in $levels; do
        name=$([ "$level" = 1 ] && echo "AVX2" || echo "AVX-512 VNNI")
        echo
        echo "## $name"
        echo
        header="| build | layout |"; rule="|---|---|"
        for t in $TOKENS; do header="$header $t tok |"; rule="$rule---:|"; done
        echo "$header"; echo "$rule"
        for round in $(seq "$ROUNDS_AB"); do
            for side in old new; do
                label=$([ "$side" = old ] && echo "$old_short" || echo "$commit")
                # shellcheck disable=SC2086
                "$work/$side/q8_0_gemm" "$level" "$ROUNDS" $TOKENS > "$work/run.txt"
                rows="| $label | file rows |"; packed="| $label | interleaved |"
                while read -r _ a b; do rows="$rows $a |"; packed="$packed $b |"; done < "$work/run.txt"
                echo "$rows"
                grep -q -- ' -$' "$work/run.txt" || echo "$packed"
            done
        done
    done
} > "$out"
cat "$out"
