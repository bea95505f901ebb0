"""Every method of canopy.v1.Canopy through the Python client, checked against llama.cpp's
reference tokenization and greedy tokens (Tests/Fixtures, see their README.md) and against
invariants of the protocol."""

from __future__ import annotations

import pytest

import llama_reference
from canopy_client import CanopyError, SampleFinished, Summary, Token, pb
from conftest import assert_kv_all_free
from llama_reference import FIXTURES, load_jsonl


def test_health_reports_serving(client):
    health = client.health()
    assert health.status == pb.SERVING_STATUS_SERVING
    assert health.uptime_seconds > 0


def test_info_describes_the_model(client, model_path):
    info = client.info()
    assert info.model_path.endswith(model_path.name)
    assert info.architecture == "llama"
    # From the model's GGUF metadata (see the fixtures README).
    assert (info.vocab_size, info.block_count, info.embedding_length) == (49152, 30, 576)
    assert (info.head_count, info.head_count_kv) == (9, 3)
    assert info.context_length >= 2048
    assert "Q4_1" in info.quantization
    assert info.engine.kv_cache_memory_bytes == 96 << 20
    assert info.engine.kv_total_blocks > 0
    assert info.server_version
    # SmolLM2's file carries no general.sampling.* keys: requests that set no sampling
    # parameters get llama.cpp's defaults.
    d = info.sampling_defaults
    assert (round(d.temperature, 6), d.top_k, round(d.top_p, 6), round(d.min_p, 6)) == (0.8, 40, 0.95, 0.05)
    assert d.repetition_penalty == 1 and list(d.keys_from_file) == []


def test_tokenize_matches_llama_cpp(client):
    records = load_jsonl(FIXTURES / "smollm2-tokenizer" / "tokenizer.jsonl")
    assert records
    for record in records:
        ids = client.tokenize(record["text"], parse_special=record["parse_special"])
        assert ids == record["ids"], record["text"]


def test_detokenize_inverts_tokenize(client):
    text = "Hello world, the KV cache holds 1024 tokens."
    assert client.detokenize(client.tokenize(text)) == text
    special = client.tokenize("<|im_start|>user", parse_special=True)
    assert client.detokenize(special, render_special=True) == "<|im_start|>user"
    assert client.detokenize(special, render_special=False) == "user"


def test_detokenize_unknown_id_is_invalid_argument(client):
    with pytest.raises(CanopyError) as error:
        client.detokenize([1, 49152])
    assert error.value.code.name == "INVALID_ARGUMENT"
    assert "49152" in error.value.details


def test_streamed_greedy_generate_matches_llama_cpp(client):
    sets = llama_reference.load_sets()
    records = llama_reference.records()[:3]
    for index, record in enumerate(records):
        stream = client.generate(prompt_ids=record["prompt_ids"], temperature=0, max_tokens=16,
                                 request_id="ref-" + str(index))
        events = list(stream)
        tokens = [e for e in events if isinstance(e, Token)]
        finished = [e for e in events if isinstance(e, SampleFinished)]
        assert isinstance(events[-1], Summary), "the summary must be the last event"
        summary = events[-1]
        assert summary.request_id == "ref-" + str(index)
        assert summary.prompt_token_ids == record["prompt_ids"]
        assert [t.id for t in tokens] == summary.token_ids, "streamed tokens differ from the summary"
        assert len(finished) == 1 and finished[0].reason == summary.samples[0].finish_reason
        assert summary.completion_tokens == len(tokens)
        assert summary.prompt_tokens == len(record["prompt_ids"])
        # Streamed text deltas add up to the final text (no stop strings here).
        assert "".join(t.text for t in tokens) == summary.text or summary.samples[0].finish_reason == "stop"
        same = llama_reference.judge(summary.token_ids, index, sets)
        assert same >= 4, f"only {same} tokens agree with llama.cpp before a near tie"


def test_text_prompt_and_prompt_ids_agree(client):
    record = llama_reference.records()[8]
    by_text = client.generate(prompt=record["prompt"], temperature=0, max_tokens=8).result()
    by_ids = client.generate(prompt_ids=record["prompt_ids"], temperature=0, max_tokens=8).result()
    assert by_text.prompt_token_ids == record["prompt_ids"]
    assert by_text.token_ids == by_ids.token_ids


def contains(haystack: list[int], needle: list[int]) -> bool:
    return any(haystack[i:i + len(needle)] == needle for i in range(len(haystack) - len(needle) + 1))


def test_chat_uses_the_template(client):
    question = "What is the capital of France?"
    reply = client.chat([{"role": "user", "content": question}], temperature=0, max_tokens=12)
    prompt = reply.prompt_token_ids
    # ChatML: the prompt opens a turn, holds the question and ends by opening the assistant's.
    assert prompt[0] == client.tokenize("<|im_start|>", parse_special=True)[0]
    assert contains(prompt, client.tokenize(question))
    tail = client.tokenize("<|im_end|>\n<|im_start|>assistant\n", parse_special=True)
    assert prompt[-len(tail):] == tail
    assert reply.text and reply.samples[0].finish_reason in ("stop", "length")
    record = llama_reference.records()[3]
    if prompt == record["prompt_ids"]:
        # Same rendering as the reference prompt: the reply must follow llama.cpp's greedy run.
        assert llama_reference.judge(reply.token_ids, 3) >= 4
    streamed = client.chat([("user", question)], stream=True, temperature=0, max_tokens=12)
    assert [t.id for t in streamed.tokens()] == reply.token_ids
    assert streamed.summary is not None and streamed.summary.prompt_token_ids == prompt


def test_stop_and_max_tokens(client):
    summary = client.generate("Once upon a time, there was a little", temperature=0, max_tokens=5,
                              ignore_eos=True).result()
    assert summary.samples[0].finish_reason == "length"
    assert len(summary.token_ids) == 5
    # Stopping on the third generated token ends the sample there with reason "stop"; the
    # stop token itself is reported like an end-of-generation token.
    stop_id = summary.token_ids[2]
    first = summary.token_ids.index(stop_id)
    stopped = client.generate("Once upon a time, there was a little", temperature=0, max_tokens=5,
                              stop_token_ids=[stop_id]).result()
    assert stopped.samples[0].finish_reason == "stop"
    assert stopped.token_ids == summary.token_ids[:first + 1]


def test_seeded_sampling_is_reproducible_and_n_gives_samples(client):
    kw = dict(prompt="The history of computing begins", temperature=0.9, seed=1234, max_tokens=8, n=2,
              ignore_eos=True)
    first = client.generate(**kw).result()
    second = client.generate(**kw).result()
    assert [s.token_ids for s in first.samples] == [s.token_ids for s in second.samples]
    assert [s.index for s in first.samples] == [0, 1]
    assert all(len(s.token_ids) == 8 for s in first.samples)


def test_logprobs_are_reported(client):
    events = list(client.generate("The history of computing begins", temperature=0, max_tokens=3, logprobs=2))
    tokens = [e for e in events if isinstance(e, Token)]
    assert len(tokens) == 3
    for token in tokens:
        assert token.logprob is not None and token.logprob <= 0
        assert len(token.top_logprobs) == 2
        # Greedy picks the most likely token: it heads the alternatives.
        assert token.top_logprobs[0][0] == token.id


def test_stats_count_requests_and_kv_is_free_afterwards(client):
    before = client.stats()
    client.generate("Hello", temperature=0, max_tokens=2).result()
    after = client.stats()
    assert after.requests_completed == before.requests_completed + 1
    assert after.generated_tokens >= before.generated_tokens + 1
    assert after.kv.total_blocks == client.info().engine.kv_total_blocks
    assert "requests_completed" in after.prometheus_text or "canopy_" in after.prometheus_text
    assert_kv_all_free(client)


def test_connections_are_logged_with_peer_credentials(daemon):
    """canopyd logs the kernel-verified pid/uid/gid (SO_PEERCRED) of each connection."""
    import os
    with daemon.client(timeout=30) as own:
        own.health()
    log = daemon.output()
    assert f"pid={os.getpid()}" in log and f"uid={os.getuid()}" in log, log[-2000:]
