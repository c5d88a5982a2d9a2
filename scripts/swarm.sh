#!/usr/bin/env bash
# A one-node Docker Swarm for the Populous pipeline's "run" step, plus the
# experiments behind examples/populous/README.md. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/swarm.sh init|status|leave
       scripts/swarm.sh experiment [--tag TAG] [--next-tag TAG2] [--port PORT]
                                   [--requests N] [--interval-ms MS]

  init        `docker swarm init --advertise-addr 127.0.0.1` unless this engine already
              is in a swarm (docker info .Swarm.LocalNodeState = active); idempotent
  status      the node's swarm state, nodes and services
  leave       `docker swarm leave --force` if in a swarm (removes all its services!)
  experiment  on this node, with images from scripts/images.sh:
                1. overlay network, db service (populous/db:TAG), app service
                   (populous/app:TAG) published through the ingress routing mesh:
                   does 127.0.0.1:PORT/_ping answer?
                2. the same with --publish mode=host, and a stop-first update of it
                3. rolling updates TAG -> TAG2 of a 2-replica app service, start-first
                   then stop-first, while requests (one every MS ms, at least N, and
                   on until the update is over) go to 127.0.0.1:PORT/_ping; counts
                   the failed ones. Behind the routing
                   mesh if it answers, else behind populous/lb:TAG (HAProxy).
              It removes what it made (services pop-test*, network pop-test-net) and
              leaves the swarm and the images.

options:
  --tag TAG          app, db and lb tag (default: VERSION-0, e.g. 1.0.1-0)
  --next-tag TAG2    app tag to update to (default: VERSION-1; scripts/images.sh --build 1)
  --port PORT        published port (default 18080)
  --requests N       at least N requests per measured update, and on until the
                     update has converged (default 200)
  --interval-ms MS   pause between requests (default 50)
  -h, --help         this help

installs (apt, when missing): curl
EOF
}

log() { printf '[swarm] %s\n' "$*" >&2; }
die() { printf '[swarm] error: %s\n' "$*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ex="$root/examples/populous"
cmd=""
tag=""
next=""
port=18080
requests=200
interval_ms=50

while [ "$#" -gt 0 ]; do
  case "$1" in
    init|status|leave|experiment) [ -z "$cmd" ] || die "one command only"; cmd="$1"; shift ;;
    --tag) [ "$#" -ge 2 ] || die "--tag needs a value"; tag="$2"; shift 2 ;;
    --tag=*) tag="${1#*=}"; shift ;;
    --next-tag) [ "$#" -ge 2 ] || die "--next-tag needs a value"; next="$2"; shift 2 ;;
    --next-tag=*) next="${1#*=}"; shift ;;
    --port) [ "$#" -ge 2 ] || die "--port needs a value"; port="$2"; shift 2 ;;
    --port=*) port="${1#*=}"; shift ;;
    --requests) [ "$#" -ge 2 ] || die "--requests needs a value"; requests="$2"; shift 2 ;;
    --requests=*) requests="${1#*=}"; shift ;;
    --interval-ms) [ "$#" -ge 2 ] || die "--interval-ms needs a value"; interval_ms="$2"; shift 2 ;;
    --interval-ms=*) interval_ms="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -n "$cmd" ] || { usage >&2; exit 2; }
[ -n "$tag" ] || tag="$(tr -d '[:space:]' < "$ex/VERSION")-0"
[ -n "$next" ] || next="$(tr -d '[:space:]' < "$ex/VERSION")-1"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid image tag: $tag"
[[ "$next" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid image tag: $next"
[[ "$port" =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "--port must be 1-65535"
[[ "$requests" =~ ^[0-9]{1,6}$ ]] && [ "$requests" -ge 1 ] || die "--requests must be a positive number"
[[ "$interval_ms" =~ ^[0-9]{1,5}$ ]] || die "--interval-ms must be a number of milliseconds"

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (is dockerd running?)"

state() { docker info --format '{{.Swarm.LocalNodeState}}'; }

init() {
  local s
  s=$(state)
  case "$s" in
    active) log "already in a swarm (node $(docker info --format '{{.Swarm.NodeID}}'))"; return 0 ;;
    inactive) ;;
    *) die "swarm state is '$s': wait, or run $0 leave first" ;;
  esac
  log "docker swarm init --advertise-addr 127.0.0.1"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  log "swarm active, this node is its manager ($(docker info --format '{{.Swarm.NodeID}}'))"
}

status() {
  local s
  s=$(state)
  log "swarm state: $s"
  [ "$s" = active ] || return 3
  docker node ls
  docker service ls
}

leave() {
  local s
  s=$(state)
  if [ "$s" = inactive ]; then
    log "not in a swarm"
    return 0
  fi
  log "docker swarm leave --force"
  docker swarm leave --force >/dev/null
  log "left the swarm"
}

# ------------------------------------------------------------------ experiment
ensure_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
}

net=pop-test-net
db_svc=pop-test-db
app_svc=pop-test
lb_svc=pop-test-lb
tmp=""

exp_cleanup() {
  local s
  for s in "$lb_svc" "$app_svc" "$db_svc"; do
    docker service rm "$s" >/dev/null 2>&1 || true
  done
  # Tasks take a moment to go; the network can only go after them.
  local deadline=$((SECONDS + 60))
  while docker network inspect "$net" >/dev/null 2>&1; do
    docker network rm "$net" >/dev/null 2>&1 && break
    [ "$SECONDS" -lt "$deadline" ] || { log "warning: could not remove network $net"; break; }
    sleep 0.5
  done
  [ -z "$tmp" ] || rm -rf "$tmp"
}

svc_create() { # svc_create NAME ARGS...: docker service create, quiet, local images
  local name="$1"; shift
  docker service create -d --quiet --no-resolve-image --name "$name" "$@" >/dev/null
}

wait_ping() { # wait_ping SECONDS WANT_VERSION: polls /_ping until it reports WANT_VERSION
  local deadline=$((SECONDS + $1)) body
  while [ "$SECONDS" -lt "$deadline" ]; do
    if body=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/_ping" 2>/dev/null) \
       && [[ "$body" == *"\"version\":\"$2\""* ]]; then
      printf '%s\n' "$body"
      return 0
    fi
    sleep 0.25
  done
  return 1
}

wait_running() { # wait_running SERVICE N SECONDS: until N tasks run
  local deadline=$((SECONDS + $3)) n
  while [ "$SECONDS" -lt "$deadline" ]; do
    n=$(docker service ps --filter desired-state=running --format '{{.CurrentState}}' "$1" | grep -c '^Running' || true)
    [ "$n" -ge "$2" ] && return 0
    sleep 0.5
  done
  docker service ps --no-trunc "$1" >&2 || true
  return 1
}

wait_gone() { # wait_gone SERVICE SECONDS: docker service rm and wait until its tasks are gone
  docker service rm "$1" >/dev/null 2>&1 || true
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ -z "$(docker ps -q --filter "label=com.docker.swarm.service.name=$1")" ] && return 0
    sleep 0.5
  done
  log "warning: tasks of $1 still there after $2 s"
}

load_loop() { # load_loop OUTFILE DONEFILE: GETs, one every $interval_ms ms, "code version" per line:
  # at least $requests, and on until DONEFILE exists (the update is over), at most 5 x $requests
  local i sleep_s out ver
  sleep_s=$(awk -v ms="$interval_ms" 'BEGIN { printf "%.3f", ms / 1000 }')
  for ((i = 0; i < 5 * requests; i++)); do
    if [ "$i" -ge "$requests" ] && [ -e "$2" ]; then break; fi
    out=$(curl -s --max-time 2 -w '\n%{http_code}' "http://127.0.0.1:$port/_ping" 2>/dev/null || true)
    ver=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<< "$out" | head -1)
    printf '%s %s\n' "$(tail -n1 <<< "$out" | tr -dc '0-9' | head -c 3)" "${ver:--}" >> "$1"
    sleep "$sleep_s"
  done
}

measured_update() { # measured_update ORDER FROM_IMAGE TO_IMAGE TO_VERSION: prints "failed total seconds"
  local order="$1" out="$tmp/load-$1" t0 pid
  : > "$out"
  rm -f "$out.done"
  load_loop "$out" "$out.done" &
  pid=$!
  sleep 1
  t0=$SECONDS
  docker service update --quiet --no-resolve-image --image "$3" \
    --update-order "$order" --update-parallelism 1 --update-delay 1s \
    --update-failure-action pause --update-monitor 2s "$app_svc" >/dev/null 2>&1 \
    || log "warning: docker service update ($order) reported an error"
  local took=$((SECONDS - t0))
  sleep 1
  touch "$out.done"
  wait "$pid"
  local total failed
  total=$(wc -l < "$out")
  failed=$(awk '$1 != "200"' "$out" | wc -l)
  log "$order: update $2 -> $3 converged in $took s; $failed of $total requests failed"
  log "$order: responses by status and version: $(awk '{ print $1 "/" $2 }' "$out" | sort | uniq -c | awk '{ printf "%s x%s  ", $2, $1 }')"
  printf '%s %s %s\n' "$failed" "$total" "$took"
}

experiment() {
  [ "$(id -u)" = 0 ] || die "run as root"
  ensure_pkgs curl
  [ "$(state)" = active ] || die "not in a swarm: $0 init"
  local version next_tag app_a app_b db_img lb_img img
  version=$(tr -d '[:space:]' < "$ex/VERSION")
  app_a="populous/app:$tag"
  next_tag="$next"
  app_b="populous/app:$next_tag"
  db_img="populous/db:$tag"
  lb_img="populous/lb:$tag"
  for img in "$app_a" "$app_b" "$db_img" "$lb_img"; do
    docker image inspect "$img" >/dev/null 2>&1 || die "no image $img: scripts/images.sh --tag ${img##*:} (for the app: --build N gives VERSION-N)"
  done
  local ver_a ver_b
  ver_a=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$app_a" | sed -n 's/^POPULOUS_BUILD=//p')
  ver_b=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$app_b" | sed -n 's/^POPULOUS_BUILD=//p')
  ver_a="$version-$ver_a"; ver_b="$version-$ver_b"
  [ "$ver_a" != "$ver_b" ] || die "$app_a and $app_b report the same version $ver_a: build them with different --build"

  tmp=$(mktemp -d /tmp/populous-swarm.XXXXXX)
  trap exp_cleanup EXIT
  trap 'exit 130' INT TERM
  exp_cleanup
  tmp=$(mktemp -d /tmp/populous-swarm.XXXXXX)
  if [ -e /proc/net/ip_vs ]; then ipvs="present"; else ipvs="absent (no /proc/net/ip_vs)"; fi
  log "kernel IPVS: $ipvs"

  log "overlay network $net; db service $db_svc ($db_img, endpoint-mode dnsrr: a VIP needs IPVS)"
  docker network create -d overlay --attachable "$net" >/dev/null
  svc_create "$db_svc" --network "$net" --endpoint-mode dnsrr --replicas 1 --stop-grace-period 30s "$db_img"
  wait_running "$db_svc" 1 120 || die "the db service did not start"
  local app_env=(--env "POPULOUS_DB_URL=mysql://root@$db_svc:3306/populous" --stop-grace-period 10s)

  local t0 r_ingress r_host body
  # 1. ingress routing mesh
  log "1. $app_svc ($app_a) published through the ingress routing mesh on :$port"
  t0=$SECONDS
  svc_create "$app_svc" --network "$net" --publish "published=$port,target=8080" "${app_env[@]}" "$app_a"
  wait_running "$app_svc" 1 120 || die "the app service did not start"
  if body=$(wait_ping 60 "$ver_a"); then r_ingress="answers after $((SECONDS - t0)) s: $body"
  else r_ingress="no answer within 60 s"; fi
  log "ingress: $r_ingress"
  wait_gone "$app_svc" 30

  # 2. host-mode publishing
  log "2. $app_svc published with mode=host on :$port"
  t0=$SECONDS
  svc_create "$app_svc" --network "$net" --endpoint-mode dnsrr \
    --publish "published=$port,target=8080,mode=host" "${app_env[@]}" "$app_a"
  wait_running "$app_svc" 1 120 || die "the app service did not start"
  if body=$(wait_ping 60 "$ver_a"); then r_host="answers after $((SECONDS - t0)) s: $body"
  else r_host="no answer within 60 s"; fi
  log "host mode: $r_host"
  local r_host_stop="not measured (host mode did not answer)"
  if [[ "$r_host" == answers* ]]; then
    # One task per node and host port: start-first cannot place its new task
    # while the old one holds the port, so only stop-first is measured here.
    log "2b. host mode, 1 replica: rolling update stop-first"
    read -r f n t < <(measured_update stop-first "$app_a" "$app_b" "$ver_b")
    r_host_stop="$f failed of $n requests (update took $t s)"
  fi
  wait_gone "$app_svc" 30

  # 3. rolling updates of 2 replicas behind one port
  local front
  if [[ "$r_ingress" == answers* ]]; then
    front="the ingress routing mesh"
    svc_create "$app_svc" --network "$net" --replicas 2 --publish "published=$port,target=8080" "${app_env[@]}" "$app_a"
  else
    front="$lb_svc (HAProxy, mode=host on :$port, finds tasks.$app_svc by DNS)"
    svc_create "$app_svc" --network "$net" --replicas 2 --endpoint-mode dnsrr "${app_env[@]}" "$app_a"
    svc_create "$lb_svc" --network "$net" --endpoint-mode dnsrr --env "POPULOUS_LB_SERVICE=$app_svc" \
      --publish "published=$port,target=8080,mode=host" "$lb_img"
    wait_running "$lb_svc" 1 120 || die "the lb service did not start"
  fi
  log "3. rolling updates of 2 replicas behind $front; $requests requests every $interval_ms ms"
  wait_running "$app_svc" 2 120 || die "the app service did not get 2 running tasks"
  wait_ping 60 "$ver_a" >/dev/null || die "/_ping never reported $ver_a"
  sleep 2
  local r_start r_stop
  read -r f n t < <(measured_update start-first "$app_a" "$app_b" "$ver_b")
  r_start="$f failed of $n requests (update took $t s)"
  log "back to $app_a (not measured)"
  docker service update --quiet --no-resolve-image --image "$app_a" --update-order start-first "$app_svc" >/dev/null 2>&1 || true
  wait_ping 60 "$ver_a" >/dev/null || die "/_ping never reported $ver_a again"
  sleep 3
  read -r f n t < <(measured_update stop-first "$app_a" "$app_b" "$ver_b")
  r_stop="$f failed of $n requests (update took $t s)"

  printf '\nresults (kernel IPVS %s):\n' "$ipvs"
  printf '  1. ingress routing mesh, 127.0.0.1:%s:   %s\n' "$port" "$r_ingress"
  printf '  2. --publish mode=host, 127.0.0.1:%s:    %s\n' "$port" "$r_host"
  printf '     1 replica, update stop-first:           %s\n' "$r_host_stop"
  printf '  3. 2 replicas behind %s, --update-parallelism 1:\n' "$front"
  printf '     start-first: %s\n' "$r_start"
  printf '     stop-first:  %s\n' "$r_stop"
}

case "$cmd" in
  init) init ;;
  status) status ;;
  leave) leave ;;
  experiment) experiment ;;
esac
