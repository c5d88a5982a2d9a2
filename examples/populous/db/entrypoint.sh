#!/bin/bash
# Entrypoint of populous/db.
#
#   - /var/lib/mysql empty (or only lost+found): initialise it with mariadb-install-db,
#     then create database `populous` with the seed's table and root@'%' (no password:
#     a demo on a private overlay network) through --init-file.
#   - /var/lib/mysql holds a datadir (e.g. a clone): serve it as it is; only when the
#     seed's table is missing is the same idempotent init file run.
# mariadbd is exec'ed, so it is PID 1 and gets Docker's SIGTERM itself (clean InnoDB
# shutdown; give large buffer pools a longer --stop-timeout / --stop-grace-period).
# Arguments starting with '-' are passed to mariadbd; any other command is run instead.
set -euo pipefail

datadir=/var/lib/mysql
init_sql=/usr/local/share/populous/init.sql
marker=.populous-init-incomplete

log() { printf 'populous-db: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

install -d -o mysql -g mysql -m 0755 /run/mysqld
[ -d "$datadir" ] || install -d -o mysql -g mysql -m 0750 "$datadir"

if [ "$(stat -c %U "$datadir")" != mysql ]; then
  log "datadir $datadir is owned by $(stat -c %U:%G "$datadir"), not mysql: chown -R mysql:mysql"
  chown -R mysql:mysql "$datadir"
fi

[ ! -e "$datadir/$marker" ] || die "a previous initialisation of $datadir was interrupted; empty the volume and start again"

extra=()
if [ ! -d "$datadir/mysql" ]; then
  if find "$datadir" -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit | grep -q .; then
    die "$datadir is neither empty nor a MariaDB datadir (no mysql/ in it); refusing to initialise over it"
  fi
  log "empty datadir: initialising $datadir"
  touch "$datadir/$marker"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
    --auth-root-authentication-method=socket >/dev/null
  rm -f "$datadir/$marker"
  extra+=(--init-file="$init_sql")
elif [ ! -e "$datadir/populous/main.frm" ]; then
  log "datadir has no populous.main: creating it at start"
  extra+=(--init-file="$init_sql")
else
  log "serving the existing datadir $datadir"
fi

exec mariadbd --user=mysql --datadir="$datadir" "${extra[@]}" "$@"
