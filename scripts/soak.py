#!/usr/bin/env python3
"""A bounded soak of a real canopyd (issue 19): mixed, partly hostile load for a fixed time,
then checks that nothing leaked.

    clients/python/.venv-canopy/bin/python scripts/soak.py --minutes 20 \\
        --out bench/results/<date>-<commit>-soak.md

Starts its own canopyd in a temporary directory (an empty --config file, a private Unix socket,
a small KV arena so that the load fills it and sequences are preempted) and drives it from a
pool of worker threads, each on a connection of its own, with requests of many kinds, each with
the outcome it must get:

  stream        streaming Generate, random sampling (temperature, top-k/top-p/min-p, seeds,
                penalties, logprobs, n), max_tokens, stop strings and stop ids, speculation,
                plain, chat and token-id prompts                                   -> OK
  determinism   fixed greedy and seeded requests whose tokens must equal what the idle
                daemon gave at start (batch invariance under preemption)          -> OK
  cancel        the client cancels before the first token or after k tokens       -> CANCELLED
  disconnect    the client closes its connection mid-stream                       -> CANCELLED
  deadline      a deadline far shorter than the generation                        -> DEADLINE_EXCEEDED
  kill_client   a client process SIGKILLed mid-stream                             -> KILLED
  oversize      Tokenize / Generate messages over the 4 MiB limit                 -> RESOURCE_EXHAUSTED
  garbage       undecodable bytes and invalid UTF-8 through raw method calls      -> INVALID_ARGUMENT
  unknown       unknown methods                                                    -> UNIMPLEMENTED
  invalid       out-of-range parameters, prompts beyond the KV cache / context    -> INVALID_ARGUMENT
  raw_socket    non-gRPC bytes and broken HTTP/2 on the socket                    -> CLOSED
  unary         Health (SERVING), Info, Stats, Tokenize/Detokenize round trips    -> OK
  sighup        SIGHUP to the daemon every --sighup-every s, then Health          -> OK

Before the timed load a warm-up burst runs the largest step shapes (a prompt over
--max-batched-tokens alone, then max-seqs sequences decoding beside long prefills), so the
forward pass's kept scratch memory has reached its high-water mark before RSS is measured.

A request whose outcome differs from its expected one (or an OK result that is wrong: token
counts, finish reasons, stop strings in the text, streamed text against the summary, tokens
against the reference) is a failure. Meanwhile the daemon's RSS (/proc/<pid>/status VmRSS) and
Stats are sampled every --sample-every s. At the end the load stops, the daemon must come back
to idle with no KV block in use and no sequence running or waiting, serve a final greedy
request with the reference tokens, and exit 0 on SIGTERM.

Exit status 0 only when: the daemon never exited (no crash), no outcome was unexpected, RSS grew
less than --rss-growth-limit % from the warm-up point (--warmup-fraction of the run) to the
end, no KV block leaked, sequences were preempted, every SIGHUP was logged and ignored, the
final request was served correctly and canopyd exited 0. The markdown report (--out) holds every
figure, the command, the commit and the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import random
import re
import select
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))

try:
    import grpc
    from canopy_client import build_request, pb
    from canopy_client._proto.canopy.v1 import canopy_pb2_grpc as pb_grpc
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit(f"soak: {error}; run it with clients/python/.venv-canopy/bin/python "
             "(bash scripts/ensure-venv.sh clients/python/.venv-canopy clients/python/requirements.txt)")

MAX_MESSAGE = 4 * 1024 * 1024
CHANNEL_OPTIONS = [
    # A connection of its own per channel (grpcio otherwise shares one between channels with
    # the same target), so each worker is a separate client and closing a channel drops it.
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", -1),
]
# Every request must finish within this; a slower one is a starved request (a failure).
REQUEST_TIMEOUT = 600.0
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

WORDS = (
    "the river mountain light quiet engine paper window garden system memory story cloud signal "
    "stone winter harbor library forest machine ocean number silver market village language bridge "
    "theory music planet coffee letter orbit seed lantern thread circuit desert island meadow "
    "history computing begins once upon a time there was little lighthouse keeper who counted waves "
    "and wrote about colours rivers cities trains clocks kernels tokens caches blocks streams").split()
UNICODE_BITS = ["café", "naïve façade", "日本語のテキスト", "Ελληνικά", "emoji 🌲🌊🚀", "Привет мир", "ünïcödé", "—"]
TOPICS = [
    "Name three rivers.", "Write a haiku about the ocean.", "Explain what a KV cache is.",
    "List five colours and one fact about each.", "Tell me a long story about a lighthouse keeper.",
    "What is 17 times 23?", "Translate 'good morning' into French and German.",
    "Describe a walk through a forest in winter.", "Give me a recipe for bread.",
    "Count from one to twenty in words.", "Summarise the history of computing in a paragraph.",
]
SYSTEM_PROMPTS = [
    "You are a helpful assistant. Answer briefly and precisely.",
    "You are a careful, patient teacher. " * 12 + "Explain every step.",  # a long shared prefix
    "You are a poet who answers only in verse. " * 6,
]
STOP_STRINGS = [".", "\n", "\n\n", " the", ",", "!", "?", "and", "é", "🌊", "END"]


def now() -> float:
    return time.monotonic()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def words(rng: random.Random, count: int) -> str:
    out = []
    for _ in range(count):
        out.append(rng.choice(UNICODE_BITS) if rng.random() < 0.03 else rng.choice(WORDS))
    return " ".join(out)


def short(value, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} chars)"


def describe(params: dict) -> str:
    """A request's parameters for the report, long prompts abbreviated."""
    parts = []
    for key, value in params.items():
        if key == "prompt" and isinstance(value, str) and len(value) > 80:
            parts.append(f"prompt=<{len(value)} chars: {value[:40]!r}...>")
        elif key == "prompt_ids" and len(value) > 12:
            parts.append(f"prompt_ids=<{len(value)} ids: {list(value[:6])}...>")
        elif key == "messages":
            parts.append("messages=[" + ", ".join(f"{m['role']}:<{len(m['content'])} chars>" for m in value) + "]")
        else:
            parts.append(f"{key}={short(value, 80)}")
    return ", ".join(parts)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# ---------------------------------------------------------------------------------------
# The daemon


class Daemon:
    """canopyd on a private socket in `workdir`, output to `workdir/canopyd.log`."""

    def __init__(self, binary: Path, model: Path, workdir: Path, kv_cache_memory: str, threads: int,
                 extra: list[str]):
        self.workdir = workdir
        self.socket = workdir / "canopy.sock"
        self.log = workdir / "canopyd.log"
        config = workdir / "canopyd.conf"
        config.touch()  # an explicit empty config keeps /etc/canopy/canopyd.conf out
        self.args = [str(binary), "--config", str(config), "--model", str(model), "--socket", str(self.socket),
                     "--kv-cache-memory", kv_cache_memory, "--threads", str(threads), "--log-level", "info", *extra]
        self._log_file = open(self.log, "wb")
        self.process = subprocess.Popen(self.args, stdout=self._log_file, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = now() + timeout
        while now() < deadline:
            if not self.alive():
                raise RuntimeError(f"canopyd exited with {self.process.returncode} during startup:\n{self.tail()}")
            if self.socket.exists():
                channel = grpc.insecure_channel(f"unix://{self.socket}", options=CHANNEL_OPTIONS)
                try:
                    health = pb_grpc.CanopyStub(channel).Health(pb.HealthRequest(), timeout=2)
                    if health.status == pb.SERVING_STATUS_SERVING:
                        return
                except grpc.RpcError:
                    pass
                finally:
                    channel.close()
            time.sleep(0.2)
        raise RuntimeError(f"canopyd was not ready in {timeout:.0f} s:\n{self.tail()}")

    def rss_kib(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None

    def text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return self.text()[-chars:]

    def stop(self, timeout: float = 60.0) -> tuple[int | None, float]:
        """SIGTERM; returns (exit status, seconds to exit); SIGKILL after `timeout` (status None)."""
        started = now()
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self._log_file.close()
                return None, now() - started
        self._log_file.close()
        return self.process.returncode, now() - started


# ---------------------------------------------------------------------------------------
# Outcomes


@dataclass
class Outcome:
    kind: str
    expected: str
    actual: str
    detail: str = ""
    request: str = ""
    ttft: float | None = None        # seconds to the first token event (OK streams)
    total: float | None = None       # seconds to the summary (OK streams)
    tokens: int = 0                  # completion tokens of an OK stream
    preempted: int = 0               # the summary's preemptions
    at: float = 0.0                  # seconds since the load started

    @property
    def unexpected(self) -> bool:
        return self.actual != self.expected


class Ledger:
    """Every outcome, thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.outcomes: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def snapshot(self) -> list[Outcome]:
        with self.lock:
            return list(self.outcomes)


def code_name(error: grpc.RpcError) -> str:
    try:
        return error.code().name
    except Exception:  # noqa: BLE001 - a non-call RpcError
        return "RPC_ERROR"


def details(error: grpc.RpcError) -> str:
    try:
        return error.details() or ""
    except Exception:  # noqa: BLE001
        return str(error)


# ---------------------------------------------------------------------------------------
# Streams


@dataclass
class StreamResult:
    status: str
    detail: str = ""
    summary: object = None           # pb.GenerateSummary
    tokens: dict = field(default_factory=lambda: defaultdict(list))   # sample -> [TokenDelta]
    finished: list = field(default_factory=list)
    ttft: float | None = None
    total: float | None = None
    order_error: str = ""


def run_stream(call, started: float, on_token=None) -> StreamResult:
    """Reads a Generate call to its end. `on_token(count)` is called after each token event and
    may cancel the call or close its channel."""
    result = StreamResult(status="OK")
    count = 0
    try:
        for event in call:
            kind = event.WhichOneof("event")
            if result.summary is not None:
                result.order_error = f"a {kind} event after the summary"
            if kind == "token":
                if result.ttft is None:
                    result.ttft = now() - started
                result.tokens[event.token.sample].append(event.token)
                count += 1
                if on_token is not None:
                    on_token(count)
            elif kind == "sample_finished":
                result.finished.append(event.sample_finished)
            elif kind == "summary":
                result.summary = event.summary
                result.total = now() - started
    except grpc.RpcError as error:
        result.status, result.detail = code_name(error), details(error)
    except ValueError as error:  # grpcio raises this when the channel was closed under it
        result.status, result.detail = "CANCELLED", f"channel closed: {error}"
    return result


REASONS = {pb.FINISH_REASON_STOP: "stop", pb.FINISH_REASON_LENGTH: "length", pb.FINISH_REASON_CANCELLED: "cancelled"}


def check_stream(result: StreamResult, request: pb.GenerateRequest, n: int, max_tokens: int, ignore_eos: bool,
                 stops: list[str], stop_ids: list[int], logprobs: int | None) -> list[str]:
    """What is wrong with an OK stream's events and summary (empty when nothing)."""
    problems = []
    s = result.summary
    if s is None:
        return ["the stream ended OK without a summary"]
    if result.order_error:
        problems.append(result.order_error)
    if request.request_id and s.request_id != request.request_id:
        problems.append(f"request_id {s.request_id!r} != {request.request_id!r}")
    if [r.index for r in s.samples] != list(range(n)):
        problems.append(f"sample indices {[r.index for r in s.samples]} for n={n}")
    if sorted(f.sample for f in result.finished) != list(range(n)):
        problems.append(f"sample_finished events for samples {sorted(f.sample for f in result.finished)} (n={n})")
    if s.usage.completion_tokens != sum(len(r.token_ids) for r in s.samples):
        problems.append(f"usage.completion_tokens {s.usage.completion_tokens} != "
                        f"{sum(len(r.token_ids) for r in s.samples)} token ids in the samples")
    if s.usage.prompt_tokens != len(s.prompt_token_ids) or not s.prompt_token_ids:
        problems.append(f"usage.prompt_tokens {s.usage.prompt_tokens}, {len(s.prompt_token_ids)} prompt ids")
    for r in s.samples:
        reason = REASONS.get(r.finish_reason, f"unspecified({r.finish_reason})")
        streamed = result.tokens.get(r.index, [])
        ids = list(r.token_ids)
        if [t.token.id for t in streamed] != ids:
            problems.append(f"sample {r.index}: streamed ids ({len(streamed)}) differ from the summary's ({len(ids)})")
        text = "".join(t.text for t in streamed)
        if text != r.text:
            problems.append(f"sample {r.index}: streamed text {short(text, 80)} != summary text {short(r.text, 80)}")
        if reason not in ("stop", "length"):
            problems.append(f"sample {r.index}: finish reason {reason}")
        if not 1 <= len(ids) <= max_tokens:
            problems.append(f"sample {r.index}: {len(ids)} tokens for max_tokens {max_tokens}")
        if reason == "length" and len(ids) != max_tokens:
            problems.append(f"sample {r.index}: finished 'length' after {len(ids)} of {max_tokens} tokens")
        if ignore_eos and not stops and not stop_ids and (reason != "length" or len(ids) != max_tokens):
            problems.append(f"sample {r.index}: ignore_eos without stops ended {reason} after {len(ids)} tokens")
        for stop in stops:
            if stop in r.text:
                problems.append(f"sample {r.index}: stop string {stop!r} in the text {short(r.text, 80)}")
        if stop_ids and reason == "length" and set(ids[:-1]) & set(stop_ids):
            problems.append(f"sample {r.index}: a stop token id appears before the end")
        if logprobs is not None:
            bad = [t for t in streamed if not t.token.HasField("logprob") or len(t.token.top_logprobs) > logprobs]
            if bad:
                problems.append(f"sample {r.index}: {len(bad)} tokens without a logprob or with more than "
                                f"{logprobs} alternatives")
    return problems


# ---------------------------------------------------------------------------------------
# The load


@dataclass
class Reference:
    name: str
    params: dict
    token_ids: list[list[int]]


class Soak:
    def __init__(self, args, daemon: Daemon, info, references: list[Reference]):
        self.args = args
        self.daemon = daemon
        self.info = info
        self.references = references
        self.cache_tokens = info.engine.kv_total_blocks * info.engine.block_size
        self.context = info.context_length
        self.vocab = info.vocab_size
        self.ledger = Ledger()
        self.stop = threading.Event()
        self.crashed = threading.Event()
        self.started = now()
        self.target = f"unix://{daemon.socket}"
        self.samples: list[dict] = []       # RSS and Stats over time
        self.sighups_sent = 0
        self.monitor_errors: list[str] = []
        self.kv_violations: list[str] = []
        self.harness_errors: list[str] = []
        self.kinds = [
            ("stream", 40, self.stream), ("determinism", 8, self.determinism), ("cancel", 8, self.cancel),
            ("disconnect", 5, self.disconnect), ("deadline", 3, self.deadline), ("kill_client", 1, self.kill_client),
            ("oversize", 2, self.oversize), ("garbage", 4, self.garbage), ("unknown", 1, self.unknown),
            ("invalid", 6, self.invalid), ("raw_socket", 2, self.raw_socket), ("unary", 10, self.unary),
        ]

    def elapsed(self) -> float:
        return now() - self.started

    def channel(self):
        return grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)

    # -- request builders --------------------------------------------------------------

    def random_input(self, rng: random.Random, budget: int) -> dict:
        """One of the three prompt forms, at most about `budget` tokens."""
        form = rng.random()
        length = min(budget, int(rng.choice([4, 8, 16, 24, 40, 64, 80, 120, 160, 320, 600]) * rng.uniform(0.5, 1.2)) + 1)
        if form < 0.4:
            return {"messages": [
                *([{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < 0.6 else []),
                {"role": "user", "content": rng.choice(TOPICS) + (" " + words(rng, length // 2) if length > 40 else "")},
                *([{"role": "assistant", "content": words(rng, 8)}, {"role": "user", "content": rng.choice(TOPICS)}]
                  if rng.random() < 0.2 else []),
            ]}
        if form < 0.8:
            # Words run to about 1.3 tokens each; unicode bits more, so stay under the budget.
            return {"prompt": words(rng, max(1, length // 2))}
        return {"prompt_ids": [rng.randrange(100, self.vocab) for _ in range(max(1, length))]}

    def random_generate(self, rng: random.Random) -> dict:
        max_tokens = rng.choice([1, 2, 8, 16, 32, 48, 64, 96, 128, 192, 256, 320])
        params: dict = self.random_input(rng, budget=min(700, self.cache_tokens - max_tokens - 64))
        params["max_tokens"] = max_tokens
        r = rng.random
        if r() < 0.25:
            params["temperature"] = 0.0
        elif r() < 0.85:
            params["temperature"] = round(rng.uniform(0.1, 1.5), 3)
        if r() < 0.4:
            params["top_k"] = rng.choice([0, 1, 5, 20, 40, 100])
        if r() < 0.4:
            params["top_p"] = round(rng.uniform(0.05, 1.0), 3)
        if r() < 0.3:
            params["min_p"] = round(rng.choice([0.0, rng.uniform(0.0, 0.3)]), 3)
        if r() < 0.5:
            params["seed"] = rng.getrandbits(64)
        if r() < 0.2:
            params["repetition_penalty"] = round(rng.uniform(1.0, 1.3), 3)
        if r() < 0.15:
            params["frequency_penalty"] = round(rng.uniform(-1, 1), 3)
        if r() < 0.15:
            params["presence_penalty"] = round(rng.uniform(-1, 1), 3)
        if r() < 0.25:
            params["n"] = rng.choice([2, 2, 3, 4])
        if r() < 0.15:
            params["logprobs"] = rng.choice([0, 1, 3, 5])
        if r() < 0.3:
            params["ignore_eos"] = True
        if r() < 0.25:
            params["stop"] = rng.sample(STOP_STRINGS, rng.choice([1, 1, 2, 3]))
        if r() < 0.1:
            params["stop_token_ids"] = rng.sample([2, 0, 13, 30, 198, 355], rng.choice([1, 2]))
        if r() < 0.15:
            params["speculative_tokens"] = rng.choice([0, 1, 4, 8, 32])
        return params

    # -- kinds ---------------------------------------------------------------------------

    def stream(self, stub, rng, request_id: str, params: dict | None = None, reference: Reference | None = None) -> Outcome:
        kind = "determinism" if reference else "stream"
        params = params if params is not None else self.random_generate(rng)
        request = build_request(request_id=request_id, **params)
        started = now()
        result = run_stream(stub.Generate(request, timeout=REQUEST_TIMEOUT), started)
        outcome = Outcome(kind, "OK", result.status, result.detail, describe(params))
        if result.status != "OK":
            return outcome
        problems = check_stream(result, request, params.get("n", 1), params["max_tokens"], params.get("ignore_eos", False),
                                params.get("stop", []), params.get("stop_token_ids", []), params.get("logprobs"))
        if reference is not None:
            got = [list(r.token_ids) for r in result.summary.samples]
            if got != reference.token_ids:
                problems.append(f"tokens differ from the idle daemon's for reference '{reference.name}': "
                                f"got {got} expected {reference.token_ids}")
        if problems:
            outcome.actual = "WRONG_RESULT"
            outcome.detail = "; ".join(problems)
        outcome.ttft, outcome.total = result.ttft, result.total
        outcome.tokens = result.summary.usage.completion_tokens
        outcome.preempted = result.summary.usage.preemptions
        return outcome

    def determinism(self, stub, rng, request_id: str) -> Outcome:
        reference = rng.choice(self.references)
        return self.stream(stub, rng, request_id, dict(reference.params), reference)

    def cancel(self, stub, rng, request_id: str) -> Outcome:
        after = rng.choice([0, 0, 1, 2, 5, 10, 20])
        params = self.random_input(rng, budget=600)
        params.update(max_tokens=after + rng.randint(200, 320), ignore_eos=True, temperature=rng.choice([0.0, 0.8]))
        call = stub.Generate(build_request(request_id=request_id, **params), timeout=REQUEST_TIMEOUT)
        if after == 0:
            time.sleep(rng.uniform(0, 0.2))  # queued or in prefill
            call.cancel()
            result = run_stream(call, now())
        else:
            result = run_stream(call, now(), lambda count: call.cancel() if count == after else None)
        return Outcome("cancel", "CANCELLED", result.status, result.detail, describe({**params, "cancel_after": after}))

    def disconnect(self, stub, rng, request_id: str) -> Outcome:
        after = rng.choice([0, 1, 3, 8, 16])
        params = self.random_input(rng, budget=600)
        params.update(max_tokens=after + rng.randint(200, 320), ignore_eos=True)
        channel = self.channel()
        try:
            call = pb_grpc.CanopyStub(channel).Generate(build_request(request_id=request_id, **params),
                                                        timeout=REQUEST_TIMEOUT)
            if after == 0:
                time.sleep(rng.uniform(0, 0.2))
                channel.close()
                result = run_stream(call, now())
            else:
                result = run_stream(call, now(), lambda count: channel.close() if count == after else None)
        finally:
            channel.close()
        return Outcome("disconnect", "CANCELLED", result.status, result.detail,
                       describe({**params, "close_after": after}))

    def deadline(self, stub, rng, request_id: str) -> Outcome:
        timeout = round(rng.uniform(0.05, 1.0), 3)
        params = self.random_input(rng, budget=600)
        params.update(max_tokens=600, ignore_eos=True)
        result = run_stream(stub.Generate(build_request(request_id=request_id, **params), timeout=timeout), now())
        return Outcome("deadline", "DEADLINE_EXCEEDED", result.status, result.detail,
                       describe({**params, "timeout": timeout}))

    KILLED_CLIENT = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import grpc\n"
        "from canopy_client import build_request\n"
        "from canopy_client._proto.canopy.v1 import canopy_pb2_grpc as g\n"
        "call = g.CanopyStub(grpc.insecure_channel(sys.argv[2])).Generate(\n"
        "    build_request(prompt=sys.argv[3], max_tokens=int(sys.argv[4]), ignore_eos=True), timeout=600)\n"
        "for i, event in enumerate(call):\n"
        "    if i == int(sys.argv[5]):\n"
        "        print('token', flush=True)\n"
    )

    def kill_client(self, stub, rng, request_id: str) -> Outcome:
        after = rng.choice([0, 2, 10])
        prompt = words(rng, rng.choice([5, 50, 200]))
        child = subprocess.Popen(
            [sys.executable, "-c", self.KILLED_CLIENT, str(REPO / "clients" / "python"), self.target, prompt,
             str(after + 300), str(after)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        desc = describe({"prompt": prompt, "max_tokens": after + 300, "ignore_eos": True, "kill_after": after})
        try:
            ready, _, _ = select.select([child.stdout], [], [], REQUEST_TIMEOUT)
            line = child.stdout.readline() if ready else b""
        finally:
            child.kill()
            _, err = child.communicate()
        if line.strip() == b"token":
            return Outcome("kill_client", "KILLED", "KILLED", "", desc)
        return Outcome("kill_client", "KILLED", "CHILD_FAILED", err.decode(errors="replace")[-500:], desc)

    def oversize(self, stub, rng, request_id: str) -> Outcome:
        size = MAX_MESSAGE + rng.randint(1, MAX_MESSAGE)
        text = "a" * size
        method = rng.choice(["Tokenize", "Generate"])
        try:
            if method == "Tokenize":
                stub.Tokenize(pb.TokenizeRequest(text=text), timeout=60)
                status, detail = "OK", ""
            else:
                result = run_stream(stub.Generate(build_request(prompt=text, max_tokens=1), timeout=60), now())
                status, detail = result.status, result.detail
        except grpc.RpcError as error:
            status, detail = code_name(error), details(error)
        outcome = Outcome("oversize", "RESOURCE_EXHAUSTED", status, detail, f"{method} with a {size}-byte text")
        if status == "RESOURCE_EXHAUSTED" and "message size limit" not in detail:
            outcome.actual, outcome.detail = "WRONG_RESULT", f"no 'message size limit' in {detail!r}"
        return outcome

    def garbage_bytes(self, rng) -> tuple[str, bytes]:
        """Bytes no protobuf decoder accepts, and what they are."""
        junk = rng.randbytes(rng.randint(0, 300))
        choice = rng.randrange(4)
        if choice == 0:  # a length-delimited field claiming more bytes than follow
            field_number = rng.randint(1, 15)
            return "truncated field", bytes([(field_number << 3) | 2]) + varint(len(junk) + rng.randint(1, 1000)) + junk
        if choice == 1:  # wire types 6 and 7 do not exist
            return "bad wire type", bytes([(rng.randint(1, 15) << 3) | rng.choice([6, 7])]) + junk
        if choice == 2:  # a varint that never ends
            return "endless varint", bytes([0x08]) + b"\xff" * rng.randint(11, 40)
        # a valid prefix, then a truncated field
        return "valid prefix + truncated field", b"\x0a\x02hi" + b"\x12" + varint(len(junk) + 5) + junk

    def garbage(self, stub, rng, request_id: str) -> Outcome:
        channel = stub._channel
        method = rng.choice(["Tokenize", "Detokenize", "Generate", "Generate"])
        if rng.random() < 0.25 and method != "Detokenize":
            what, payload = "invalid UTF-8 in field 1" if method == "Tokenize" else "invalid UTF-8 prompt", \
                (b"\x0a" if method == "Tokenize" else b"\x12") + b"\x06\xff\xfeab\xc3\x28"
        else:
            what, payload = self.garbage_bytes(rng)
        path = f"/canopy.v1.Canopy/{method}"
        try:
            if method == "Generate":
                call = channel.unary_stream(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
                list(call(payload, timeout=60))
            else:
                call = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
                call(payload, timeout=60)
            status, detail = "OK", ""
        except grpc.RpcError as error:
            status, detail = code_name(error), details(error)
        return Outcome("garbage", "INVALID_ARGUMENT", status, detail, f"{method}: {what}, {len(payload)} bytes {payload[:24]!r}")

    def unknown(self, stub, rng, request_id: str) -> Outcome:
        method = rng.choice(["/canopy.v1.Canopy/Embed", "/canopy.v2.Canopy/Generate", "/grpc.health.v1.Health/Check",
                             "/canopy.v1.Canopy/" + "x" * rng.randint(1, 200)])
        try:
            stub._channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)(
                rng.randbytes(rng.randint(0, 64)), timeout=60)
            status, detail = "OK", ""
        except grpc.RpcError as error:
            status, detail = code_name(error), details(error)
        return Outcome("unknown", "UNIMPLEMENTED", status, detail, short(method, 60))

    def invalid_cases(self, rng) -> list[tuple[str, dict]]:
        ok = {"prompt": words(rng, 5), "max_tokens": 4}
        return [
            ("negative temperature", {**ok, "temperature": -rng.uniform(0.01, 5)}),
            ("NaN temperature", {**ok, "temperature": float("nan")}),
            ("infinite temperature", {**ok, "temperature": float("inf")}),
            ("top_p above 1", {**ok, "top_p": rng.uniform(1.01, 9)}),
            ("top_p zero", {**ok, "top_p": 0.0}),
            ("negative top_k", {**ok, "top_k": -rng.randint(1, 2**31 - 1)}),
            ("min_p above 1", {**ok, "min_p": rng.uniform(1.01, 3)}),
            ("repetition_penalty zero", {**ok, "repetition_penalty": 0.0}),
            ("frequency_penalty out of range", {**ok, "frequency_penalty": rng.choice([-1, 1]) * rng.uniform(2.01, 50)}),
            ("presence_penalty out of range", {**ok, "presence_penalty": rng.choice([-1, 1]) * rng.uniform(2.01, 50)}),
            ("n zero", {**ok, "n": 0}),
            ("n too large", {**ok, "n": rng.randint(65, 2**31 - 1)}),
            ("logprobs too large", {**ok, "logprobs": rng.randint(21, 1000)}),
            ("max_tokens zero", {**ok, "max_tokens": 0}),
            ("max_tokens negative", {**ok, "max_tokens": -rng.randint(1, 2**31 - 1)}),
            ("max_tokens beyond the KV cache", {**ok, "max_tokens": rng.randint(self.cache_tokens, 2**31 - 1)}),
            ("empty stop string", {**ok, "stop": [""]}),
            ("speculative_tokens too large", {**ok, "speculative_tokens": rng.randint(33, 10_000)}),
            ("speculative_tokens negative", {**ok, "speculative_tokens": -rng.randint(1, 100)}),
            ("prompt_ids beyond the KV cache",
             {"prompt_ids": [rng.randrange(100, self.vocab)] * (self.cache_tokens + rng.randint(1, 200)), "max_tokens": 1}),
            ("prompt_ids beyond the context",
             {"prompt_ids": [100] * (self.context + rng.randint(1, 2000)), "max_tokens": 1}),
            ("text prompt beyond the KV cache", {"prompt": words(rng, self.cache_tokens + 100), "max_tokens": 1}),
            ("prompt plus max_tokens beyond the KV cache",
             {"prompt_ids": [100] * (self.cache_tokens // 2), "max_tokens": self.cache_tokens // 2 + rng.randint(1, 100)}),
            ("empty prompt", {"prompt": "", "max_tokens": 4}),
            ("empty prompt_ids", {"prompt_ids": [], "max_tokens": 4}),
            ("empty messages", {"messages": [], "max_tokens": 4}),
            ("token id beyond the vocabulary", {"prompt_ids": [1, 2, self.vocab + rng.randint(0, 10**6)], "max_tokens": 4}),
            ("negative token id", {"prompt_ids": [5, -rng.randint(1, 2**31 - 1)], "max_tokens": 4}),
            ("stop token id beyond the vocabulary", {**ok, "stop_token_ids": [2, self.vocab + rng.randint(0, 1000)]}),
            ("negative stop token id", {**ok, "stop_token_ids": [-rng.randint(1, 1000)]}),
            ("role outside the chat template",
             {"messages": [{"role": rng.choice(["wizard", "", "user<|im_end|>", "SYSTEM"]), "content": "hi"}], "max_tokens": 4}),
        ]

    def invalid(self, stub, rng, request_id: str) -> Outcome:
        name, params = rng.choice(self.invalid_cases(rng))
        if rng.random() < 0.1:  # no input at all
            name, request = "no input", pb.GenerateRequest(request_id=request_id)
        else:
            request = build_request(request_id=request_id, **params)
        result = run_stream(stub.Generate(request, timeout=REQUEST_TIMEOUT), now())
        return Outcome("invalid", "INVALID_ARGUMENT", result.status, result.detail, f"{name}: {describe(params)}")

    def raw_socket(self, stub, rng, request_id: str) -> Outcome:
        def frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
            return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id) + payload

        settings = frame(0x4, 0, 0, b"")
        payloads = [
            ("random bytes", rng.randbytes(rng.randint(1, 8192))),
            ("HTTP/1.1 request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("half a preface", HTTP2_PREFACE[:rng.randint(1, len(HTTP2_PREFACE) - 1)]),
            ("preface + junk", HTTP2_PREFACE + rng.randbytes(rng.randint(1, 2000))),
            ("truncated HEADERS", HTTP2_PREFACE + settings
             + struct.pack(">I", 5000)[1:] + bytes([0x1, 0x4]) + struct.pack(">I", 1) + b"\x82\x84"),
            ("DATA on an unopened stream", HTTP2_PREFACE + settings + frame(0x0, 0x1, 7, b"\x00\x00\x00\x00\x05hello")),
            ("nothing", b""),
        ]
        what, payload = rng.choice(payloads)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(str(self.daemon.socket))
            except OSError as error:
                return Outcome("raw_socket", "CLOSED", "CONNECT_FAILED", str(error), what)
            try:
                s.sendall(payload)
                if rng.random() < 0.7:
                    s.recv(65536)
            except (socket.timeout, ConnectionError):
                pass
        return Outcome("raw_socket", "CLOSED", "CLOSED", "", what)

    def unary(self, stub, rng, request_id: str) -> Outcome:
        method = rng.choice(["Health", "Info", "Stats", "Tokenize"])
        try:
            if method == "Health":
                health = stub.Health(pb.HealthRequest(), timeout=60)
                if health.status != pb.SERVING_STATUS_SERVING:
                    return Outcome("unary", "OK", "WRONG_RESULT", f"Health {health}", method)
            elif method == "Info":
                info = stub.Info(pb.InfoRequest(), timeout=60)
                if info.vocab_size != self.vocab or info.engine.kv_total_blocks != self.info.engine.kv_total_blocks:
                    return Outcome("unary", "OK", "WRONG_RESULT", f"Info changed: {info.engine}", method)
            elif method == "Stats":
                stats = stub.Stats(pb.StatsRequest(), timeout=60)
                problem = kv_accounting(stats)
                if problem:
                    return Outcome("unary", "OK", "WRONG_RESULT", problem, method)
            else:
                text = words(rng, rng.randint(1, 200))
                ids = stub.Tokenize(pb.TokenizeRequest(text=text), timeout=60).ids
                back = stub.Detokenize(pb.DetokenizeRequest(ids=ids), timeout=60).text
                if back != text:
                    return Outcome("unary", "OK", "WRONG_RESULT", f"Detokenize(Tokenize(t)) = {short(back)}", short(text))
                method = "Tokenize+Detokenize"
            return Outcome("unary", "OK", "OK", "", method)
        except grpc.RpcError as error:
            return Outcome("unary", "OK", code_name(error), details(error), method)

    # -- threads -----------------------------------------------------------------------

    def worker(self, index: int) -> None:
        rng = random.Random(self.args.seed * 1000 + index)
        names = [k[0] for k in self.kinds]
        weights = [k[1] for k in self.kinds]
        functions = {k[0]: k[2] for k in self.kinds}
        channel = self.channel()
        stub = pb_grpc.CanopyStub(channel)
        stub._channel = channel
        count = 0
        try:
            while not self.stop.is_set():
                kind = rng.choices(names, weights)[0]
                count += 1
                request_id = f"soak-{index}-{count}"
                at = self.elapsed()
                try:
                    outcome = functions[kind](stub, rng, request_id)
                except Exception:  # noqa: BLE001 - a bug of this script, reported as such
                    outcome = Outcome(kind, "?", "HARNESS_ERROR", traceback.format_exc()[-1500:], request_id)
                outcome.at = at
                self.ledger.add(outcome)
                if outcome.unexpected and self.args.verbose:
                    print(f"[{at:7.1f}s] UNEXPECTED {kind}: expected {outcome.expected}, got {outcome.actual}: "
                          f"{outcome.detail[:300]} | {outcome.request[:300]}", flush=True)
        finally:
            channel.close()

    def monitor(self) -> None:
        channel = self.channel()
        stub = pb_grpc.CanopyStub(channel)
        try:
            while not self.stop.is_set():
                t = self.elapsed()
                rss = self.daemon.rss_kib()
                if not self.daemon.alive():
                    self.crashed.set()
                    self.stop.set()
                    break
                sample = {"t": t, "rss_kib": rss}
                try:
                    stats = stub.Stats(pb.StatsRequest(), timeout=30)
                    sample.update(running=stats.running_sequences, waiting=stats.waiting_sequences,
                                  used=stats.kv.used_blocks, free=stats.kv.free_blocks, cached=stats.kv.cached_blocks,
                                  preemptions=stats.preemptions, generated=stats.generated_tokens,
                                  completed=stats.requests_completed, cancelled=stats.requests_cancelled,
                                  failed=stats.requests_failed)
                    problem = kv_accounting(stats)
                    if problem:
                        self.kv_violations.append(f"{t:.1f} s: {problem}")
                except grpc.RpcError as error:
                    self.monitor_errors.append(f"{t:.1f} s: Stats {code_name(error)}: {details(error)}")
                self.samples.append(sample)
                self.stop.wait(self.args.sample_every)
        finally:
            channel.close()

    def sighupper(self) -> None:
        channel = self.channel()
        stub = pb_grpc.CanopyStub(channel)
        try:
            while not self.stop.wait(self.args.sighup_every):
                if not self.daemon.alive():
                    break
                at = self.elapsed()
                os.kill(self.daemon.pid, signal.SIGHUP)
                self.sighups_sent += 1
                time.sleep(0.2)
                try:
                    health = stub.Health(pb.HealthRequest(), timeout=30)
                    ok = health.status == pb.SERVING_STATUS_SERVING
                    outcome = Outcome("sighup", "OK", "OK" if ok else "WRONG_RESULT", "" if ok else str(health),
                                      "SIGHUP, then Health")
                except grpc.RpcError as error:
                    outcome = Outcome("sighup", "OK", code_name(error), details(error), "SIGHUP, then Health")
                outcome.at = at
                self.ledger.add(outcome)
        finally:
            channel.close()

    def warm_up(self) -> float:
        """Before the timed load: the largest step shapes the load can produce, so that the
        forward pass's working memory (scratch buffers kept between passes, sized and touched
        by the batch's token count; logits by its rows) reaches its high-water mark before RSS
        is measured: a prompt over --max-batched-tokens alone (a full-budget prefill step),
        then max-seqs sequences decoding at once (n=4 requests) beside long prefills."""
        started = now()
        rng = random.Random(self.args.seed)
        budget = self.info.engine.max_batched_tokens
        long_prompt = min(budget + 80, self.cache_tokens - 64)
        channel = self.channel()
        stub = pb_grpc.CanopyStub(channel)

        def one(params: dict, index: int) -> None:
            outcome = self.stream(stub, rng, f"warmup-{index}", params)
            outcome.kind = "warmup"
            outcome.at = -1.0
            self.ledger.add(outcome)

        one({"prompt_ids": [rng.randrange(100, self.vocab) for _ in range(long_prompt)], "max_tokens": 1,
             "temperature": 0.0}, 0)
        requests = [{"prompt": words(rng, 6), "n": 4, "max_tokens": 24, "ignore_eos": True, "logprobs": 20,
                     "temperature": 0.8} for _ in range(max(1, self.info.engine.max_sequences // 4))]
        requests += [{"prompt_ids": [rng.randrange(100, self.vocab) for _ in range(budget // 2)], "max_tokens": 8,
                      "ignore_eos": True} for _ in range(2)]
        threads = [threading.Thread(target=one, args=(params, i + 1)) for i, params in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        channel.close()
        return now() - started

    def run(self) -> float:
        """Runs the load for the configured time; returns the seconds the load ran."""
        threads = [threading.Thread(target=self.worker, args=(i,), name=f"worker-{i}", daemon=True)
                   for i in range(self.args.workers)]
        monitor = threading.Thread(target=self.monitor, name="monitor", daemon=True)
        sighup = threading.Thread(target=self.sighupper, name="sighup", daemon=True)
        self.started = now()
        monitor.start()
        sighup.start()
        for thread in threads:
            thread.start()
        duration = self.args.minutes * 60
        last_report = 0.0
        while not self.stop.is_set() and self.elapsed() < duration:
            self.stop.wait(1.0)
            if self.elapsed() - last_report >= 60 or self.stop.is_set():
                last_report = self.elapsed()
                outcomes = self.ledger.snapshot()
                bad = sum(o.unexpected for o in outcomes)
                rss = self.samples[-1]["rss_kib"] if self.samples else None
                print(f"[{self.elapsed():7.1f}s] {len(outcomes)} requests, {bad} unexpected, RSS {rss} KiB, "
                      f"preemptions {self.samples[-1].get('preemptions') if self.samples else '?'}", flush=True)
        load_seconds = self.elapsed()
        # One last RSS sample under load, then stop; workers finish the request they are in.
        rss = self.daemon.rss_kib()
        if rss is not None:
            self.samples.append({"t": load_seconds, "rss_kib": rss, "last": True})
        self.stop.set()
        deadline = now() + REQUEST_TIMEOUT + 60
        for thread in threads + [monitor, sighup]:
            thread.join(max(0.0, deadline - now()))
            if thread.is_alive():
                self.harness_errors.append(f"{thread.name} still running {REQUEST_TIMEOUT + 60:.0f} s after the stop")
        if not self.daemon.alive():
            self.crashed.set()
        return load_seconds


def kv_accounting(stats) -> str:
    """Invariants Stats must always satisfy: used + free blocks make the arena, cached blocks
    are free ones, nothing above the total."""
    kv = stats.kv
    if kv.used_blocks + kv.free_blocks != kv.total_blocks:
        return f"used {kv.used_blocks} + free {kv.free_blocks} != total {kv.total_blocks}"
    if kv.cached_blocks > kv.free_blocks:
        return f"cached {kv.cached_blocks} > free {kv.free_blocks}"
    if kv.peak_used_blocks > kv.total_blocks:
        return f"peak {kv.peak_used_blocks} > total {kv.total_blocks}"
    return ""


def prometheus_value(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.eE+-]+)$", text, re.M)
    return float(match.group(1)) if match else None


# ---------------------------------------------------------------------------------------
# References


def reference_specs(vocab: int) -> list[tuple[str, dict]]:
    rng = random.Random(7)
    return [
        ("greedy text", {"prompt": "The history of computing begins", "temperature": 0.0, "max_tokens": 64,
                         "ignore_eos": True}),
        ("greedy chat, long system prompt", {"messages": [{"role": "system", "content": SYSTEM_PROMPTS[1]},
                                                          {"role": "user", "content": "Name three rivers."}],
                                             "temperature": 0.0, "max_tokens": 48}),
        ("greedy 400 token ids", {"prompt_ids": [rng.randrange(100, vocab) for _ in range(400)], "temperature": 0.0,
                                  "max_tokens": 32, "ignore_eos": True}),
        ("greedy with a stop string", {"prompt": "List three colours:", "temperature": 0.0, "max_tokens": 64,
                                       "stop": ["\n\n"]}),
        ("seeded top-k, n=2", {"prompt": "Once upon a time, there was a little", "temperature": 0.9, "top_k": 40,
                               "seed": 1234, "n": 2, "max_tokens": 40, "ignore_eos": True}),
        ("seeded top-p/min-p, penalties, no speculation",
         {"messages": [{"role": "user", "content": "Write a haiku about the ocean."}], "temperature": 1.1,
          "top_p": 0.9, "min_p": 0.02, "seed": 77, "repetition_penalty": 1.1, "frequency_penalty": 0.3,
          "max_tokens": 48, "ignore_eos": True, "speculative_tokens": 0}),
    ]


def compute_references(stub, vocab: int) -> list[Reference]:
    out = []
    for name, params in reference_specs(vocab):
        events = list(stub.Generate(build_request(**params), timeout=REQUEST_TIMEOUT))
        summary = events[-1].summary
        out.append(Reference(name, params, [list(r.token_ids) for r in summary.samples]))
    return out


# ---------------------------------------------------------------------------------------
# Report


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "kernel": platform.release(),
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30,
                              env={**os.environ, "TZ": "UTC"}).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f}"


def window_median(samples: list[dict], start: float, end: float) -> float | None:
    values = [s["rss_kib"] for s in samples if s.get("rss_kib") is not None and start <= s["t"] <= end]
    return statistics.median(values) if values else None


def log_summary(text: str) -> tuple[Counter, Counter]:
    """Lines by level, and notice/warning/error/critical messages with their numbers blanked."""
    levels: Counter = Counter()
    messages: Counter = Counter()
    pattern = re.compile(r"^\S+Z (trace|debug|info|notice|warning|error|critical) (.*)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if not match:
            levels["(other)"] += 1
            continue
        level, message = match.groups()
        levels[level] += 1
        if level in ("notice", "warning", "error", "critical"):
            message = re.sub(r"(?<![A-Za-z/])\d+(\.\d+)?", "N", message)
            messages[f"{level}: {message[:200]}"] += 1
    return levels, messages


def rss_series(samples: list[dict], rows: int) -> list[dict]:
    """About `rows` samples spread evenly over the run, first and last included."""
    with_rss = [s for s in samples if s.get("rss_kib") is not None]
    if len(with_rss) <= rows:
        return with_rss
    step = (len(with_rss) - 1) / (rows - 1)
    return [with_rss[round(i * step)] for i in range(rows)]


def slope_kib_per_minute(samples: list[dict], start: float) -> float | None:
    points = [(s["t"], s["rss_kib"]) for s in samples if s.get("rss_kib") is not None and s["t"] >= start]
    if len(points) < 3:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_r = sum(r for _, r in points) / len(points)
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (r - mean_r) for t, r in points) / var * 60


def write_report(path: Path, r: dict) -> None:
    L: list[str] = []
    add = L.append
    verdict = "PASS" if r["passed"] else "FAIL"
    add(f"# canopyd soak: {r['minutes']:g} minutes of mixed load ({verdict})")
    add("")
    m = r["machine"]
    add(f"- date: {r['date']}, commit {r['commit']} (committed {r['commit_time']})"
        f"{'; ' + r['dirty'] if r['dirty'] else ''}")
    add(f"- machine: {m['cpu']}, {m['nproc']} cores (nproc), {m['memory']}, Linux {m['kernel']}; "
        f"load average at start {r['load_start']}, at end {r['load_end']}")
    add(f"- command: `{r['command']}`")
    add(f"- canopyd: `{r['daemon_command']}` (binary {r['binary_info']})")
    add(f"- model: {r['model']}; KV arena {r['kv_blocks']} blocks x {r['block_size']} positions = "
        f"{r['cache_tokens']} token positions ({r['kv_precision']}), context {r['context']}, max_seqs "
        f"{r['max_seqs']}, speculative {r['speculative']}")
    add(f"- warm-up burst before the timed load ({r['warmup_seconds']:.0f} s): one prompt longer than "
        "--max-batched-tokens alone, then max-seqs/4 requests with n=4 (max-seqs sequences decoding) beside "
        "two long prefills, so the forward pass's scratch reaches its largest shapes before RSS is measured")
    add(f"- load: {r['workers']} worker threads, each on its own connection, one request at a time, for "
        f"{r['load_seconds']:.0f} s (then {r['drain_seconds']:.0f} s for the requests in flight to end); "
        f"SIGHUP every {r['sighup_every']:g} s; RSS and Stats sampled every {r['sample_every']:g} s; "
        f"workload seed {r['seed']}")
    if r["notes"]:
        for note in r["notes"]:
            add(f"- note: {note}")
    add("")
    add("## Verdict")
    add("")
    add("| check | result | value |")
    add("|---|---|---|")
    for name, ok, value in r["checks"]:
        add(f"| {name} | {'pass' if ok else '**FAIL**'} | {value} |")
    add("")
    add("## Requests by kind and outcome")
    add("")
    add("| kind | expected | requests | outcomes (status: count) | unexpected |")
    add("|---|---|---:|---|---:|")
    for kind, expected, total, outcomes, bad in r["by_kind"]:
        add(f"| {kind} | {expected} | {total} | {outcomes} | {bad} |")
    add(f"| **all** | | {r['requests']} | {r['by_status']} | {r['unexpected_count']} |")
    add("")
    if r["unexpected"]:
        add(f"### Unexpected outcomes (first {len(r['unexpected'])} of {r['unexpected_count']})")
        add("")
        for o in r["unexpected"]:
            add(f"- {o.at:.1f} s, {o.kind}: expected {o.expected}, got **{o.actual}** `{o.detail[:600]}`; request: "
                f"`{o.request[:600]}`")
        add("")
    add("## Latency (completed streaming requests, client side)")
    add("")
    add("| measure | requests | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |")
    add("|---|---:|---:|---:|---:|---:|")
    for name, values in r["latency"]:
        add(f"| {name} | {len(values)} | {fmt_ms(percentile(values, 0.5))} | {fmt_ms(percentile(values, 0.9))} | "
            f"{fmt_ms(percentile(values, 0.99))} | {fmt_ms(max(values) if values else None)} |")
    add("")
    add("## Tokens, preemption, KV cache")
    add("")
    add("| figure | value |")
    add("|---|---:|")
    for name, value in r["figures"]:
        add(f"| {name} | {value} |")
    add("")
    add("## Memory (VmRSS of canopyd)")
    add("")
    add("| point | RSS (MiB) |")
    add("|---|---:|")
    for name, value in r["rss_points"]:
        add(f"| {name} | {value} |")
    add("")
    add("Samples over the run (every "
        f"{r['sample_every']:g} s; {len(r['samples'])} in all, these spread evenly):")
    add("")
    add("| t (s) | RSS (MiB) | running | waiting | KV used / free / cached | preemptions | generated tokens |")
    add("|---:|---:|---:|---:|---|---:|---:|")
    for s in r["series"]:
        kv = f"{s['used']} / {s['free']} / {s['cached']}" if "used" in s else "-"
        add(f"| {s['t']:.0f} | {mib(s['rss_kib'])} | {s.get('running', '-')} | {s.get('waiting', '-')} | {kv} | "
            f"{s.get('preemptions', '-')} | {s.get('generated', '-')} |")
    add("")
    add("## Final state")
    add("")
    for line in r["final"]:
        add(f"- {line}")
    add("")
    add("## canopyd's log")
    add("")
    add("Lines by level: " + ", ".join(f"{k} {v}" for k, v in sorted(r["log_levels"].items())) + ".")
    if r["log_messages"]:
        add("")
        add("Notices, warnings and errors (numbers blanked as N):")
        add("")
        for message, count in r["log_messages"].most_common(25):
            add(f"- {count} x `{message}`")
    add("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L))


# ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canopyd", type=Path, default=REPO / ".build" / "release" / "canopyd")
    parser.add_argument("--model", type=Path, default=REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--minutes", type=float, default=20.0, help="how long the load runs (default 20)")
    parser.add_argument("--workers", type=int, default=24, help="concurrent client threads (default 24)")
    parser.add_argument("--kv-cache-memory", default="48M",
                        help="canopyd --kv-cache-memory: small, so the load fills it and preempts (default 48M)")
    parser.add_argument("--threads", type=int, default=2, help="canopyd --threads (default 2)")
    parser.add_argument("--daemon-arg", action="append", default=[], metavar="ARG",
                        help="another canopyd argument (repeat; e.g. --daemon-arg=--kv-swap-space=64M)")
    parser.add_argument("--sighup-every", type=float, default=30.0, help="seconds between SIGHUPs (default 30)")
    parser.add_argument("--sample-every", type=float, default=2.0, help="seconds between RSS/Stats samples (default 2)")
    parser.add_argument("--warmup-fraction", type=float, default=0.2,
                        help="RSS growth is measured from this share of the run to its end (default 0.2)")
    parser.add_argument("--rss-growth-limit", type=float, default=2.0, help="most RSS growth in %% (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    parser.add_argument("--out", type=Path, help="markdown report to write")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (canopyd's log) on success")
    parser.add_argument("--verbose", action="store_true", help="print each unexpected outcome as it happens")
    args = parser.parse_args()

    for path, what in ((args.canopyd, "canopyd binary"), (args.model, "model")):
        if not path.is_file():
            print(f"soak: {what} {path} does not exist", file=sys.stderr)
            return 2
    python = Path(sys.executable)
    try:
        python_shown = str(python.relative_to(REPO)) if python.is_relative_to(REPO) else str(python)
    except ValueError:
        python_shown = str(python)
    command = shlex.join([python_shown, *sys.argv])
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    commit_time = git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%MZ", "HEAD")
    dirty_files = [line for line in git("status", "--porcelain", "--untracked-files=no").splitlines() if line.strip()]
    dirty = (f"{len(dirty_files)} tracked file(s) modified in the working tree (uncommitted; the binary's build "
             "time below says which state it may hold)") if dirty_files else ""
    started_at = dt.datetime.now(dt.timezone.utc)
    load_start = machine()["load"]
    binary_stat = args.canopyd.stat()
    binary_info = (f"{args.canopyd}, built {dt.datetime.fromtimestamp(binary_stat.st_mtime, dt.timezone.utc):%Y-%m-%dT%H:%MZ}, "
                   f"{binary_stat.st_size / 1e6:.0f} MB")

    workdir = Path(tempfile.mkdtemp(prefix="canopy-soak-"))
    # Runs a copy: a rebuild of the tree's binary during the run cannot touch the daemon under test.
    binary = workdir / "canopyd"
    shutil.copy2(args.canopyd, binary)
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:16]
    binary_info += f", sha256 {digest}..., run from a copy in the temporary directory"
    daemon = Daemon(binary, args.model, workdir, args.kv_cache_memory, args.threads, args.daemon_arg)
    print(f"soak: canopyd pid {daemon.pid}, log {daemon.log}", flush=True)
    checks: list[tuple[str, bool, str]] = []
    final: list[str] = []
    notes: list[str] = []
    try:
        daemon.wait_ready()
        channel = grpc.insecure_channel(f"unix://{daemon.socket}", options=CHANNEL_OPTIONS)
        stub = pb_grpc.CanopyStub(channel)
        info = stub.Info(pb.InfoRequest(), timeout=60)
        references = compute_references(stub, info.vocab_size)
        print(f"soak: {len(references)} reference generations on the idle daemon; load for {args.minutes:g} min with "
              f"{args.workers} workers", flush=True)
        soak = Soak(args, daemon, info, references)
        warmup_seconds = soak.warm_up()
        rss_after_warmup_burst = daemon.rss_kib()
        print(f"soak: warm-up burst took {warmup_seconds:.1f} s, RSS {rss_after_warmup_burst} KiB", flush=True)
        load_seconds = soak.run()
        drain_seconds = soak.elapsed() - load_seconds
        crashed = soak.crashed.is_set() or not daemon.alive()
        outcomes = soak.ledger.snapshot()

        # -- after the load: idle, KV invariants, the final request ---------------------
        idle_stats = None
        final_ok = False
        final_detail = "not run: canopyd is not running"
        rss_idle = None
        sighup_logged = 0
        if not crashed:
            deadline = now() + 60
            while True:
                idle_stats = stub.Stats(pb.StatsRequest(), timeout=30)
                idle = (idle_stats.kv.used_blocks == 0 and idle_stats.running_sequences == 0
                        and idle_stats.waiting_sequences == 0)
                if idle or now() > deadline:
                    break
                time.sleep(0.2)
            time.sleep(1)
            rss_idle = daemon.rss_kib()
            reference = references[0]
            request = build_request(request_id="soak-final", **reference.params)
            result = run_stream(stub.Generate(request, timeout=REQUEST_TIMEOUT), now())
            if result.status != "OK":
                final_detail = f"{result.status}: {result.detail}"
            else:
                problems = check_stream(result, request, 1, reference.params["max_tokens"], True, [], [], None)
                got = [list(x.token_ids) for x in result.summary.samples]
                if got != reference.token_ids:
                    problems.append(f"tokens {got} differ from the reference {reference.token_ids}")
                final_ok = not problems
                final_detail = ("the reference's " + str(len(got[0])) + " tokens, text "
                                + short(result.summary.samples[0].text, 100)) if final_ok else "; ".join(problems)
            after_final = stub.Stats(pb.StatsRequest(), timeout=30)
            deadline = now() + 30
            while after_final.kv.used_blocks and now() < deadline:
                time.sleep(0.2)
                after_final = stub.Stats(pb.StatsRequest(), timeout=30)
            health = stub.Health(pb.HealthRequest(), timeout=30)
            final.append(f"Health after the load: {pb.ServingStatus.Name(health.status)}, uptime "
                         f"{health.uptime_seconds:.0f} s")
            final.append(f"Stats at idle: running {idle_stats.running_sequences}, waiting {idle_stats.waiting_sequences}, "
                         f"KV used {idle_stats.kv.used_blocks}, free {idle_stats.kv.free_blocks}, cached "
                         f"{idle_stats.kv.cached_blocks} of {idle_stats.kv.total_blocks} blocks, peak used "
                         f"{idle_stats.kv.peak_used_blocks}")
            final.append(f"final greedy request ({reference.name!r}): {'served correctly' if final_ok else 'WRONG'}: "
                         f"{final_detail}")
            final.append(f"after it: KV used {after_final.kv.used_blocks}, running {after_final.running_sequences}, "
                         f"waiting {after_final.waiting_sequences}")
            final.append("the protocol has no invariant-violation counter; the KV invariants checked are Stats' own "
                         "accounting (used + free = total, cached <= free, peak <= total) in every sample and idle "
                         "state (no block used, no sequence running or waiting) after the load")
            sighup_logged = daemon.text().count("received SIGHUP; ignored")
        channel.close()
        load_end = machine()["load"]

        # -- SIGTERM --------------------------------------------------------------------
        if crashed:
            status, stop_seconds = daemon.process.poll(), 0.0
            final.append(f"CRASH: canopyd exited with {status} during the run; log tail:\n\n```\n{daemon.tail(3000)}\n```")
        else:
            status, stop_seconds = daemon.stop()
            final.append(f"SIGTERM: canopyd exited with {status} after {stop_seconds:.2f} s; socket "
                         f"{'removed' if not daemon.socket.exists() else 'LEFT BEHIND'}")
        log_text = daemon.log.read_text(errors="replace")

        # -- figures --------------------------------------------------------------------
        unexpected = sorted((o for o in outcomes if o.unexpected), key=lambda o: o.at)
        by_kind = []
        for kind in ["warmup"] + [k[0] for k in soak.kinds] + ["sighup"]:
            of_kind = [o for o in outcomes if o.kind == kind]
            if not of_kind:
                by_kind.append((kind, "-", 0, "-", 0))
                continue
            expected = Counter(o.expected for o in of_kind).most_common(1)[0][0]
            statuses = Counter(o.actual for o in of_kind)
            by_kind.append((kind, expected, len(of_kind), ", ".join(f"{k}: {v}" for k, v in statuses.most_common()),
                            sum(o.unexpected for o in of_kind)))
        by_status = ", ".join(f"{k}: {v}" for k, v in Counter(o.actual for o in outcomes).most_common())
        completed = [o for o in outcomes if o.kind in ("stream", "determinism") and o.actual == "OK"]
        latency = [
            ("time to first token", [o.ttft for o in completed if o.ttft is not None]),
            ("total time (to the summary)", [o.total for o in completed if o.total is not None]),
        ]
        ttft_short = [o.ttft for o in completed if o.ttft is not None and o.tokens <= 64]
        final_stats = idle_stats
        samples = soak.samples
        warm_t = args.warmup_fraction * load_seconds
        width = max(args.sample_every * 2.5, 0.025 * load_seconds)
        rss_warm = window_median(samples, warm_t - width, warm_t + width)
        rss_end = window_median(samples, load_seconds - 2 * width, load_seconds + 0.01)
        point_warm = min((s for s in samples if s.get("rss_kib")), key=lambda s: abs(s["t"] - warm_t), default=None)
        point_end = next((s for s in reversed(samples) if s.get("rss_kib")), None)
        growth = None if not rss_warm or rss_end is None else (rss_end - rss_warm) / rss_warm * 100
        point_growth = (None if not point_warm or not point_end
                        else (point_end["rss_kib"] - point_warm["rss_kib"]) / point_warm["rss_kib"] * 100)
        slope = slope_kib_per_minute(samples, warm_t)
        rss_values = [s["rss_kib"] for s in samples if s.get("rss_kib")]
        rss_points = [
            ("after the warm-up burst, before the timed load", mib(rss_after_warmup_burst)),
            ("at start of the load (first sample)", mib(rss_values[0] if rss_values else None)),
            (f"after warm-up: median of the samples within {width:.0f} s of {warm_t:.0f} s "
             f"({args.warmup_fraction:.0%} of the run)", mib(rss_warm)),
            (f"at the end: median of the last {2 * width:.0f} s of the load", mib(rss_end)),
            (f"growth, warm-up -> end (medians; the checked figure)",
             "-" if growth is None else f"{growth:+.2f} %"),
            (f"single samples: {point_warm['t']:.0f} s -> {point_end['t']:.0f} s" if point_warm and point_end
             else "single samples", "-" if point_growth is None else
             f"{mib(point_warm['rss_kib'])} -> {mib(point_end['rss_kib'])} ({point_growth:+.2f} %)"),
            ("trend after warm-up (least squares)", "-" if slope is None else f"{slope / 1024:+.3f} MiB/min"),
            ("highest sample", mib(max(rss_values) if rss_values else None)),
            ("idle after the load", mib(rss_idle)),
        ]
        tokens_ok = sum(o.tokens for o in completed)
        ended_by_client = sum(1 for o in outcomes if o.kind in ("cancel", "disconnect", "deadline", "kill_client")
                              and o.actual == o.expected)
        ok_generates = sum(1 for o in outcomes if o.kind in ("stream", "determinism", "warmup") and o.actual == "OK")
        ok_generates += len(references)
        preempted_requests = sum(1 for o in completed if o.preempted)
        figures = []
        if final_stats is not None:
            prom = final_stats.prometheus_text
            figures = [
                ("requests sent (all kinds)", len(outcomes)),
                ("completed streaming requests (stream + determinism, OK)", len(completed)),
                ("tokens generated by them (usage.completion_tokens)", tokens_ok),
                ("of those requests, preempted at least once (usage.preemptions)", preempted_requests),
                ("Stats.generated_tokens (all requests, cancelled ones too)", final_stats.generated_tokens),
                ("Stats.prompt_tokens / cached_prompt_tokens", f"{final_stats.prompt_tokens} / "
                                                               f"{final_stats.cached_prompt_tokens}"),
                ("Stats.requests_completed / cancelled / failed", f"{final_stats.requests_completed} / "
                 f"{final_stats.requests_cancelled} / {final_stats.requests_failed}"),
                ("**Stats.preemptions**", final_stats.preemptions),
                ("Stats.preemptions_recomputed / swapped", f"{final_stats.preemptions_recomputed} / "
                                                           f"{final_stats.preemptions_swapped}"),
                ("canopy_preemptions_total (Prometheus text)", prometheus_value(prom, "canopy_preemptions_total")),
                ("Stats.steps / batched_tokens", f"{final_stats.steps} / {final_stats.batched_tokens}"),
                ("generated tokens/s over the load (Stats)",
                 f"{final_stats.generated_tokens / max(load_seconds + drain_seconds, 1):.1f}"),
                ("KV peak used blocks / total", f"{final_stats.kv.peak_used_blocks} / {final_stats.kv.total_blocks}"),
                ("KV prefix queries / hits (tokens)", f"{final_stats.kv.prefix_queries} / {final_stats.kv.prefix_hits}"),
                ("KV evictions / copy-on-writes", f"{final_stats.kv.evictions} / {final_stats.kv.copy_on_writes}"),
                ("speculation: chunks / proposed / accepted",
                 f"{final_stats.speculation.chunks} / {final_stats.speculation.proposed_tokens} / "
                 f"{final_stats.speculation.accepted_tokens}"),
                ("highest running / waiting sequences seen in samples",
                 f"{max((s.get('running', 0) for s in samples), default=0)} / "
                 f"{max((s.get('waiting', 0) for s in samples), default=0)}"),
                # Not a check: the engine counts only requests it had received, and a cancel,
                # deadline or disconnect within the first milliseconds can end a call before the
                # daemon hands it to the engine, so the second figure may be a little lower.
                ("requests the client ended (cancel + disconnect + deadline + kill_client) / "
                 "Stats.requests_cancelled (requests the engine had received)",
                 f"{ended_by_client} / {final_stats.requests_cancelled}"),
                ("OK Generate calls (stream, determinism, warm-up, the references) / Stats.requests_completed",
                 f"{ok_generates} / {final_stats.requests_completed}"),
                ("TTFT p50 / p99 of requests with at most 64 tokens (ms)",
                 f"{fmt_ms(percentile(ttft_short, 0.5))} / {fmt_ms(percentile(ttft_short, 0.99))}"),
            ]

        # -- checks ---------------------------------------------------------------------
        checks.append(("no crash (canopyd alive through the load)", not crashed,
                       "alive" if not crashed else f"exited with {daemon.process.returncode}"))
        checks.append(("every outcome as expected", not unexpected and not soak.harness_errors,
                       f"{len(unexpected)} unexpected of {len(outcomes)}"
                       + (f"; {soak.harness_errors}" if soak.harness_errors else "")))
        checks.append((f"RSS growth after warm-up < {args.rss_growth_limit:g} %",
                       growth is not None and growth < args.rss_growth_limit,
                       "-" if growth is None else f"{mib(rss_warm)} -> {mib(rss_end)} MiB ({growth:+.2f} %)"))
        if final_stats is not None:
            leaked = (final_stats.kv.used_blocks, final_stats.running_sequences, final_stats.waiting_sequences)
            checks.append(("idle: no KV block used, no sequence running or waiting", leaked == (0, 0, 0),
                           f"used {leaked[0]}, running {leaked[1]}, waiting {leaked[2]}"))
            accounting = kv_accounting(final_stats)
            checks.append(("KV accounting (used + free = total, cached <= free) in every sample and at idle",
                           not accounting and not soak.kv_violations,
                           accounting or (f"{len(soak.kv_violations)} violations: {soak.kv_violations[:3]}"
                                          if soak.kv_violations else f"{len(samples)} samples")))
            checks.append(("sequences were preempted (Stats.preemptions > 0)", final_stats.preemptions > 0,
                           str(final_stats.preemptions)))
            prom_preemptions = prometheus_value(final_stats.prometheus_text, "canopy_preemptions_total")
            consistent = (prom_preemptions == final_stats.preemptions and final_stats.preemptions_recomputed
                          + final_stats.preemptions_swapped == final_stats.preemptions)
            checks.append(("preemption counters agree (Stats, recomputed + swapped, Prometheus)", consistent,
                           f"{final_stats.preemptions} = {final_stats.preemptions_recomputed} + "
                           f"{final_stats.preemptions_swapped}, Prometheus {prom_preemptions}"))
            checks.append(("no request failed by the engine (Stats.requests_failed)", final_stats.requests_failed == 0,
                           str(final_stats.requests_failed)))
        else:
            checks.append(("idle: no KV block used, no sequence running or waiting", False, "no Stats"))
        checks.append(("final greedy request served with the reference tokens", final_ok, final_detail[:200]))
        checks.append(("every SIGHUP logged and ignored", sighup_logged == soak.sighups_sent and not crashed,
                       f"{soak.sighups_sent} sent, {sighup_logged} logged"))
        checks.append(("Stats answered throughout", not soak.monitor_errors,
                       f"{len(soak.monitor_errors)} errors" + (f": {soak.monitor_errors[:2]}" if soak.monitor_errors else "")))
        checks.append(("canopyd exited 0 on SIGTERM", status == 0 and not crashed,
                       f"exit {status} after {stop_seconds:.2f} s"))
        passed = all(ok for _, ok, _ in checks)
        busy = [s for s in samples if "running" in s]
        if busy:
            notes.append(f"time to first token includes the time a request waits for KV blocks and a sequence slot "
                         f"(median over the samples: {statistics.median(s['running'] for s in busy):.0f} running, "
                         f"{statistics.median(s['waiting'] for s in busy):.0f} waiting)")
        if (os.cpu_count() or 0) <= 4:
            notes.append(f"this machine has {os.cpu_count()} cores shared by canopyd and the {args.workers} client "
                         "threads (and anything else running here), so latencies are noisy; the checks do not "
                         "depend on them")

        report = {
            "passed": passed, "minutes": args.minutes, "date": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": commit, "commit_time": commit_time, "dirty": dirty, "machine": machine(), "load_start": load_start, "load_end": load_end,
            "command": command, "daemon_command": shlex.join(daemon.args).replace(str(workdir), "$TMP"),
            "binary_info": binary_info, "model": args.model.name, "kv_blocks": info.engine.kv_total_blocks,
            "block_size": info.engine.block_size, "cache_tokens": soak.cache_tokens,
            "kv_precision": info.engine.kv_precision, "context": info.context_length,
            "max_seqs": info.engine.max_sequences, "speculative": info.engine.speculative,
            "workers": args.workers, "load_seconds": load_seconds, "warmup_seconds": warmup_seconds, "drain_seconds": drain_seconds,
            "sighup_every": args.sighup_every, "sample_every": args.sample_every, "seed": args.seed, "notes": notes,
            "checks": checks, "by_kind": by_kind, "requests": len(outcomes), "by_status": by_status,
            "unexpected": unexpected[:40], "unexpected_count": len(unexpected), "latency": latency,
            "figures": figures, "rss_points": rss_points, "samples": samples, "series": rss_series(samples, 21),
            "final": final, "log_levels": log_summary(log_text)[0], "log_messages": log_summary(log_text)[1],
        }
        # Every outcome and sample, beside canopyd's log (kept with --keep or on failure).
        with open(workdir / "outcomes.tsv", "w") as f:
            f.write("at_s\tkind\texpected\tactual\tttft_s\ttotal_s\ttokens\tdetail\trequest\n")
            for o in sorted(outcomes, key=lambda o: o.at):
                f.write(f"{o.at:.2f}\t{o.kind}\t{o.expected}\t{o.actual}\t{o.ttft or ''}\t{o.total or ''}\t{o.tokens}\t"
                        f"{o.detail[:300]!r}\t{o.request[:300]!r}\n")
        with open(workdir / "samples.tsv", "w") as f:
            keys = ["t", "rss_kib", "running", "waiting", "used", "free", "cached", "preemptions", "generated",
                    "completed", "cancelled", "failed"]
            f.write("\t".join(keys) + "\n")
            for sample in samples:
                f.write("\t".join(str(sample.get(k, "")) for k in keys) + "\n")
        if args.out:
            write_report(args.out, report)
            print(f"soak: wrote {args.out}")
        print()
        for name, ok, value in checks:
            print(f"{'pass' if ok else 'FAIL'}  {name}: {value}")
        print(f"requests: {len(outcomes)} ({by_status}); unexpected {len(unexpected)}")
        for o in unexpected[:10]:
            print(f"  {o.at:.1f} s {o.kind}: expected {o.expected}, got {o.actual}: {o.detail[:300]} | {o.request[:300]}")
        for name, values in latency:
            print(f"{name}: p50 {fmt_ms(percentile(values, 0.5))} ms, p90 {fmt_ms(percentile(values, 0.9))} ms, "
                  f"p99 {fmt_ms(percentile(values, 0.99))} ms ({len(values)} requests)")
        print(f"RSS: warm-up {mib(rss_warm)} MiB -> end {mib(rss_end)} MiB "
              f"({'-' if growth is None else f'{growth:+.2f}'} %), idle {mib(rss_idle)} MiB")
        print(f"soak: {'PASS' if passed else 'FAIL'}")
        if passed and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"soak: canopyd's log kept in {daemon.log}")
        return 0 if passed else 1
    except BaseException:
        if daemon.alive():
            daemon.stop(timeout=30)
        print(f"soak: canopyd's log kept in {daemon.log}", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
