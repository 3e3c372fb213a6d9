#!/usr/bin/env bash
# A second Docker host, reached over SSH: a network namespace `rollout-h2` joined to this machine
# by a veth pair (198.18.0.1 here, 198.18.0.2 there; 198.18.0.0/15 is the benchmarking range, never
# routed), with its own dockerd and an OpenSSH server on 198.18.0.2:22 whose `docker` talks to that
# dockerd. Its host-network containers listen on 198.18.0.2, not on this machine's 127.0.0.1.
#
#   local-env/dockerhost.sh start|stop|status|env
#
#   eval "$(local-env/dockerhost.sh env)"
#   DOCKER_HOST=$ROLLOUT_H2_DOCKER_HOST docker ps   # with an ssh config that uses the key below
#
# The host's own 127.0.0.1:<PostgreSQL port> reaches the local PostgreSQL (local-env/postgres.sh)
# through a forwarder, as a database on the Docker host itself would: a service container there
# connects to the database at the address the rollout uses. Keys, config, data and logs live in
# $ROLLOUT_STATE_DIR/dockerhost; the offline base image (local-env/base-image.sh) is loaded into the
# second engine.
#
# Environment:
#   ROLLOUT_STATE_DIR               state root (default <repo>/.local)
#   ROLLOUT_PG_PORT                 PostgreSQL port forwarded into the host (default 55432)
#   ROLLOUT_H2_START_TIMEOUT        seconds to wait for the second dockerd (default 60)
set -euo pipefail

log_name=dockerhost
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=rollout-h2
VETH_ROOT=rh2-root
VETH_HOST=rh2-host
ROOT_ADDR=198.18.0.1
H2_ADDR=198.18.0.2
H2_USER=root
H2_PORT=22
PG_PORT="${ROLLOUT_PG_PORT:-55432}"
H2_TIMEOUT="${ROLLOUT_H2_START_TIMEOUT:-60}"

H2_DIR="$STATE_DIR/dockerhost"
H2_DATA="$H2_DIR/data"
H2_EXEC="$H2_DIR/exec"
H2_SOCK="$H2_DIR/docker.sock"
H2_DOCKERD_PID="$H2_DIR/dockerd.pid"
H2_DAEMON_JSON="$H2_DIR/daemon.json"
H2_DOCKERD_LOG="$STATE_DIR/dockerhost-dockerd.log"
H2_SSHD_CONFIG="$H2_DIR/sshd_config"
H2_HOST_KEY="$H2_DIR/ssh_host_ed25519_key"
H2_CLIENT_KEY="$H2_DIR/client_ed25519"
H2_AUTHORIZED="$H2_DIR/authorized_keys"
H2_KNOWN_HOSTS="$H2_DIR/known_hosts"
H2_SSHD_PID="$H2_DIR/sshd.pid"
H2_SSHD_LOG="$STATE_DIR/dockerhost-sshd.log"
H2_FWD_PID="$H2_DIR/forward.pid"
H2_FWD_SOCK="$H2_DIR/postgres.sock"
H2_FWD_LOG="$STATE_DIR/dockerhost-forward.log"
FORWARD_JS="$LOCAL_ENV_DIR/dockerhost-forward.mjs"
SSHD_BIN=/usr/sbin/sshd

if ! [[ $PG_PORT =~ ^[0-9]+$ ]] || ((PG_PORT < 1 || PG_PORT > 65535)); then
  die "ROLLOUT_PG_PORT must be a TCP port number, got '$PG_PORT'"
fi

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|env

  start   create the namespace $NS ($H2_ADDR), start its dockerd, sshd on $H2_ADDR:$H2_PORT and the
          PostgreSQL forwarder, and load the base image there (reuses whatever already runs)
  stop    stop them and remove the namespace (keys and images are kept)
  status  exit 0 when a key login to $H2_USER@$H2_ADDR reaches the second engine
  env     print export lines: eval "\$($0 env)"
EOF
  exit 2
}

ns_exists() { [[ -e /run/netns/$NS ]]; }
# The namespace's network only. `ip netns exec` would also give the process a new mount namespace
# with a fresh /sys, without the cgroup mounts under /sys/fs/cgroup that dockerd needs.
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }

# PID from a pidfile, only if that process is alive and named $2.
pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  pid_alive "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] || return 1
  echo "$pid"
}

engine_answers() {
  [[ -S $H2_SOCK ]] && [[ $(curl -s --max-time 3 --unix-socket "$H2_SOCK" http://localhost/_ping 2>/dev/null) == OK ]]
}

client_opts() {
  printf '%s\n' -F none -i "$H2_CLIENT_KEY" -p "$H2_PORT" \
    -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o ConnectTimeout=3 \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$H2_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null \
    -o LogLevel=ERROR
}

# A real key login whose `docker` reaches the second engine: proves the whole path.
ssh_reaches_engine() {
  local opts
  mapfile -t opts < <(client_opts)
  [[ $(ssh "${opts[@]}" "$H2_USER@$H2_ADDR" "docker info --format '{{.DockerRootDir}}'" 2>/dev/null </dev/null) == "$H2_DATA" ]]
}

ensure_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [[ -x $SSHD_BIN ]] || missing+=(openssh-server)
  command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  need_cmd ip "iproute2"
  need_cmd setsid "util-linux"
  need_cmd node "Node.js, for the PostgreSQL forwarder"
}

ensure_network() {
  if ! ns_exists; then
    say "creating network namespace $NS"
    ip netns add "$NS"
  fi
  if ! ip link show "$VETH_ROOT" >/dev/null 2>&1; then
    # A half-made pair from an interrupted start: the host end may still be in the namespace.
    in_ns ip link del "$VETH_HOST" 2>/dev/null || true
    ip link add "$VETH_ROOT" type veth peer name "$VETH_HOST"
    ip link set "$VETH_HOST" netns "$NS"
  fi
  ip addr replace "$ROOT_ADDR/30" dev "$VETH_ROOT"
  ip link set "$VETH_ROOT" up
  in_ns ip addr replace "$H2_ADDR/30" dev "$VETH_HOST"
  in_ns ip link set "$VETH_HOST" up
  in_ns ip link set lo up
  ip route get "$H2_ADDR" 2>/dev/null | grep -q "dev $VETH_ROOT" ||
    die "$H2_ADDR is not routed over $VETH_ROOT (another route for 198.18.0.0/30?); see 'ip route get $H2_ADDR'"
}

ensure_files() {
  ensure_state_dir
  mkdir -p "$H2_DIR" "$H2_DATA" "$H2_EXEC"
  chmod 700 "$H2_DIR"
  if [[ ! -s $H2_HOST_KEY ]]; then
    rm -f "$H2_HOST_KEY" "$H2_HOST_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "rollout-h2-host" -f "$H2_HOST_KEY" >/dev/null
  fi
  if [[ ! -s $H2_CLIENT_KEY ]]; then
    rm -f "$H2_CLIENT_KEY" "$H2_CLIENT_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C "rollout-h2-client" -f "$H2_CLIENT_KEY" >/dev/null
  fi
  chmod 600 "$H2_HOST_KEY" "$H2_CLIENT_KEY"
  install -m 600 "$H2_CLIENT_KEY.pub" "$H2_AUTHORIZED"
  printf '%s %s\n' "$H2_ADDR" "$(cut -d' ' -f1-2 "$H2_HOST_KEY.pub")" >"$H2_KNOWN_HOSTS"
  chmod 644 "$H2_KNOWN_HOSTS"
  [[ -f $H2_DAEMON_JSON ]] || echo '{}' >"$H2_DAEMON_JSON"
  cat >"$H2_SSHD_CONFIG" <<EOF
# Written by local-env/dockerhost.sh at each start; edits are lost.
ListenAddress $H2_ADDR:$H2_PORT
HostKey $H2_HOST_KEY
PidFile $H2_SSHD_PID
AuthorizedKeysFile $H2_AUTHORIZED
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
AllowTcpForwarding no
PrintMotd no
LogLevel VERBOSE
# The sessions' docker (docker system dial-stdio for ssh:// clients) talks to this host's engine.
SetEnv DOCKER_HOST=unix://$H2_SOCK
EOF
  chmod 600 "$H2_SSHD_CONFIG"
}

storage_driver() {
  local d
  for d in overlay2 vfs; do
    if [[ -n $(ls -A "$H2_DATA/$d" 2>/dev/null) ]]; then
      echo "$d"
      return
    fi
  done
  # The local engine already proved which driver works on this filesystem.
  d=$(curl -s --max-time 3 --unix-socket "$DOCKER_SOCK" http://localhost/info 2>/dev/null |
    grep -o '"Driver":"[a-z0-9]*"' | head -n1 | cut -d'"' -f4 || true)
  echo "${d:-vfs}"
}

start_engine() {
  local pid driver i launched=
  if engine_answers; then return 0; fi
  if pid=$(pid_of "$H2_DOCKERD_PID" dockerd); then
    say "dockerd pid $pid exists but does not answer yet; waiting"
  else
    rm -f "$H2_DOCKERD_PID" "$H2_SOCK"
    driver=$(storage_driver)
    rotate_log "$H2_DOCKERD_LOG"
    echo "==== $(date -Is) local-env/dockerhost.sh start (storage driver $driver) ====" >>"$H2_DOCKERD_LOG"
    say "starting dockerd in $NS (storage driver $driver, data $H2_DATA, log $H2_DOCKERD_LOG)"
    # Like local-env/docker.sh: no bridge, no iptables; host-network containers listen on $H2_ADDR.
    in_ns setsid nohup dockerd \
      --config-file "$H2_DAEMON_JSON" \
      --host "unix://$H2_SOCK" \
      --pidfile "$H2_DOCKERD_PID" \
      --data-root "$H2_DATA" \
      --exec-root "$H2_EXEC" \
      --storage-driver "$driver" \
      --bridge=none \
      --iptables=false \
      --ip6tables=false \
      --ip-masq=false \
      --ip-forward=false \
      --userland-proxy=false \
      </dev/null >>"$H2_DOCKERD_LOG" 2>&1 &
    launched=$!
  fi
  for ((i = 0; i < H2_TIMEOUT * 5; i++)); do
    engine_answers && return 0
    # A dockerd that has exited has failed: no need to wait out the timeout.
    if [[ -n $launched ]] && ! pid_alive "$launched"; then break; fi
    sleep 0.2
  done
  tail -n 15 "$H2_DOCKERD_LOG" >&2 || true
  die "the second dockerd did not answer on $H2_SOCK within ${H2_TIMEOUT}s; see $H2_DOCKERD_LOG"
}

start_sshd() {
  local check i
  if pid_of "$H2_SSHD_PID" sshd >/dev/null; then return 0; fi
  mkdir -p /run/sshd
  chmod 755 /run/sshd
  check=$("$SSHD_BIN" -t -f "$H2_SSHD_CONFIG" 2>&1) || die "sshd refuses $H2_SSHD_CONFIG: $check"
  rm -f "$H2_SSHD_PID"
  rotate_log "$H2_SSHD_LOG"
  say "starting sshd in $NS on $H2_ADDR:$H2_PORT (log $H2_SSHD_LOG)"
  in_ns setsid "$SSHD_BIN" -f "$H2_SSHD_CONFIG" -E "$H2_SSHD_LOG" </dev/null >>"$H2_SSHD_LOG" 2>&1
  for ((i = 0; i < 50; i++)); do
    pid_of "$H2_SSHD_PID" sshd >/dev/null && return 0
    sleep 0.1
  done
  tail -n 20 "$H2_SSHD_LOG" >&2 || true
  die "sshd in $NS did not start; see $H2_SSHD_LOG"
}

# Two halves of one forwarder: here, a unix socket to 127.0.0.1:$PG_PORT; in the namespace,
# 127.0.0.1:$PG_PORT to that socket (a unix socket is reachable from both network namespaces).
start_forwarder() {
  local i
  if pid_of "$H2_FWD_PID" node >/dev/null && pid_of "$H2_FWD_PID.ns" node >/dev/null; then return 0; fi
  stop_forwarder
  rotate_log "$H2_FWD_LOG"
  say "forwarding $NS's 127.0.0.1:$PG_PORT to this machine's 127.0.0.1:$PG_PORT (PostgreSQL)"
  setsid nohup node "$FORWARD_JS" unix "$H2_FWD_SOCK" "127.0.0.1:$PG_PORT" "$H2_FWD_PID" \
    </dev/null >>"$H2_FWD_LOG" 2>&1 &
  for ((i = 0; i < 50; i++)); do [[ -S $H2_FWD_SOCK ]] && break; sleep 0.1; done
  [[ -S $H2_FWD_SOCK ]] || die "the forwarder did not create $H2_FWD_SOCK; see $H2_FWD_LOG"
  in_ns setsid nohup node "$FORWARD_JS" tcp "127.0.0.1:$PG_PORT" "$H2_FWD_SOCK" "$H2_FWD_PID.ns" \
    </dev/null >>"$H2_FWD_LOG" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    pid_of "$H2_FWD_PID.ns" node >/dev/null && return 0
    sleep 0.1
  done
  die "the forwarder in $NS did not start; see $H2_FWD_LOG"
}

stop_forwarder() {
  local f pid
  for f in "$H2_FWD_PID.ns" "$H2_FWD_PID"; do
    if pid=$(pid_of "$f" node); then kill "$pid" 2>/dev/null || true; fi
    rm -f "$f"
  done
  rm -f "$H2_FWD_SOCK"
}

load_base_image() {
  local tag
  tag=$("$LOCAL_ENV_DIR/base-image.sh" | tail -n1)
  resolve_docker_cli || die "no docker client can talk to $DOCKER_SOCK"
  if "$DOCKER" -H "unix://$H2_SOCK" image inspect "$tag" >/dev/null 2>&1; then
    "$DOCKER" -H "unix://$H2_SOCK" tag "$tag" "${tag%:*}:local"
    return 0
  fi
  say "loading $tag into the second engine"
  "$DOCKER" save "$tag" "${tag%:*}:local" | "$DOCKER" -H "unix://$H2_SOCK" load >/dev/null
}

cmd_start() {
  local t0
  t0=$(now)
  need_root "to create a network namespace and run dockerd and sshd in it"
  ensure_packages
  require_docker
  ensure_network
  ensure_files
  start_engine
  start_sshd
  start_forwarder
  load_base_image
  ssh_reaches_engine || die "a key login to $H2_USER@$H2_ADDR does not reach the second engine; see $H2_SSHD_LOG and $H2_DOCKERD_LOG"
  say "running: ssh://$H2_USER@$H2_ADDR (engine $H2_SOCK; started in $(elapsed_since "$t0")s)"
}

cmd_stop() {
  local pid i
  need_root "to stop the second dockerd and remove the namespace"
  stop_forwarder
  if pid=$(pid_of "$H2_SSHD_PID" sshd); then
    kill "$pid"
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$H2_SSHD_PID"
  if pid=$(pid_of "$H2_DOCKERD_PID" dockerd); then
    say "stopping the second dockerd (pid $pid); its containers stop too"
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do pid_alive "$pid" || break; sleep 0.2; done
    if pid_alive "$pid"; then
      warn "dockerd did not exit within 60s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$H2_DOCKERD_PID"
  ip link del "$VETH_ROOT" 2>/dev/null || true
  if ns_exists; then ip netns del "$NS"; fi
  say "stopped (keys and images kept in $H2_DIR)"
}

cmd_status() {
  if ! ns_exists; then
    say "not running (no namespace $NS)"
    return 3
  fi
  if ! engine_answers; then
    say "namespace $NS exists but no engine answers on $H2_SOCK; see $H2_DOCKERD_LOG"
    return 3
  fi
  if ! ssh_reaches_engine; then
    say "the engine answers, but a key login to $H2_USER@$H2_ADDR does not reach it; see $H2_SSHD_LOG"
    return 3
  fi
  say "running: ssh://$H2_USER@$H2_ADDR, engine $H2_SOCK, keys in $H2_DIR"
}

cmd_env() {
  [[ -s $H2_CLIENT_KEY && -s $H2_KNOWN_HOSTS ]] || die "no client key in $H2_DIR yet; run: $0 start"
  printf 'export ROLLOUT_H2_DOCKER_HOST=%q ROLLOUT_H2_ADDR=%q ROLLOUT_H2_KEY=%q ROLLOUT_H2_KNOWN_HOSTS=%q ROLLOUT_H2_SOCKET=%q\n' \
    "ssh://$H2_USER@$H2_ADDR" "$H2_ADDR" "$H2_CLIENT_KEY" "$H2_KNOWN_HOSTS" "$H2_SOCK"
  printf 'export ROLLOUT_H2_KNOWN_HOSTS_LINE=%q\n' "$(<"$H2_KNOWN_HOSTS")"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
