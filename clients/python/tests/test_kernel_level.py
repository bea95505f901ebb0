"""CANOPY_MAX_ISA: one process-wide ceiling on the kernels' instruction set, so a machine with
AVX-512 runs exactly what an AVX2-only or scalar-only machine runs. canopyd logs the level it
uses and refuses a value that names no level."""

from __future__ import annotations

import os
import subprocess

import pytest

import llama_reference

LEVELS = ["scalar", "avx2", "avx512vnni"]


def hardware_level() -> str:
    """The best level this CPU offers, read from /proc/cpuinfo's flags (an independent reading
    of what canopyd gets from cpuid)."""
    flags: set[str] = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= flags:
        return "avx512vnni"
    if {"avx2", "fma", "f16c"} <= flags:
        return "avx2"
    return "scalar"


@pytest.mark.parametrize("level", ["scalar", "avx2"])
def test_max_isa_caps_the_kernels_and_generation_still_tracks_llama_cpp(start_daemon, level):
    daemon = start_daemon(env={"CANOPY_MAX_ISA": level})
    expected = min(level, hardware_level(), key=LEVELS.index)
    log = daemon.output()
    assert f"kernels: 2 threads, {expected}" in log, log
    if LEVELS.index(hardware_level()) > LEVELS.index(level):
        assert f"CPU supports {hardware_level()}; capped by CANOPY_MAX_ISA={level}" in log, log
    sets = llama_reference.load_sets()
    with daemon.client(timeout=120) as client:
        for index, record in enumerate(llama_reference.records()[:2]):
            result = client.generate(prompt_ids=record["prompt_ids"], temperature=0, max_tokens=12).result()
            assert llama_reference.judge(result.token_ids, index, sets) >= 4


def test_unknown_max_isa_refuses_to_start(start_daemon):
    daemon = start_daemon(env={"CANOPY_MAX_ISA": "avx9000"}, wait=False)
    try:
        status = daemon.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"canopyd kept running with CANOPY_MAX_ISA=avx9000:\n{daemon.output()}")
    assert status != 0
    log = daemon.output()
    assert "CANOPY_MAX_ISA=avx9000 is not a kernel level" in log and "avx2" in log, log
    assert not daemon.socket.exists()


@pytest.mark.parametrize("cap", [None, "scalar", "avx2", "avx512vnni"])
def test_system_info_reports_the_hardware_level_and_the_capped_one(canopy_path, cap):
    env = {k: v for k, v in os.environ.items() if k != "CANOPY_MAX_ISA"}
    if cap is not None:
        env["CANOPY_MAX_ISA"] = cap
    result = subprocess.run([str(canopy_path), "system-info"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["hardware"] == hardware_level(), result.stdout
    expected = hardware_level() if cap is None else min(cap, hardware_level(), key=LEVELS.index)
    assert lines["kernels"] == expected, result.stdout
    assert int(lines["threads"]) >= 1, result.stdout


def test_system_info_refuses_an_unknown_level(canopy_path):
    env = dict(os.environ, CANOPY_MAX_ISA="avx9000")
    result = subprocess.run([str(canopy_path), "system-info"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "CANOPY_MAX_ISA=avx9000 is not a kernel level" in result.stderr, result.stderr
