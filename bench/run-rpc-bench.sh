#!/usr/bin/env bash
# RPC overhead of canopyd: a Health round trip over the Unix socket (Python grpcio client,
# p50/p99 of 500 calls), and generated tokens/s for the same workload through the socket
# (`canopy bench`) and in-process (`canopy-bench batched`, the engine without gRPC).
# Writes bench/results/<date>-<sha>-rpc.md and prints it.
#
# Env: MODEL, STREAMS (16), PROMPT (128), GEN (128), BIN (.build/release),
#      PYTHON (clients/python/.venv-canopy/bin/python; `bash scripts/python-tests.sh` creates it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
STREAMS="${STREAMS:-16}"; PROMPT="${PROMPT:-128}"; GEN="${GEN:-128}"
BIN="${BIN:-.build/release}"
PYTHON="${PYTHON:-clients/python/.venv-canopy/bin/python}"
for tool in "$BIN/canopyd" "$BIN/canopy" "$BIN/canopy-bench" "$PYTHON"; do
    [ -x "$tool" ] || { echo "run-rpc-bench: $tool missing (make build; bash scripts/python-tests.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
socket="$work/canopyd.sock"
"$BIN/canopyd" --model "$MODEL" --socket "$socket" --kv-cache-memory 1G 2>"$work/canopyd.log" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do "$BIN/canopy" --socket "$socket" health >/dev/null 2>&1 && break; sleep 0.2; done

health=$(cd clients/python && "$OLDPWD/$PYTHON" - "$socket" <<'PY'
import statistics, sys, time
from canopy_client import CanopyClient
with CanopyClient(sys.argv[1]) as client:
    for _ in range(20): client.health()
    samples = []
    for _ in range(500):
        start = time.perf_counter(); client.health(); samples.append((time.perf_counter() - start) * 1e6)
samples.sort()
print(f"{samples[len(samples)//2]:.0f} {samples[int(len(samples)*0.99)]:.0f}")
PY
)
read -r health_p50 health_p99 <<<"$health"

"$BIN/canopy" --socket "$socket" bench --requests "$STREAMS" --concurrency "$STREAMS" \
    --prompt-tokens "$PROMPT" --max-tokens "$GEN" --json >"$work/rpc.json"
rpc_tps=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["output_throughput"], 2))' "$work/rpc.json")
kill -TERM $daemon; wait $daemon || true

"$BIN/canopy-bench" batched --model "$MODEL" --streams "$STREAMS" --prompt-tokens "$PROMPT" \
    --gen-tokens "$GEN" >"$work/inproc.json"
inproc_tps=$(python3 -c 'import json,sys; print(round(json.loads(open(sys.argv[1]).read().splitlines()[-1])["gen_tokens_per_s"], 2))' "$work/inproc.json")
ratio=$(python3 -c "print(f'{$rpc_tps / $inproc_tps:.2f}')")

mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%d)-$(git rev-parse --short HEAD)-rpc.md"
{
    echo "# canopyd RPC overhead"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- workload: $STREAMS concurrent requests, $PROMPT prompt tokens, $GEN generated tokens each (ignore_eos)"
    echo
    echo "| metric | value |"
    echo "|---|---:|"
    echo "| Health round trip p50 (µs, Python grpcio over the socket) | $health_p50 |"
    echo "| Health round trip p99 (µs) | $health_p99 |"
    echo "| generated tokens/s through the socket (canopy bench) | $rpc_tps |"
    echo "| generated tokens/s in-process (canopy-bench batched) | $inproc_tps |"
    echo "| ratio socket / in-process | $ratio |"
} >"$out"
cat "$out"
