"""Speculative decoding through the daemon: a request's `speculative_tokens` changes speed,
never the tokens; Stats, Prometheus, `canopy stats` and `canopy info` report it; an out-of-range
value is INVALID_ARGUMENT; `--speculative off` proposes nothing unless a request asks; a draft
model (`--draft-model`) proposes, Info and `canopy info` name it, and settings that do not go
with it stop canopyd at startup with a message saying what to do."""

from __future__ import annotations

import json
import re
import subprocess

import grpc
import pytest

from canopy_client import CanopyError, Token
from conftest import REPO, refused_at_startup

SENTENCE = "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat."
# A prompt whose answer repeats its own text: n-gram lookup proposes from the context.
MESSAGES = [{"role": "user", "content": f"Repeat exactly, three times: {SENTENCE}"}]
REQUEST = dict(temperature=0, max_tokens=64)


def greedy(client, **kw) -> list[int]:
    return [e.id for e in client.generate(messages=MESSAGES, **REQUEST, **kw) if isinstance(e, Token)]


def prometheus_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing from the Prometheus text")


def test_speculation_keeps_greedy_tokens_and_is_counted(client):
    before = client.stats().speculation
    plain = greedy(client, speculative_tokens=0)
    after_plain = client.stats().speculation
    assert after_plain.proposed_tokens == before.proposed_tokens, "speculative_tokens=0 proposed tokens"
    speculated = greedy(client, speculative_tokens=8)
    assert speculated == plain
    assert greedy(client) == plain, "the daemon's default setting changes the tokens"
    stats = client.stats()
    spec = stats.speculation
    assert spec.proposed_tokens > before.proposed_tokens, spec
    assert spec.chunks > before.chunks
    assert 0 < spec.accepted_tokens <= spec.proposed_tokens, spec
    assert spec.acceptance_rate == pytest.approx(spec.accepted_tokens / spec.proposed_tokens)
    assert spec.tokens_per_chunk == pytest.approx((spec.accepted_tokens + spec.chunks) / spec.chunks)
    assert spec.drafting_seconds >= 0
    for name, value in (("proposed_tokens", spec.proposed_tokens), ("accepted_tokens", spec.accepted_tokens),
                        ("chunks", spec.chunks)):
        assert prometheus_value(stats.prometheus_text, f"canopy_speculative_{name}_total") == value
    assert "# TYPE canopy_speculative_drafting_seconds_total counter" in stats.prometheus_text
    # The cost proposals are weighed against: the prior (0.3) or measured, never above the cap
    # (0.7) that keeps a new sequence trying.
    assert 0 < spec.verification_token_cost <= 0.7, spec
    assert prometheus_value(stats.prometheus_text, "canopy_speculative_verification_token_cost") == \
        pytest.approx(spec.verification_token_cost)


@pytest.mark.parametrize("value", [33, -1])
def test_out_of_range_speculative_tokens_is_invalid_argument(client, value):
    with pytest.raises(CanopyError) as error:
        client.generate(messages=MESSAGES, temperature=0, max_tokens=2, speculative_tokens=value).result()
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "speculative_tokens" in error.value.details, error.value.details


def help_default(canopyd_path, flag: str) -> str:
    """The default `canopyd --help` documents for `flag` (the help text asks EngineConfig)."""
    text = " ".join(subprocess.run([str(canopyd_path), "--help"], capture_output=True, text=True, check=True).stdout.split())
    match = re.search(rf"--{flag} <[^>]+> .*?\(default (\w+)", text)
    assert match, f"--{flag} documents no default in canopyd --help"
    return match.group(1)


def test_info_reports_the_settings(client, canopyd_path):
    engine = client.info().engine
    documented = tuple(help_default(canopyd_path, flag) for flag in ("speculative", "spec-tokens", "spec-step-tokens"))
    assert documented[0] == "ngram"  # on by default: speculation never changes the output
    assert (engine.speculative, str(engine.speculative_tokens), str(engine.speculative_step_tokens)) == documented
    assert engine.draft_model == ""


def test_speculative_off_proposes_only_when_a_request_asks(start_daemon, client):
    expected = greedy(client, speculative_tokens=0)
    daemon = start_daemon("--speculative", "off", "--spec-tokens", "4", "--spec-step-tokens", "16")
    with daemon.client(timeout=120) as off:
        engine = off.info().engine
        assert (engine.speculative, engine.speculative_tokens, engine.speculative_step_tokens) == ("off", 4, 16)
        # Before any step, and after steps with no proposals, the cost is the configured prior.
        assert off.stats().speculation.verification_token_cost == pytest.approx(0.3)
        assert greedy(off) == expected
        assert off.stats().speculation.proposed_tokens == 0
        assert off.stats().speculation.verification_token_cost == pytest.approx(0.3)
        assert greedy(off, speculative_tokens=8) == expected
        assert off.stats().speculation.proposed_tokens > 0


def test_bad_daemon_setting_names_the_flag(canopyd_path, model_path, workdir):
    result = refused_at_startup(canopyd_path, model_path, workdir, "--spec-tokens", "33")
    assert "--spec-tokens" in result.stderr and "1...32" in result.stderr, result.stderr


def test_cli_speculative_tokens_stats_and_info(canopy_path, daemon, client):
    def cli(*args):
        result = subprocess.run([str(canopy_path), "--socket", str(daemon.socket), *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"canopy {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    prompt = MESSAGES[0]["content"]
    outputs = [json.loads(cli("generate", "--json", "--chat", "--temperature", "0", "--max-tokens", "64",
                              "--speculative-tokens", n, prompt))["samples"][0]["token_ids"] for n in ("0", "8")]
    assert outputs[0] == outputs[1] == greedy(client, speculative_tokens=0)
    table = cli("stats")
    line = next(line for line in table.splitlines() if "speculation" in line)
    assert "proposed" in line and "accepted" in line and "tokens per step" in line, line
    cost = next(line for line in table.splitlines() if "speculation token cost" in line)
    assert re.search(r"\b0\.\d\d of a one-token step", cost), cost
    assert "speculative" in cli("info")
    assert json.loads(cli("info", "--json"))["engine"]["speculative"] == "ngram"


def startup_failure(daemon) -> str:
    """The log of a canopyd that must exit non-zero before serving."""
    try:
        status = daemon.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"canopyd kept running:\n{daemon.output()}")
    log = daemon.output()
    assert status != 0, log
    assert not daemon.socket.exists(), log
    return log


def test_draft_model_proposes_and_keeps_greedy_tokens(start_daemon, model_path, canopy_path):
    # The model as its own draft agrees with it on every greedy token. Its estimated cost
    # (its file size over the model's: 1) says such a draft never pays, so it is declared
    # free here (--spec-draft-cost 0); the test below checks the estimate holds it back.
    daemon = start_daemon("--draft-model", str(model_path), "--spec-draft-cost", "0")
    with daemon.client(timeout=120) as drafted:
        engine = drafted.info().engine
        assert (engine.speculative, engine.draft_model) == ("draft", str(model_path))
        plain = greedy(drafted, speculative_tokens=0)
        assert drafted.stats().speculation.proposed_tokens == 0
        assert greedy(drafted) == plain
        assert greedy(drafted, speculative_tokens=4) == plain
        spec = drafted.stats().speculation
        assert spec.proposed_tokens > 0 and spec.accepted_tokens == spec.proposed_tokens, spec
    assert f"speculative decoding: draft (draft model {model_path.name})" in daemon.output()

    def cli(*args):
        result = subprocess.run([str(canopy_path), "--socket", str(daemon.socket), *args],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"canopy {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout

    assert re.search(rf"^draft model: +{re.escape(str(model_path))}$", cli("info"), flags=re.MULTILINE)
    assert json.loads(cli("info", "--json"))["engine"]["draft_model"] == str(model_path)


def test_estimated_draft_cost_holds_back_a_draft_as_large_as_the_model(start_daemon, model_path):
    daemon = start_daemon("--draft-model", str(model_path))
    with daemon.client(timeout=120) as drafted:
        assert drafted.info().engine.speculative == "draft"
        greedy(drafted, speculative_tokens=4)
        assert drafted.stats().speculation.proposed_tokens == 0


@pytest.mark.parametrize("flags, words", [
    (["--speculative", "ngram", "--draft-model", "{model}"], ["--speculative ngram never uses the draft model", "draft-model"]),
    (["--speculative", "draft"], ["--speculative draft needs a draft model", "--draft-model PATH"]),
    (["--draft-model", "/nonexistent/draft.gguf"], ["cannot load the draft model /nonexistent/draft.gguf"]),
], ids=["ngram-with-draft", "draft-without-draft", "missing-draft"])
def test_draft_settings_that_cannot_work_fail_at_startup(start_daemon, model_path, flags, words):
    daemon = start_daemon(*(flag.format(model=model_path) for flag in flags), wait=False)
    log = startup_failure(daemon)
    assert all(word in log for word in words), log


def test_draft_with_another_vocabulary_fails_at_startup(start_daemon):
    # The APAR fixture's byte-level vocabulary (260 tokens) is not the model's.
    other = REPO / "Tests" / "Fixtures" / "apar-tiny" / "apar-tiny.gguf"
    log = startup_failure(start_daemon("--draft-model", str(other), wait=False))
    assert "the draft model's vocabulary has 260 tokens" in log and "the served model's tokenizer" in log, log
