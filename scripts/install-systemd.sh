#!/usr/bin/env bash
# Installs canopyd as a systemd service (`make install`).
#
#   scripts/install-systemd.sh [BINARY]       default BINARY: .build/release/canopyd
#
# Environment:
#   MODEL=path.gguf   also copy this model to /var/lib/canopy/models/ (kept if present)
#   START=1           enable and start canopyd.socket and canopyd.service afterwards
#   DESTDIR=dir       stage into dir instead of / (packaging; skips user creation and systemctl)
#
# Installs: /usr/local/bin/canopyd, /usr/local/lib/systemd/system/canopyd.{service,socket},
# /etc/canopy/canopyd.conf (from systemd/canopyd.conf.example, never overwritten),
# /var/lib/canopy/models/, /usr/local/share/doc/canopy/systemd.md, and the system user and
# group `canopy`. Needs root (re-runs itself through sudo when not root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
binary="${1:-$repo/.build/release/canopyd}"
destdir="${DESTDIR:-}"

if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
    exec sudo --preserve-env=MODEL,START "$0" "$@"
fi
[ -x "$binary" ] || { echo "error: $binary is not an executable; build it first (swift build -c release)" >&2; exit 1; }

unit_dir="$destdir/usr/local/lib/systemd/system"
models="$destdir/var/lib/canopy/models"
config="$destdir/etc/canopy/canopyd.conf"

if [ -z "$destdir" ]; then
    getent group canopy >/dev/null || groupadd --system canopy
    getent passwd canopy >/dev/null || useradd --system --gid canopy --home-dir /var/lib/canopy \
        --no-create-home --shell /usr/sbin/nologin --comment "Canopy inference daemon" canopy
fi

install -D -m 0755 "$binary" "$destdir/usr/local/bin/canopyd"
install -D -m 0644 "$repo/systemd/canopyd.service" "$unit_dir/canopyd.service"
install -D -m 0644 "$repo/systemd/canopyd.socket" "$unit_dir/canopyd.socket"
install -D -m 0644 "$repo/systemd/README.md" "$destdir/usr/local/share/doc/canopy/systemd.md"
install -d -m 0755 "$destdir/etc/canopy" "$destdir/var/lib/canopy" "$models"
if [ -e "$config" ]; then
    echo "kept existing $config (the new example is $repo/systemd/canopyd.conf.example)"
else
    install -m 0644 "$repo/systemd/canopyd.conf.example" "$config"
fi
if [ -n "${MODEL:-}" ]; then
    target="$models/$(basename "$MODEL")"
    if [ -e "$target" ]; then
        echo "kept existing $target"
    else
        install -m 0644 "$MODEL" "$target"
    fi
fi

if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if [ "${START:-0}" = 1 ]; then
        systemctl enable --now canopyd.socket canopyd.service
        systemctl --no-pager status canopyd.service || true
    else
        echo "installed; start with: systemctl enable --now canopyd.socket canopyd.service"
    fi
else
    echo "installed under ${destdir:-/}; systemd is not running here, so nothing was enabled"
fi
echo "edit /etc/canopy/canopyd.conf (model = ...) before starting; clients need group canopy"
