#!/usr/bin/env bash
# The test command: installs dependencies, then format check, lints, and every test.
# Tests named loopdev* need root (most also loop devices), mariadb* MariaDB installed, influx* influxd,
# chromium* Debian's chromium and Playwright in /opt/populous-venv (the dashboard's browser test);
# a test whose requirement is missing fails. Skip groups by name: scripts/test.sh -- --skip loopdev --skip mariadb
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked "$@"
