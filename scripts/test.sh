#!/usr/bin/env bash
# The test command: installs dependencies, then format check, lints, and every test.
# Tests named loopdev* need root and loop devices; skip them with: scripts/test.sh -- --skip loopdev
# Tests named mariadb_* (populous-mask, populous-app so far) start MariaDB servers: `-- mariadb_` runs only them, `-- --skip mariadb_` skips them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked "$@"
