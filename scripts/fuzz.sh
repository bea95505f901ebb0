#!/usr/bin/env bash
# Runs the libFuzzer build of canopy-fuzz (make build-fuzz) on each target given, for
# FUZZ_SECONDS each, FUZZ_JOBS targets at once. Each target's working corpus is
# .fuzz/corpus/<target> (grown by the run, not committed), started from the committed seeds
# in Tests/Fuzz/corpus/<target>; a crashing input lands in .fuzz/crashes/. Prints a line of
# final figures per target and exits non-zero when any target crashed or failed to run.
#
#   FUZZ_SECONDS=3600 FUZZ_JOBS=2 bash scripts/fuzz.sh gguf request tokenizer chat-template batch-line
#
# FUZZ_SEED fixes libFuzzer's random seed (make test-fuzz sets 1): with the same committed seeds
# a run then tries the same inputs in the same order, so a CI failure reproduces locally with the
# same command; unset, each run starts from a seed of its own.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=${FUZZ_BIN:-.build-fuzz/debug/canopy-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${FUZZ_JOBS:-2}
WORK=${FUZZ_WORK:-.fuzz}
SEED_FLAG=()
[ -n "${FUZZ_SEED:-}" ] && SEED_FLAG=(-seed="$FUZZ_SEED")
[ -x "$BIN" ] || { echo "fuzz: $BIN is missing: run make build-fuzz" >&2; exit 2; }
[ $# -gt 0 ] || { echo "usage: scripts/fuzz.sh TARGET..." >&2; exit 2; }
mkdir -p "$WORK/crashes" "$WORK/logs"

# Largest input per target: a GGUF seed is tens of KB, every other input a message or a line.
max_len() { case "$1" in gguf) echo 65536 ;; *) echo 8192 ;; esac; }

run_one() {
    local target=$1 log="$WORK/logs/$1.log"
    mkdir -p "$WORK/corpus/$target"
    # detect_leaks=0: Swift's runtime keeps metadata and lazily built globals (the models)
    # for the life of the process, which LeakSanitizer would report after every input.
    # SWIFT_BACKTRACE off: libFuzzer prints the stack of a crash; the Swift backtracer, run
    # under AddressSanitizer, only adds a report of its own memory reads.
    CANOPY_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 SWIFT_BACKTRACE=enable=no \
        "$BIN" "$WORK/corpus/$target" "Tests/Fuzz/corpus/$target" \
        -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$target")" -timeout=60 -rss_limit_mb=6144 \
        -artifact_prefix="$WORK/crashes/$target-" -print_final_stats=1 "${SEED_FLAG[@]}" >"$log" 2>&1
    local status=$?
    local runs cov corpus
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    corpus=$(ls "$WORK/corpus/$target" | wc -l)
    printf 'fuzz %-14s %s s  %s inputs run  coverage %s  corpus %s  exit %s\n' \
        "$target" "$SECONDS_EACH" "${runs:-?}" "${cov:-?}" "$corpus" "$status"
    if [ -n "${FUZZ_REPORT:-}" ]; then
        printf '| %s | %s | %s | %s | %s | %s |\n' "$target" "$SECONDS_EACH" "${runs:-?}" "${cov:-?}" "$corpus" \
            "$([ $status -eq 0 ] && echo "no crash" || echo "CRASH (exit $status)")" >>"$FUZZ_REPORT"
    fi
    if [ $status -ne 0 ]; then
        echo "fuzz $target FAILED; what stopped it, then the end of $log:" >&2
        # The invariant or trap message comes before the stack, often more than 40 lines up.
        grep -m 3 -E 'Fatal error|invariant|ERROR: (AddressSanitizer|libFuzzer)' "$log" >&2
        tail -n 40 "$log" >&2
    fi
    return $status
}

# FUZZ_REPORT: a markdown file the figures of each target are appended to, with a header
# (commit, date, machine) when the file is new.
if [ -n "${FUZZ_REPORT:-}" ] && [ ! -s "$FUZZ_REPORT" ]; then
    {
        echo "# Fuzzing (libFuzzer + AddressSanitizer, scripts/fuzz.sh)"
        echo
        echo "- commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
        echo "- binary: $BIN (make build-fuzz); corpora started from Tests/Fuzz/corpus; $JOBS target(s) at once"
        echo
        echo "| target | seconds | inputs run | coverage (edges) | corpus | result |"
        echo "|---|---:|---:|---:|---:|---|"
    } >"$FUZZ_REPORT"
fi

failed=0
pids=()
for target in "$@"; do
    run_one "$target" &
    pids+=($!)
    if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
if [ $failed -ne 0 ]; then
    echo "fuzz: a target crashed; inputs in $WORK/crashes/ (replay one: $BIN -runs=1 FILE with CANOPY_FUZZ_TARGET set)" >&2
fi
exit $failed
