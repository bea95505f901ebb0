#!/usr/bin/env bash
# Tensor and pipeline parallelism's overhead on one host: generated tokens/s through canopyd
# at TP 1 (one process, THREADS threads), TP 2 (`mpirun -np 2 canopyd --tensor-parallel 2`)
# and PP 2 (`--pipeline-parallel 2`), THREADS/2 threads per rank (the same cores), at batch 1
# and batch BATCH, same load generator, same run; and the share of rank 0's pass time spent
# in exchanges (step messages, partial sums, activations, logits, waiting for the others),
# as rank 0 logs it at stop. On 2 cores the point is the overhead, not a speed-up. Stages
# overlap only across the micro-batches of a pass of several sequences (at batch 1 they take
# turns), so PP's share is mostly waiting for stage 1.
# Writes bench/results/<date>-<sha>-parallel.md and prints it.
#
# Env: MODEL, BATCH (32), PROMPT (128), GEN (64), THREADS (2), ROUNDS (2), BIN (.build/release).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
BATCH="${BATCH:-32}"; PROMPT="${PROMPT:-128}"; GEN="${GEN:-64}"; THREADS="${THREADS:-2}"; ROUNDS="${ROUNDS:-2}"
BIN="${BIN:-.build/release}"
for tool in "$BIN/canopyd" "$BIN/canopy" mpirun; do
    command -v "$tool" >/dev/null || { echo "run-parallel-bench: $tool missing (make setup build)" >&2; exit 1; }
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader

work=$(mktemp -d)
daemon=""
trap '[ -n "$daemon" ] && kill -TERM $daemon 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# run TP PP CONCURRENCY: one daemon (job), a warm-up request, ROUNDS rounds; prints
# "tokens/s|comm%|pass ms and exchange ms|RSS per rank".
run() {
    local tp=$1 pp=$2 c=$3 socket="$work/tp$1-pp$2-$3.sock" log="$work/tp$1-pp$2-$3.log"
    local ranks=$((tp * pp))
    local common=(--model "$MODEL" --socket "$socket" --kv-cache-memory 1G --speculative off)
    if [ "$ranks" = 1 ]; then
        "$BIN/canopyd" "${common[@]}" --threads "$THREADS" 2>"$log" &
    else
        mpirun -np "$ranks" --bind-to none "$BIN/canopyd" "${common[@]}" --tensor-parallel "$tp" \
            --pipeline-parallel "$pp" --threads $((THREADS / ranks > 0 ? THREADS / ranks : 1)) >"$log" 2>&1 &
    fi
    daemon=$!
    for _ in $(seq 1 300); do "$BIN/canopy" --socket "$socket" health >/dev/null 2>&1 && break; sleep 0.2; done
    "$BIN/canopy" --socket "$socket" bench --requests 1 --concurrency 1 --prompt-tokens "$PROMPT" --max-tokens 8 >/dev/null
    local best=0
    for round in $(seq 1 "$ROUNDS"); do
        tps=$("$BIN/canopy" --socket "$socket" bench --requests $((c == 1 ? 4 : c)) --concurrency "$c" --seed "$round" \
            --prompt-tokens "$PROMPT" --max-tokens "$GEN" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["output_throughput"])')
        best=$(python3 -c "print(max($best, $tps))")
    done
    rss=$(for pid in $(pgrep -f "$socket" || true); do
        [ "$(basename "$(readlink /proc/$pid/exe 2>/dev/null)")" = canopyd ] && awk '/VmRSS/ {printf "%d ", $2 / 1024}' /proc/$pid/status
    done)
    kill -USR2 $daemon; wait $daemon 2>/dev/null || true
    daemon=""
    share=$(grep -o 'rank 0 exchanges: .*' "$log" | sed -n 's/.*(\([0-9.]*\)%).*/\1/p' | tail -1)
    pass=$(grep -o 'rank 0 exchanges: .*' "$log" | sed -n 's/.*, \([0-9.]*\) ms per pass, \([0-9.]*\) ms of it.*/\1 \2/p' | tail -1)
    printf '%.1f|%s|%s|%s\n' "$best" "${share:--}" "${pass:--}" "${rss:--}"
}

rows=()
for layout in "1 1" "2 1" "1 2"; do
    read -r tp pp <<<"$layout"
    for c in 1 "$BATCH"; do
        IFS='|' read -r tps share pass rss <<<"$(run "$tp" "$pp" "$c")"
        rows+=("$tp|$pp|$c|$tps|$share|$pass|$rss")
    done
done

mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%d)-$(git rev-parse --short HEAD)-parallel.md"
{
    echo "# Tensor and pipeline parallelism on one host"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
    echo "- model: $(basename "$MODEL"); $PROMPT prompt tokens, $GEN generated (greedy, ignore_eos), speculation off;"
    echo "  batch 1 = 4 requests in turn, batch $BATCH = $BATCH concurrent requests; best of $ROUNDS rounds after a warm-up;"
    echo "  TP 1 PP 1: one canopyd, $THREADS threads; otherwise mpirun -np TP×PP canopyd --tensor-parallel TP --pipeline-parallel PP, $((THREADS / 2 > 0 ? THREADS / 2 : 1)) thread(s) per rank, shared memory (vader)"
    echo "- comm share: rank 0's time in exchanges (step messages, partial sums, activations, logits, waiting for the other rank) over its pass time;"
    echo "  for PP 2 that includes waiting for stage 1 to run its blocks (stages overlap only across a pass's micro-batches; at batch 1 they take turns)"
    echo
    echo "| TP | PP | batch | generated tokens/s | vs TP 1 PP 1 | pass (ms) | exchanging (ms) | comm share | RSS per rank (MiB) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for row in "${rows[@]}"; do
        IFS='|' read -r tp pp c tps share pass rss <<<"$row"
        base=$(for r in "${rows[@]}"; do IFS='|' read -r t p b v _ <<<"$r"; if [ "$t$p" = 11 ] && [ "$b" = "$c" ]; then echo "$v"; fi; done)
        ms=-; comm=-
        if [ "$pass" != - ]; then read -r ms comm <<<"$pass"; fi
        echo "| $tp | $pp | $c | $tps | $(python3 -c "print(f'{$tps / $base:.2f}x')") | $ms | $comm | $share% | $rss |"
    done
} >"$out"
cat "$out"
