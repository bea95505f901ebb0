#!/usr/bin/env bash
# `make run`: starts canopyd on the default model, waits until it answers, sends one demo
# chat request with the canopy CLI, then keeps the daemon in the foreground until Ctrl-C
# (SIGINT/SIGTERM are passed on, so it drains and removes its socket).
#
# Env: MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf), SOCKET (default
# $XDG_RUNTIME_DIR/canopy/canopyd.sock, or /tmp/canopy-$UID/canopyd.sock), BIN (.build/release),
# DEMO_ONLY=1 to stop the daemon right after the demo request.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
BIN="${BIN:-.build/release}"
if [ -z "${SOCKET:-}" ]; then
    if [ -n "${XDG_RUNTIME_DIR:-}" ]; then SOCKET="$XDG_RUNTIME_DIR/canopy/canopyd.sock"; else SOCKET="/tmp/canopy-$(id -u)/canopyd.sock"; fi
fi

"$BIN/canopyd" --model "$MODEL" --socket "$SOCKET" &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" || true' INT TERM

for _ in $(seq 1 300); do
    if "$BIN/canopy" health --socket "$SOCKET" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$daemon" 2>/dev/null; then echo "run: canopyd exited before becoming ready" >&2; wait "$daemon"; exit 1; fi
    sleep 0.2
done

echo "== canopy generate --chat (socket $SOCKET)"
"$BIN/canopy" generate --socket "$SOCKET" --chat --temperature 0 --max-tokens 64 \
    "In one sentence, what does an inference server do?"
echo
echo "== canopy stats"
"$BIN/canopy" stats --socket "$SOCKET" || true

if [ "${DEMO_ONLY:-0}" = "1" ]; then
    kill -TERM "$daemon"
    wait "$daemon"
    exit 0
fi
echo "== canopyd keeps serving on $SOCKET (Ctrl-C to stop; try: $BIN/canopy chat --socket $SOCKET)"
wait "$daemon"
