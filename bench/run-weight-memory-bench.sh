#!/usr/bin/env bash
# Weight streaming under a memory cap, Canopy against llama.cpp in the same run (issue 13).
#
# For each budget (a fraction of the model file), both run inside a cgroup v1 memory cgroup
# whose limit is the budget plus HEADROOM (KV cache, buffers, runtime): Canopy with
# `--weight-memory <budget>` (prefetch on, and off for the streamed rows), llama.cpp with
# `llama-batched-bench` on the same file (it mmaps the weights, so under the cap the kernel
# pages them in and out). Each generates NTG tokens per sequence at batch 1 and at batch PL;
# Canopy runs `canopy-bench batched --weight-memory` (load time not counted, like
# llama-batched-bench). Also measured: the file's sequential read rate with the I/O path
# Canopy uses (pread, then POSIX_FADV_DONTNEED), so each Canopy row shows its fraction of the
# read bound (bytes read per step / read rate) — of the lower of that bound and Canopy's
# unconstrained speed, the issue's target — and its peak RSS against budget + KV arena + 64 MiB.
#
# Usage: bench/run-weight-memory-bench.sh [MODEL.gguf [FRACTIONS...]]   (default 1 0.5 0.25 0.1)
#   Without MODEL: the synthetic 1.25 GB Q8_0 Llama of scripts/make-synthetic-llama.py, written
#   once to ~/.cache/canopy/synthetic-llama-1b.gguf (gguf + numpy from PyPI in a venv there).
# Env: THREADS (2), NTG (16), PL (32), HEADROOM (bytes, 128 MiB), KV (KV arena bytes, 64 MiB),
#      CANOPY_BENCH (default .build/release/canopy-bench), OUT (result file; default
#      bench/results/<date>-<commit>-weight-memory.md).
# Needs root (cgroup v1 at /sys/fs/cgroup/memory) and llama.cpp (scripts/build-llama-cpp.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${CANOPY_CACHE:-$HOME/.cache/canopy}
if [ $# -gt 0 ]; then
    model=$1
    shift
else
    model=$cache/synthetic-llama-1b.gguf
    if [ ! -f "$model" ]; then
        venv=$cache/venv-gguf
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check gguf numpy
        "$venv/bin/python" scripts/make-synthetic-llama.py --out "$model.tmp"
        mv "$model.tmp" "$model"
    fi
fi
fractions=("$@")
[ $# -gt 0 ] || fractions=(1 0.5 0.25 0.1)
threads=${THREADS:-2}
ntg=${NTG:-16}
pl=${PL:-32}
headroom=${HEADROOM:-$((128 << 20))}
kv=${KV:-$((64 << 20))}
bench=${CANOPY_BENCH:-.build/release/canopy-bench}
cgroup=/sys/fs/cgroup/memory/canopy-weight-bench
commit=$(git rev-parse --short HEAD)
out=${OUT:-bench/results/$(date +%F)-$commit-weight-memory.md}

[ -x "$bench" ] || { echo "run-weight-memory-bench: $bench not built (swift build -c release)" >&2; exit 1; }
[ -d /sys/fs/cgroup/memory ] || { echo "run-weight-memory-bench: needs cgroup v1 memory at /sys/fs/cgroup/memory" >&2; exit 1; }
llama_bin=$(bash scripts/build-llama-cpp.sh | tail -1)
size=$(stat -c %s "$model")
mkdir -p "$cgroup"
trap 'rmdir "$cgroup" 2>/dev/null || true' EXIT

# Runs "$@" inside the cgroup with `limit` bytes (page cache dropped first); prints the
# process's peak RSS in bytes on fd 3 (the cgroup's own peak counts page cache up to the cap).
capped() {
    local limit=$1; shift
    echo "$limit" > "$cgroup/memory.limit_in_bytes"
    sync; echo 3 > /proc/sys/vm/drop_caches
    sh -c 'echo $$ > "$0/cgroup.procs"; exec /usr/bin/time -f %M -o /tmp/canopy-weight-bench.rss "$@"' "$cgroup" "$@"
    echo $(( $(tail -1 /tmp/canopy-weight-bench.rss) * 1024 )) >&3
}

# The read bound: pread in 64 MiB pieces, dropping each from the page cache as Canopy does.
read_rate=$(python3 - "$model" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
size, offset, piece = os.fstat(fd).st_size, 0, 64 << 20
start = time.monotonic()
while offset < size:
    n = len(os.pread(fd, min(piece, size - offset), offset))
    os.posix_fadvise(fd, offset, n, os.POSIX_FADV_DONTNEED)
    offset += n
print(f"{size / (time.monotonic() - start) / 1e6:.0f}")
EOF
)

{
    echo "# Weight streaming under a memory cap — $(date +%F), commit $commit"
    echo
    echo "Model: \`$(basename "$model")\` ($((size / 1000000)) MB). $threads threads, $ntg greedy tokens per sequence, 4-token prompts."
    echo "Cap per row: the budget + $((headroom >> 20)) MiB (cgroup v1 memory.limit_in_bytes; page cache dropped before each run). KV arena $((kv >> 20)) MiB."
    echo "Sequential read rate of the file (pread + POSIX_FADV_DONTNEED, 64 MiB pieces): $read_rate MB/s."
    echo "Canopy tok/s counts the whole run (4-token prefill included); llama.cpp's is llama-batched-bench's S_TG."
    echo "Of bound: Canopy's tok/s over min(read bound, Canopy unconstrained at that batch); the read bound is"
    echo "batch × read rate / bytes read per step. RSS limit: budget + KV arena + 64 MiB."
    echo
    echo "| budget | prefetch | Canopy b=1 | llama.cpp b=1 | ratio | of bound b=1 | Canopy b=$pl | llama.cpp b=$pl | ratio | of bound b=$pl | read/step | Canopy max RSS | RSS limit |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} > "$out"

ratio() { python3 -c "print(f'{float(\"$1\") / float(\"$2\"):.2f}')" 2>/dev/null || echo -; }
free_rates=()
for fraction in "${fractions[@]}"; do
    budget=$(python3 -c "print(int($size * $fraction))")
    limit=$((budget + headroom))
    # llama.cpp: llama-batched-bench's S_TG (column 8), prompt 4, NTG tokens, batch 1 and PL.
    llama=()
    for batch in 1 "$pl"; do
        echo "$limit" > "$cgroup/memory.limit_in_bytes"
        sync; echo 3 > /proc/sys/vm/drop_caches
        line=$(sh -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$cgroup" "$llama_bin/llama-batched-bench" \
            -m "$model" -c $(( (4 + ntg) * batch + 64 )) -b 512 -ub 512 -npp 4 -ntg "$ntg" -npl "$batch" -t "$threads" \
            2>/dev/null | grep -E '^\|\s+4 \|' | tail -1 || true)
        llama+=("$(echo "$line" | awk -F'|' '{gsub(/ /, "", $9); print $9}')")
    done
    prefetch_modes=(on)
    [ "$fraction" = 1 ] || prefetch_modes=(on off)
    for prefetch in "${prefetch_modes[@]}"; do
        weight_flag=()
        [ "$fraction" = 1 ] || weight_flag=(--weight-memory "$budget")
        [ "$prefetch" = on ] || weight_flag+=(--no-weight-prefetch)
        # Canopy: both batch sizes in one process (the model loads once; load time not counted).
        exec 3>/tmp/canopy-weight-bench.time
        capped "$limit" "$bench" batched --model "$model" --threads "$threads" --streams "1,$pl" --prompt-tokens 4 \
            --gen-tokens "$ntg" --kv-cache-memory "$kv" "${weight_flag[@]}" \
            > /tmp/canopy-weight-bench.out 2> /tmp/canopy-weight-bench.err || true
        exec 3>&-
        read -r peak < /tmp/canopy-weight-bench.time
        rates=($(python3 -c "
import json
for line in open('/tmp/canopy-weight-bench.out'):
    print(f\"{json.loads(line)['gen_tokens_per_s']:.2f}\")"))
        [ "$fraction" = 1 ] && free_rates=("${rates[@]}")
        per_pass=$(sed -n 's/.*; \(.*\) read per forward pass.*/\1/p' /tmp/canopy-weight-bench.err | head -1)
        of_bound=()
        for i in 0 1; do
            batch=$([ $i = 0 ] && echo 1 || echo "$pl")
            of_bound+=("$(python3 -c "
p = '${per_pass:-}'.split()
mb = float(p[0]) * {'GB': 1000, 'MB': 1, 'kB': 1e-3}.get(p[1], 0) if len(p) == 2 else 0
free = '${free_rates[$i]:-}'
rate = '${rates[$i]:-}'
bounds = ([$batch * $read_rate / mb] if mb else []) + ([float(free)] if free else [])
print(f'{float(rate) / min(bounds):.0%}' if rate and bounds and mb else '-')")")
        done
        rss_limit=$((budget + kv + (64 << 20)))
        [ "$fraction" = 1 ] && rss_limit=$((size + kv + (64 << 20)))
        verdict=$([ "$peak" -le "$rss_limit" ] && echo "≤ $((rss_limit / 1000000)) MB" || echo "**over** $((rss_limit / 1000000)) MB")
        echo "| $((budget / 1000000)) MB ($fraction) | $prefetch | ${rates[0]:--} | ${llama[0]:--} | $(ratio "${rates[0]:-}" "${llama[0]:-}") | ${of_bound[0]} | ${rates[1]:--} | ${llama[1]:--} | $(ratio "${rates[1]:-}" "${llama[1]:-}") | ${of_bound[1]} | ${per_pass:-0} | $((peak / 1000000)) MB | $verdict |" >> "$out"
    done
done
cat "$out"
