#!/usr/bin/env bash
# Builds the Populous images, idempotently and with caching:
#   populous/app:TAG                 FROM scratch: populous-app + the shared libraries ldd lists
#   populous/mariadb-base:bookworm   debootstrap minbase + mariadb-server, `docker import`ed
#   populous/db:TAG                  examples/populous/db/Dockerfile on top of the base
#   populous/lb:TAG                  HAProxy for the app's tasks where the swarm routing
#                                    mesh cannot work (no IPVS in the kernel)
# and verifies them. Run as root on Debian with Docker running. See --help.
# Everything it prints goes to stderr (only --help writes to stdout): it runs
# as a pipeline build step, and callers never read its stdout.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/images.sh [options]

Builds populous/app:TAG, populous/mariadb-base:bookworm, populous/db:TAG and
populous/lb:TAG (HAProxy, see examples/populous/lb/Dockerfile), and checks them. Everything is cached: a re-run with nothing changed only compares
labels and runs the checks.

options:
  --tag TAG        image tag (default: VERSION-BUILD, e.g. 1.0.1-0)
  --build N        build number baked into the app image as POPULOUS_BUILD
                   (default: $POPULOUS_BUILD or 0); /_ping reports VERSION-N
  --app-bin PATH   use this populous-app binary instead of
                   `cargo build --release -p populous-app` (honours CARGO_TARGET_DIR)
  --only WHAT      build only app, base, db or lb (db and lb imply base); repeatable
  --rebuild-base   debootstrap the MariaDB base again even if it is cached
  --no-strip       keep the binary's debug info in the app image (default: strip --strip-debug a copy)
  --no-verify      skip the checks (docker run --help; a db start/stop/restart)
  --prefix P       name the images P/app, P/db and P/lb instead of populous/...
                   (e.g. populous-demo, so `populous demo` never touches
                   another pipeline's tags); the base stays populous/mariadb-base
  -h, --help       this help

caches:
  /var/cache/populous/mariadb-base-bookworm.tar   the base rootfs, so that a rebuild
                                                  after `docker rmi` is one docker import
installs (apt, when missing): debootstrap, mariadb-client (for the db check)
EOF
}

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ex="$root/examples/populous"
cache=/var/cache/populous
base_image=populous/mariadb-base:bookworm
base_tar="$cache/mariadb-base-bookworm.tar"
suite=bookworm
mirror=http://deb.debian.org/debian
label=org.populous.content

tag=""
build="${POPULOUS_BUILD:-0}"
app_bin=""
only=()
rebuild_base=0
prefix=populous
verify=1
strip=1

while [ "$#" -gt 0 ]; do
  case "$1" in
    --tag) [ "$#" -ge 2 ] || die "--tag needs a value"; tag="$2"; shift 2 ;;
    --tag=*) tag="${1#*=}"; shift ;;
    --build) [ "$#" -ge 2 ] || die "--build needs a value"; build="$2"; shift 2 ;;
    --build=*) build="${1#*=}"; shift ;;
    --app-bin) [ "$#" -ge 2 ] || die "--app-bin needs a value"; app_bin="$2"; shift 2 ;;
    --app-bin=*) app_bin="${1#*=}"; shift ;;
    --only) [ "$#" -ge 2 ] || die "--only needs a value"; only+=("$2"); shift 2 ;;
    --only=*) only+=("${1#*=}"); shift ;;
    --rebuild-base) rebuild_base=1; shift ;;
    --no-verify) verify=0; shift ;;
    --prefix) [ "$#" -ge 2 ] || die "--prefix needs a value"; prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    --no-strip) strip=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# From here on, stdout is stderr: progress, tool chatter and the final list of
# images are logs, not output. ($(...) still captures what it runs.)
exec 1>&2

[[ "$build" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || die "--build must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}, got: $build"
version=$(tr -d '[:space:]' < "$ex/VERSION")
[[ "$version" =~ ^[0-9A-Za-z][0-9A-Za-z._-]*$ ]] || die "$ex/VERSION does not hold a version: $version"
[ -n "$tag" ] || tag="$version-$build"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "not a valid image tag: $tag"
[[ "$prefix" =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || die "--prefix must be a lowercase repository name, got: $prefix"

want() { # want app|base|db
  [ "${#only[@]}" -eq 0 ] && return 0
  local w
  for w in "${only[@]}"; do
    case "$w" in app|base|db|lb) ;; *) die "--only takes app, base, db or lb, not: $w" ;; esac
    [ "$w" = "$1" ] && return 0
    [ "$1" = base ] && { [ "$w" = db ] || [ "$w" = lb ]; } && return 0
  done
  return 1
}

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and docker need it)"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (is dockerd running?)"
# No buildx here: the classic builder, without the deprecation chatter.
export DOCKER_BUILDKIT=0

ensure_pkgs() { # ensure_pkgs PKG...: apt-get install the missing ones
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

docker_build() { # docker_build ARGS...: quiet unless it fails
  docker build "$@" > "$tmp/build.log" 2>&1 || {
    grep -v -e '^DEPRECATED: The legacy builder' -e '^ *BuildKit is currently disabled' -e '^ *environment-variable' "$tmp/build.log" | tail -30 >&2
    die "docker build $* failed (output above)"
  }
}

image_label() { # image_label IMAGE: the content label, or empty when there is no such image
  docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null || true
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

tmp=""
cleanup_fns=()
cleanup() {
  local f
  for f in "${cleanup_fns[@]}"; do "$f" || true; done
  [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tmp=$(mktemp -d /tmp/populous-images.XXXXXX)

# ---------------------------------------------------------------- app image
build_app() {
  local t0 bin stage sum have
  t0=$(now)
  if [ -n "$app_bin" ]; then
    bin="$app_bin"
  else
    command -v cargo >/dev/null || die "cargo not found: install Rust, or pass --app-bin PATH"
    log "cargo build --release -p populous-app"
    (cd "$root" && cargo build --release -q -p populous-app)
    bin="${CARGO_TARGET_DIR:-$root/target}/release/populous-app"
  fi
  [ -f "$bin" ] && [ -x "$bin" ] || die "no executable populous-app at $bin"

  stage="$tmp/app"
  mkdir -p "$stage/rootfs/usr/local/bin" "$stage/rootfs/etc" "$stage/rootfs/tmp"
  chmod 1777 "$stage/rootfs/tmp"
  cp "$bin" "$stage/rootfs/usr/local/bin/populous-app"
  # The release profile keeps line tables (39 MB); the image gets a copy without
  # debug sections (symbols stay, so backtraces still name functions).
  if [ "$strip" = 1 ]; then
    if command -v strip >/dev/null; then
      strip --strip-debug "$stage/rootfs/usr/local/bin/populous-app"
    else
      log "app: no strip (binutils) here: the binary goes in with its debug info"
    fi
  fi
  cp "$ex/VERSION" "$stage/rootfs/VERSION"
  cp "$ex/app/Dockerfile" "$stage/Dockerfile"
  printf 'root:x:0:0:root:/:/sbin/nologin\npopulous:x:10001:10001:populous:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' \
    > "$stage/rootfs/etc/passwd"
  printf 'root:x:0:\npopulous:x:10001:\nnogroup:x:65534:\n' > "$stage/rootfs/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$stage/rootfs/etc/nsswitch.conf"

  # Shared libraries under the paths ldd reports, the loader included.
  local ldd_out line lib libs=()
  if ! ldd_out=$(ldd "$bin" 2>&1); then
    case "$ldd_out" in
      *"not a dynamic executable"*|*"statically linked"*) ldd_out="" ;;
      *) die "ldd $bin failed: $ldd_out" ;;
    esac
  fi
  while IFS= read -r line; do
    case "$line" in
      *"not found"*) die "ldd: a library of $bin is missing: $line" ;;
      *"=> /"*) lib="${line#*=> }"; lib="${lib%% (*}" ;;
      [[:space:]]/*|/*) lib="${line#"${line%%[![:space:]]*}"}"; lib="${lib%% (*}" ;;
      *) continue ;;
    esac
    cp -L --parents "$lib" "$stage/rootfs/"
    libs+=("$lib")
  done <<< "$ldd_out"
  log "app: binary $(du -h "$stage/rootfs/usr/local/bin/populous-app" | cut -f1), libraries: ${libs[*]:-none (static)}"

  # Content hash of everything in the image and its config: same hash, same image.
  sum=$( (cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
          find . -printf '%p %m\n' | LC_ALL=C sort; echo "build=$build") | sha256sum | cut -c1-64)
  have=$(image_label "$prefix/app:$tag")
  if [ "$have" = "$sum" ]; then
    log "app: $prefix/app:$tag is up to date (cached)"
  else
    log "app: docker build $prefix/app:$tag"
    docker_build --build-arg "BUILD=$build" --label "$label=$sum" -t "$prefix/app:$tag" "$stage"
  fi
  log "app: ready in $(since "$t0") s, $(image_size "$prefix/app:$tag")"
}

image_size() { docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'; }

verify_app() {
  local out
  out=$(docker run --rm "$prefix/app:$tag" --help 2>&1) || die "docker run --rm $prefix/app:$tag --help failed: $out"
  grep -q -- '--db-url' <<< "$out" || die "$prefix/app:$tag --help does not look like populous-app serve: $out"
  log "app: verified: docker run --rm $prefix/app:$tag --help"
}

# ---------------------------------------------------------------- MariaDB base
rootfs=""
umount_rootfs() {
  [ -n "$rootfs" ] || return 0
  local m
  for m in dev/pts proc sys; do
    if mountpoint -q "$rootfs/$m" 2>/dev/null; then umount -l "$rootfs/$m" || true; fi
  done
}

make_base_tar() {
  ensure_pkgs debootstrap
  mkdir -p "$cache"
  local work t0
  t0=$(now)
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  rootfs="$work/rootfs"
  cleanup_fns+=(umount_rootfs)
  cleanup_fns+=(rm_work)
  work_dir="$work"
  log "base: debootstrap --variant=minbase $suite (into $rootfs)"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  log "base: debootstrap done in $(since "$t0") s"

  # Never start services in the chroot.
  printf '#!/bin/sh\n# Populous: no services are started in the image build.\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  mount -t proc proc "$rootfs/proc"
  mount -t devpts devpts "$rootfs/dev/pts" 2>/dev/null || true

  log "base: apt-get install --no-install-recommends mariadb-server (in the chroot)"
  chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c \
    'apt-get update -qq && apt-get install -y -qq --no-install-recommends mariadb-server && apt-get clean' \
    > "$work/apt.log" 2>&1 || { tail -30 "$work/apt.log" >&2; die "apt-get install mariadb-server in the chroot failed (log above)"; }
  umount_rootfs

  # Clean: apt caches and lists, logs, the datadir the package made (the image's
  # entrypoint initialises /var/lib/mysql itself), and host files.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
         "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old \
         "$rootfs"/var/log/apt/* "$rootfs"/var/log/dpkg.log "$rootfs"/var/log/alternatives.log \
         "$rootfs"/var/lib/mysql/* "$rootfs"/run/mysqld/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*
  # Docs, man pages and translations (about 60 MB) are of no use in a server image;
  # the copyright files stay. MariaDB's own messages live in /usr/share/mysql.
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  : > "$rootfs/etc/resolv.conf"
  : > "$rootfs/etc/hostname"

  tar --numeric-owner --xattrs -C "$rootfs" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  log "base: rootfs tarball $base_tar ($(du -h "$base_tar" | cut -f1)) in $(since "$t0") s"
  rm_work
}
work_dir=""
rm_work() {
  [ -n "$work_dir" ] || return 0
  umount_rootfs
  rm -f "$base_tar.tmp"
  rm -rf "$work_dir"
  work_dir=""
  rootfs=""
}

build_base() {
  local t0
  t0=$(now)
  if [ "$rebuild_base" = 0 ] && docker image inspect "$base_image" >/dev/null 2>&1; then
    log "base: $base_image exists (cached)"
    return 0
  fi
  if [ "$rebuild_base" = 1 ] || [ ! -s "$base_tar" ]; then
    make_base_tar
  else
    log "base: importing the cached rootfs $base_tar"
  fi
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$base_image" < "$base_tar" >/dev/null
  log "base: $base_image imported, $(image_size "$base_image"), $(since "$t0") s in all"
}

# ---------------------------------------------------------------- db image
build_db() {
  local t0 sum have base_id
  t0=$(now)
  base_id=$(docker image inspect -f '{{.Id}}' "$base_image")
  local stage="$tmp/db"
  mkdir -p "$stage"
  install -m 0644 "$ex/db/Dockerfile" "$ex/db/populous.cnf" "$ex/db/init.sql" "$stage/"
  install -m 0755 "$ex/db/entrypoint.sh" "$stage/"
  sum=$( (cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
          find . -printf '%p %m\n' | LC_ALL=C sort; echo "base=$base_id") | sha256sum | cut -c1-64)
  have=$(image_label "$prefix/db:$tag")
  if [ "$have" = "$sum" ]; then
    log "db: $prefix/db:$tag is up to date (cached)"
  else
    log "db: docker build $prefix/db:$tag"
    docker_build --label "$label=$sum" -t "$prefix/db:$tag" "$stage"
  fi
  log "db: ready in $(since "$t0") s, $(image_size "$prefix/db:$tag")"
}

# ---------------------------------------------------------------- lb image
build_lb() {
  local t0 sum have base_id stage="$tmp/lb"
  t0=$(now)
  base_id=$(docker image inspect -f '{{.Id}}' "$base_image")
  mkdir -p "$stage"
  install -m 0644 "$ex/lb/Dockerfile" "$ex/lb/haproxy.cfg" "$stage/"
  sum=$( (cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
          find . -printf '%p %m\n' | LC_ALL=C sort; echo "base=$base_id") | sha256sum | cut -c1-64)
  have=$(image_label "$prefix/lb:$tag")
  if [ "$have" = "$sum" ]; then
    log "lb: $prefix/lb:$tag is up to date (cached)"
  else
    log "lb: docker build $prefix/lb:$tag (apt-get install haproxy in the build)"
    docker_build --label "$label=$sum" -t "$prefix/lb:$tag" "$stage"
  fi
  log "lb: ready in $(since "$t0") s, $(image_size "$prefix/lb:$tag")"
}

verify_lb() {
  local out
  out=$(docker run --rm --entrypoint /usr/sbin/haproxy "$prefix/lb:$tag" -c -f /etc/haproxy/haproxy.cfg 2>&1) \
    || die "haproxy -c in $prefix/lb:$tag failed: $out"
  log "lb: verified: haproxy -c accepts the config"
}

db_ctr=""
db_dir=""
rm_db_check() {
  [ -z "$db_ctr" ] || docker rm -f "$db_ctr" >/dev/null 2>&1 || true
  [ -z "$db_dir" ] || rm -rf "$db_dir"
}

db_query() { # db_query PORT SQL: runs SQL as root over TCP
  mariadb --protocol=tcp -h 127.0.0.1 -P "$1" -u root --connect-timeout=2 -N -B -e "$2"
}

db_start_and_wait() { # db_start_and_wait NAME: starts $db_ctr on $db_dir, sets db_port
  db_ctr="$1"
  docker run -d --name "$db_ctr" -p 127.0.0.1::3306 -v "$db_dir:/var/lib/mysql" "$prefix/db:$tag" >/dev/null
  db_port=$(docker port "$db_ctr" 3306/tcp | head -1)
  db_port="${db_port##*:}"
  local deadline=$((SECONDS + 90))
  until db_query "$db_port" 'SELECT 1' >/dev/null 2>&1; do
    if [ "$(docker inspect -f '{{.State.Running}}' "$db_ctr")" != true ]; then
      docker logs --tail 30 "$db_ctr" >&2 || true
      die "db check: container $db_ctr exited (logs above)"
    fi
    [ "$SECONDS" -lt "$deadline" ] || { docker logs --tail 30 "$db_ctr" >&2; die "db check: no answer on 127.0.0.1:$db_port within 90 s"; }
    sleep 0.2
  done
}

verify_db() {
  ensure_pkgs mariadb-client
  local t0 n1 n2 t_first
  t0=$(now)
  db_dir=$(mktemp -d /var/tmp/populous-dbcheck.XXXXXX)
  cleanup_fns+=(rm_db_check)
  db_start_and_wait "populous-dbcheck-$$-1"
  t_first=$(since "$t0")
  n1=$(db_query "$db_port" 'SELECT COUNT(*) FROM populous.main')
  db_query "$db_port" 'INSERT INTO populous.main (guid) VALUES (UUID())'
  log "db: fresh datadir initialised and answering in $t_first s; populous.main had $n1 rows, inserted 1"
  local t1
  t1=$(now)
  docker stop -t 30 "$db_ctr" >/dev/null
  local code
  code=$(docker inspect -f '{{.State.ExitCode}}' "$db_ctr")
  [ "$code" = 0 ] || { docker logs --tail 20 "$db_ctr" >&2; die "db check: mariadbd exited with $code on SIGTERM"; }
  log "db: clean stop on SIGTERM (exit 0) in $(since "$t1") s"
  docker rm "$db_ctr" >/dev/null
  t1=$(now)
  db_start_and_wait "populous-dbcheck-$$-2"
  n2=$(db_query "$db_port" 'SELECT COUNT(*) FROM populous.main')
  [ "$n2" = $((n1 + 1)) ] || die "db check: second container on the same datadir sees $n2 rows, expected $((n1 + 1))"
  local logs
  logs=$(docker logs "$db_ctr" 2>&1)
  grep -q 'serving the existing datadir' <<< "$logs" || die "db check: the second container did not serve the existing datadir"
  log "db: a second container on the same datadir serves it as it is ($n2 row) in $(since "$t1") s"
  rm_db_check
  db_ctr=""; db_dir=""
  log "db: verified in $(since "$t0") s"
}

# ---------------------------------------------------------------- main
t_all=$(now)
log "tag $tag (VERSION $version, build $build)"
if want app; then
  build_app
  [ "$verify" = 0 ] || verify_app
fi
if want base; then build_base; fi
if want db; then
  build_db
  [ "$verify" = 0 ] || verify_db
fi
if want lb; then
  build_lb
  [ "$verify" = 0 ] || verify_lb
fi
log "done in $(since "$t_all") s"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(populous/mariadb-base|$prefix/(app|db|lb)):" | sort >&2 || true
