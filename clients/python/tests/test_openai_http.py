"""The OpenAI-compatible HTTP API (`canopyd --http`, `--http-socket`) driven by clients
nobody here wrote: the official `openai` SDK and `prometheus_client`'s text parser.

One daemon serves gRPC (its Unix socket), HTTP on a loopback port and HTTP on a second Unix
socket, with a bearer token; the gRPC client reads Stats beside it, so both interfaces are
checked against the same engine.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO, Daemon, assert_kv_all_free, wait_for_idle_kv
from test_cli import run_cli

TOKEN = "canopy-test-token"
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time"]
MAX_TOKENS = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def http_daemon(canopyd_path, model_path):
    workdir = Path(tempfile.mkdtemp(prefix="canopy-http-"))
    token_file = workdir / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    daemon = Daemon(canopyd_path, model_path, workdir, "--http", f"127.0.0.1:{port}",
                    "--http-socket", str(workdir / "http.sock"), "--http-token-file", str(token_file))
    daemon.wait_ready()
    daemon.base_url = f"http://127.0.0.1:{port}"
    daemon.http_socket = workdir / "http.sock"
    yield daemon
    status, log = daemon.stop(), daemon.output()
    socket_left = daemon.http_socket.exists()
    shutil.rmtree(workdir, ignore_errors=True)
    assert status == 0, log
    assert not socket_left, "the HTTP socket was not removed at exit"


@pytest.fixture
def oai(http_daemon):
    return openai.OpenAI(base_url=http_daemon.base_url + "/v1", api_key=TOKEN, max_retries=0, timeout=120)


@pytest.fixture
def grpc(http_daemon):
    with http_daemon.client(timeout=60) as client:
        yield client


def get(url: str, token: str | None = TOKEN) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_models_and_greedy_completions_equal_canopy_batch(oai, canopy_path, model_path):
    models = oai.models.list()
    assert [m.id for m in models.data] == [model_path.name]
    lines = "".join(json.dumps({"id": i, "prompt": p, "max_tokens": MAX_TOKENS, "temperature": 0}) + "\n"
                    for i, p in enumerate(PROMPTS))
    lines += json.dumps({"id": "chat", "messages": [{"role": "user", "content": "Name a colour."}],
                         "max_tokens": MAX_TOKENS, "temperature": 0}) + "\n"
    result = run_cli(canopy_path, "batch", "--model", str(model_path), "--kv-cache-memory", "96M", stdin=lines)
    batch = {r["id"]: r for r in map(json.loads, result.stdout.splitlines())}
    for i, prompt in enumerate(PROMPTS):
        reference = batch[i]
        answer = oai.completions.create(model="any", prompt=prompt, max_tokens=MAX_TOKENS, temperature=0, logprobs=0)
        choice = answer.choices[0]
        assert choice.text == reference["text"], prompt
        assert answer.usage.completion_tokens == len(reference["token_ids"])
        assert len(choice.logprobs.tokens) == len(reference["token_ids"])
        assert choice.finish_reason == reference["finish_reason"]
    chat = oai.chat.completions.create(model="any", messages=[{"role": "user", "content": "Name a colour."}],
                                       max_tokens=MAX_TOKENS, temperature=0)
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content == batch["chat"]["text"]
    assert chat.usage.prompt_tokens == batch["chat"]["usage"]["prompt_tokens"]
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens


def test_streaming_equals_non_streaming_and_reports_usage(oai):
    messages = [{"role": "user", "content": "Give me three tips for learning to cook."}]
    whole = oai.chat.completions.create(model="m", messages=messages, max_tokens=24, temperature=0)
    parts, usage, finish = [], None, None
    for chunk in oai.chat.completions.create(model="m", messages=messages, max_tokens=24, temperature=0,
                                             stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(parts) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
    streamed = "".join(c.choices[0].text for c in oai.completions.create(
        model="m", prompt=PROMPTS[2], max_tokens=20, temperature=0, stream=True) if c.choices)
    assert streamed == oai.completions.create(model="m", prompt=PROMPTS[2], max_tokens=20, temperature=0).choices[0].text


def test_n_seed_stop_and_logprobs(oai):
    messages = [{"role": "user", "content": "Write a short poem about the sea."}]
    first = oai.chat.completions.create(model="m", messages=messages, n=3, seed=11, temperature=0.9,
                                        max_tokens=16, logprobs=True, top_logprobs=3)
    again = oai.chat.completions.create(model="m", messages=messages, n=3, seed=11, temperature=0.9,
                                        max_tokens=16, logprobs=True, top_logprobs=3)
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert [c.message.content for c in first.choices] == [c.message.content for c in again.choices]
    for choice in first.choices:
        content = choice.logprobs.content
        assert len(content) > 0 and all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in content)
        assert all(bytes(t.bytes).decode("utf-8", "replace") == t.token for t in content)
    assert first.usage.completion_tokens == sum(len(c.logprobs.content) for c in first.choices)
    plain = oai.completions.create(model="m", prompt="1, 2, 3, 4,", max_tokens=16, temperature=0).choices[0].text
    assert " 6," in plain, plain
    stopped = oai.completions.create(model="m", prompt="1, 2, 3, 4,", max_tokens=16, temperature=0, stop=[" 6"])
    assert stopped.choices[0].text == plain[:plain.index(" 6")]
    assert stopped.choices[0].finish_reason == "stop"


def test_errors_are_the_sdks_typed_exceptions(oai, http_daemon):
    with pytest.raises(openai.BadRequestError) as bad:
        oai.completions.create(model="m", prompt="x", temperature=-1)
    assert bad.value.status_code == 400 and bad.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as long:
        oai.completions.create(model="m", prompt="word " * 9000, max_tokens=8)
    assert long.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as huge:
        oai.completions.create(model="m", prompt="x", max_tokens=2**63 - 1)
    assert huge.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": 5}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=http_daemon.base_url + "/v1", api_key="wrong", max_retries=0).models.list()
    status, body = get(http_daemon.base_url + "/v1/nothing-here")
    assert status == 404 and "no route" in json.loads(body)["error"]["message"]
    request = urllib.request.Request(http_daemon.base_url + "/v1/completions", data=b"{" + b" " * (5 << 20) + b"}",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=30)
        pytest.fail("an oversize body was accepted")
    except urllib.error.HTTPError as error:
        assert error.code == 413
    except (ConnectionError, urllib.error.URLError):
        pass  # the server may close the connection before the client finishes sending
    # /health needs no token; the daemon keeps serving after all of the above.
    status, body = get(http_daemon.base_url + "/health", token=None)
    assert status == 200 and json.loads(body)["status"] == "serving"


def test_metrics_parse_and_match_stats(oai, grpc, http_daemon):
    oai.completions.create(model="m", prompt=PROMPTS[0], max_tokens=4, temperature=0)
    wait_for_idle_kv(grpc)
    status, body = get(http_daemon.base_url + "/metrics")
    assert status == 200
    samples = {s.name: s.value for family in text_string_to_metric_families(body.decode())
               for s in family.samples}
    stats = grpc.stats()
    assert samples["canopy_generated_tokens_total"] == stats.generated_tokens
    assert samples["canopy_requests_completed_total"] == stats.requests_completed
    assert samples["canopy_kv_blocks_capacity"] == stats.kv.total_blocks


def test_a_client_that_leaves_mid_stream_frees_its_blocks(oai, grpc):
    before = grpc.stats().requests_cancelled
    stream = oai.completions.create(model="m", prompt="Tell me a long story.", max_tokens=3000, temperature=0,
                                    stream=True, extra_body={"ignore_eos": True})
    received = 0
    for chunk in stream:
        received += 1
        if received == 3:
            break
    stream.close()
    deadline = time.monotonic() + 30
    while grpc.stats().requests_cancelled == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert grpc.stats().requests_cancelled == before + 1
    assert_kv_all_free(grpc)


def test_http_over_the_unix_socket(http_daemon, grpc):
    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(http_daemon.http_socket))

    # The same gate as the gRPC socket: owner and group only, and a lock against a second daemon.
    assert stat.S_IMODE(os.stat(http_daemon.http_socket).st_mode) == 0o660
    assert Path(str(http_daemon.http_socket) + ".lock").exists()
    connection = UnixConnection("localhost", timeout=60)
    body = json.dumps({"prompt": PROMPTS[0], "max_tokens": 6, "temperature": 0})
    connection.request("POST", "/v1/completions", body, {"Authorization": f"Bearer {TOKEN}",
                                                         "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    answer = json.loads(response.read())
    assert answer["usage"]["completion_tokens"] == 6 and answer["object"] == "text_completion"
    assert_kv_all_free(grpc)


def test_the_openapi_document_holds_against_the_server(start_daemon):
    """schemathesis generates requests from Protos/openapi/canopy-http.yaml (its examples,
    boundary values and random fuzzing, a bounded and deterministic number) and checks every
    response: no 5xx, a status and content type the document lists, a body its schema
    accepts. A small KV cache keeps fuzzed max_tokens cheap (larger ones are refused with 400;
    unset ones are 16).
    Afterwards the daemon still serves and every KV block is free."""
    port = free_port()
    daemon = start_daemon("--http", f"127.0.0.1:{port}", "--default-max-tokens", "16", kv_cache_memory="4M")
    schemathesis = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(schemathesis), "run", str(REPO / "Protos" / "openapi" / "canopy-http.yaml"),
         "--url", f"http://127.0.0.1:{port}",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
         "--max-examples", "10", "--generation-deterministic", "--workers", "1", "--request-timeout", "120",
         "--no-color"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1], result.stdout[-3000:]
    with daemon.client(timeout=60) as client:
        assert client.health().status == 1  # SERVING
        assert_kv_all_free(client)


def test_canopy_bench_drives_the_http_api(canopy_path, http_daemon):
    """`canopy bench --http` (the load generator of the serving table) against this daemon:
    prompts from its /tokenize, streamed completions, the server's usage counted."""
    result = run_cli(canopy_path, "bench", "--http", http_daemon.base_url, "--api-key", TOKEN, "--requests", "4",
                     "--concurrency", "2", "--prompt-tokens", "16", "--max-tokens", "8", "--json")
    figures = json.loads(result.stdout)
    assert figures["completed"] == 4 and figures["failed"] == 0, figures
    assert figures["total_output_tokens"] == 32 and figures["total_input_tokens"] == 64
    assert figures["ttft_ms"]["p50"] > 0 and figures["itl_ms"]["p50"] >= 0
    refused = run_cli(canopy_path, "bench", "--http", http_daemon.base_url, "--api-key", "wrong", "--requests", "1",
                      "--max-tokens", "2", check=False)
    assert refused.returncode != 0 and "401" in refused.stderr + refused.stdout


def test_apar_switches_are_read_and_checked(oai):
    # The default model has no APAR tokens: the switches are accepted and change nothing; an
    # out-of-range depth or branch count is a 400 naming the field, as over gRPC.
    plain = oai.completions.create(model="m", prompt=PROMPTS[0], max_tokens=6, temperature=0)
    switched = oai.completions.create(model="m", prompt=PROMPTS[0], max_tokens=6, temperature=0,
                                      extra_body={"apar": True, "apar_max_depth": 3, "apar_max_branches": 8})
    assert switched.choices[0].text == plain.choices[0].text
    for field, value in (("apar_max_depth", 17), ("apar_max_branches", 0)):
        with pytest.raises(openai.BadRequestError) as error:
            oai.completions.create(model="m", prompt=PROMPTS[0], max_tokens=2, extra_body={field: value})
        assert field in str(error.value), error.value
