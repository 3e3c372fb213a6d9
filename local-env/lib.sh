# shellcheck shell=bash disable=SC2034  # DOCKER is used by the scripts that source this
# Shared helpers for the local-env scripts. Sourced, never executed directly.
#
# Conventions:
#   - human-readable progress goes to stderr, so stdout stays machine-readable
#     (postgres.sh env output is eval'd, base-image.sh prints the tag last);
#   - every path derives from ROLLOUT_STATE_DIR so a whole environment can be
#     relocated or thrown away with one rm -rf.

LOCAL_ENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$LOCAL_ENV_DIR")"
STATE_DIR="${ROLLOUT_STATE_DIR:-$REPO_ROOT/.local}"
# Logging (say/step/warn/error/die): "[<calling script's log_name>] ..." on stderr.
log_name="${log_name:-local-env}" log_fd=2
# shellcheck source-path=SCRIPTDIR source=../scripts/log.sh
source "$REPO_ROOT/scripts/log.sh"

# Debian's docker.io puts dockerd in /usr/sbin and the postgres tools live in
# versioned dirs; make sure sbin is searched even for a non-login root shell.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

need_root() {
  # dockerd, apt-get and switching to the postgres OS user all need root.
  [[ $EUID -eq 0 ]] || die "must run as root${1:+ ($1)}; try: sudo $0"
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "required command '$1' not found${2:+ ($2)}"
}

now() { date +%s.%N; }
elapsed_since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

ensure_state_dir() {
  mkdir -p "$STATE_DIR"
  # The postgres OS user must be able to traverse into the state dir.
  chmod 755 "$STATE_DIR" 2>/dev/null || true
  # Keep the (default, in-repo) state dir out of `git status` without
  # touching the repo's own .gitignore: '*' also matches this file itself.
  [[ -e $STATE_DIR/.gitignore ]] || printf '# local-env runtime state (PostgreSQL data, Docker data-root, logs)\n*\n' >"$STATE_DIR/.gitignore"
}

# True when PID exists and is not a zombie. kill -0 is not enough here: where
# PID 1 is slow to reap orphans, a crashed daemon lingers as a zombie and
# would look alive (and so would its stale pidfile).
pid_alive() {
  local st
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

# Keeps daemon logs bounded: at (re)start, a log over 10 MiB moves to .1.
rotate_log() {
  local f=$1 size
  size=$(stat -c %s "$f" 2>/dev/null || echo 0)
  if ((size > 10 * 1024 * 1024)); then mv -f "$f" "$f.1"; fi
}

# --- ports -------------------------------------------------------------------

# Prints the listening sockets on TCP port $1 (with owning process when ss
# can see it); empty output means the port is free.
port_listeners() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    ss -Hltnp "( sport = :$port )" 2>/dev/null || true
  elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "127.0.0.1:$port (process unknown: install iproute2 for details)"
  fi
}

# One-line description of who holds a port, e.g. 'postgres (pid 123)'.
port_owner() {
  local out procs
  out=$(port_listeners "$1")
  [[ -n $out ]] || return 1
  procs=$(grep -o 'users:(.*)' <<<"$out" | grep -o '"[^"]*",pid=[0-9]*' |
    sed -E 's/"([^"]*)",pid=([0-9]+)/\1 (pid \2)/' | sort -u | paste -sd, - || true)
  if [[ -n $procs ]]; then
    echo "$procs"
  else
    echo "unknown process ($(awk '{print $4}' <<<"$out" | paste -sd' ' -))"
  fi
}

# --- apt ---------------------------------------------------------------------

APT_UPDATED=0

# apt_install PKG... : installs Debian packages, with readable failures.
apt_install() {
  need_cmd apt-get "this script expects a Debian/Ubuntu machine"
  local policy=/usr/sbin/policy-rc.d created_policy=0
  # Package maintainer scripts would otherwise start system services: a
  # postgres cluster on 5432, or a dockerd with the default bridge (docker0
  # on 172.17.0.0/16, which must never appear here). policy-rc.d exit 101
  # tells invoke-rc.d "do not start anything".
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# temporary, created by local-env/lib.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  (
    export DEBIAN_FRONTEND=noninteractive
    # Other shells on the machine may hold the dpkg lock; wait for it rather
    # than failing at once.
    lock=(-o DPkg::Lock::Timeout=300)
    update_failed=0
    if [[ $APT_UPDATED -eq 0 ]]; then
      say "apt-get update (to install: $*)"
      # --error-on=any: plain apt-get update exits 0 even when no mirror
      # could be reached.
      apt-get "${lock[@]}" -qq --error-on=any update >&2 || update_failed=1
      ((update_failed == 0)) || warn "apt-get update failed; trying the install with the package lists already on disk"
    fi
    say "apt-get install -y $*"
    if ! apt-get "${lock[@]}" install -y -qq --no-install-recommends "$@" >&2; then
      ((update_failed == 0)) || exit 10
      exit 11
    fi
  ) || rc=$?
  [[ $created_policy -eq 1 ]] && rm -f "$policy"
  case $rc in
    0) APT_UPDATED=1 ;;
    10) die "cannot install $*: apt is unreachable (apt-get update failed, see above). Check network access to the Debian mirrors in /etc/apt/sources.list.d, or install '$*' by other means" ;;
    *) die "cannot install $*: apt-get install failed (see the apt output above)" ;;
  esac
}

# --- docker client -------------------------------------------------------------

DOCKER_SOCK=/var/run/docker.sock
# The docker client the scripts use; set by resolve_docker_cli.
DOCKER=docker

# True when the socket exists but this user may not use it (not root, not in
# the docker group): "not running" would be the wrong diagnosis then.
docker_sock_denied() {
  [[ -S $DOCKER_SOCK ]] && { [[ ! -r $DOCKER_SOCK ]] || [[ ! -w $DOCKER_SOCK ]]; }
}

# True when a daemon answers on the default socket (no docker client needed).
docker_daemon_answers() {
  [[ -S $DOCKER_SOCK ]] || return 1
  if command -v curl >/dev/null 2>&1; then
    [[ $(curl -s --max-time 3 --unix-socket "$DOCKER_SOCK" http://localhost/_ping 2>/dev/null) == OK ]]
  else
    local c
    for c in "$(command -v docker 2>/dev/null)" /usr/bin/docker; do
      [[ -n $c && -x $c ]] && "$c" version >/dev/null 2>&1 && return 0
    done
    return 1
  fi
}

# Sets DOCKER to a client binary that can talk to the running daemon. The
# client first on PATH is preferred; when its API negotiation with the daemon
# fails, fall back to the Debian package's /usr/bin/docker (same release as
# the daemon, so always compatible).
resolve_docker_cli() {
  local first cand
  first=$(command -v docker 2>/dev/null || true)
  for cand in "$first" /usr/bin/docker; do
    [[ -n $cand && -x $cand ]] || continue
    if "$cand" version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
      DOCKER=$cand
      if [[ -n $first && $cand != "$first" ]]; then
        warn "the docker client first on PATH ($first) cannot talk to the daemon;" \
          "using $cand. Put /usr/bin before $(dirname "$first") in PATH, or call /usr/bin/docker."
      fi
      return 0
    fi
  done
  return 1
}

require_docker() {
  if docker_sock_denied; then
    die "no permission to use $DOCKER_SOCK: run as root or as a member of the 'docker' group"
  fi
  docker_daemon_answers || die "no Docker daemon answers on $DOCKER_SOCK; run: $LOCAL_ENV_DIR/docker.sh start"
  resolve_docker_cli || die "a daemon answers on $DOCKER_SOCK but no docker client can talk to it (tried: $(command -v docker || echo none), /usr/bin/docker)"
}
