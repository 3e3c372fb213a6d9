#!/usr/bin/env bash
# Local PostgreSQL 15 for the dev stack and integration tests.
#
#   local-env/postgres.sh start|stop|status|env
#
# A private cluster (own data dir, own port, 127.0.0.1 only) so it never
# touches or clashes with a system-wide server on 5432.
#
# Environment:
#   ROLLOUT_STATE_DIR     state root (default <repo>/.local)
#   ROLLOUT_PG_PORT       TCP port (default 55432)
#   ROLLOUT_PG_PASSWORD   password of superuser 'postgres' (default rollout-dev)
#   ROLLOUT_PG_DATA       data dir (default $ROLLOUT_STATE_DIR/postgres)
set -euo pipefail

log_name=postgres
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_PORT="${ROLLOUT_PG_PORT:-55432}"
PG_PASSWORD="${ROLLOUT_PG_PASSWORD:-rollout-dev}"
PG_DB=rollout_dev
PG_USER=postgres
PG_OS_USER=postgres
PG_DATA="${ROLLOUT_PG_DATA:-$STATE_DIR/postgres}"
PG_LOG="$STATE_DIR/postgres.log"

if ! [[ $PG_PORT =~ ^[0-9]+$ ]] || ((PG_PORT < 1 || PG_PORT > 65535)); then
  die "ROLLOUT_PG_PORT must be a TCP port number, got '$PG_PORT'"
fi

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|env

  start   install (if needed), initialise (if needed) and start PostgreSQL $PG_MAJOR
          on 127.0.0.1:$PG_PORT, data in $PG_DATA
  stop    stop it (fast shutdown: rolls back open transactions)
  status  exit 0 when it is running and accepting connections
  env     print export lines for libpq clients: eval "\$($0 env)"
EOF
  exit 2
}

# Runs a command as the postgres OS user (initdb and postgres refuse root).
as_pg() { runuser -u "$PG_OS_USER" -- "$@"; }

# Client tools of the same major as the server, over TCP with the password.
pg_client() {
  local tool=$1
  shift
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 "$PG_BIN/$tool" \
    -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$@"
}

server_binaries_present() {
  local b
  for b in postgres initdb pg_ctl; do [[ -x $PG_BIN/$b ]] || return 1; done
}

client_binaries_present() {
  local b
  for b in psql pg_dump pg_restore pg_isready createdb; do [[ -x $PG_BIN/$b ]] || return 1; done
}

ensure_installed() {
  # Debian's 'postgresql' metapackage pulls postgresql-15 (server) and
  # postgresql-client-15 (psql, pg_dump, pg_restore of the same major).
  if ! server_binaries_present; then
    say "PostgreSQL $PG_MAJOR server binaries not found in $PG_BIN; installing from Debian"
    apt_install postgresql
    server_binaries_present || die "apt installed 'postgresql' but $PG_BIN/postgres is still missing (is the default PostgreSQL on this Debian not $PG_MAJOR?)"
  fi
  if ! client_binaries_present; then
    say "PostgreSQL $PG_MAJOR client tools missing in $PG_BIN; installing postgresql-client-$PG_MAJOR"
    apt_install "postgresql-client-$PG_MAJOR"
    client_binaries_present || die "psql/pg_dump/pg_restore still missing in $PG_BIN"
  fi
  getent passwd "$PG_OS_USER" >/dev/null ||
    die "OS user '$PG_OS_USER' does not exist (normally created by the postgresql-common package; reinstall it)"
}

# PID of the postmaster recorded in the data dir, if that process is alive
# and really a postgres (after a reboot the PID may belong to anything).
postmaster_pid() {
  local pid
  pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null) || return 1
  pid_alive "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] || return 1
  echo "$pid"
}

is_running() {
  [[ -f $PG_DATA/PG_VERSION ]] && postmaster_pid >/dev/null
}

clear_stale_pidfile() {
  # postgres refuses to start while postmaster.pid names a live PID; a killed
  # server that stayed a zombie, or a reboot, leaves such a file behind.
  [[ -f $PG_DATA/postmaster.pid ]] || return 0
  postmaster_pid >/dev/null && return 0
  warn "removing stale $PG_DATA/postmaster.pid (pid $(head -n1 "$PG_DATA/postmaster.pid") is not a running postgres)"
  rm -f "$PG_DATA/postmaster.pid"
}

running_port() {
  # Line 4 of postmaster.pid is the port the running server listens on.
  sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null || true
}

accepts_connections() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3
}

ensure_data_dir() {
  ensure_state_dir
  mkdir -p "$PG_DATA"
  rotate_log "$PG_LOG"
  # initdb wants an empty (or missing) dir owned by the server user, mode 0700.
  chown "$PG_OS_USER:" "$PG_DATA"
  chmod 700 "$PG_DATA"
  touch "$PG_LOG"
  chown "$PG_OS_USER:" "$PG_LOG"
  as_pg test -w "$PG_DATA" ||
    die "OS user $PG_OS_USER cannot reach $PG_DATA (a parent directory is not traversable for it?). Set ROLLOUT_STATE_DIR to a path under e.g. /var/tmp."
}

init_cluster() {
  [[ -f $PG_DATA/PG_VERSION ]] && return 0
  if [[ -n $(ls -A "$PG_DATA") ]]; then
    die "$PG_DATA is not empty but holds no PostgreSQL cluster; move it away or set ROLLOUT_PG_DATA"
  fi
  say "initialising a new cluster in $PG_DATA"
  local pwfile
  pwfile=$(mktemp)
  # --pwfile so the password never appears on a command line.
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  chown "$PG_OS_USER:" "$pwfile"
  chmod 600 "$pwfile"
  if ! as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_USER" --pwfile="$pwfile" \
    --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >>"$PG_LOG" 2>&1; then
    rm -f "$pwfile"
    die "initdb failed; see $PG_LOG"
  fi
  rm -f "$pwfile"
  # Pull our settings from a separate file so postgresql.conf stays stock.
  printf "\n# local-env settings (rewritten on every start)\ninclude_if_exists = 'local-env.conf'\n" \
    >>"$PG_DATA/postgresql.conf"
  # TCP only, password (scram) only; peer auth kept for a local socket that is
  # disabled anyway (unix_socket_directories = '').
  cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  peer
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF
  chown "$PG_OS_USER:" "$PG_DATA/pg_hba.conf"
}

write_local_conf() {
  # Rewritten on each start so ROLLOUT_PG_PORT changes take effect. No unix
  # socket: the default /var/run/postgresql may not exist (it is created by
  # the system service), and all clients use TCP anyway.
  cat >"$PG_DATA/local-env.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
password_encryption = 'scram-sha-256'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  chown "$PG_OS_USER:" "$PG_DATA/local-env.conf"
}

ensure_database() {
  local exists
  exists=$(pg_client psql -d postgres -tAXc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") || {
    die "server is up but login as $PG_USER with the configured password failed. The cluster in $PG_DATA was probably initialised with another ROLLOUT_PG_PASSWORD; use that one, or remove $PG_DATA to start afresh. Details in $PG_LOG"
  }
  if [[ $exists != 1 ]]; then
    say "creating database $PG_DB"
    pg_client createdb "$PG_DB"
  fi
}

cmd_start() {
  need_root "to install packages and run the server as the postgres user"
  need_cmd runuser "util-linux"
  local t0
  t0=$(now)
  ensure_installed

  if is_running; then
    local rp
    rp=$(running_port)
    if [[ -n $rp && $rp != "$PG_PORT" ]]; then
      die "already running from $PG_DATA but on port $rp, not $PG_PORT; run '$0 stop' first to change ports"
    fi
    say "already running on 127.0.0.1:$PG_PORT (data $PG_DATA); nothing to do"
    return 0
  fi

  # Something else on our port: a second checkout's cluster with the same
  # credentials is usable as is; anything else is a hard stop.
  local owner
  if owner=$(port_owner "$PG_PORT"); then
    if accepts_connections && pg_client psql -d postgres -tAXc 'SELECT 1' >/dev/null 2>&1; then
      local dd
      dd=$(pg_client psql -d postgres -tAXc 'SHOW data_directory' 2>/dev/null || echo '?')
      warn "port $PG_PORT is served by another PostgreSQL ($owner, data $dd) that accepts our credentials; reusing it"
      ensure_database
      return 0
    fi
    if accepts_connections; then
      die "port $PG_PORT is already taken by another PostgreSQL server ($owner) that rejects user $PG_USER with ROLLOUT_PG_PASSWORD. Stop it, use its password, or pick another port: ROLLOUT_PG_PORT=<port> $0 start"
    fi
    die "port $PG_PORT is already taken by $owner. Stop it, or pick another port: ROLLOUT_PG_PORT=<port> $0 start"
  fi

  ensure_data_dir
  clear_stale_pidfile
  init_cluster
  write_local_conf

  say "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PG_PORT (log $PG_LOG)"
  # setsid: detach from the caller's session, so the server survives the
  # terminal/job that started it. pg_ctl -w waits until it accepts connections.
  if ! as_pg setsid -w "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 >/dev/null; then
    tail -n 20 "$PG_LOG" >&2 || true
    die "PostgreSQL did not start; see $PG_LOG"
  fi
  ensure_database
  say "running on 127.0.0.1:$PG_PORT, database $PG_DB (started in $(elapsed_since "$t0")s)"
}

cmd_stop() {
  need_root "to stop the server"
  if ! is_running; then
    [[ -f $PG_DATA/postmaster.pid ]] && clear_stale_pidfile
    say "not running (data $PG_DATA); nothing to do"
    return 0
  fi
  say "stopping (fast mode)"
  as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null ||
    die "pg_ctl stop failed; see $PG_LOG"
  say "stopped"
}

cmd_status() {
  if [[ ! -x $PG_BIN/pg_isready ]]; then
    say "not installed ($PG_BIN missing)"
    return 3
  fi
  if accepts_connections; then
    local pid=''
    pid=$(postmaster_pid 2>/dev/null) || pid=''
    if [[ -n $pid ]] && [[ $(running_port) == "$PG_PORT" ]]; then
      say "running: 127.0.0.1:$PG_PORT, pid $pid, data $PG_DATA, log $PG_LOG"
    elif [[ -e $PG_DATA && ! -r $PG_DATA/postmaster.pid && $EUID -ne 0 ]]; then
      say "accepting connections on 127.0.0.1:$PG_PORT (run as root to see which data dir)"
    else
      say "accepting connections on 127.0.0.1:$PG_PORT ($(port_owner "$PG_PORT" || echo 'process unknown')), not from $PG_DATA"
    fi
    return 0
  fi
  if owner=$(port_owner "$PG_PORT"); then
    say "not running; port $PG_PORT is held by $owner"
  else
    say "not running (port $PG_PORT free)"
  fi
  return 3
}

cmd_env() {
  # Values are quoted so the output is safe to eval.
  printf 'export PGHOST=127.0.0.1 PGPORT=%q PGUSER=%q PGPASSWORD=%q PGDATABASE=%q\n' \
    "$PG_PORT" "$PG_USER" "$PG_PASSWORD" "$PG_DB"
  # psql/pg_dump/pg_restore of the server's major version first on PATH.
  # shellcheck disable=SC2016 # $PATH is expanded by whoever evals this
  printf 'export PATH=%q:"$PATH"\n' "$PG_BIN"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
