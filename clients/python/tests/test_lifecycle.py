"""Process lifecycle: SIGTERM drains running requests and refuses new ones, then exits 0
and removes the socket; a second daemon on the same socket refuses to start."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time

from canopy_client import CanopyClient, CanopyError, Token, pb
from conftest import REPO, TIMEOUT_SCALE

STREAMS = 8
# Long enough (a few seconds here) that the drain is still running when the late client calls.
MAX_TOKENS = 128
GRACE_SECONDS = int(60 * TIMEOUT_SCALE)


def test_sigterm_drains_in_flight_requests(start_daemon):
    daemon = start_daemon("--grace-period", str(GRACE_SECONDS))
    socket_path = str(daemon.socket)
    started = threading.Semaphore(0)
    results: list[dict] = []
    lock = threading.Lock()

    def stream(index: int) -> None:
        with CanopyClient(socket_path, timeout=GRACE_SECONDS) as client:
            tokens = 0
            outcome = {"index": index}
            events = client.generate(f"Story number {index}: once upon a time", temperature=0,
                                     max_tokens=MAX_TOKENS, ignore_eos=True)
            try:
                for event in events:
                    if isinstance(event, Token):
                        tokens += 1
                        if tokens == 1:
                            started.release()
                outcome["summary"] = events.summary
            except CanopyError as error:
                outcome["error"] = error
                if tokens == 0:
                    started.release()
            outcome["tokens"] = tokens
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(STREAMS)]
    for t in threads:
        t.start()
    for _ in range(STREAMS):
        assert started.acquire(timeout=60), f"streams did not start:\n{daemon.output()}"

    signaled = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    # While the running requests drain, the socket stays: a late client learns the daemon is
    # draining (Health) and gets UNAVAILABLE with the reason, not a missing socket.
    time.sleep(0.3)
    refused = None
    with CanopyClient(socket_path, timeout=10) as late:
        assert late.health().status == pb.SERVING_STATUS_DRAINING
        try:
            late.generate("Too late", max_tokens=2).result()
        except CanopyError as error:
            refused = error
    assert refused is not None, "a request after SIGTERM was served"
    assert refused.code.name == "UNAVAILABLE", refused
    assert "shutting down" in refused.details, refused

    for t in threads:
        t.join(GRACE_SECONDS)
    assert len(results) == STREAMS
    for r in results:
        assert "error" not in r, f"stream {r['index']} failed: {r['error']}\n{daemon.output()}"
        assert r["tokens"] == MAX_TOKENS, r
        assert r["summary"] is not None and r["summary"].samples[0].finish_reason == "length", r

    status = daemon.process.wait(GRACE_SECONDS)
    assert status == 0, f"exit status {status}:\n{daemon.output()}"
    assert time.monotonic() - signaled < GRACE_SECONDS
    assert not daemon.socket.exists(), "the socket file was left behind"


def test_second_instance_on_the_same_socket_is_refused(daemon, client, canopyd_path, model_path, workdir):
    config = workdir / "empty.conf"
    config.touch()
    second = subprocess.run(
        [str(canopyd_path), "--config", str(config), "--model", str(model_path), "--socket", str(daemon.socket)],
        capture_output=True, text=True, timeout=60)
    assert second.returncode != 0
    message = (second.stderr + second.stdout).lower()
    assert "already running" in message or "lock" in message, message
    assert str(daemon.socket) in second.stderr + second.stdout
    # The first keeps serving on its socket.
    assert daemon.process.poll() is None
    assert daemon.socket.exists()
    assert client.health().status == pb.SERVING_STATUS_SERVING
    assert len(client.generate("Hello", temperature=0, max_tokens=2, ignore_eos=True).result().token_ids) == 2


def test_every_config_key_is_also_a_flag(canopyd_path):
    # Settings come from flags, then the config file, keys named like the flags: a key of the
    # example config (every key is there, a Swift test checks) must be a flag of canopyd too.
    example = (REPO / "systemd" / "canopyd.conf.example").read_text()
    keys = re.findall(r"^#?([a-z][a-z0-9-]*) =", example, flags=re.MULTILINE)
    help_text = subprocess.run([str(canopyd_path), "--help"], capture_output=True, text=True, timeout=60).stdout
    missing = [key for key in keys if f"--{key} " not in help_text and f"--{key}\n" not in help_text]
    assert len(keys) >= 18 and not missing, f"config keys without a canopyd flag: {missing}"
