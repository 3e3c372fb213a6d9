#!/usr/bin/env bash
# Local Docker engine (Debian's docker.io) for the dev stack and tests.
#
#   local-env/docker.sh start|stop|status
#
# No bridge, no iptables, no NAT: this machine may only talk to 127.0.0.1, so
# the daemon never creates docker0 (172.17.0.0/16). Containers and builds must
# use --network host.
#
# Environment:
#   ROLLOUT_STATE_DIR              state root (default <repo>/.local)
#   ROLLOUT_DOCKER_DATA_ROOT       images/containers (default $ROLLOUT_STATE_DIR/docker/data)
#   ROLLOUT_DOCKER_STORAGE_DRIVER  force overlay2 or vfs (default: probe)
#   ROLLOUT_DOCKER_START_TIMEOUT   seconds to wait for the daemon (default 60)
set -euo pipefail

log_name=docker
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D_STATE="$STATE_DIR/docker"
D_DATA="${ROLLOUT_DOCKER_DATA_ROOT:-$D_STATE/data}"
D_PIDFILE="$D_STATE/dockerd.pid"
D_LOG="$STATE_DIR/dockerd.log"
D_CONFIG="$D_STATE/daemon.json"
D_TIMEOUT="${ROLLOUT_DOCKER_START_TIMEOUT:-60}"

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status

  start   install docker.io (if needed) and start dockerd on $DOCKER_SOCK
          (reuses a daemon that already answers there)
  stop    stop the daemon this script started (its containers stop too)
  status  exit 0 when a daemon answers on $DOCKER_SOCK
EOF
  exit 2
}

our_pid() {
  # PID from our pidfile, only if that process is still a dockerd.
  local pid
  [[ -r $D_PIDFILE ]] || return 1
  pid=$(<"$D_PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || return 1
  pid_alive "$pid" || return 1
  echo "$pid"
}

socket_owner() {
  # Which process listens on the docker socket (best effort).
  if command -v ss >/dev/null 2>&1; then
    ss -Hlxp 2>/dev/null | grep -F " $DOCKER_SOCK " | grep -o '"[^"]*",pid=[0-9]*' |
      sed -E 's/"([^"]*)",pid=([0-9]+)/\1 (pid \2)/' | sort -u | paste -sd, - || true
  fi
}

ensure_installed() {
  # docker.io brings dockerd, containerd, runc, tini (docker-init) and the
  # matching client in /usr/bin/docker.
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  [[ -x /usr/bin/docker ]] || missing+=(docker.io)
  if ((${#missing[@]})); then
    say "dockerd (Debian docker.io) not installed; installing"
    apt_install docker.io
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is still not on PATH"
  fi
  need_cmd containerd "from the containerd package, a docker.io dependency"
  need_cmd runc "from the runc package, a docker.io dependency"
}

# overlay2 needs a working overlayfs mount on the data-root's filesystem; in
# some sandboxes (nested overlay, no CAP_SYS_ADMIN in a user ns) it does not
# work and dockerd would refuse to start. vfs always works but copies every
# layer in full (slower, bigger).
probe_overlay() {
  local t rc=1
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || return 1
  mkdir -p "$D_STATE"
  t=$(mktemp -d "$D_STATE/overlay-probe.XXXXXX")
  mkdir -p "$t"/{lower,upper,work,merged}
  echo probe >"$t/lower/f"
  if mount -t overlay overlay \
    -o "lowerdir=$t/lower,upperdir=$t/upper,workdir=$t/work" "$t/merged" 2>/dev/null; then
    if [[ $(cat "$t/merged/f" 2>/dev/null) == probe ]] && echo x >"$t/merged/g" 2>/dev/null &&
      [[ -f $t/upper/g ]]; then
      rc=0
    fi
    umount "$t/merged" 2>/dev/null || umount -l "$t/merged" 2>/dev/null || true
  fi
  rm -rf "$t"
  return $rc
}

# Mounts under the data-root that a dockerd which died hard (SIGKILL, OOM)
# leaves behind; they make the data-root impossible to delete.
unmount_leftovers() {
  local m
  awk -v p="$D_DATA" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || warn "could not unmount $m"
    done
}

pick_storage_driver() {
  if [[ -n ${ROLLOUT_DOCKER_STORAGE_DRIVER:-} ]]; then
    echo "$ROLLOUT_DOCKER_STORAGE_DRIVER"
    return
  fi
  # Keep whatever an existing data-root was created with: switching drivers
  # would make all existing images invisible.
  local d
  for d in overlay2 vfs; do
    if [[ -d $D_DATA/$d ]] && [[ -n $(ls -A "$D_DATA/$d" 2>/dev/null) ]]; then
      echo "$d"
      return
    fi
  done
  if probe_overlay; then echo overlay2; else echo vfs; fi
}

wait_for_daemon() {
  local pid=$1 deadline=$((SECONDS + D_TIMEOUT))
  while ((SECONDS < deadline)); do
    if docker_daemon_answers; then return 0; fi
    if ! pid_alive "$pid"; then return 2; fi
    sleep 0.2
  done
  return 1
}

# Launches dockerd; returns 0 when it answers, non-zero (and no daemon left
# behind) otherwise.
launch() {
  local driver=$1 pid rc=0
  # An empty config file of our own: /etc/docker/daemon.json (if any) could
  # set a bridge or registry mirrors that conflict with the flags below.
  [[ -f $D_CONFIG ]] || echo '{}' >"$D_CONFIG"
  {
    echo
    echo "==== $(date -Is) local-env/docker.sh start (storage driver $driver) ===="
  } >>"$D_LOG"
  # setsid + nohup: detach from the caller's session/terminal so the daemon
  # outlives the shell that started it.
  setsid nohup dockerd \
    --config-file "$D_CONFIG" \
    --host "unix://$DOCKER_SOCK" \
    --pidfile "$D_PIDFILE" \
    --data-root "$D_DATA" \
    --storage-driver "$driver" \
    --bridge=none \
    --iptables=false \
    --ip-masq=false \
    --ip-forward=false \
    --userland-proxy=false \
    </dev/null >>"$D_LOG" 2>&1 &
  pid=$!
  wait_for_daemon "$pid" || rc=$?
  if ((rc != 0)); then
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$D_PIDFILE"
    return $rc
  fi
}

check_client() {
  if resolve_docker_cli; then
    local cv sv api
    cv=$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null || echo '?')
    sv=$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null || echo '?')
    api=$("$DOCKER" version --format '{{.Server.APIVersion}}' 2>/dev/null || echo '?')
    say "client $DOCKER $cv <-> daemon $sv (API $api)"
  else
    die "the daemon answers on $DOCKER_SOCK but neither $(command -v docker || echo 'docker on PATH') nor /usr/bin/docker can talk to it; see $D_LOG"
  fi
}

cmd_start() {
  need_root "to install packages and run dockerd"
  local t0
  t0=$(now)

  if docker_daemon_answers; then
    local pid
    if pid=$(our_pid); then
      say "already running (pid $pid, data $D_DATA); nothing to do"
    else
      say "a daemon already answers on $DOCKER_SOCK ($(socket_owner || true)); reusing it"
    fi
    check_client
    return 0
  fi

  ensure_installed
  ensure_state_dir
  mkdir -p "$D_STATE" "$D_DATA"
  need_cmd setsid "util-linux"

  # A dockerd from our pidfile that is alive but not answering is still
  # starting (or wedged): wait for it instead of starting a second one.
  local pid
  if pid=$(our_pid); then
    say "dockerd pid $pid exists but does not answer yet; waiting up to ${D_TIMEOUT}s"
    if wait_for_daemon "$pid"; then
      check_client
      return 0
    fi
    die "dockerd (pid $pid) is not answering on $DOCKER_SOCK; see $D_LOG, or stop it: $0 stop"
  fi
  rm -f "$D_PIDFILE"

  if [[ -S $DOCKER_SOCK ]]; then
    local owner
    owner=$(socket_owner)
    [[ -z $owner ]] || die "$DOCKER_SOCK is held by $owner but no Docker API answers there; stop that process first"
  fi
  # containerd from a previous dockerd that died hard would block the new one.
  if [[ -r /var/run/docker/containerd/containerd.pid ]]; then
    local cpid
    cpid=$(<"/var/run/docker/containerd/containerd.pid")
    if [[ $(cat "/proc/$cpid/comm" 2>/dev/null) == containerd ]] && pid_alive "$cpid"; then
      say "stopping containerd (pid $cpid) left over from a previous dockerd"
      kill -TERM "$cpid" 2>/dev/null || true
      local i
      for ((i = 0; i < 50; i++)); do pid_alive "$cpid" || break; sleep 0.1; done
    fi
  fi

  unmount_leftovers
  local driver rc=0 log_off
  driver=$(pick_storage_driver)
  say "starting dockerd (storage driver $driver, data $D_DATA, log $D_LOG)"
  rotate_log "$D_LOG"
  log_off=$(stat -c %s "$D_LOG" 2>/dev/null || echo 0)
  launch "$driver" || rc=$?
  # The mount probe can pass while dockerd's own overlay2 checks still fail
  # (e.g. overlay on top of overlay). With no overlay2 images to lose, fall
  # back to vfs once.
  if ((rc == 2)) && [[ $driver == overlay2 && -z ${ROLLOUT_DOCKER_STORAGE_DRIVER:-} ]] &&
    [[ -z $(ls -A "$D_DATA/overlay2" 2>/dev/null) ]] &&
    tail -c +$((log_off + 1)) "$D_LOG" | grep -Eqi 'overlay|graphdriver|storage.driver'; then
    warn "dockerd failed with overlay2; retrying with vfs"
    driver=vfs
    rc=0
    launch "$driver" || rc=$?
  fi
  case $rc in
    0) ;;
    2)
      tail -n 15 "$D_LOG" >&2 || true
      die "dockerd exited during startup; see $D_LOG"
      ;;
    *) die "dockerd did not answer on $DOCKER_SOCK within ${D_TIMEOUT}s; see $D_LOG" ;;
  esac
  check_client
  say "running (pid $(our_pid || echo '?'), storage driver $driver; started in $(elapsed_since "$t0")s)." \
    "Use --network host for containers and builds."
}

cmd_stop() {
  need_root "to stop dockerd"
  local pid
  if ! pid=$(our_pid); then
    rm -f "$D_PIDFILE"
    if docker_daemon_answers; then
      say "the daemon on $DOCKER_SOCK ($(socket_owner || true)) was not started from $D_STATE; leaving it alone"
    else
      say "not running; nothing to do"
    fi
    return 0
  fi
  local n=''
  if resolve_docker_cli 2>/dev/null; then
    n=$("$DOCKER" ps -q 2>/dev/null | wc -l || true)
    [[ $n != 0 ]] || n=''
  fi
  say "stopping dockerd (pid $pid${n:+, $n running container(s) will be stopped})"
  # SIGTERM = graceful: dockerd stops containers (10 s each), unmounts layers,
  # shuts its containerd down and removes the pidfile and socket.
  kill -TERM "$pid"
  local deadline=$((SECONDS + 60))
  while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if pid_alive "$pid"; then
    warn "dockerd did not exit within 60s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$D_PIDFILE"
  fi
  unmount_leftovers
  say "stopped"
}

cmd_status() {
  if docker_sock_denied; then
    say "$DOCKER_SOCK exists but this user may not use it: run as root or as a member of the 'docker' group"
    return 4
  fi
  if ! docker_daemon_answers; then
    local pid
    if pid=$(our_pid); then
      say "dockerd pid $pid exists but does not answer on $DOCKER_SOCK (starting, or wedged: see $D_LOG)"
    else
      say "not running"
    fi
    return 3
  fi
  if ! resolve_docker_cli; then
    say "a daemon answers on $DOCKER_SOCK but no docker client can talk to it"
    return 4
  fi
  local info pid
  info=$("$DOCKER" info --format 'daemon {{.ServerVersion}}, storage driver {{.Driver}}, data {{.DockerRootDir}}, {{.ContainersRunning}} running container(s)' 2>/dev/null || echo 'info unavailable')
  if pid=$(our_pid); then
    say "running: pid $pid, $info, log $D_LOG"
  else
    say "running (not started from $D_STATE: $(socket_owner || true)): $info"
  fi
  say "client: $DOCKER $("$DOCKER" version --format '{{.Client.Version}}, speaking API {{.Client.APIVersion}} (daemon max {{.Server.APIVersion}})' 2>/dev/null || echo '?')"
  return 0
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
