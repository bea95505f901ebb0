"""--weight-memory through the daemon: streamed layers give the resident model's tokens, and
Stats reports what is streamed and read."""

from __future__ import annotations

import subprocess

import pytest
from canopy_client import pb


SAMPLED = dict(prompt="Once upon a time", max_tokens=16, temperature=0.9, top_p=0.95, seed=1234, n=4,
               ignore_eos=True)


def sampled_tokens(client):
    return [list(sample.token_ids) for sample in client.generate(**SAMPLED).result().samples]


@pytest.mark.parametrize("budget", ["40M", "24M"])
def test_streamed_weights_give_the_resident_tokens_and_report_their_reads(client, start_daemon, canopy_path, budget):
    request = dict(prompt="The capital of France is", max_tokens=24, temperature=0, ignore_eos=True)
    resident = client.generate(**request).result().samples[0].token_ids
    resident_sampled = sampled_tokens(client)
    assert client.stats().HasField("weight_streaming") is False
    assert client.info().weight_placement == ""

    # 40 MB and 24 MB (about 40% and 25%) of the 98 MB default model: some layers resident,
    # the others read from the file for every forward pass; at 24 MB the tied 30 MB token
    # embedding / output projection streams too, in chunks, and lookups read it by row.
    streamed_daemon = start_daemon("--weight-memory", budget)
    with streamed_daemon.client(timeout=120) as streamed_client:
        assert streamed_client.generate(**request).result().samples[0].token_ids == resident
        # A seeded sampled batch of 4 gives the same tokens as resident too.
        assert sampled_tokens(streamed_client) == resident_sampled
        stats = streamed_client.stats()
        w = stats.weight_streaming
        assert stats.HasField("weight_streaming"), str(stats)
        budget_bytes = int(budget[:-1]) << 20
        assert w.budget_bytes == budget_bytes and w.resident_bytes < w.budget_bytes, str(w)
        assert 0 < w.streamed_layers <= w.total_layers == 30, str(w)
        # One read of every streamed unit per forward pass (25 passes for the greedy request:
        # prompt + 24 tokens, give or take the read-ahead into the next pass).
        assert w.bytes_read >= 24 * w.streamed_bytes_per_pass, str(w)
        assert w.prefetch_hits + w.stalls + w.demand_reads >= 24 * w.streamed_layers, str(w)
        assert "canopy_weight_read_bytes_total" in stats.prometheus_text
        info = streamed_client.info()
        assert "layers streamed" in info.weight_placement, str(info)
        assert info.weight_read_bytes_per_pass == w.streamed_bytes_per_pass, str(info)
        if budget == "24M":
            assert "output projection streamed" in info.weight_placement, info.weight_placement
            assert "token embedding read by row" in info.weight_placement, info.weight_placement
        for command in ("stats", "info"):
            shown = subprocess.run([str(canopy_path), "--socket", str(streamed_daemon.socket), command],
                                   capture_output=True, text=True, timeout=60)
            assert shown.returncode == 0 and "layers streamed" in shown.stdout, shown.stdout + shown.stderr
            if command == "stats":
                assert "weight bytes read per token" in shown.stdout, shown.stdout
    assert "layers streamed" in streamed_daemon.output()


def test_a_streamed_model_file_truncated_while_serving_fails_requests_not_the_daemon(start_daemon, model_path, tmp_path):
    # Streamed layers are read from the file for every forward pass: once it is truncated,
    # the generation in flight ends with UNAVAILABLE (no crash, no garbage tokens), new ones
    # are refused, Health says NOT_SERVING, and the daemon keeps answering everything else.
    import grpc
    import os
    import shutil
    import time

    from canopy_client import CanopyError

    copy = tmp_path / "model.gguf"
    shutil.copyfile(model_path, copy)
    daemon = start_daemon("--weight-memory", "40M", model=copy)
    with daemon.client(timeout=120) as client:
        running = iter(client.generate(prompt="Write a long story.", max_tokens=400, ignore_eos=True, temperature=0))
        next(running)
        os.truncate(copy, os.path.getsize(copy) // 3)
        with pytest.raises(CanopyError) as error:
            for _ in running:
                pass
        assert error.value.code == grpc.StatusCode.UNAVAILABLE, error.value
        assert "model file" in error.value.details, error.value.details
        deadline = time.monotonic() + 10
        while client.health().status != pb.SERVING_STATUS_NOT_SERVING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.health().status == pb.SERVING_STATUS_NOT_SERVING
        with pytest.raises(CanopyError) as error:
            client.generate(prompt="Hello", max_tokens=2).result()
        assert error.value.code == grpc.StatusCode.UNAVAILABLE, error.value
        stats = client.stats()
        assert stats.requests_failed == 1 and stats.kv.used_blocks == 0, str(stats)
        assert client.tokenize("still answering") != []
    assert daemon.process.poll() is None, daemon.output()
