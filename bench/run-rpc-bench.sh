#!/usr/bin/env bash
# RPC overhead of canopyd:
#   - a Health round trip over the Unix socket, from the Swift client library (`canopy health
#     --repeat`, grpc-swift), from a C client (bench/health-client.c, HTTP/2 by libnghttp2) and
#     from the Python grpcio client, p50/p99 of 2000, 3 x 2000 and 500 calls; and, as a
#     reference, the C client against `canopy-bench h2-floor` (a Health answer at swift-nio-http2's
#     frame level, without the gRPC library's per-call machinery), and below that the machine's
#     own floor, a 100-byte round trip over a Unix socket pair with no protocol at all
#     (bench/unix-socket-floor.c: epoll on the answering side, as swift-nio waits). Where the
#     machine has 2 or more CPUs, the C client's Health and the floor are also timed with both
#     sides on one CPU and with them on two (taskset): on a VM, waking an idle vCPU can cost
#     more than the whole call, and these rows show how much of the round trip that is;
#   - generated tokens/s for the same workload through the socket (`canopy bench`) and
#     in-process (`canopy-bench batched`, the engine without gRPC), at 1 and STREAMS streams.
#     Speculation is off on both sides: its speed depends on the prompts' text, which the two
#     load generators draw differently.
# Writes bench/results/<date>-<sha>-rpc.md and prints it.
#
#   - one stream's decode speed (TPOT) through the socket (from the Swift client and from a C
#     client, bench/generate-client.c) and in-process, request by request (ROUNDS1 rounds).
# Env: MODEL, STREAMS (16), PROMPT (128), GEN (128), THREADS (2), ROUNDS (3), ROUNDS1 (8), BIN (.build/release),
#      PYTHON (clients/python/.venv-canopy/bin/python; `bash scripts/python-tests.sh` creates it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
STREAMS="${STREAMS:-16}"; PROMPT="${PROMPT:-128}"; GEN="${GEN:-128}"; THREADS="${THREADS:-2}"; ROUNDS="${ROUNDS:-3}"; ROUNDS1="${ROUNDS1:-8}"
BIN="${BIN:-.build/release}"
PYTHON="${PYTHON:-clients/python/.venv-canopy/bin/python}"
for tool in "$BIN/canopyd" "$BIN/canopy" "$BIN/canopy-bench" "$PYTHON"; do
    [ -x "$tool" ] || { echo "run-rpc-bench: $tool missing (make build; bash scripts/python-tests.sh)" >&2; exit 1; }
done

work=$(mktemp -d)
socket="$work/canopyd.sock"
cc -O2 -o "$work/health-client" bench/health-client.c -lnghttp2 ||
    { echo "run-rpc-bench: cannot build bench/health-client.c (libnghttp2-dev: make setup)" >&2; exit 1; }
cc -O2 -o "$work/unix-socket-floor" bench/unix-socket-floor.c
cc -O2 -I Sources/CCanopyProto/include -o "$work/generate-client" bench/generate-client.c \
    Sources/CCanopyProto/canopy.pb-c.c -lnghttp2 -lprotobuf-c ||
    { echo "run-rpc-bench: cannot build bench/generate-client.c (libnghttp2-dev, libprotobuf-c-dev: make setup)" >&2; exit 1; }
"$BIN/canopyd" --model "$MODEL" --socket "$socket" --kv-cache-memory 1G --threads "$THREADS" --speculative off \
    2>"$work/canopyd.log" &
daemon=$!
floor=""
trap 'kill -TERM $daemon $floor 2>/dev/null || true; wait $daemon $floor 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do "$BIN/canopy" --socket "$socket" health >/dev/null 2>&1 && break; sleep 0.2; done

read -r swift_p50 swift_p99 <<<"$("$BIN/canopy" --socket "$socket" health --repeat 2000 --json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print("%.0f %.0f" % (r["p50_us"], r["p99_us"]))')"
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
middle_of_3() {  # COMMAND...: "p50 p99" of the middle (by p50) of 3 runs of a command printing "p50 p99 ..."
    for _ in 1 2 3; do "$@"; done | sort -n | sed -n 2p | cut -d' ' -f1-2
}
c_health() { middle_of_3 "$work/health-client" "$1" 2000; }  # SOCKET
pair() { echo "${1/ / \/ }"; }  # "p50 p99" -> "p50 / p99" for the table (n/a stays)
read -r c_p50 c_p99 <<<"$(c_health "$socket")"

# Through the socket: 4 requests one after another at 1 stream, STREAMS at once otherwise;
# a discarded request first (the engine's first pass sizes its buffers). In-process: the same
# loads on an engine of its own (`canopy-bench batched`, a warm-up stream first). The two
# alternate round by round, the daemon idle while the in-process engine runs, so a drift of
# this VM's speed (10 % from minute to minute) falls on both sides of a round's ratio.
"$BIN/canopy" --socket "$socket" bench --requests 1 --concurrency 1 --prompt-tokens "$PROMPT" --max-tokens 8 \
    --temperature 0 >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    for c in 1 "$STREAMS"; do
        "$BIN/canopy" --socket "$socket" bench --requests $((c == 1 ? 4 : c)) --concurrency "$c" --seed "$round" \
            --prompt-tokens "$PROMPT" --max-tokens "$GEN" --temperature 0 --json >"$work/rpc-$c-$round.json"
    done
    "$BIN/canopy-bench" batched --model "$MODEL" --streams "1,1,$STREAMS" --prompt-tokens "$PROMPT" \
        --gen-tokens "$GEN" --threads "$THREADS" --speculative off >"$work/inproc-$round.json"
done
# Decode speed of one stream, request by request: one request through the socket from the
# Swift client (`canopy bench`), one from the C client (bench/generate-client.c: next to no
# client CPU per token), then one on an in-process engine started just for it (after a
# warm-up request), ROUNDS1 times. A round's requests run seconds apart, so its TPOT ratios
# are what this VM's drift disturbs least; the ratios reported are the medians of the rounds'.
vocab=$("$BIN/canopy" --socket "$socket" info --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["vocab_size"])')
for round in $(seq 1 "$ROUNDS1"); do
    "$BIN/canopy" --socket "$socket" bench --requests 1 --concurrency 1 --seed "$round" \
        --prompt-tokens "$PROMPT" --max-tokens "$GEN" --temperature 0 --json >"$work/tpot-rpc-$round.json"
    "$work/generate-client" "$socket" "$PROMPT" "$GEN" "$((1000 + round))" "$vocab" >"$work/tpot-c-$round.json"
    "$BIN/canopy-bench" batched --model "$MODEL" --streams "1,1" --prompt-tokens "$PROMPT" \
        --gen-tokens "$GEN" --threads "$THREADS" --speculative off >"$work/tpot-inproc-$round.json"
done
# Placement (last, as it pins the daemon's threads): the C client and every canopyd thread on
# CPU 0, then the client on CPU 0 and canopyd on CPU 1.
pinned_same="n/a"; pinned_cross="n/a"; socket_same="n/a"; socket_cross="n/a"
if [ "$(nproc)" -ge 2 ]; then
    pin_daemon() { for task in /proc/$daemon/task/*; do taskset -p -c "$1" "${task##*/}" >/dev/null; done; }
    pin_daemon 0; pinned_same=$(middle_of_3 taskset -c 0 "$work/health-client" "$socket" 2000)
    pin_daemon 1; pinned_cross=$(middle_of_3 taskset -c 0 "$work/health-client" "$socket" 2000)
    socket_same=$(middle_of_3 "$work/unix-socket-floor" 2000 same)
    socket_cross=$(middle_of_3 "$work/unix-socket-floor" 2000 cross)
fi
kill -TERM $daemon; wait $daemon || true

"$BIN/canopy-bench" h2-floor --socket "$work/floor.sock" &
floor=$!
for _ in $(seq 1 100); do [ -S "$work/floor.sock" ] && break; sleep 0.1; done
read -r floor_p50 floor_p99 <<<"$(c_health "$work/floor.sock")"
kill $floor; wait $floor 2>/dev/null || true
floor=""
read -r socket_p50 socket_p99 <<<"$(middle_of_3 "$work/unix-socket-floor" 2000)"

row() {  # STREAMS: "socket_tps inproc_tps ratio socket_tpot_p50 round_ratios" (best rounds; ratio: median of rounds)
    python3 - "$work" "$1" "$ROUNDS" <<'PY'
import json, statistics, sys
work, c, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rpc = [json.load(open(f"{work}/rpc-{c}-{r}.json")) for r in range(1, rounds + 1)]
inproc = []
for r in range(1, rounds + 1):
    lines = [json.loads(l) for l in open(f"{work}/inproc-{r}.json") if l.startswith("{")][1:]  # [0]: the warm-up
    inproc.append(next(x["gen_tokens_per_s"] for x in lines if x["streams"] == c))
ratios = [a["output_throughput"] / b for a, b in zip(rpc, inproc)]
best = max(rpc, key=lambda r: r["output_throughput"])
print(f'{best["output_throughput"]:.2f} {max(inproc):.2f} {statistics.median(ratios):.2f} {best["tpot_ms"]["p50"]:.2f} '
      + ",".join(f"{x:.2f}" for x in ratios))
PY
}
read -r one_rpc one_inproc one_ratio one_tpot one_rounds <<<"$(row 1)"
read -r tpot_rpc tpot_c tpot_inproc tpot_ratio tpot_rounds tpot_c_ratio tpot_c_rounds <<<"$(python3 - "$work" "$ROUNDS1" <<'PY'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rpc = [json.load(open(f"{work}/tpot-rpc-{r}.json"))["tpot_ms"]["p50"] for r in range(1, rounds + 1)]
c = [json.load(open(f"{work}/tpot-c-{r}.json"))["tpot_ms"] for r in range(1, rounds + 1)]
inproc = [[json.loads(l) for l in open(f"{work}/tpot-inproc-{r}.json") if l.startswith("{")][1]["tpot_ms_p50"]
          for r in range(1, rounds + 1)]
ratios = [b / a for a, b in zip(rpc, inproc)]  # speed through the socket / in-process
c_ratios = [b / a for a, b in zip(c, inproc)]
print(f"{statistics.median(rpc):.3f} {statistics.median(c):.3f} {statistics.median(inproc):.3f} "
      f"{statistics.median(ratios):.3f} " + ",".join(f"{x:.2f}" for x in ratios)
      + f" {statistics.median(c_ratios):.3f} " + ",".join(f"{x:.2f}" for x in c_ratios))
PY
)"
read -r many_rpc many_inproc many_ratio many_tpot many_rounds <<<"$(row "$STREAMS")"

mkdir -p bench/results
out="bench/results/$(date -u +%Y-%m-%d)-$(git rev-parse --short HEAD)-rpc.md"
{
    echo "# canopyd RPC overhead"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- workload: $PROMPT prompt tokens, $GEN generated tokens each (greedy, ignore_eos), $THREADS threads, speculation off;"
    echo "  1 stream (4 requests in turn through the socket, 1 in-process) and $STREAMS concurrent requests;"
    echo "  best of $ROUNDS rounds each, after a warm-up request; socket and in-process runs alternate round by round,"
    echo "  and a ratio is the median of the rounds' ratios"
    echo
    echo "| metric | value |"
    echo "|---|---:|"
    echo "| Health round trip p50 (µs, Swift client library: canopy health --repeat 2000) | $swift_p50 |"
    echo "| Health round trip p99 (µs, Swift) | $swift_p99 |"
    echo "| Health round trip p50 (µs, C client: bench/health-client.c, middle of 3 x 2000) | $c_p50 |"
    echo "| Health round trip p99 (µs, C) | $c_p99 |"
    echo "| Health round trip p50 (µs, Python grpcio) | $health_p50 |"
    echo "| Health round trip p99 (µs, Python grpcio) | $health_p99 |"
    echo "| reference: C client against canopy-bench h2-floor, p50 / p99 (µs) | $floor_p50 / $floor_p99 |"
    echo "| reference: 100-byte round trip over a Unix socket pair, no protocol (bench/unix-socket-floor.c, middle of 3 x 2000), p50 / p99 (µs) | $socket_p50 / $socket_p99 |"
    echo "| placement: Health from C, client and canopyd on one CPU, p50 / p99 (µs) | $(pair "$pinned_same") |"
    echo "| placement: Health from C, client and canopyd on two CPUs, p50 / p99 (µs) | $(pair "$pinned_cross") |"
    echo "| placement: socket floor on one CPU / on two CPUs, p50 / p99 (µs) | $(pair "$socket_same") ; $(pair "$socket_cross") |"
    echo "| 1 stream: generated tokens/s through the socket (canopy bench) | $one_rpc |"
    echo "| 1 stream: generated tokens/s in-process (canopy-bench batched) | $one_inproc |"
    echo "| 1 stream: ratio socket / in-process (median of rounds: $one_rounds) | $one_ratio |"
    echo "| 1 stream: TPOT p50 through the socket (ms) | $one_tpot |"
    echo "| 1 stream, request by request: TPOT through the socket (Swift client / C client) and in-process, medians of $ROUNDS1 rounds (ms) | $tpot_rpc / $tpot_c / $tpot_inproc |"
    echo "| 1 stream, request by request: decode speed ratio socket / in-process, Swift client (median of rounds: $tpot_rounds) | $tpot_ratio |"
    echo "| 1 stream, request by request: decode speed ratio socket / in-process, C client (median of rounds: $tpot_c_rounds) | $tpot_c_ratio |"
    echo "| $STREAMS streams: generated tokens/s through the socket | $many_rpc |"
    echo "| $STREAMS streams: generated tokens/s in-process | $many_inproc |"
    echo "| $STREAMS streams: ratio socket / in-process (median of rounds: $many_rounds) | $many_ratio |"
} >"$out"
cat "$out"
