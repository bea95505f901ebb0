"""The prefill stall bound through the daemon (`--max-decode-stall`): Info, `canopy info` and the
documented default agree; a value of 0 turns it off; an out-of-range value stops canopyd at startup
naming the flag; greedy output is the same with the bound on and off while a long prompt arrives
beside running streams. Also `canopy health --repeat`, the Swift client's round-trip timer."""

from __future__ import annotations

import json
import re
import subprocess
import threading

from canopy_client import Token
from conftest import refused_at_startup


def help_default(canopyd_path) -> str:
    text = " ".join(subprocess.run([str(canopyd_path), "--help"], capture_output=True, text=True, check=True).stdout.split())
    match = re.search(r"--max-decode-stall <[^>]+> .*?\(default ([0-9.]+)", text)
    assert match, "--max-decode-stall documents no default in canopyd --help"
    return match.group(1)


def test_info_and_cli_report_the_bound(client, canopy_path, canopyd_path, daemon):
    assert client.info().engine.max_decode_stall == float(help_default(canopyd_path))
    out = subprocess.run([str(canopy_path), "--socket", str(daemon.socket), "info", "--json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out)["engine"]["max_decode_stall"] == client.info().engine.max_decode_stall


def test_out_of_range_stops_the_daemon_naming_the_flag(canopyd_path, model_path, workdir):
    result = refused_at_startup(canopyd_path, model_path, workdir, "--max-decode-stall", "0.5")
    assert "--max-decode-stall" in result.stderr and "1.0...1000.0" in result.stderr, result.stderr


def generate_beside_streams(client) -> list[list[int]]:
    """Greedy ids of four short streams and of a long prompt that arrives while they decode."""
    results: list[list[int] | None] = [None] * 5

    def run(i: int, prompt: str, max_tokens: int):
        ids = []
        for event in client.generate(prompt=prompt, temperature=0, max_tokens=max_tokens, ignore_eos=True,
                                     speculative_tokens=0):
            if isinstance(event, Token):
                ids.append(event.id)
        results[i] = ids

    threads = [threading.Thread(target=run, args=(i, f"Story {i}: once upon a time", 48)) for i in range(4)]
    for t in threads:
        t.start()
    long_prompt = " ".join(f"line {n} of a long document about trees and rivers." for n in range(60))
    late = threading.Thread(target=run, args=(4, long_prompt, 8))
    late.start()
    for t in [*threads, late]:
        t.join(timeout=300)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def test_output_does_not_depend_on_the_bound(start_daemon, client):
    bounded = generate_beside_streams(client)
    daemon = start_daemon("--max-decode-stall", "0")
    with daemon.client(timeout=120) as off:
        assert off.info().engine.max_decode_stall == 0
        assert generate_beside_streams(off) == bounded


def test_health_repeat_times_round_trips(canopy_path, daemon):
    out = subprocess.run([str(canopy_path), "--socket", str(daemon.socket), "health", "--repeat", "50", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    timing = json.loads(out.stdout)
    assert timing["calls"] == 50 and 0 < timing["p50_us"] <= timing["p99_us"]
    bad = subprocess.run([str(canopy_path), "--socket", str(daemon.socket), "health", "--repeat", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "--repeat" in bad.stderr
