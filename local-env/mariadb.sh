#!/usr/bin/env bash
# Local MariaDB (Debian's mariadb-server) for stacks and tests with database.engine "mysql".
#
#   local-env/mariadb.sh start|stop|status|env
#
# A private server (own data dir, socket, pid file and port, 127.0.0.1 only), so it never touches
# or clashes with a system-wide server on 3306 and /run/mysqld.
#
# Environment:
#   ROLLOUT_STATE_DIR          state root (default <repo>/.local)
#   ROLLOUT_MYSQL_PORT         TCP port (default 53306)
#   ROLLOUT_MYSQL_PASSWORD     password of 'root'@'127.0.0.1' and 'root'@'localhost' (default rollout-dev)
#   ROLLOUT_MYSQL_DATA         data dir (default $ROLLOUT_STATE_DIR/mariadb)
set -euo pipefail

log_name=mariadb
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MY_PORT="${ROLLOUT_MYSQL_PORT:-53306}"
MY_PASSWORD="${ROLLOUT_MYSQL_PASSWORD:-rollout-dev}"
MY_DB=rollout_dev
MY_USER=root
MY_OS_USER=mysql
MY_DATA="${ROLLOUT_MYSQL_DATA:-$STATE_DIR/mariadb}"
MY_RUN="$STATE_DIR/mariadb-run"
MY_SOCKET="$MY_RUN/mysqld.sock"
MY_PID="$MY_RUN/mysqld.pid"
MY_CNF="$MY_RUN/my.cnf"
MY_LOG="$STATE_DIR/mariadb.log"

if ! [[ $MY_PORT =~ ^[0-9]+$ ]] || ((MY_PORT < 1 || MY_PORT > 65535)); then
  die "ROLLOUT_MYSQL_PORT must be a TCP port number, got '$MY_PORT'"
fi

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|env

  start   install (if needed), initialise (if needed) and start MariaDB
          on 127.0.0.1:$MY_PORT, data in $MY_DATA
  stop    stop it (clean shutdown)
  status  exit 0 when it is running and accepting connections
  env     print export lines for clients: eval "\$($0 env)"
EOF
  exit 2
}

binaries_present() {
  local b
  for b in mariadbd mariadb-install-db mariadb mariadb-dump mariadb-admin; do
    command -v "$b" >/dev/null 2>&1 || return 1
  done
}

ensure_installed() {
  if ! binaries_present; then
    say "MariaDB server or client tools not found; installing from Debian"
    apt_install mariadb-server mariadb-client
    binaries_present || die "apt installed mariadb-server and mariadb-client but mariadbd, mariadb-install-db, mariadb, mariadb-dump or mariadb-admin is still missing"
  fi
  getent passwd "$MY_OS_USER" >/dev/null ||
    die "OS user '$MY_OS_USER' does not exist (normally created by the mariadb-server package; reinstall it)"
}

# The password goes to the client in an option file of mode 0600, never on the command line.
client_cnf() {
  local f
  f=$(mktemp "$MY_RUN/client.XXXXXX.cnf")
  chmod 600 "$f"
  printf '[client]\nuser=%s\npassword="%s"\nhost=127.0.0.1\nport=%s\nprotocol=tcp\nconnect-timeout=5\n' \
    "$MY_USER" "${MY_PASSWORD//\"/\\\"}" "$MY_PORT" >"$f"
  echo "$f"
}

# Runs the mariadb client over TCP as root with the configured password.
my_client() {
  local cnf rc=0
  cnf=$(client_cnf)
  mariadb --defaults-extra-file="$cnf" "$@" || rc=$?
  rm -f "$cnf"
  return $rc
}

server_pid() {
  local pid
  pid=$(head -n1 "$MY_PID" 2>/dev/null) || return 1
  pid_alive "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) =~ ^(mariadbd|mysqld)$ ]] || return 1
  echo "$pid"
}

is_running() { server_pid >/dev/null; }

# True when a server answers on our port with our credentials.
accepts_connections() { my_client -N -e 'SELECT 1' >/dev/null 2>&1; }

# True when anything speaking the MySQL protocol answers on our port (credentials aside).
answers() {
  local out
  out=$(mariadb-admin --no-defaults -h 127.0.0.1 -P "$MY_PORT" --protocol=tcp --connect-timeout=3 -u nobody ping 2>&1) && return 0
  [[ $out == *"Access denied"* ]]
}

ensure_dirs() {
  ensure_state_dir
  mkdir -p "$MY_DATA" "$MY_RUN"
  rotate_log "$MY_LOG"
  touch "$MY_LOG"
  chown "$MY_OS_USER:" "$MY_DATA" "$MY_RUN" "$MY_LOG"
  chmod 700 "$MY_DATA"
  chmod 750 "$MY_RUN"
  runuser -u "$MY_OS_USER" -- test -w "$MY_DATA" ||
    die "OS user $MY_OS_USER cannot reach $MY_DATA (a parent directory is not traversable for it?). Set ROLLOUT_STATE_DIR to a path under e.g. /var/tmp."
}

write_cnf() {
  # Rewritten on each start so ROLLOUT_MYSQL_PORT changes take effect. --no-defaults style: only
  # this file is read, so /etc/mysql settings of a system server do not leak in.
  cat >"$MY_CNF" <<EOF
[mariadbd]
user=$MY_OS_USER
datadir=$MY_DATA
socket=$MY_SOCKET
pid-file=$MY_PID
log-error=$MY_LOG
bind-address=127.0.0.1
port=$MY_PORT
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
innodb_buffer_pool_size=128M
EOF
  chmod 644 "$MY_CNF"
}

init_server() {
  [[ -d $MY_DATA/mysql ]] && return 0
  if [[ -n $(ls -A "$MY_DATA") ]]; then
    die "$MY_DATA is not empty but holds no MariaDB system tables; remove it or point ROLLOUT_MYSQL_DATA elsewhere"
  fi
  say "initialising a new server in $MY_DATA"
  if ! mariadb-install-db --defaults-file="$MY_CNF" --auth-root-authentication-method=normal \
    --skip-test-db >>"$MY_LOG" 2>&1; then
    die "mariadb-install-db failed; see $MY_LOG"
  fi
  MY_FRESH=1
}

# A fresh server's root has no password: set ours for the socket and TCP, and drop the other
# password-less accounts mariadb-install-db creates (root@<hostname>, root@::1).
set_root_password() {
  local sql lit=${MY_PASSWORD//\\/\\\\}
  lit=${lit//\'/\\\'}
  sql="ALTER USER 'root'@'localhost' IDENTIFIED BY '$lit';
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '$lit';
DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1'));
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
FLUSH PRIVILEGES;"
  mariadb --no-defaults --protocol=socket -S "$MY_SOCKET" -u root <<<"$sql" ||
    die "could not set the root password over $MY_SOCKET; see $MY_LOG"
}

ensure_database() {
  accepts_connections || die "server is up but login as $MY_USER with the configured password failed. The server in $MY_DATA was probably initialised with another ROLLOUT_MYSQL_PASSWORD; use that one, or remove $MY_DATA to start afresh. Details in $MY_LOG"
  my_client -e "CREATE DATABASE IF NOT EXISTS \`$MY_DB\`"
}

wait_ready() {
  local i
  for i in $(seq 1 120); do
    mariadb-admin --no-defaults --protocol=socket -S "$MY_SOCKET" -u nobody ping >/dev/null 2>&1 && return 0
    # "Access denied" also means it is up.
    mariadb-admin --no-defaults --protocol=socket -S "$MY_SOCKET" -u nobody ping 2>&1 | grep -q 'Access denied' && return 0
    is_running || { sleep 0.5; is_running || return 1; }
    sleep 0.5
  done
  return 1
}

cmd_start() {
  need_root "to install packages and run the server as the mysql user"
  need_cmd runuser "util-linux"
  local t0
  t0=$(now)
  ensure_installed

  if is_running; then
    local rp
    rp=$(sed -n 's/^port=//p' "$MY_CNF" 2>/dev/null || true)
    if [[ -n $rp && $rp != "$MY_PORT" ]]; then
      die "already running from $MY_DATA but on port $rp, not $MY_PORT; run '$0 stop' first to change ports"
    fi
    ensure_database
    say "already running on 127.0.0.1:$MY_PORT (data $MY_DATA); nothing to do"
    return 0
  fi

  local owner
  if owner=$(port_owner "$MY_PORT"); then
    if accepts_connections; then
      warn "port $MY_PORT is served by another MySQL/MariaDB server ($owner) that accepts our credentials; reusing it"
      ensure_database
      return 0
    fi
    if answers; then
      die "port $MY_PORT is already taken by another MySQL/MariaDB server ($owner) that rejects user $MY_USER with ROLLOUT_MYSQL_PASSWORD. Stop it, use its password, or pick another port: ROLLOUT_MYSQL_PORT=<port> $0 start"
    fi
    die "port $MY_PORT is already taken by $owner. Stop it, or pick another port: ROLLOUT_MYSQL_PORT=<port> $0 start"
  fi

  ensure_dirs
  rm -f "$MY_PID" "$MY_SOCKET"
  write_cnf
  MY_FRESH=0
  init_server

  say "starting MariaDB on 127.0.0.1:$MY_PORT (log $MY_LOG)"
  # setsid: detach from the caller's session, so the server survives the terminal/job that started it.
  setsid mariadbd --defaults-file="$MY_CNF" </dev/null >>"$MY_LOG" 2>&1 &
  if ! wait_ready; then
    tail -n 20 "$MY_LOG" >&2 || true
    die "MariaDB did not start; see $MY_LOG"
  fi
  ((MY_FRESH == 1)) && set_root_password
  ensure_database
  say "running on 127.0.0.1:$MY_PORT, database $MY_DB (started in $(elapsed_since "$t0")s)"
}

cmd_stop() {
  need_root "to stop the server"
  local pid
  if ! pid=$(server_pid); then
    rm -f "$MY_PID"
    say "not running (data $MY_DATA); nothing to do"
    return 0
  fi
  say "stopping (pid $pid)"
  kill -TERM "$pid"
  local i
  for i in $(seq 1 120); do
    pid_alive "$pid" || {
      say "stopped"
      return 0
    }
    sleep 0.5
  done
  die "MariaDB (pid $pid) did not stop within 60 s; see $MY_LOG"
}

cmd_status() {
  if ! command -v mariadb >/dev/null 2>&1; then
    say "not installed (no mariadb client on PATH)"
    return 3
  fi
  if [[ -d $MY_RUN ]] && accepts_connections; then
    local pid=''
    pid=$(server_pid 2>/dev/null) || pid=''
    if [[ -n $pid ]]; then
      say "running: 127.0.0.1:$MY_PORT, pid $pid, data $MY_DATA, log $MY_LOG"
    else
      say "accepting connections on 127.0.0.1:$MY_PORT ($(port_owner "$MY_PORT" || echo 'process unknown')), not from $MY_DATA"
    fi
    return 0
  fi
  if owner=$(port_owner "$MY_PORT"); then
    say "not running; port $MY_PORT is held by $owner"
  else
    say "not running (port $MY_PORT free)"
  fi
  return 3
}

cmd_env() {
  # Values are quoted so the output is safe to eval.
  printf 'export MYSQL_HOST=127.0.0.1 MYSQL_TCP_PORT=%q MYSQL_USER=%q MYSQL_PWD=%q MYSQL_DATABASE=%q\n' \
    "$MY_PORT" "$MY_USER" "$MY_PASSWORD" "$MY_DB"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
