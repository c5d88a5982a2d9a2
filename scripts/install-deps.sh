#!/usr/bin/env bash
# Installs what Populous and its tests need on a fresh Debian machine (run as root).
# Idempotent: it only calls apt-get when a package is missing.
set -euo pipefail

pkgs=(
  btrfs-progs xfsprogs e2fsprogs   # pool filesystems (mkfs.btrfs, mkfs.xfs; ext4 for the "no copy-on-write" test)
  util-linux mount                 # mount -o loop, umount, losetup
  mariadb-server mariadb-client    # real MariaDB for databases on clones
  mariadb-backup                   # physical, non-blocking backups: how a source seeds its replica
  influxdb                         # a real InfluxDB 1.x for the probe's --influx output
  busybox-static                   # the tiny FROM-scratch image the Docker plugin tests run
  sysbench                         # `populous bench db-io`: OLTP load on pool volumes against ext4
  chromium fonts-dejavu-core       # the dashboard's browser test (headless; Playwright drives it)
  python3-venv                     # the venv Playwright is installed into (below)
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Playwright from PyPI, in a venv of its own, for the dashboard's browser test
# (crates/populous-cli/tests/dashboard.rs). It drives Debian's /usr/bin/chromium:
# no browser is ever downloaded (no `playwright install`).
venv="${POPULOUS_VENV:-/opt/populous-venv}"
if ! "$venv/bin/python" -c 'import playwright.sync_api' 2>/dev/null; then
  echo "installing Playwright into $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'playwright>=1.40,<2'
fi

if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed: install a Rust toolchain (rustup) and retry" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: Populous manages loop devices and mounts: run this as root" >&2
  exit 1
fi
