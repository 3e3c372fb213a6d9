#!/usr/bin/env bash
# End-to-end check of the local environment. Leaves nothing behind.
#
#   local-env/selftest.sh [all|docker|postgres|ssh]     (default: all)
#
# docker:   builds a tiny service Dockerfile (legacy builder, host network) on
#           the offline base image, runs it with --network host, curls it on
#           127.0.0.1 and waits for its busybox-wget HEALTHCHECK to pass.
# postgres: logs in with `postgres.sh env`, and round-trips a table through
#           pg_dump/pg_restore of the server's major version.
# ssh:      logs in to the private sshd with the client key (host key pinned), and checks
#           that a password login and an unknown host key are both refused.
#
# Environment:
#   ROLLOUT_SELFTEST_PORT  HTTP port for the test container (default: first
#                          free port from 18080)
set -euo pipefail

log_name=selftest
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WHAT="${1:-all}"
case $WHAT in all | docker | postgres | ssh) ;; *) die "usage: $0 [all|docker|postgres|ssh]" ;; esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/local-env-selftest.XXXXXX")
CONTAINER=''
IMAGE=''
PGTABLE=''
cleanup() {
  local rc=$?
  if [[ -n $CONTAINER ]]; then "$DOCKER" rm -f "$CONTAINER" >/dev/null 2>&1 || true; fi
  if [[ -n $IMAGE ]]; then "$DOCKER" rmi -f "$IMAGE" >/dev/null 2>&1 || true; fi
  if [[ -n $PGTABLE ]]; then
    (eval "$("$LOCAL_ENV_DIR/postgres.sh" env)" && psql -qX -c "DROP TABLE IF EXISTS $PGTABLE" >/dev/null 2>&1) || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p
  for ((p = 18080; p < 18180; p++)); do
    [[ -z $(port_listeners "$p") ]] && { echo "$p"; return 0; }
  done
  return 1
}

test_docker() {
  local t0 tag port body health i
  t0=$(now)
  require_docker
  tag=$("$LOCAL_ENV_DIR/base-image.sh" | tail -n1)
  [[ $tag == */*:* ]] || die "base-image.sh did not print an image tag (got '$tag')"
  port="${ROLLOUT_SELFTEST_PORT:-$(free_port)}" || die "no free port in 18080-18179"
  [[ -z $(port_listeners "$port") ]] || die "port $port is taken by $(port_owner "$port")"

  cat >"$WORK/server.js" <<'EOF'
const http = require('http');
const fs = require('fs');
const port = Number(process.env.PORT);
const build = JSON.parse(fs.readFileSync('/app/build.json', 'utf8'));
http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, path: req.url, node: process.version, build }));
}).listen(port, '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => process.exit(0));
EOF
  # Same shape as a service Dockerfile: the default base needs a registry, the
  # build-arg swaps in the offline image.
  cat >"$WORK/Dockerfile" <<'EOF'
ARG BASE_IMAGE=node:20-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY server.js /app/server.js
RUN node -e "require('fs').writeFileSync('/app/build.json', JSON.stringify({ builtWith: process.version }))" \
 && test -s /app/build.json
ENV PORT=8080
HEALTHCHECK --interval=1s --timeout=3s --retries=10 CMD wget -qO- "http://127.0.0.1:${PORT}/healthz" >/dev/null || exit 1
USER node
CMD ["node", "/app/server.js"]
EOF

  IMAGE="rollout/selftest:$$"
  say "docker build (legacy builder, --network host, BASE_IMAGE=$tag)"
  DOCKER_BUILDKIT=0 "$DOCKER" build --network host --force-rm -q \
    --build-arg "BASE_IMAGE=$tag" -t "$IMAGE" "$WORK" >"$WORK/build.log" 2>&1 || {
    cat "$WORK/build.log" >&2
    die "docker build failed"
  }

  CONTAINER="rollout-selftest-$$"
  say "docker run --network host, serving on 127.0.0.1:$port"
  "$DOCKER" run -d --rm --network host --name "$CONTAINER" -e "PORT=$port" "$IMAGE" >/dev/null

  body=''
  for ((i = 0; i < 100; i++)); do
    body=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/selftest" 2>/dev/null) && break
    body=''
    sleep 0.1
  done
  if [[ $body != *'"ok":true'* ]]; then
    "$DOCKER" logs "$CONTAINER" >&2 2>&1 || true
    die "no HTTP answer from the container on 127.0.0.1:$port"
  fi
  say "HTTP answer: $body"

  for ((i = 0; i < 30; i++)); do
    health=$("$DOCKER" inspect --format '{{.State.Health.Status}}' "$CONTAINER" 2>/dev/null || echo gone)
    [[ $health == healthy ]] && break
    sleep 0.5
  done
  [[ $health == healthy ]] || die "HEALTHCHECK (busybox wget) did not pass: status '$health'"
  say "HEALTHCHECK: $health"
  say "docker: PASS ($(elapsed_since "$t0")s)"
}

test_postgres() {
  local t0 v
  t0=$(now)
  "$LOCAL_ENV_DIR/postgres.sh" status >/dev/null 2>&1 ||
    die "PostgreSQL is not running; run: $LOCAL_ENV_DIR/postgres.sh start"
  eval "$("$LOCAL_ENV_DIR/postgres.sh" env)"
  v=$(psql -XtAc 'SHOW server_version_num')
  [[ ${v:0:2} == "$(pg_dump --version | grep -oE '[0-9]+' | head -n1)" ]] ||
    die "pg_dump major ($(pg_dump --version)) differs from the server ($v)"
  PGTABLE="local_env_selftest_$$"
  psql -qX -v ON_ERROR_STOP=1 -c "CREATE TABLE $PGTABLE (id int PRIMARY KEY, note text); INSERT INTO $PGTABLE VALUES (1, 'round-trip')"
  pg_dump -Fc -t "$PGTABLE" -f "$WORK/t.dump"
  psql -qX -v ON_ERROR_STOP=1 -c "DROP TABLE $PGTABLE"
  pg_restore -d "$PGDATABASE" "$WORK/t.dump"
  [[ $(psql -XtAc "SELECT note FROM $PGTABLE WHERE id = 1") == round-trip ]] ||
    die "pg_dump/pg_restore round-trip lost data"
  say "postgres: PASS (server $v, $(pg_dump --version); $(elapsed_since "$t0")s)"
}

test_ssh() {
  local t0 out
  t0=$(now)
  "$LOCAL_ENV_DIR/sshd.sh" status >/dev/null 2>&1 ||
    die "the local sshd is not running; run: $LOCAL_ENV_DIR/sshd.sh start"
  eval "$("$LOCAL_ENV_DIR/sshd.sh" env)"
  local base=(-p "$ROLLOUT_SSH_PORT" -o BatchMode=yes -o ConnectTimeout=3 -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes)
  out=$(ssh "${base[@]}" -i "$ROLLOUT_SSH_KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$ROLLOUT_SSH_KNOWN_HOSTS" \
    "$ROLLOUT_SSH_USER@$ROLLOUT_SSH_HOST" 'echo "$(id -un) $(tar --version | head -n1)"' </dev/null) ||
    die "key login to $ROLLOUT_SSH_USER@$ROLLOUT_SSH_HOST:$ROLLOUT_SSH_PORT failed"
  say "key login: $out"
  if ssh "${base[@]}" -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive \
    -o UserKnownHostsFile="$ROLLOUT_SSH_KNOWN_HOSTS" "$ROLLOUT_SSH_USER@$ROLLOUT_SSH_HOST" true </dev/null 2>/dev/null; then
    die "a login without a key was accepted; the sshd must allow public keys only"
  fi
  : >"$WORK/empty_known_hosts"
  if ssh "${base[@]}" -i "$ROLLOUT_SSH_KEY" -o IdentitiesOnly=yes -o UserKnownHostsFile="$WORK/empty_known_hosts" \
    "$ROLLOUT_SSH_USER@$ROLLOUT_SSH_HOST" true </dev/null 2>/dev/null; then
    die "a login to a host key not in known_hosts was accepted; strict host key checking is off"
  fi
  say "ssh: PASS (password login and unknown host key refused; $(elapsed_since "$t0")s)"
}

case $WHAT in
  docker) test_docker ;;
  postgres) test_postgres ;;
  ssh) test_ssh ;;
  all)
    test_postgres
    test_ssh
    test_docker
    ;;
esac
say "all requested checks passed"
