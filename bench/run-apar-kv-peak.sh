#!/usr/bin/env bash
# Early release of APAR branches (issue 14): the most KV blocks an APAR request holds at once
# against the equivalent sequential answer, through canopyd and the canopy CLI. For each block
# size, on a fresh daemon each: the forking request (greedy), then the sequential answer — the
# prompt plus the assembled answer's tokens run as one non-forking sequence (what a model
# writing the same answer in one stream holds at its end). Both read `kv blocks used at peak`
# from `canopy stats`; prefix caching is off so nothing is shared between requests.
#
# Usage: bench/run-apar-kv-peak.sh [MODEL.gguf PROMPT_IDS]   (default: the apar-tiny fixture
#        and its reference fork prompt)
# Env: BLOCK_SIZES ("16 4 1"), CANOPYD/CANOPY (default .build/release/...), OUT (default
#      bench/results/<date>-<commit>-apar-kv-peak.md).
set -euo pipefail
cd "$(dirname "$0")/.."

model=${1:-Tests/Fixtures/apar-tiny/apar-tiny.gguf}
prompt=${2:-$(python3 -c 'import json; print(",".join(map(str, json.load(open("Tests/Fixtures/apar-tiny/reference.json"))["fork"]["prompt"])))')}
canopyd=${CANOPYD:-.build/release/canopyd}
canopy=${CANOPY:-.build/release/canopy}
commit=$(git rev-parse --short HEAD)
out=${OUT:-bench/results/$(date +%F)-$commit-apar-kv-peak.md}
for binary in "$canopyd" "$canopy"; do
    [ -x "$binary" ] || { echo "run-apar-kv-peak: $binary not built (swift build -c release)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
socket=$work/canopy.sock

start() {
    "$canopyd" --model "$model" --socket "$socket" --block-size "$1" --kv-precision f32 \
        --prefix-caching no --kv-cache-memory 64M > "$work/daemon.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do "$canopy" --socket "$socket" health > /dev/null 2>&1 && return; sleep 0.1; done
    echo "run-apar-kv-peak: canopyd did not start:" >&2; cat "$work/daemon.log" >&2; exit 1
}
stop() { kill -TERM "$pid"; wait "$pid" || true; }
peak() { "$canopy" --socket "$socket" stats | awk '/kv blocks used at peak/ { print $NF }'; }

{
    echo "# APAR early release: peak KV blocks — $(date +%F), commit $commit"
    echo
    echo "Model: \`$(basename "$model")\`, prompt of $(echo "$prompt" | tr ',' '\n' | wc -l) tokens, greedy, f32 KV."
    echo "APAR: the forking request. Sequential: the prompt and the assembled answer as one sequence."
    echo
    echo "| block size | branches | tokens, all branches | assembled answer tokens | APAR peak blocks | sequential peak blocks |"
    echo "|---|---|---|---|---|---|"
    for block in ${BLOCK_SIZES:-16 4 1}; do
        start "$block"
        "$canopy" --socket "$socket" generate --prompt-ids "$prompt" --temperature 0 --max-tokens 400 --json \
            > "$work/summary.json"
        apar=$(peak)
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["samples"][0]["text"], end="")' \
            "$work/summary.json" > "$work/answer.txt"
        "$canopy" --socket "$socket" tokenize --json < "$work/answer.txt" > "$work/answer-ids.json"
        stop
        read -r branches tokens answer_count sequence < <(python3 - "$work/summary.json" "$work/answer-ids.json" "$prompt" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
ids = json.load(open(sys.argv[2]))["ids"]
sample = summary["samples"][0]
print(len(sample.get("branches") or [0]), summary["usage"]["completion_tokens"], len(ids),
      sys.argv[3] + "," + ",".join(map(str, ids)))
PY
        )
        start "$block"
        "$canopy" --socket "$socket" generate --prompt-ids "$sequence" --no-apar --max-tokens 1 --json > /dev/null
        sequential=$(peak)
        stop
        echo "| $block | $branches | $tokens | $answer_count | $apar | $sequential |"
    done
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
