# Sourced by scripts that run canopyd in the background (scripts/make-apar-model.sh,
# bench/run-apar-bench.sh). Needs BIN (the directory with canopyd and canopy).
#   start_daemon MODEL SOCKET [canopyd flags...]  starts it; returns once it answers Health
#   stop_daemon                                    SIGTERM and wait (it removes its socket)
# The caller sets `trap stop_daemon EXIT` (or calls it from its own trap).
daemon=""
stop_daemon() {
    if [[ -n $daemon ]]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" || true; daemon=""; fi
}
start_daemon() {
    local model=$1 socket=$2; shift 2
    rm -f "$socket"  # a stale file from a killed run
    "$BIN/canopyd" --model "$model" --socket "$socket" --log-level warning "$@" &
    daemon=$!
    for _ in $(seq 1 600); do
        if "$BIN/canopy" health --socket "$socket" >/dev/null 2>&1; then return 0; fi
        kill -0 "$daemon" 2>/dev/null || { echo "canopyd exited before becoming ready" >&2; exit 1; }
        sleep 0.2
    done
    echo "canopyd did not become ready" >&2
    exit 1
}
