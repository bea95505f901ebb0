#!/usr/bin/env bash
# Compares Canopy with the llama.cpp reference on the same model and thread count and
# prints one markdown table (metric | canopy | llama.cpp | ratio), also written with
# machine info to bench/results/<date>-<shortsha>.md.
#
# Env: MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf), THREADS (2), SWIFT (swift),
#      PP (512 prompt tokens), TG (128 generated tokens), BATCH_STREAMS (1,8,32,64),
#      SKIP_BATCHED=1 to leave out the batched rows, CANOPY_BENCH=<path> to use a
#      prebuilt canopy-bench instead of building it, MOE_MODEL (Tests/Fixtures/moe-tiny/
#      moe-tiny.gguf) for the mixture-of-experts table (expert cache at 100/50/25 % of the
#      experts' bytes; Canopy only), SKIP_MOE=1 to leave it out, SKIP_KQUANT=1 to leave out
#      the K-quant rows (MODEL requantized to Q4_K_M with llama-quantize, cached),
#      CANOPY_MAX_ISA=avx2|scalar to measure what an AVX2-only or a scalar-only machine
#      gets: Canopy's kernels are capped at that level and llama.cpp is built for the same
#      one (scripts/build-llama-cpp.sh LLAMA_ISA); the results file name ends in the level.
# A side that cannot be built or run is reported as "n/a" with the reason in the notes,
# so the table still comes out while Canopy's benchmark is being written.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
THREADS="${THREADS:-2}"
SWIFT="${SWIFT:-swift}"
PP="${PP:-512}"
TG="${TG:-128}"
BATCH_STREAMS="${BATCH_STREAMS:-1,8,32,64}"
TIME_BIN=/usr/bin/time

[ -f "$MODEL" ] || { echo "run-bench: model $MODEL not found; run 'make model'" >&2; exit 1; }
[ -x "$TIME_BIN" ] || { echo "run-bench: $TIME_BIN not found; run 'make setup' (package 'time')" >&2; exit 1; }

# The instruction set both sides run at: the CPU's best (native) unless CANOPY_MAX_ISA caps it.
case "${CANOPY_MAX_ISA:-}" in
    ""|avx512vnni) isa=native ;;
    avx2|scalar) isa="$CANOPY_MAX_ISA" ;;
    *) echo "run-bench: CANOPY_MAX_ISA=$CANOPY_MAX_ISA is not one of avx512vnni, avx2, scalar" >&2; exit 1 ;;
esac
canopy_isa="n/a"   # what canopy-bench reports it ran at

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rows=()    # "metric|canopy|llama.cpp" entries, rendered by render_table
notes=()   # free-text lines printed under the table

add_row() { rows+=("$1|$2|$3"); }
note() { notes+=("$1"); echo "run-bench: $1" >&2; }

# Peak RSS in MiB from a GNU time -v report.
peak_rss_mib() {
    awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); printf "%.1f", $2 / 1024}' "$1"
}

# Reads one JSON document on stdin and prints the Python expression $1 evaluated on it
# (bound to `d`); used for the small JSON outputs of both benchmarks.
json_get() {
    python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# ---------------------------------------------------------------- builds
llama_bin=""
build_llama() {
    local out
    if out=$(LLAMA_ISA="$isa" bash scripts/build-llama-cpp.sh); then
        llama_bin=$(echo "$out" | tail -n 1)
    else
        note "llama.cpp build failed (scripts/build-llama-cpp.sh)"
    fi
}

canopy_bench=""
build_canopy() {
    if [ -n "${CANOPY_BENCH:-}" ]; then   # a prebuilt binary (e.g. from a dev package)
        canopy_bench="$CANOPY_BENCH"
        return 0
    fi
    if "$SWIFT" build -c release --product canopy-bench >"$work/canopy-build.log" 2>&1; then
        canopy_bench="$repo_root/.build/release/canopy-bench"
    else
        note "canopy-bench did not build (last lines of the build log follow); canopy reported as n/a"
        tail -n 5 "$work/canopy-build.log" | sed 's/^/    /' >&2
    fi
}

# ---------------------------------------------------------------- single stream
llama_pp="n/a"; llama_tg="n/a"; llama_rss="n/a"
run_llama_single() {
    [ -n "$llama_bin" ] || return 0
    if "$TIME_BIN" -v -o "$work/llama.time" "$llama_bin/llama-bench" -m "$MODEL" \
            -p "$PP" -n "$TG" -t "$THREADS" -o json >"$work/llama.json" 2>"$work/llama.err"; then
        llama_pp=$(json_get "next(r['avg_ts'] for r in d if r['n_prompt'] == $PP and r['n_gen'] == 0)" <"$work/llama.json")
        llama_tg=$(json_get "next(r['avg_ts'] for r in d if r['n_gen'] == $TG and r['n_prompt'] == 0)" <"$work/llama.json")
        llama_rss=$(peak_rss_mib "$work/llama.time")
        llama_build=$(json_get "d[0]['build_commit'] + ' (' + d[0]['cpu_info'] + ')'" <"$work/llama.json")
        note "llama.cpp: llama-bench, build $llama_build"
    else
        note "llama-bench failed: $(tail -n 1 "$work/llama.err")"
    fi
}

canopy_pp="n/a"; canopy_tg="n/a"; canopy_rss="n/a"; tg_bound="n/a"
run_canopy_single() {
    [ -n "$canopy_bench" ] || return 0
    if "$TIME_BIN" -v -o "$work/canopy.time" "$canopy_bench" single --model "$MODEL" \
            --prompt-tokens "$PP" --gen-tokens "$TG" --threads "$THREADS" \
            >"$work/canopy.out" 2>"$work/canopy.err"; then
        grep '^{' "$work/canopy.out" | tail -n 1 >"$work/canopy.json" || true
        if [ -s "$work/canopy.json" ]; then
            canopy_pp=$(json_get "d['pp_tokens_per_s']" <"$work/canopy.json")
            canopy_tg=$(json_get "d['tg_tokens_per_s']" <"$work/canopy.json")
            canopy_isa=$(json_get "d.get('kernel_isa', 'n/a')" <"$work/canopy.json")
            canopy_rss=$(peak_rss_mib "$work/canopy.time")
            # The bandwidth probe runs in its own process: its 512 MiB buffer must not count
            # in the single-stream peak RSS above.
            if "$canopy_bench" bandwidth --model "$MODEL" --threads "$THREADS" >"$work/bw.out" 2>"$work/bw.err" \
                    && grep '^{' "$work/bw.out" | tail -n 1 >"$work/bw.json" && [ -s "$work/bw.json" ]; then
                tg_bound=$(json_get "d['tg_bandwidth_bound_tokens_per_s']" <"$work/bw.json")
                note "tg bandwidth bound: $(json_get "'%.1f GB/s read bandwidth (best of 5 passes over 512 MiB, $THREADS threads) / %.1f MB of weights per token' % (d['read_bandwidth_gb_s'], d['weight_bytes_per_token'] / 1e6)" <"$work/bw.json")"
            else
                note "canopy-bench bandwidth failed: $(tail -n 1 "$work/bw.err")"
            fi
        else
            note "canopy-bench printed no JSON line"
        fi
    else
        note "canopy-bench failed: $(tail -n 1 "$work/canopy.err")"
    fi
}

# ---------------------------------------------------------------- batched
# Batched throughput: BATCH_STREAMS concurrent requests, each with its own 128-token prompt
# and 128 generated tokens. llama.cpp: llama-batched-bench. Canopy: canopy-bench batched
# (the serving engine, continuous batching). Compared as generated tokens per second of
# wall time for the whole workload (prompts included) = B*128/T on both sides; llama.cpp's
# decode-phase-only S_TG is shown as a separate row for reference.
bench_batched() {
    [ "${SKIP_BATCHED:-0}" = "1" ] && return 0
    local npp=128 ntg=128
    declare -A llama_gen=() llama_stg=() canopy_gen=()
    local llama_batched_rss="n/a" canopy_batched_rss="n/a" line pl
    if [ -n "$llama_bin" ]; then
        if "$TIME_BIN" -v -o "$work/batched.time" "$llama_bin/llama-batched-bench" -m "$MODEL" \
                -c 20000 -b 2048 -ub 512 -npp "$npp" -ntg "$ntg" -npl "$BATCH_STREAMS" \
                -t "$THREADS" --output-format jsonl >"$work/batched.out" 2>"$work/batched.err"; then
            while IFS= read -r line; do
                pl=$(echo "$line" | json_get "d['pl']")
                llama_gen[$pl]=$(echo "$line" | json_get "d['pl'] * d['tg'] / d['t']")
                llama_stg[$pl]=$(echo "$line" | json_get "d['speed_tg']")
            done < <(grep '^{' "$work/batched.out")
            llama_batched_rss=$(peak_rss_mib "$work/batched.time")
            note "llama.cpp batched: llama-batched-bench -npp $npp -ntg $ntg -npl $BATCH_STREAMS -c 20000 -b 2048 -ub 512 -t $THREADS"
        else
            note "llama-batched-bench failed: $(tail -n 1 "$work/batched.err")"
        fi
    fi
    if [ -n "$canopy_bench" ]; then
        if "$TIME_BIN" -v -o "$work/cbatched.time" "$canopy_bench" batched --model "$MODEL" \
                --streams "$BATCH_STREAMS" --prompt-tokens "$npp" --gen-tokens "$ntg" --threads "$THREADS" \
                >"$work/cbatched.out" 2>"$work/cbatched.err"; then
            while IFS= read -r line; do
                pl=$(echo "$line" | json_get "d['streams']")
                canopy_gen[$pl]=$(echo "$line" | json_get "d['gen_tokens_per_s']")
            done < <(grep '^{' "$work/cbatched.out")
            canopy_batched_rss=$(peak_rss_mib "$work/cbatched.time")
            note "canopy batched: canopy-bench batched --streams $BATCH_STREAMS (engine defaults, prefix caching off, KV 1 GiB f16)"
        else
            note "canopy-bench batched failed: $(tail -n 1 "$work/cbatched.err")"
        fi
    fi
    local streams label
    IFS=',' read -ra streams <<<"$BATCH_STREAMS"
    for pl in "${streams[@]}"; do
        label="$pl streams"; [ "$pl" = "1" ] && label="1 stream"
        add_row "batched generated tokens/s, $label (B*$ntg/T)" "${canopy_gen[$pl]:-n/a}" "${llama_gen[$pl]:-n/a}"
    done
    for pl in "${streams[@]}"; do
        add_row "llama.cpp decode-phase S_TG, $pl streams (reference)" "n/a" "${llama_stg[$pl]:-n/a}"
    done
    add_row "batched peak RSS (MiB)" "$canopy_batched_rss" "$llama_batched_rss"
}

# ---------------------------------------------------------------- K-quants
# The same model requantized to Q4_K_M by llama.cpp's llama-quantize (--allow-requantize,
# cached next to the llama.cpp build): the mix most GGUF files on the hub use. SmolLM2's
# 576-column matrices cannot hold 256-value super-blocks, so llama.cpp falls back to Q5_0
# there (Q8_0 for Q6_K); ffn_down (1536 columns) is Q4_K/Q6_K. pp and tg only.
bench_kquant() {
    [ "${SKIP_KQUANT:-0}" = "1" ] && return 0
    [ -n "$llama_bin" ] && [ -x "$llama_bin/llama-quantize" ] || { note "K-quant rows skipped: no llama-quantize"; return 0; }
    local kq_model kq_llama_pp="n/a" kq_llama_tg="n/a" kq_canopy_pp="n/a" kq_canopy_tg="n/a"
    kq_model="$(dirname "$llama_bin")/$(basename "$MODEL" .gguf).requant-Q4_K_M.gguf"
    if [ ! -f "$kq_model" ]; then
        "$llama_bin/llama-quantize" --allow-requantize "$MODEL" "$kq_model.tmp" Q4_K_M >"$work/quantize.log" 2>&1 \
            && mv "$kq_model.tmp" "$kq_model" \
            || { note "llama-quantize failed: $(tail -n 1 "$work/quantize.log")"; return 0; }
    fi
    if "$llama_bin/llama-bench" -m "$kq_model" -p "$PP" -n "$TG" -t "$THREADS" -o json >"$work/kq-llama.json" 2>/dev/null; then
        kq_llama_pp=$(json_get "next(r['avg_ts'] for r in d if r['n_prompt'] == $PP and r['n_gen'] == 0)" <"$work/kq-llama.json")
        kq_llama_tg=$(json_get "next(r['avg_ts'] for r in d if r['n_gen'] == $TG and r['n_prompt'] == 0)" <"$work/kq-llama.json")
    fi
    if [ -n "$canopy_bench" ] && "$canopy_bench" single --model "$kq_model" --prompt-tokens "$PP" --gen-tokens "$TG" \
            --threads "$THREADS" 2>/dev/null | grep '^{' | tail -n 1 >"$work/kq-canopy.json" && [ -s "$work/kq-canopy.json" ]; then
        kq_canopy_pp=$(json_get "d['pp_tokens_per_s']" <"$work/kq-canopy.json")
        kq_canopy_tg=$(json_get "d['tg_tokens_per_s']" <"$work/kq-canopy.json")
    fi
    add_row "pp$PP, same model requantized to Q4_K_M (tokens/s)" "$kq_canopy_pp" "$kq_llama_pp"
    add_row "tg$TG, same model requantized to Q4_K_M (tokens/s)" "$kq_canopy_tg" "$kq_llama_tg"
    note "Q4_K_M rows: $(basename "$kq_model") from llama-quantize --allow-requantize (Q5_0/Q8_0 where 576 columns rule out K-quants, Q4_K/Q6_K ffn_down)"
}

# ---------------------------------------------------------------- MoE
# Mixture-of-experts speed with expert offloading: canopy-bench moe on MOE_MODEL with the
# expert cache at 100 % (every expert memory-mapped, no cache), 50 % and 25 % of the routed
# experts' bytes. Rendered as its own table (moe_table) under the main one.
moe_table=()
bench_moe() {
    [ "${SKIP_MOE:-0}" = "1" ] && return 0
    local moe_model="${MOE_MODEL:-Tests/Fixtures/moe-tiny/moe-tiny.gguf}" line
    [ -n "$canopy_bench" ] || return 0
    if [ ! -f "$moe_model" ]; then
        note "MoE model $moe_model not found; MoE table left out"
        return 0
    fi
    if "$canopy_bench" moe --model "$moe_model" --fractions 1,0.5,0.25 \
            --prompt-tokens 128 --gen-tokens 64 >"$work/moe.out" 2>"$work/moe.err"; then
        moe_table+=("| expert cache | slots | pp128 (tokens/s) | tg64 (tokens/s) | hit rate | misses | prefetch hits | read from file |")
        moe_table+=("|---|---:|---:|---:|---:|---:|---:|---:|")
        while IFS= read -r line; do
            moe_table+=("$(echo "$line" | json_get '"| %d %% (%.2f MiB of %.2f MiB) | %s | %.1f | %.1f | %s | %d | %d | %.2f MiB |" % (round(100 * d["cache_fraction"]), d["expert_cache_bytes"] / 2**20, d["experts_total_bytes"] / 2**20, d["slots"] or "all (mmap)", d["pp_tokens_per_s"], d["tg_tokens_per_s"], "n/a (no cache)" if d["hit_ratio"] is None else "%.1f %%" % (100 * d["hit_ratio"]), d["misses"], d["prefetch_hits"], d["bytes_read"] / 2**20)')")
        done < <(grep '^{' "$work/moe.out")
        note "MoE: canopy-bench moe --model $moe_model (pp128 then tg64 greedy, 3 timed runs; hit rate over the timed runs)"
    else
        note "canopy-bench moe failed: $(tail -n 1 "$work/moe.err")"
    fi
}

# ---------------------------------------------------------------- output
fmt() { [ "$1" = "n/a" ] && echo "n/a" || printf "%.2f" "$1"; }
ratio() {
    if [ "$1" = "n/a" ] || [ "$2" = "n/a" ]; then echo "n/a"; return; fi
    python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print(f"{a / b:.2f}" if b else "n/a")' "$1" "$2"
}

render_table() {
    echo "| metric | canopy | llama.cpp | ratio (canopy/llama.cpp) |"
    echo "|---|---:|---:|---:|"
    local r metric c l
    for r in "${rows[@]}"; do
        IFS='|' read -r metric c l <<<"$r"
        echo "| $metric | $(fmt "$c") | $(fmt "$l") | $(ratio "$c" "$l") |"
    done
}

machine_info() {
    local sha dirty=""
    sha=$(git rev-parse --short HEAD 2>/dev/null || echo "no commit")
    if [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ]; then dirty=" (working tree has uncommitted changes)"; fi
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $sha$dirty"
    echo "- cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores online"
    echo "- instruction set: canopy kernels at $canopy_isa; llama.cpp built as LLAMA_ISA=$isa (scripts/build-llama-cpp.sh)"
    echo "- model: $(basename "$MODEL"), threads: $THREADS, pp: $PP tokens, tg: $TG tokens"
}

main() {
    build_llama
    build_canopy
    run_llama_single
    run_canopy_single
    add_row "pp$PP (tokens/s)" "$canopy_pp" "$llama_pp"
    add_row "tg$TG (tokens/s)" "$canopy_tg" "$llama_tg"
    add_row "tg$TG memory-bandwidth bound (tokens/s, same for both)" "$tg_bound" "$tg_bound"
    if [ "$tg_bound" != "n/a" ] && [ "$canopy_tg" != "n/a" ] && [ "$llama_tg" != "n/a" ]; then
        note "tg$TG as a share of the bandwidth bound: canopy $(ratio "$canopy_tg" "$tg_bound"), llama.cpp $(ratio "$llama_tg" "$tg_bound")"
    fi
    add_row "peak RSS, single stream (MiB)" "$canopy_rss" "$llama_rss"
    bench_kquant
    bench_batched
    bench_moe

    local sha out
    sha=$(git rev-parse --short HEAD 2>/dev/null || echo nocommit)
    mkdir -p bench/results
    out="bench/results/$(date -u +%Y-%m-%d)-$sha.md"
    [ "$isa" = native ] || out="bench/results/$(date -u +%Y-%m-%d)-$sha-$isa.md"
    {
        echo "# Canopy vs llama.cpp"
        echo
        machine_info
        echo
        render_table
        if [ ${#moe_table[@]} -gt 0 ]; then
            echo
            echo "## Mixture of experts: $(basename "${MOE_MODEL:-moe-tiny.gguf}"), expert cache (Canopy only)"
            echo
            printf '%s\n' "${moe_table[@]}"
        fi
        if [ ${#notes[@]} -gt 0 ]; then
            echo
            printf -- '- %s\n' "${notes[@]}"
        fi
    } >"$out.tmp"
    mv "$out.tmp" "$out"
    cat "$out"
    echo
    echo "(written to $out)"
}

main "$@"
