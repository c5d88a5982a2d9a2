#!/usr/bin/env bash
# The demo on a fresh Debian machine (root, Docker engine running): installs what
# Populous needs, builds it, and runs `populous demo` with the arguments given,
# e.g. scripts/demo.sh --size 256M --builds 1, or scripts/demo.sh --clean.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --locked -p populous-cli -p populous-app
exec "${CARGO_TARGET_DIR:-target}/release/populous" demo "$@"
