#!/usr/bin/env bash
# Serving as vLLM users measure it: the same streaming load (PROMPT prompt tokens + GEN new
# tokens, greedy, end-of-generation ignored) at 1 and STREAMS concurrent requests, driven by
# one load generator (`canopy bench`) through
#   - canopyd's OpenAI-compatible HTTP API (`--http`),
#   - canopyd's gRPC socket (the same daemon, same load), and
#   - llama-server (-np STREAMS, same model, same threads; built by scripts/build-llama-cpp.sh),
# then tokens/s, TTFT and ITL p50/p99 side by side with the ratios. The servers run one at a
# time; each load is run ROUNDS times alternating canopyd HTTP and gRPC, and the best round
# of each is reported (this VM's speed drifts from minute to minute). Round r draws the same
# prompts for every server, so speculation (whose speed depends on the text) sees the same
# text everywhere; canopyd runs with --prefix-caching no, so the second interface of a round
# finds no cached prefill from the first; HTTP / gRPC is the median of the rounds' ratios.
# Writes bench/results/<date>-<sha>-serving.md and prints it.
#
# Env: MODEL, THREADS (2), STREAMS (32), PROMPT (128), GEN (128), ROUNDS (2),
#      BIN (.build/release), PORT (18480).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
THREADS="${THREADS:-2}"; STREAMS="${STREAMS:-32}"; PROMPT="${PROMPT:-128}"; GEN="${GEN:-128}"
ROUNDS="${ROUNDS:-2}"; BIN="${BIN:-.build/release}"; PORT="${PORT:-18480}"
for tool in "$BIN/canopyd" "$BIN/canopy"; do
    [ -x "$tool" ] || { echo "run-serving-bench: $tool missing (make build)" >&2; exit 1; }
done
llama_bin="$(bash scripts/build-llama-cpp.sh | tail -n 1)"
[ -x "$llama_bin/llama-server" ] || { echo "run-serving-bench: llama-server missing in $llama_bin" >&2; exit 1; }

work=$(mktemp -d)
server=""
stop_server() {
    if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    server=""
}
trap 'stop_server; rm -rf "$work"' EXIT

wait_http() {  # URL: until GET /health answers 200, or fail with the log
    for _ in $(seq 1 600); do
        if python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$1/health" 2>/dev/null; then
            return 0
        fi
        kill -0 "$server" 2>/dev/null || { echo "run-serving-bench: the server exited:" >&2; tail -20 "$work/server.log" >&2; exit 1; }
        sleep 0.2
    done
    echo "run-serving-bench: $1 not healthy after 120 s" >&2; tail -20 "$work/server.log" >&2; exit 1
}

# One load: `bench NAME CONCURRENCY ROUND TARGET` writes $work/NAME-CONCURRENCY-ROUND.json;
# TARGET is an http:// URL (the OpenAI API) or a socket path (gRPC). The prompts are drawn
# from the round and the concurrency (the seed), the same for every server; a server sees a
# round's prompts once (canopyd's two interfaces share a daemon without a prefix cache).
bench() {
    local name=$1 concurrency=$2 round=$3 target=$4 via
    # 8 one after another at 1 stream: a ~1 s request's own spread is ~10 %, and the
    # HTTP/gRPC ratio of a round should not hang on one of them.
    local requests=$((concurrency == 1 ? 8 : 2 * concurrency))
    local seed=$((1000 * round + concurrency))
    if [[ $target == http://* ]]; then via=(bench --http "$target"); else via=(--socket "$target" bench); fi
    "$BIN/canopy" "${via[@]}" --requests "$requests" --concurrency "$concurrency" --prompt-tokens "$PROMPT" \
        --max-tokens "$GEN" --temperature 0 --seed "$seed" --json >"$work/$name-$concurrency-$round.json"
}

# Best round of NAME at CONCURRENCY: "tok/s ttft_p50 ttft_p99 itl_p50 itl_p99" (ms).
best() {
    python3 - "$work" "$1" "$2" <<'PY'
import glob, json, sys
work, name, c = sys.argv[1:]
runs = [json.load(open(p)) for p in sorted(glob.glob(f"{work}/{name}-{c}-*.json"))]
r = max(runs, key=lambda r: r["output_throughput"])
print(f'{r["output_throughput"]:.1f} {r["ttft_ms"]["p50"]:.1f} {r["ttft_ms"]["p99"]:.1f} {r["itl_ms"]["p50"]:.1f} {r["itl_ms"]["p99"]:.1f}')
PY
}

url="http://127.0.0.1:$PORT"
echo "run-serving-bench: canopyd, HTTP and gRPC, $ROUNDS rounds" >&2
"$BIN/canopyd" --model "$MODEL" --socket "$work/canopyd.sock" --http "127.0.0.1:$PORT" --threads "$THREADS" \
    --kv-cache-memory 1G --prefix-caching no >"$work/server.log" 2>&1 &
server=$!
wait_http "$url"
bench warmup "$STREAMS" 0 "$url"
for round in $(seq 1 "$ROUNDS"); do
    for c in 1 "$STREAMS"; do
        if [ $((round % 2)) = 1 ]; then
            bench http "$c" "$round" "$url"; bench grpc "$c" "$round" "$work/canopyd.sock"
        else
            bench grpc "$c" "$round" "$work/canopyd.sock"; bench http "$c" "$round" "$url"
        fi
    done
done
stop_server

# The server just started (`server` set): once it answers, a warm-up load, then ROUNDS rounds
# of NAME at 1 and STREAMS streams over HTTP; stops the server.
http_rounds() {
    local name=$1
    wait_http "$url"
    bench warmup "$STREAMS" 0 "$url"
    for round in $(seq 1 "$ROUNDS"); do
        for c in 1 "$STREAMS"; do bench "$name" "$c" "$round" "$url"; done
    done
    stop_server
}

# Canopy speculates by default (n-gram proposals, which these prompts' repetitive greedy
# continuations favour); the same HTTP load with speculation off shows what that adds.
echo "run-serving-bench: canopyd --speculative off, HTTP" >&2
"$BIN/canopyd" --model "$MODEL" --socket "$work/canopyd.sock" --http "127.0.0.1:$PORT" --threads "$THREADS" \
    --kv-cache-memory 1G --prefix-caching no --speculative off >"$work/server.log" 2>&1 &
server=$!
http_rounds nospec

echo "run-serving-bench: llama-server -np $STREAMS" >&2
# -c is the total context: STREAMS slots of PROMPT + GEN tokens each (rounded up).
"$llama_bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$PORT" -t "$THREADS" -np "$STREAMS" \
    -c $((STREAMS * (PROMPT + GEN + 64))) --no-webui >"$work/server.log" 2>&1 &
server=$!
http_rounds llama

# HTTP / gRPC tokens/s at CONCURRENCY: the median over rounds of the round's ratio (same prompts).
pair_ratio() {
    python3 - "$work" "$1" <<'PY'
import json, statistics, sys
work, c = sys.argv[1:]
ratios = []
for r in range(1, 1000):
    try:
        h, g = (json.load(open(f"{work}/{n}-{c}-{r}.json"))["output_throughput"] for n in ("http", "grpc"))
    except FileNotFoundError:
        break
    ratios.append(h / g)
print(f"{statistics.median(ratios):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
PY
}

ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a / b:.2f}x' if b else 'n/a')" "$1" "$2"; }
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nocommit)
mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%d)-$sha-serving.md"
{
    echo "# Serving: canopyd (HTTP, gRPC) vs llama-server"
    echo
    echo "- commit $sha, $(date -u +%Y-%m-%dT%H:%MZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
    echo "- model $(basename "$MODEL"), $THREADS threads each; $PROMPT prompt + $GEN generated tokens per request, greedy,"
    echo "  end-of-generation ignored, streamed; 8 requests at 1 stream, $((2 * STREAMS)) at $STREAMS; best of $ROUNDS rounds;"
    echo "  random prompts (ids drawn from an English text), the same for every server in a round, new each round;"
    echo "  canopyd with \`--prefix-caching no\` (its HTTP and gRPC runs of a round share the daemon)"
    echo "- load generator: \`canopy bench\` (\`--http\` for the OpenAI API of both servers: /v1/completions with"
    echo "  token-id prompts from each server's /tokenize; the socket for gRPC)"
    echo "- llama-server: llama.cpp from llama-cpp-python==0.3.36, \`-np $STREAMS -c $((STREAMS * (PROMPT + GEN + 64))) -t $THREADS\`"
    echo
    echo "| streams | server | tokens/s | TTFT p50 (ms) | TTFT p99 (ms) | ITL p50 (ms) | ITL p99 (ms) |"
    echo "|---|---|---|---|---|---|---|"
    for c in 1 "$STREAMS"; do
        for name in http grpc nospec llama; do
            read -r tps t50 t99 i50 i99 <<<"$(best "$name" "$c")"
            case $name in
                http) label="canopyd HTTP" ;; grpc) label="canopyd gRPC" ;;
                nospec) label="canopyd HTTP, --speculative off" ;; *) label="llama-server" ;;
            esac
            echo "| $c | $label | $tps | $t50 | $t99 | $i50 | $i99 |"
        done
    done
    echo
    for c in 1 "$STREAMS"; do
        read -r h_tps h_t50 _ <<<"$(best http "$c")"
        read -r n_tps n_t50 _ <<<"$(best nospec "$c")"
        read -r l_tps l_t50 _ <<<"$(best llama "$c")"
        echo "- $c stream(s): canopyd HTTP / llama-server tokens/s $(ratio "$h_tps" "$l_tps") (speculation off: $(ratio "$n_tps" "$l_tps")), TTFT p50 $(ratio "$h_t50" "$l_t50") (off: $(ratio "$n_t50" "$l_t50")); HTTP / gRPC tokens/s $(pair_ratio "$c")"
    done
} >"$out"
cat "$out"
echo "(written to $out)"
