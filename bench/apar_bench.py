#!/usr/bin/env python3
"""One load of the APAR bench against a running canopyd serving an APAR model.

    apar_bench.py SOCKET PROMPTS.jsonl MODE CONCURRENCY OUT.json

MODE is `ar` (APAR off for every request: the model writes its answers as one sequence) or
`apar` (the model forks where it decides to). Every prompt of PROMPTS.jsonl is sent as a chat
request (greedy, repetition penalty 1.1, max_tokens 400) with CONCURRENCY requests in flight.
Writes, as JSON: per request the latency (send to final summary, seconds), completion tokens
(every branch), branches; and over the load the wall time, the engine's decode steps and
generated tokens (Stats before and after), and its preemptions.
"""
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients", "python"))

from canopy_client import CanopyClient  # noqa: E402

MAX_TOKENS = 400


def main():
    socket, prompts_path, mode, concurrency, out_path = sys.argv[1:6]
    prompts = [json.loads(line) for line in open(prompts_path)]
    apar = {"ar": False, "apar": True}[mode]
    with CanopyClient(socket) as client:
        local = threading.local()

        def one(p):
            # One channel per worker thread, so requests do not queue behind each other's stream.
            if not hasattr(local, "client"):
                local.client = CanopyClient(socket)
            began = time.perf_counter()
            s = local.client.chat([{"role": "user", "content": p["prompt"]}], max_tokens=MAX_TOKENS,
                                  temperature=0.0, repetition_penalty=1.1, apar=apar, timeout=1800)
            return {"id": p["id"], "latency": time.perf_counter() - began,
                    "completion_tokens": s.completion_tokens, "branches": s.branches,
                    "text": s.text, "preemptions": s.preemptions}

        before = client.stats()
        began = time.perf_counter()
        with ThreadPoolExecutor(int(concurrency)) as pool:
            rows = list(pool.map(one, prompts))
        wall = time.perf_counter() - began
        after = client.stats()
    result = {
        "mode": mode, "concurrency": int(concurrency), "wall_seconds": wall,
        "steps": after.steps - before.steps,
        "generated_tokens": after.generated_tokens - before.generated_tokens,
        "preemptions": after.preemptions - before.preemptions,
        "kv_total_blocks": after.kv.total_blocks,
        "requests": rows,
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
