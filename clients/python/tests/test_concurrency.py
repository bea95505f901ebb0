"""64 concurrent streaming clients, 16 of which disconnect mid-stream: the others complete
with their full token counts, cancelled requests free their KV blocks, the daemon lives."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from canopy_client import CanopyClient, CanopyError, Summary, Token
from conftest import TIMEOUT_SCALE, assert_kv_all_free

CLIENTS = 64
CANCELLING = 16
MAX_TOKENS = 48
CANCEL_AFTER = 3
PROMPTS = [
    "Once upon a time, there was a little",
    "The history of computing begins",
    "<|im_start|>user\nWrite a haiku about the ocean.<|im_end|>\n<|im_start|>assistant\n",
    "List three colours:",
]


def run_stream(socket_path: str, index: int, start: threading.Barrier) -> dict:
    cancel = index % (CLIENTS // CANCELLING) == 0
    # One channel per client: each is its own connection, as separate processes would be.
    with CanopyClient(socket_path, timeout=300 * TIMEOUT_SCALE) as client:
        start.wait()
        stream = client.generate(PROMPTS[index % len(PROMPTS)], temperature=0.8, seed=index,
                                 max_tokens=MAX_TOKENS, ignore_eos=True, request_id=f"c{index}")
        tokens = 0
        summary = None
        try:
            for event in stream:
                if isinstance(event, Token):
                    tokens += 1
                    if cancel and tokens == CANCEL_AFTER:
                        stream.cancel()
                elif isinstance(event, Summary):
                    summary = event
        except CanopyError as error:
            return {"index": index, "cancel": cancel, "tokens": tokens, "error": error}
        return {"index": index, "cancel": cancel, "tokens": tokens, "summary": summary, "error": None}


def test_64_streams_with_16_disconnects(daemon, client):
    before = client.stats()
    start = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(lambda i: run_stream(str(daemon.socket), i, start), range(CLIENTS)))

    cancelled = [r for r in results if r["cancel"]]
    completed = [r for r in results if not r["cancel"]]
    assert len(cancelled) == CANCELLING and len(completed) == CLIENTS - CANCELLING
    for r in completed:
        assert r["error"] is None, f"stream {r['index']} failed: {r['error']}"
        assert r["tokens"] == MAX_TOKENS, f"stream {r['index']} got {r['tokens']} tokens"
        summary = r["summary"]
        assert summary is not None and summary.request_id == f"c{r['index']}"
        assert len(summary.token_ids) == MAX_TOKENS and summary.samples[0].finish_reason == "length"
    for r in cancelled:
        assert r["error"] is not None and r["error"].code.name == "CANCELLED", r
        assert r["tokens"] == CANCEL_AFTER

    assert daemon.process.poll() is None, f"canopyd died:\n{daemon.output()}"
    assert_kv_all_free(client)
    after = client.stats()
    assert after.requests_completed - before.requests_completed == CLIENTS - CANCELLING
    assert after.requests_cancelled - before.requests_cancelled == CANCELLING
    # Still serving normally.
    assert len(client.generate("Hello", temperature=0, max_tokens=4, ignore_eos=True).result().token_ids) == 4
