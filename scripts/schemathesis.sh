#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with Schemathesis,
# every check on, with a valid admin token, against a daemon on a copy-backend
# pool in a temporary directory. Not part of the test suite: it takes minutes
# and its cases are random.
#
#   scripts/schemathesis.sh                      # builds populous, 50 cases per operation
#   POPULOUS=target/debug/populous MAX_EXAMPLES=20 scripts/schemathesis.sh
#   scripts/schemathesis.sh --phases examples,coverage   # extra arguments go to `st run`
#
# Schemathesis is installed into a venv under target/ (PyPI must be reachable
# the first time). Run as root, the daemon drops to `nobody`: the fuzzer sends
# admin calls with arbitrary paths (pool create/adopt), and those must not be
# able to touch the machine. The JUnit report lands in the temp dir, whose
# path is printed; it is kept when the run fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
need() { command -v "$1" >/dev/null || { echo "schemathesis.sh: $1 is required" >&2; exit 2; }; }
need python3
need curl

bin=${POPULOUS:-}
if [ -z "$bin" ]; then
    cargo build -q -p populous-cli --bin populous
    bin=$root/target/debug/populous
fi

venv=${SCHEMATHESIS_VENV:-$root/target/schemathesis-venv}
if [ ! -x "$venv/bin/st" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'schemathesis>=4,<5'
fi

# Short: MariaDB's socket path under the home must fit the kernel's 107 bytes
# even for a 63-character volume name.
work=$(mktemp -d /tmp/pst.XXXXXX)
chmod 755 "$work"
daemon_pid=
cleanup() {
    status=$?
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    # MariaDB servers the fuzzer started through db/start outlive the daemon.
    for pidfile in $(find "$work/home" -name '*.pid' 2>/dev/null); do
        kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    if [ "$status" -eq 0 ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

run_as=()
if [ "$(id -u)" -eq 0 ]; then
    need setpriv
    run_as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
pop() { "${run_as[@]}" "$bin" --home "$work/home" "$@"; }

mkdir -p "$work/pool" "$work/home"
[ "$(id -u)" -eq 0 ] && chown -R nobody:nogroup "$work/pool" "$work/home"
pop pool create p --path "$work/pool" --backend copy >/dev/null
for f in prod dev; do pop folder create "p/$f" >/dev/null; done
pop volume create prod/db >/dev/null
pop snapshot create prod/db@s1 >/dev/null
# Names that exist, mixed into the generated ones, so the fuzzer reaches past 404s.
cat >"$work/schemathesis.toml" <<'TOML'
[dictionaries.folders]
values = ["prod", "dev"]
[dictionaries.volumes]
values = ["db"]
[dictionaries.snapshots]
values = ["s1"]
[parameters]
"path.folder" = { dictionary = "folders", probability = 0.6 }
"path.volume" = { dictionary = "volumes", probability = 0.6 }
"path.snapshot" = { dictionary = "snapshots", probability = 0.6 }
TOML
token=$(pop token create fuzz --admin 2>/dev/null | head -1)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# exec: $! is then the daemon itself, not a subshell that would outlive the kill.
(exec "${run_as[@]}" "$bin" --home "$work/home" serve --listen "127.0.0.1:$port" >"$work/daemon.log" 2>&1) &
daemon_pid=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
    sleep 0.1
done

echo "daemon on 127.0.0.1:$port, home $work/home" >&2
set +e
# From the temp dir: Schemathesis keeps its example database in ./.schemathesis.
cd "$work"
"$venv/bin/st" --config-file "$work/schemathesis.toml" run "http://127.0.0.1:$port/v1/openapi.json" \
    --checks all \
    -H "Authorization: Bearer $token" \
    --max-examples "${MAX_EXAMPLES:-50}" \
    --seed "${SEED:-1}" \
    --workers 2 \
    --no-color \
    --report junit --report-junit-path "$work/junit.xml" \
    "$@"
status=$?
set -e
if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "the daemon died during the run:" >&2
    tail -20 "$work/daemon.log" >&2
    exit 1
fi
exit "$status"
