"""--kv-swap-space through the daemon: the swap file is private (0600, unlinked at once, in the
state directory) and gone after exit, a preemption-heavy workload swaps and still gives the
roomy daemon's tokens, and Stats, Prometheus and `canopy stats` report the swap counters."""

from __future__ import annotations

import os
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from canopy_client import CanopyClient
from conftest import TIMEOUT_SCALE

PROMPTS = [f"Write a numbered list of {n} facts about the number {n}." for n in range(3, 11)]
REQUEST = dict(temperature=0, max_tokens=64, ignore_eos=True)


def swap_files(pid: int, directory: Path) -> list[tuple[str, int]]:
    """The process's open files in `directory` named like a swap file: (link target, mode)."""
    found = []
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
            if target.startswith(f"{directory}/canopy-kv-swap-"):
                found.append((target, stat.S_IMODE(os.stat(fd).st_mode)))
        except FileNotFoundError:
            continue
    return found


def generate_all(socket: str) -> list[list[int]]:
    def one(prompt: str) -> list[int]:
        with CanopyClient(socket, timeout=300 * TIMEOUT_SCALE) as client:
            return list(client.generate(prompt, **REQUEST).result().samples[0].token_ids)

    with ThreadPoolExecutor(len(PROMPTS)) as pool:
        return list(pool.map(one, PROMPTS))


def test_swap_file_is_private_swaps_under_pressure_and_is_gone_after_exit(daemon, start_daemon, workdir, canopy_path):
    expected = generate_all(str(daemon.socket))
    state = workdir / "state"
    state.mkdir(mode=0o750)
    # 11 KV blocks of 16 positions (368,640 bytes each at f16): the 8 requests need about 40.
    swapping = start_daemon("--kv-swap-space", "64M", kv_cache_memory="4M", env={"STATE_DIRECTORY": str(state)})
    pid = swapping.process.pid

    files = swap_files(pid, state)
    assert len(files) == 1, files
    target, mode = files[0]
    assert target.endswith(" (deleted)"), target
    assert mode == 0o600, oct(mode)
    assert list(state.iterdir()) == [], "the swap file has no name"

    assert generate_all(str(swapping.socket)) == expected
    with swapping.client(timeout=60) as client:
        stats = client.stats()
    swap = stats.kv_swap
    assert stats.HasField("kv_swap"), str(stats)
    assert swap.slots == (64 << 20) // 368640 and swap.slot_bytes == 368640, str(swap)
    assert stats.preemptions_swapped > 0, str(stats)
    assert stats.preemptions_swapped + stats.preemptions_recomputed == stats.preemptions, str(stats)
    assert swap.swap_out_blocks > 0 and swap.swap_in_blocks > 0, str(swap)
    assert swap.swap_out_bytes == swap.swap_out_blocks * swap.slot_bytes, str(swap)
    assert swap.failures == 0 and swap.swapped_sequences == 0 and stats.kv.used_blocks == 0, str(stats)
    assert "canopy_kv_swap_out_bytes_total" in stats.prometheus_text
    assert "canopy_preemptions_swapped_total" in stats.prometheus_text
    shown = subprocess.run([str(canopy_path), "--socket", str(swapping.socket), "stats"],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "kv swapped out" in shown.stdout, shown.stdout + shown.stderr
    assert "KV swap:" in swapping.output()

    assert swapping.stop() == 0, swapping.output()
    assert not Path(f"/proc/{pid}").exists()
    assert list(state.iterdir()) == []


def test_without_swap_space_stats_have_no_swap_tier(client):
    stats = client.stats()
    assert not stats.HasField("kv_swap")
    assert stats.preemptions_swapped == 0
    assert stats.preemptions_recomputed == stats.preemptions
