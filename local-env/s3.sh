#!/usr/bin/env bash
# Local S3-compatible server (gofakes3 with its file-system backend, see s3server/) for the
# offsite-copy tests and the dev stack.
#
#   local-env/s3.sh start|stop|status|env|build
#
# Built once from Go modules into ~/.cache/rollout-as-code/s3server/<version>-<hash>/ (the hash
# covers main.go, go.mod and go.sum, so an edit rebuilds); listens on 127.0.0.1 only; every
# request must carry a valid AWS Signature Version 4 of the access key pair below.
#
# Environment:
#   ROLLOUT_STATE_DIR       state root (default <repo>/.local)
#   ROLLOUT_S3_PORT         TCP port (default 59000)
#   ROLLOUT_S3_ACCESS_KEY   access key id (default rollout-dev)
#   ROLLOUT_S3_SECRET_KEY   secret access key (default rollout-dev-secret)
#   ROLLOUT_S3_DATA         data dir (default $ROLLOUT_STATE_DIR/s3)
set -euo pipefail

log_name=s3
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S3_SRC="$LOCAL_ENV_DIR/s3server"
S3_PORT="${ROLLOUT_S3_PORT:-59000}"
S3_ACCESS_KEY="${ROLLOUT_S3_ACCESS_KEY:-rollout-dev}"
S3_SECRET_KEY="${ROLLOUT_S3_SECRET_KEY:-rollout-dev-secret}"
S3_DATA="${ROLLOUT_S3_DATA:-$STATE_DIR/s3}"
S3_PID="$STATE_DIR/s3.pid"
S3_LOG="$STATE_DIR/s3.log"
S3_REGION=us-east-1
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/rollout-as-code/s3server"

if ! [[ $S3_PORT =~ ^[0-9]+$ ]] || ((S3_PORT < 1 || S3_PORT > 65535)); then
  die "ROLLOUT_S3_PORT must be a TCP port number, got '$S3_PORT'"
fi

usage() {
  cat >&2 <<EOF
usage: $0 start|stop|status|env|build

  build   build the server from Go modules (once; cached in $CACHE_ROOT)
  start   build (if needed) and start it on 127.0.0.1:$S3_PORT, data in $S3_DATA
  stop    stop it
  status  exit 0 when it is running and answers
  env     print export lines for S3 clients: eval "\$($0 env)"
EOF
  exit 2
}

# The gofakes3 version go.mod pins, and a hash of the module's sources.
gofakes3_version() { awk '$1 == "github.com/johannesboyne/gofakes3" { print $2 }' "$S3_SRC/go.mod"; }
source_hash() { cat "$S3_SRC/main.go" "$S3_SRC/go.mod" "$S3_SRC/go.sum" | sha256sum | cut -c1-12; }
binary_path() { echo "$CACHE_ROOT/$(gofakes3_version)-$(source_hash)/s3server"; }

cmd_build() {
  local bin dir tmp
  bin=$(binary_path)
  if [[ -x $bin ]]; then
    echo "$bin"
    return 0
  fi
  # Where the official Go tarball installs, as toolchain/build.sh looks too.
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="$PATH:/usr/local/go/bin"
  fi
  need_cmd go "install Go 1.24 or later (to /usr/local/go or on PATH) to build the local S3 server"
  dir=$(dirname "$bin")
  mkdir -p "$CACHE_ROOT"
  tmp=$(mktemp -d "$CACHE_ROOT/.build.XXXXXX")
  say "building gofakes3 $(gofakes3_version) into $dir (once)"
  if ! (cd "$S3_SRC" && CGO_ENABLED=0 go build -trimpath -mod=readonly -o "$tmp/s3server" .) >&2; then
    rm -rf "$tmp"
    die "go build of $S3_SRC failed (see above); the Go module proxy must be reachable for the first build"
  fi
  # Into place in one rename, so a concurrent start never runs a half-written binary.
  if ! mv -T "$tmp" "$dir" 2>/dev/null; then
    rm -rf "$tmp"
    [[ -x $bin ]] || die "could not move the built server to $dir"
  fi
  echo "$bin"
}

server_pid() {
  local pid
  pid=$(cat "$S3_PID" 2>/dev/null) || return 1
  pid_alive "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == s3server ]] || return 1
  echo "$pid"
}

# An unsigned request gets 403 from this server: the answer proves it is up without a client.
answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$S3_PORT/" 2>/dev/null) || return 1
  [[ $code == 403 ]]
}

cmd_start() {
  local t0 bin owner pid i
  t0=$(now)
  need_cmd curl
  bin=$(cmd_build)
  if pid=$(server_pid); then
    answers || die "s3server (pid $pid) is running but does not answer on 127.0.0.1:$S3_PORT; see $S3_LOG, or run '$0 stop' and start again"
    say "already running on 127.0.0.1:$S3_PORT (pid $pid, data $S3_DATA); nothing to do"
    return 0
  fi
  if owner=$(port_owner "$S3_PORT"); then
    die "port $S3_PORT is already taken by $owner. Stop it, or pick another port: ROLLOUT_S3_PORT=<port> $0 start"
  fi
  ensure_state_dir
  mkdir -p "$S3_DATA"
  rotate_log "$S3_LOG"
  say "starting the S3 server on 127.0.0.1:$S3_PORT (log $S3_LOG)"
  # setsid: the server outlives the shell that started it. The keys travel in the environment only.
  ROLLOUT_S3_ACCESS_KEY="$S3_ACCESS_KEY" ROLLOUT_S3_SECRET_KEY="$S3_SECRET_KEY" \
    setsid "$bin" -listen "127.0.0.1:$S3_PORT" -data "$S3_DATA" </dev/null >>"$S3_LOG" 2>&1 &
  echo $! >"$S3_PID"
  for ((i = 0; i < 50; i++)); do
    if answers; then
      say "running on 127.0.0.1:$S3_PORT, data $S3_DATA (started in $(elapsed_since "$t0")s)"
      return 0
    fi
    server_pid >/dev/null || break
    sleep 0.2
  done
  tail -n 20 "$S3_LOG" >&2 || true
  die "the S3 server did not start; see $S3_LOG"
}

cmd_stop() {
  local pid i
  if ! pid=$(server_pid); then
    rm -f "$S3_PID"
    say "not running; nothing to do"
    return 0
  fi
  kill "$pid"
  for ((i = 0; i < 50; i++)); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  pid_alive "$pid" && die "s3server (pid $pid) did not stop"
  rm -f "$S3_PID"
  say "stopped"
}

cmd_status() {
  local pid owner
  if pid=$(server_pid) && answers; then
    say "running: 127.0.0.1:$S3_PORT, pid $pid, data $S3_DATA, log $S3_LOG"
    return 0
  fi
  if owner=$(port_owner "$S3_PORT"); then
    say "not running; port $S3_PORT is held by $owner"
  else
    say "not running (port $S3_PORT free)"
  fi
  return 3
}

cmd_env() {
  printf 'export ROLLOUT_S3_ENDPOINT=%q ROLLOUT_S3_REGION=%q ROLLOUT_S3_ACCESS_KEY=%q ROLLOUT_S3_SECRET_KEY=%q\n' \
    "http://127.0.0.1:$S3_PORT" "$S3_REGION" "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
}

case "${1:-}" in
  build) cmd_build >/dev/null ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) usage ;;
esac
