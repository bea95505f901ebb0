"""Fixtures that run a real `canopyd` on a temporary Unix socket with the default model.

Binaries: env `CANOPYD` / `CANOPY`, else `<repo>/.build-tests/release/<name>` (what
`make test` builds), else `<repo>/.build/release/<name>`. Model: env `CANOPY_MODEL`, else
`<repo>/models/SmolLM2-135M-Instruct.Q4_1.gguf`. A missing binary or model fails the tests
with a message saying how to get it; nothing is skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "clients" / "python"))

from canopy_client import CanopyClient, CanopyError  # noqa: E402

# A small KV cache (about 4,500 token positions at f16 for this model) so that 64 streams
# fill most of it and a leaked block shows up in Stats.
KV_CACHE_MEMORY = "96M"
STARTUP_TIMEOUT = 60.0
# The waits below are sized for the vector kernels; with every kernel capped at scalar
# (CANOPY_MAX_ISA=scalar) the model runs about ten times slower, so a daemon's client waits
# that much longer. Only the patience changes, never what a test asserts. (The Swift twin is
# Tests/CanopyTestFixtures/TestTimeouts.swift.)
TIMEOUT_SCALE = 10.0 if os.environ.get("CANOPY_MAX_ISA", "").strip().lower() == "scalar" else 1.0


def find_binary(name: str, env: str) -> Path:
    if os.environ.get(env):
        path = Path(os.environ[env])
        if not path.is_file():
            pytest.fail(f"{env}={path} does not exist")
        return path
    for scratch in (".build-tests", ".build"):
        path = REPO / scratch / "release" / name
        if path.is_file():
            return path
    pytest.fail(f"no {name} binary: build it (swift build -c release --product {name}) or set {env}")


@pytest.fixture(scope="session")
def canopyd_path() -> Path:
    return find_binary("canopyd", "CANOPYD")


@pytest.fixture(scope="session")
def canopy_path() -> Path:
    return find_binary("canopy", "CANOPY")


@pytest.fixture(scope="session")
def model_path() -> Path:
    path = Path(os.environ.get("CANOPY_MODEL") or REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not path.is_file():
        pytest.fail(f"model {path} is missing: run `make model` (or set CANOPY_MODEL)")
    return path


class Daemon:
    """One `canopyd` process on `socket`; its stderr goes to `log`."""

    def __init__(self, binary: Path, model: Path, workdir: Path, *extra: str, socket: Path | None = None,
                 kv_cache_memory: str = KV_CACHE_MEMORY, env: dict[str, str | None] | None = None,
                 launcher: list[str] | None = None):
        self.workdir = workdir
        self.socket = socket or workdir / "canopy.sock"
        self.log = workdir / f"canopyd-{time.monotonic_ns()}.log"
        config = workdir / "canopyd.conf"
        # An explicit empty config keeps a machine-wide /etc config out of the tests.
        config.touch()
        # `launcher` goes first: `mpirun -np 2` for a tensor-parallel job.
        self.args = [
            *(launcher or []), str(binary), "--config", str(config), "--model", str(model), "--socket", str(self.socket),
            "--kv-cache-memory", kv_cache_memory, "--threads", "2", "--log-level", "info", *extra,
        ]
        self._log_file = open(self.log, "wb")
        # `env` adds to (or, with None values, removes from) this process's environment.
        environment = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        self.process = subprocess.Popen(self.args, stdout=self._log_file, stderr=subprocess.STDOUT, env=environment)

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        """Returns once Health answers SERVING; fails with the log when the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"canopyd exited with {self.process.returncode} during startup:\n{self.output()}")
            if self.socket.exists():
                with CanopyClient(str(self.socket), timeout=2) as client:
                    try:
                        client.health()
                        return
                    except CanopyError:
                        pass
            time.sleep(0.1)
        pytest.fail(f"canopyd did not become ready in {timeout:.0f} s:\n{self.output()}")

    def client(self, **kw) -> CanopyClient:
        """A client on this daemon's socket; its `timeout` is scaled by TIMEOUT_SCALE."""
        if kw.get("timeout") is not None:
            kw["timeout"] *= TIMEOUT_SCALE
        return CanopyClient(str(self.socket), **kw)

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        return self.process.returncode


@pytest.fixture
def workdir():
    # Unix socket paths are limited to 107 bytes: pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="canopy-py-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_daemon(canopyd_path, model_path, workdir):
    """Starts a private daemon (extra flags as arguments) and stops it after the test."""
    started: list[Daemon] = []

    def start(*extra: str, socket: Path | None = None, wait: bool = True,
              kv_cache_memory: str = KV_CACHE_MEMORY, env: dict[str, str | None] | None = None,
              model: Path | None = None, launcher: list[str] | None = None) -> Daemon:
        daemon = Daemon(canopyd_path, model or model_path, workdir, *extra, socket=socket,
                        kv_cache_memory=kv_cache_memory, env=env, launcher=launcher)
        started.append(daemon)
        if wait:
            daemon.wait_ready()
        return daemon

    yield start
    for daemon in started:
        daemon.stop(timeout=10)


@pytest.fixture(scope="session")
def daemon(canopyd_path, model_path):
    """The daemon shared by the tests that leave it serving."""
    path = Path(tempfile.mkdtemp(prefix="canopy-py-"))
    daemon = Daemon(canopyd_path, model_path, path, "--grace-period", "10")
    daemon.wait_ready()
    yield daemon
    status = daemon.stop()
    log = daemon.output()
    shutil.rmtree(path, ignore_errors=True)
    assert status == 0, f"the shared canopyd exited with {status}:\n{log}"


@pytest.fixture
def client(daemon):
    with daemon.client(timeout=120) as client:
        yield client


def wait_for_idle_kv(client: CanopyClient, timeout: float = 15.0):
    """Polls Stats until no KV block is in use and no sequence runs or waits; returns the
    last Stats. Cancelled requests free their blocks at the engine's next step, so this
    waits instead of asserting at once."""
    deadline = time.monotonic() + timeout
    while True:
        stats = client.stats()
        idle = stats.kv.used_blocks == 0 and stats.running_sequences == 0 and stats.waiting_sequences == 0
        if idle or time.monotonic() > deadline:
            return stats
        time.sleep(0.1)


def assert_kv_all_free(client: CanopyClient) -> None:
    stats = wait_for_idle_kv(client)
    assert stats.kv.used_blocks == 0, f"KV blocks still in use: {stats.kv}"
    assert stats.running_sequences == 0 and stats.waiting_sequences == 0, str(stats)
    # Blocks only held by the prefix cache are reusable: free + cached must cover the pool.
    assert stats.kv.free_blocks + stats.kv.cached_blocks >= stats.kv.total_blocks - stats.kv.used_blocks, str(stats.kv)


def refused_at_startup(canopyd_path, model_path, workdir, *flags: str):
    """Runs canopyd with `flags` (and an empty config file) expecting it to refuse them at
    startup; returns the finished process (its stderr names the problem)."""
    config = workdir / "empty.conf"
    config.touch()
    result = subprocess.run(
        [str(canopyd_path), "--config", str(config), "--model", str(model_path), "--socket", str(workdir / "s.sock"),
         *flags], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0, f"canopyd accepted {flags}"
    return result
