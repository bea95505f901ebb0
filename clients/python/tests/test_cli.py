"""The Swift CLI `canopy` round-trips every method against the same daemon and agrees with
the Python client; `canopy batch` (in-process engine) gives the same greedy tokens as a
streamed Generate through the daemon."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from canopy_client import Token

PROMPTS = [
    "Once upon a time, there was a little",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "The history of computing begins",
]
MAX_TOKENS = 12


def run_cli(canopy_path, *args, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(canopy_path), *args], input=stdin, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, f"canopy {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def cli(canopy_path, daemon):
    """Runs `canopy --socket <daemon> ARGS...`; skips (with the reason) while the CLI lacks
    a subcommand."""
    help_text = run_cli(canopy_path, "--help").stdout
    listed = help_text.split("SUBCOMMANDS:", 1)[-1] if "SUBCOMMANDS:" in help_text else ""
    subcommands = {line.split()[0] for line in listed.splitlines() if line.startswith("  ") and line.split()}

    def call(subcommand: str, *args, **kw):
        if subcommand not in subcommands:
            pytest.skip(f"`canopy {subcommand}` does not exist in {canopy_path} yet")
        return run_cli(canopy_path, "--socket", str(daemon.socket), subcommand, *args, **kw)

    return call


def test_cli_health(cli):
    out = json.loads(cli("health", "--json").stdout)
    assert out["status"] == "serving" and out["uptime_seconds"] > 0


def test_cli_info_matches_python(cli, client):
    out = json.loads(cli("info", "--json").stdout)
    info = client.info()
    assert out["model_path"] == info.model_path
    assert out["vocab_size"] == info.vocab_size == 49152
    assert out["context_length"] == info.context_length
    assert out["engine"]["kv_total_blocks"] == info.engine.kv_total_blocks
    assert out["sampling_defaults"]["top_k"] == info.sampling_defaults.top_k == 40
    assert out["sampling_defaults"]["keys_from_file"] == []
    text = cli("info").stdout
    line = next(l for l in text.splitlines() if l.startswith("sampling defaults:"))
    assert line.split(":", 1)[1].strip() == "temperature 0.8, top-k 40, top-p 0.95, min-p 0.05 (llama.cpp's defaults)"


def test_cli_stats(cli, client):
    table = cli("stats").stdout
    assert "kv blocks total" in table and str(client.stats().kv.total_blocks) in table
    prometheus = cli("stats", "--prometheus").stdout
    assert prometheus.strip(), "empty Prometheus exposition"
    assert all(line.startswith("#") or len(line.split()) >= 2 for line in prometheus.strip().splitlines())


def test_cli_tokenize_and_detokenize_match_python(cli, client):
    text = "Hello world, the KV cache holds 1024 tokens."
    ids = [int(x) for x in cli("tokenize", text).stdout.split()]
    assert ids == client.tokenize(text)
    special = [int(x) for x in cli("tokenize", "--parse-special", "<|im_start|>user").stdout.split()]
    assert special == client.tokenize("<|im_start|>user", parse_special=True)
    assert cli("detokenize", *map(str, ids)).stdout == text + "\n"


def test_cli_generate_matches_python_stream(cli, client):
    prompt = PROMPTS[0]
    out = json.loads(cli("generate", "--json", "--temperature", "0", "--max-tokens", str(MAX_TOKENS), prompt).stdout)
    streamed = [e.id for e in client.generate(prompt, temperature=0, max_tokens=MAX_TOKENS) if isinstance(e, Token)]
    assert out["samples"][0]["token_ids"] == streamed
    # Streaming text mode prints the generated text.
    text = cli("generate", "--temperature", "0", "--max-tokens", str(MAX_TOKENS), prompt).stdout
    assert text.rstrip("\n") == out["samples"][0]["text"].rstrip("\n")


def test_cli_invalid_parameter_reports_it(cli):
    result = cli("generate", "--top-p", "1.5", "--max-tokens", "2", "Hello", check=False)
    assert result.returncode != 0
    assert "top_p" in result.stderr


def test_batch_greedy_tokens_equal_daemon_stream(canopy_path, model_path, client):
    """`canopy batch` runs its own engine in-process; greedy decoding there and a streamed
    greedy Generate through the daemon must produce the same tokens."""
    lines = "".join(json.dumps({"id": f"b{i}", "prompt": p, "max_tokens": MAX_TOKENS, "temperature": 0}) + "\n"
                    for i, p in enumerate(PROMPTS))
    result = run_cli(canopy_path, "batch", "--model", str(model_path), "--kv-cache-memory", "96M", stdin=lines)
    batch = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["id"] for r in batch] == [f"b{i}" for i in range(len(PROMPTS))], result.stdout
    for record, prompt in zip(batch, PROMPTS):
        assert "error" not in record, record
        events = list(client.generate(prompt, temperature=0, max_tokens=MAX_TOKENS))
        streamed = [e.id for e in events if isinstance(e, Token)]
        assert streamed, prompt
        assert record["token_ids"] == streamed, f"{prompt!r}: batch {record['token_ids']} vs daemon {streamed}"
        assert record["text"] == events[-1].text


def test_batch_with_kv_swap_gives_the_roomy_tokens_and_reports_the_swaps(canopy_path, model_path):
    """`canopy batch --kv-swap-space` with an arena far too small: sequences are preempted and
    swapped out, their tokens equal a roomy run's, and the swap counters go to stderr."""
    lines = "".join(json.dumps({"id": f"s{i}", "prompt": p, "max_tokens": 48, "temperature": 0, "ignore_eos": True})
                    + "\n" for i, p in enumerate(PROMPTS * 2))
    roomy = run_cli(canopy_path, "batch", "--model", str(model_path), "--kv-cache-memory", "96M", stdin=lines)
    tight = run_cli(canopy_path, "batch", "--model", str(model_path), "--kv-cache-memory", "4M",
                    "--kv-swap-space", "64M", stdin=lines)
    tokens = lambda result: [json.loads(line)["token_ids"] for line in result.stdout.splitlines() if line.strip()]
    assert tokens(tight) == tokens(roomy)
    report = [line for line in tight.stderr.splitlines() if line.startswith("kv swap:")]
    assert len(report) == 1, tight.stderr
    swapped = int(report[0].split("(")[1].split(" swapped")[0])
    assert swapped > 0, report[0]


PERPLEXITY_FIXTURE = Path(__file__).resolve().parents[3] / "Tests" / "Fixtures" / "perplexity"


def test_perplexity_agrees_with_llama_perplexity(canopy_path, model_path):
    """`canopy perplexity` (in-process) on the committed text at the settings of its llama.cpp
    reference (Tests/Fixtures/perplexity): --json within 0.5 % of llama-perplexity's PPL, the
    text output in llama-perplexity's form with the same value, a progress line per chunk on
    stderr; a text shorter than two contexts is refused with its token count."""
    reference = json.loads((PERPLEXITY_FIXTURE / "reference.json").read_text())
    args = ["perplexity", "--model", str(model_path), "--file", str(PERPLEXITY_FIXTURE / "text.txt"),
            "--ctx", str(reference["ctx"]), "--chunks", str(reference["chunks"]), "--threads", "2"]
    ours = json.loads(run_cli(canopy_path, *args, "--json").stdout)
    assert ours["chunks"] == reference["chunks"] and len(ours["running_ppl"]) == reference["chunks"]
    assert ours["scored_tokens"] == reference["chunks"] * (reference["ctx"] - reference["ctx"] // 2 - 1)
    assert abs(ours["ppl"] / reference["ppl"] - 1) < 0.005, (ours["ppl"], reference["ppl"])

    text = run_cli(canopy_path, *args)
    running, final = text.stdout.splitlines()[:2]
    assert running == "".join(f"[{i}]{v:.4f}," for i, v in enumerate(ours["running_ppl"], 1))
    assert final.startswith(f"Final estimate: PPL = {ours['ppl']:.4f} +/- "), final
    progress = [line for line in text.stderr.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in progress] == [f"[{i}/{reference['chunks']}" for i in range(1, reference["chunks"] + 1)]

    short = run_cli(canopy_path, "perplexity", "--model", str(model_path), "--file",
                    str(PERPLEXITY_FIXTURE / "README.md"), "--ctx", "4096", check=False)
    assert short.returncode == 1 and "needs at least 8192" in short.stderr, short.stderr
