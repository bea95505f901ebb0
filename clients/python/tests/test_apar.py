"""APAR through the daemon: canopyd serving the trained forking fixture (Tests/Fixtures/apar-tiny,
see its README) forks where the model emits [SplitMask]; the Python client sees each branch's
tokens tagged with its branch and parent, and the summary's branches and assembled answer equal
the fixture's independent float64 reference; `canopy generate` and `canopy batch` show the
assembled answer; `apar=False` decodes one branch; Stats counts forks and no KV block leaks."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, Daemon, assert_kv_all_free

APAR = REPO / "Tests" / "Fixtures" / "apar-tiny"


@pytest.fixture(scope="module")
def reference():
    return json.loads((APAR / "reference.json").read_text())


@pytest.fixture(scope="module")
def apar_daemon(canopyd_path):
    workdir = Path(tempfile.mkdtemp(prefix="canopy-apar-"))
    daemon = Daemon(canopyd_path, APAR / "apar-tiny.gguf", workdir, "--kv-precision", "f32", "--grace-period", "5")
    daemon.wait_ready()
    yield daemon
    status = daemon.stop()
    log = daemon.output()
    shutil.rmtree(workdir, ignore_errors=True)
    assert status == 0, f"canopyd on apar-tiny exited with {status}:\n{log}"


def expected_answer(client, reference) -> str:
    """The reference's answer assembled by hand: each item, its child's detail, the next item."""
    fork = reference["fork"]
    mask, eos = reference["tokens"]["split_mask"], reference["tokens"]["eos"]
    text, item, child = "", [], 0
    for token in fork["main"]:
        if token == mask:
            text += client.detokenize(item)
            text += client.detokenize([t for t in fork["children"][child]["greedy"] if t != eos])
            item, child = [], child + 1
        elif token != eos:
            item.append(token)
    return text + client.detokenize(item)


def test_the_model_forks_and_the_client_sees_every_branch(apar_daemon, reference):
    fork = reference["fork"]
    sop = reference["tokens"]["split_sop"]
    with apar_daemon.client(timeout=60) as client:
        stream = client.generate(prompt_ids=fork["prompt"], temperature=0, max_tokens=150)
        tokens = list(stream.tokens())
        summary = stream.result()
        sample = summary.samples[0]
        assert [b.id for b in sample.branches] == list(range(1 + len(fork["children"])))
        assert sample.branches[0].parent is None and sample.branches[0].token_ids == fork["main"]
        assert sample.token_ids == fork["main"]
        for index, child in enumerate(fork["children"], start=1):
            branch = sample.branches[index]
            assert branch.parent == 0 and branch.token_ids == [sop] + child["greedy"], index
            assert branch.finish_reason == "stop"
        for branch in sample.branches:
            assert [t.id for t in tokens if t.branch == branch.id] == branch.token_ids
            assert all(t.parent_branch == branch.parent for t in tokens if t.branch == branch.id)
        assert sample.text == expected_answer(client, reference)
        assert summary.branches == len(sample.branches)
        assert summary.completion_tokens == sum(len(b.token_ids) for b in sample.branches)

        plain = client.generate(prompt_ids=fork["prompt"], temperature=0, max_tokens=100, apar=False).result()
        assert plain.samples[0].branches == [] and plain.token_ids == fork["main"] and plain.branches == 1

        stats = client.stats()
        assert stats.apar_forks == len(fork["children"]), str(stats)
        assert stats.kv.peak_used_blocks > 0
        assert "canopy_apar_forks_total 4" in stats.prometheus_text
        assert_kv_all_free(client)


def test_the_cli_shows_the_assembled_answer_and_each_branch(apar_daemon, canopy_path, reference):
    fork = reference["fork"]
    ids = ",".join(str(t) for t in fork["prompt"])
    base = [str(canopy_path), "--socket", str(apar_daemon.socket), "generate", "--prompt-ids", ids,
            "--temperature", "0", "--max-tokens", "150"]
    with apar_daemon.client(timeout=60) as client:
        answer = expected_answer(client, reference)
    shown = subprocess.run(base, capture_output=True, text=True, timeout=60)
    # Not a terminal: the unforked start streams, the rest comes at the end, in order.
    assert shown.returncode == 0 and shown.stdout == answer, shown.stdout + shown.stderr
    by_branch = subprocess.run(base + ["--branches"], capture_output=True, text=True, timeout=60)
    assert by_branch.returncode == 0, by_branch.stderr
    for branch in range(1, 1 + len(fork["children"])):
        assert f"[branch {branch} (from 0)]" in by_branch.stdout, by_branch.stdout
    as_json = subprocess.run(base + ["--json"], capture_output=True, text=True, timeout=60)
    summary = json.loads(as_json.stdout)
    assert summary["samples"][0]["text"] == answer
    assert len(summary["samples"][0]["branches"]) == 1 + len(fork["children"])
    assert summary["usage"]["branches"] == 1 + len(fork["children"])
    stats = subprocess.run([str(canopy_path), "--socket", str(apar_daemon.socket), "stats"],
                           capture_output=True, text=True, timeout=60)
    assert "apar forks" in stats.stdout and "kv blocks used at peak" in stats.stdout, stats.stdout


def test_canopy_batch_carries_branches(canopy_path, reference):
    fork = reference["fork"]
    lines = [json.dumps({"id": "a", "prompt_ids": fork["prompt"], "max_tokens": 150, "temperature": 0}),
             json.dumps({"id": "b", "prompt_ids": fork["prompt"], "max_tokens": 100, "temperature": 0,
                         "apar": False})]
    run = subprocess.run([str(canopy_path), "batch", "--model", str(APAR / "apar-tiny.gguf"), "--kv-precision", "f32"],
                         input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    a, b = (json.loads(line) for line in run.stdout.splitlines())
    assert a["token_ids"] == fork["main"] and len(a["branches"]) == 1 + len(fork["children"])
    assert [branch["token_ids"][1:] for branch in a["branches"][1:]] == [c["greedy"] for c in fork["children"]]
    assert a["usage"]["branches"] == 1 + len(fork["children"])
    assert "branches" not in b and b["token_ids"] == fork["main"]
