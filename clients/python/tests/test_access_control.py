"""canopyd's allow-list (`--allowed-uids` / `--allowed-gids`): a peer the policy refuses gets
PERMISSION_DENIED with the policy's message on every RPC, the engine never sees its
requests, the daemon logs each denial and keeps serving everyone else; a listed uid is
served normally.

The refused peer is a real second user: a child process that keeps primary group 0 (so the
socket's mode 0660 and root group still let it connect) but runs as uid 65534 (nobody). The
Python child imports its modules as root first (the interpreter or venv may live where nobody
cannot read, e.g. under /root) and then drops to uid 65534 for good before it connects, which
is when the kernel records SO_PEERCRED. Switching users needs root, so these tests skip,
saying why, when not run as root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

NOBODY = 65534
# An allow-list that names neither root (always allowed anyway) nor nobody.
OTHER_UID = "4242"
DENIAL = f"uid {NOBODY} (gid 0) is not in canopyd's allowed-uids/allowed-gids"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching to uid 65534 for a second, refused peer needs root")

# Becomes nobody, then calls Health, Generate, Tokenize and Info and prints, per method,
# either {"ok": ...} or the gRPC status it got.
CHILD = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import grpc
from canopy_client import CanopyClient, CanopyError

# The channel is made (and grpc's lazily imported modules loaded) while still root: the
# checkout may sit in a directory nobody cannot read (a CI clone under a 0700 mktemp dir).
# gRPC connects at the first call, so the daemon still sees uid 65534 as the peer.
client = CanopyClient(sys.argv[2], timeout=60)

os.setgroups([])
os.setresgid(0, 0, 0)
os.setresuid(65534, 65534, 65534)
assert os.getresuid() == (65534, 65534, 65534) and os.getresgid() == (0, 0, 0)

results = {}
with client:
    calls = {
        "health": lambda: client.health().status,
        "generate": lambda: client.generate("The capital of France is", max_tokens=2, temperature=0).result().text,
        "tokenize": lambda: client.tokenize("hello"),
        "info": lambda: client.info().vocab_size,
    }
    for name, call in calls.items():
        try:
            results[name] = {"ok": call()}
        except CanopyError as error:
            results[name] = {"code": error.code.name, "details": error.details}
print(json.dumps(results))
"""


def as_nobody() -> None:
    os.setgroups([])
    os.setgid(0)
    os.setuid(NOBODY)


def calls_as_nobody(socket) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(REPO / "clients" / "python"), str(socket)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"client as uid {NOBODY} failed ({result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout)


def cli_as_nobody(canopy_path, workdir, *args) -> subprocess.CompletedProcess:
    # A copy in the shared work directory: the build directory may not be reachable by nobody.
    binary = workdir / "canopy"
    if not binary.exists():
        shutil.copy(canopy_path, binary)
        os.chmod(binary, 0o755)
    return subprocess.run([str(binary), *args], preexec_fn=as_nobody, capture_output=True, text=True,
                          timeout=120, cwd="/")


@pytest.fixture
def shared_workdir(workdir):
    # mkdtemp makes the directory 0700: nobody must be able to reach the socket inside.
    os.chmod(workdir, 0o711)
    return workdir


def test_refused_uid_gets_permission_denied_and_root_is_still_served(start_daemon, shared_workdir, canopy_path):
    daemon = start_daemon("--allowed-uids", OTHER_UID)
    assert f"access: allowed-uids {OTHER_UID}; allowed-gids none" in daemon.output()

    results = calls_as_nobody(daemon.socket)
    for method in ("health", "generate", "tokenize", "info"):
        assert results[method]["code"] == "PERMISSION_DENIED", f"{method}: {results[method]}"
        assert DENIAL in results[method]["details"], f"{method}: {results[method]}"

    # The CLI turns the status into one readable line and a non-zero exit.
    cli = cli_as_nobody(canopy_path, shared_workdir, "--socket", str(daemon.socket), "health")
    assert cli.returncode != 0
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1, cli.stderr
    assert lines[0].startswith("error: permission denied by canopyd: ") and DENIAL in lines[0], cli.stderr

    # Root (always allowed) is served as before, and the engine never saw the refused Generate.
    with daemon.client(timeout=60) as client:
        assert client.health().status == 1  # SERVING
        stats = client.stats()
        assert stats.prompt_tokens == 0 and stats.steps == 0 and stats.requests_completed == 0, str(stats)
        summary = client.generate("The capital of France is", max_tokens=2, temperature=0).result()
        assert len(summary.samples[0].token_ids) == 2

    # Every denied call was logged with the peer and the method.
    log = daemon.output()
    for method in ("Health", "Generate", "Tokenize", "Info"):
        assert f"method=/canopy.v1.Canopy/{method}" in log, log
    denials = [line for line in log.splitlines() if "permission denied" in line]
    assert len(denials) == 5, log  # 4 from the Python client, 1 from the CLI
    assert all(f"uid={NOBODY}" in line and "gid=0" in line and "warning" in line for line in denials), log
    assert daemon.stop() == 0


def test_listed_uid_is_served(start_daemon, shared_workdir):
    daemon = start_daemon("--allowed-uids", f"{OTHER_UID},{NOBODY}")
    results = calls_as_nobody(daemon.socket)
    assert results["health"] == {"ok": 1}, results  # SERVING
    assert "code" not in results["generate"] and results["generate"]["ok"], results
    assert results["tokenize"]["ok"], results
    assert results["info"] == {"ok": 49152}, results
    assert "permission denied" not in daemon.output()
    assert daemon.stop() == 0


def test_allowed_gid_admits_the_primary_group(start_daemon, shared_workdir):
    # nobody's primary group here is 0: listing gid 0 admits it although its uid is not listed.
    daemon = start_daemon("--allowed-uids", OTHER_UID, "--allowed-gids", "0")
    results = calls_as_nobody(daemon.socket)
    assert results["health"] == {"ok": 1}, results
    assert results["info"] == {"ok": 49152}, results
    assert daemon.stop() == 0


# Becomes nobody, then GETs /v1/models over the HTTP Unix socket and prints the status and body.
HTTP_CHILD = r"""
import http.client, json, os, socket, sys

class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])

os.setgroups([])
os.setresgid(0, 0, 0)
os.setresuid(65534, 65534, 65534)
connection = UnixConnection("localhost", timeout=60)
connection.request("GET", sys.argv[2])
response = connection.getresponse()
print(json.dumps({"status": response.status, "body": json.loads(response.read())}))
"""


def http_as_nobody(socket, path: str) -> dict:
    result = subprocess.run([sys.executable, "-c", HTTP_CHILD, str(socket), path], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"HTTP client as uid {NOBODY} failed ({result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout)


def test_http_socket_applies_the_same_policy(start_daemon, shared_workdir):
    http_socket = shared_workdir / "http.sock"
    daemon = start_daemon("--allowed-uids", OTHER_UID, "--http-socket", str(http_socket))
    for path in ("/v1/models", "/health"):
        refused = http_as_nobody(http_socket, path)
        assert refused["status"] == 403, refused
        error = refused["body"]["error"]
        assert DENIAL in error["message"] and error["code"] == "permission_denied", refused
    assert daemon.stop() == 0

    listed = start_daemon("--allowed-uids", f"{OTHER_UID},{NOBODY}", "--http-socket", str(http_socket))
    served = http_as_nobody(http_socket, "/v1/models")
    assert served["status"] == 200 and served["body"]["data"], served
    assert listed.stop() == 0
