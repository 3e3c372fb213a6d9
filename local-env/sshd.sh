#!/usr/bin/env bash
# A private OpenSSH server on 127.0.0.1 for the hosts that rollouts reach over SSH (directory
# archives, backup copies to a second host, command steps, Docker over ssh://).
#
#   local-env/sshd.sh start|stop|status|env
#
# Its own sshd_config, host key, client key pair, authorized_keys and known_hosts live in
# $ROLLOUT_STATE_DIR/sshd; it listens on 127.0.0.1 only and accepts public keys only (no
# passwords, no keyboard-interactive). Clients connect with strict host key checking:
#
#   eval "$(local-env/sshd.sh env)"
#   ssh -i "$ROLLOUT_SSH_KEY" -o UserKnownHostsFile="$ROLLOUT_SSH_KNOWN_HOSTS" \
#     -o StrictHostKeyChecking=yes -p "$ROLLOUT_SSH_PORT" "$ROLLOUT_SSH_USER@$ROLLOUT_SSH_HOST" true
#
# Environment:
#   ROLLOUT_STATE_DIR   state root (default <repo>/.local)
#   ROLLOUT_SSH_PORT    TCP port (default 52222)
set -euo pipefail

log_name=sshd
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SSH_PORT="${ROLLOUT_SSH_PORT:-52222}"
SSH_HOST=127.0.0.1
SSH_USER=root
SSH_DIR="$STATE_DIR/sshd"
SSH_CONFIG="$SSH_DIR/sshd_config"
SSH_HOST_KEY="$SSH_DIR/ssh_host_ed25519_key"
SSH_CLIENT_KEY="$SSH_DIR/client_ed25519"
SSH_AUTHORIZED="$SSH_DIR/authorized_keys"
SSH_KNOWN_HOSTS="$SSH_DIR/known_hosts"
SSH_PID="$SSH_DIR/sshd.pid"
SSH_LOG="$STATE_DIR/sshd.log"
SSHD_BIN=/usr/sbin/sshd

if ! [[ $SSH_PORT =~ ^[0-9]+$ ]] || ((SSH_PORT < 1 || SSH_PORT > 65535)); then
  die "ROLLOUT_SSH_PORT must be a TCP port number, got '$SSH_PORT'"
fi

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|env

  start   install openssh-server when missing, create keys and config, start sshd on $SSH_HOST:$SSH_PORT
  stop    stop it (keys are kept)
  status  exit 0 when it is running and a key login works
  env     print export lines for SSH clients: eval "\$($0 env)"
EOF
  exit 2
}

ensure_packages() {
  local missing=()
  [[ -x $SSHD_BIN ]] || missing+=(openssh-server)
  command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  if ((${#missing[@]} > 0)); then
    need_root "to install ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  [[ -x $SSHD_BIN ]] || die "$SSHD_BIN is missing after installing openssh-server"
}

# Keys and config; existing keys are kept so known_hosts and client keys stay valid across restarts.
ensure_files() {
  ensure_state_dir
  mkdir -p "$SSH_DIR"
  # sshd's StrictModes refuses keys in a directory others may write to.
  chmod 700 "$SSH_DIR"
  if [[ ! -s $SSH_HOST_KEY ]]; then
    rm -f "$SSH_HOST_KEY" "$SSH_HOST_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "rollout-local-sshd-host" -f "$SSH_HOST_KEY" >/dev/null
  fi
  if [[ ! -s $SSH_CLIENT_KEY ]]; then
    rm -f "$SSH_CLIENT_KEY" "$SSH_CLIENT_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "rollout-local-client" -f "$SSH_CLIENT_KEY" >/dev/null
  fi
  chmod 600 "$SSH_HOST_KEY" "$SSH_CLIENT_KEY"
  install -m 600 "$SSH_CLIENT_KEY.pub" "$SSH_AUTHORIZED"
  # Written for the port in use now, so a client pins exactly this server's key.
  printf '[%s]:%s %s\n' "$SSH_HOST" "$SSH_PORT" "$(cut -d' ' -f1-2 "$SSH_HOST_KEY.pub")" >"$SSH_KNOWN_HOSTS"
  chmod 644 "$SSH_KNOWN_HOSTS"
  cat >"$SSH_CONFIG" <<EOF
# Written by local-env/sshd.sh at each start; edits are lost.
ListenAddress $SSH_HOST:$SSH_PORT
HostKey $SSH_HOST_KEY
PidFile $SSH_PID
AuthorizedKeysFile $SSH_AUTHORIZED
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
UsePAM no
StrictModes yes
X11Forwarding no
PermitTunnel no
AllowAgentForwarding no
PermitUserEnvironment no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
  chmod 600 "$SSH_CONFIG"
}

server_pid() {
  local pid
  pid=$(cat "$SSH_PID" 2>/dev/null) || return 1
  pid_alive "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == sshd ]] || return 1
  echo "$pid"
}

client_opts() {
  printf '%s\n' -i "$SSH_CLIENT_KEY" -p "$SSH_PORT" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=3 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o LogLevel=ERROR
}

# A real key login, host key checked: proves more than an open port.
answers() {
  local opts
  mapfile -t opts < <(client_opts)
  [[ $(ssh "${opts[@]}" "$SSH_USER@$SSH_HOST" echo rollout-ssh-ok 2>/dev/null </dev/null) == rollout-ssh-ok ]]
}

cmd_start() {
  local t0 owner pid i
  t0=$(now)
  ensure_packages
  if pid=$(server_pid); then
    answers || die "sshd (pid $pid) is running but a key login to $SSH_USER@$SSH_HOST:$SSH_PORT fails; see $SSH_LOG, or run '$0 stop' and start again"
    say "already running on $SSH_HOST:$SSH_PORT (pid $pid); nothing to do"
    return 0
  fi
  need_root "sshd logs in as root and needs /run/sshd"
  if owner=$(port_owner "$SSH_PORT"); then
    die "port $SSH_PORT is already taken by $owner. Stop it, or pick another port: ROLLOUT_SSH_PORT=<port> $0 start"
  fi
  ensure_files
  # Debian's sshd refuses to start without its privilege separation directory.
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  local check
  check=$("$SSHD_BIN" -t -f "$SSH_CONFIG" 2>&1) || die "sshd refuses $SSH_CONFIG: $check"
  rm -f "$SSH_PID"
  rotate_log "$SSH_LOG"
  say "starting sshd on $SSH_HOST:$SSH_PORT (log $SSH_LOG)"
  # sshd detaches itself and writes the pidfile; setsid keeps it out of this shell's session.
  setsid "$SSHD_BIN" -f "$SSH_CONFIG" -E "$SSH_LOG" </dev/null >>"$SSH_LOG" 2>&1
  for ((i = 0; i < 50; i++)); do
    if server_pid >/dev/null && answers; then
      say "running on $SSH_HOST:$SSH_PORT, pid $(server_pid) (started in $(elapsed_since "$t0")s)"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$SSH_LOG" >&2 || true
  die "sshd did not start or a key login failed; see $SSH_LOG"
}

cmd_stop() {
  local pid i
  if ! pid=$(server_pid); then
    rm -f "$SSH_PID"
    say "not running; nothing to do"
    return 0
  fi
  # Only the listener; sessions in progress end on their own.
  kill "$pid"
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  pid_alive "$pid" && die "sshd (pid $pid) did not stop"
  rm -f "$SSH_PID"
  say "stopped"
}

cmd_status() {
  local pid owner
  if pid=$(server_pid) && answers; then
    say "running: $SSH_HOST:$SSH_PORT, pid $pid, keys in $SSH_DIR, log $SSH_LOG"
    return 0
  fi
  if owner=$(port_owner "$SSH_PORT"); then
    say "not running; port $SSH_PORT is held by $owner"
  else
    say "not running (port $SSH_PORT free)"
  fi
  return 3
}

cmd_env() {
  [[ -s $SSH_CLIENT_KEY && -s $SSH_KNOWN_HOSTS ]] || die "no client key in $SSH_DIR yet; run: $0 start"
  printf 'export ROLLOUT_SSH_HOST=%q ROLLOUT_SSH_PORT=%q ROLLOUT_SSH_USER=%q ROLLOUT_SSH_KEY=%q ROLLOUT_SSH_KNOWN_HOSTS=%q\n' \
    "$SSH_HOST" "$SSH_PORT" "$SSH_USER" "$SSH_CLIENT_KEY" "$SSH_KNOWN_HOSTS"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
