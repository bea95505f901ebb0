#!/usr/bin/env bash
# Checks systemd/canopyd.service and systemd/canopyd.socket with `systemd-analyze verify`
# (and an offline `systemd-analyze security` review), failing on any warning.
#
# Works without a running systemd (containers, CI as root on Debian 12): units are verified
# from a temporary copy whose ExecStart= points at a stub executable, because verify insists
# that the binary exists and canopyd need not be installed. Nothing outside that temporary
# directory is touched. Installs the `systemd` package when systemd-analyze is missing.
#
# Usage: scripts/verify-systemd.sh [UNIT_DIR]   (default: systemd/ next to this script)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
unit_dir="${1:-$here/../systemd}"
installed_binary=/usr/local/bin/canopyd
# Most exposure `systemd-analyze security` may report, in tenths (20 = "2.0"; 0 = fully
# locked down, 100 = unprotected).
max_exposure="${CANOPY_MAX_EXPOSURE:-20}"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found; installing the systemd package" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/canopy-verify.XXXXXX")"
trap 'rm -rf "$work"' EXIT
stub="$work/canopyd"
printf '#!/bin/sh\nexit 0\n' >"$stub"
chmod 0755 "$stub"

for unit in canopyd.service canopyd.socket; do
    [ -f "$unit_dir/$unit" ] || { echo "missing $unit_dir/$unit" >&2; exit 1; }
    grep -q "$installed_binary" "$unit_dir/$unit" 2>/dev/null || [ "$unit" != canopyd.service ] || {
        echo "$unit_dir/$unit: ExecStart= no longer uses $installed_binary; update this script" >&2
        exit 1
    }
    sed "s|$installed_binary|$stub|g" "$unit_dir/$unit" >"$work/$unit"
done

status=0
# verify exits 0 on many problems it only warns about (unknown keys, bad values it ignores),
# so any output at all counts as a failure.
if ! output="$(cd "$work" && systemd-analyze verify --man=no canopyd.service canopyd.socket 2>&1)"; then
    status=1
fi
if [ -n "$output" ]; then
    echo "$output" >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "FAIL: systemd-analyze verify reported problems in $unit_dir" >&2
    exit 1
fi
echo "ok: systemd-analyze verify canopyd.service canopyd.socket"

if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    if ! report="$(cd "$work" && systemd-analyze security --offline=true --man=no \
        --threshold="$max_exposure" canopyd.service 2>&1)"; then
        echo "$report" >&2
        echo "FAIL: canopyd.service exposure is above $max_exposure tenths (CANOPY_MAX_EXPOSURE)" >&2
        exit 1
    fi
    echo "ok: $(echo "$report" | grep 'Overall exposure level' | sed 's/^→ //')"
fi
