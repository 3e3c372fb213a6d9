# Shared by scripts/dev.sh and scripts/test.sh (sourced): brings a machine from a fresh clone to
# a ready environment, reusing whatever is already there.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Logging (say/step/warn/error/die): "[rollout] ..." on stderr.
log_name=rollout log_fd=2
# shellcheck source-path=SCRIPTDIR source=log.sh
source "$ROOT/scripts/log.sh"

# npm packages: `npm ci` when node_modules is missing or older than the lock file.
ensure_node_modules() {
  command -v node >/dev/null || die "node is not installed; install Node.js 20.19+ (Debian: apt-get install nodejs npm)"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "installing npm packages (npm ci)"
    npm ci --no-audit --no-fund
  fi
}

# The Pulumi CLI, language host and provider plugins (built once per version set, then cached).
ensure_toolchain() {
  step "Pulumi toolchain"
  bash toolchain/build.sh
  # shellcheck source=../toolchain/env.sh
  source toolchain/env.sh
  command -v pulumi >/dev/null || die "pulumi is not on PATH after toolchain/build.sh"
}

# Local PostgreSQL, Docker engine, S3 server, SSH host, the offline base image and the second
# Docker host (over SSH).
ensure_local_env() {
  step "local PostgreSQL, MariaDB, Docker engine, S3 server and SSH host"
  ROLLOUT_BASE_IMAGE=$(bash local-env/up.sh | tail -n 1)
  export ROLLOUT_BASE_IMAGE
  eval "$(bash local-env/postgres.sh env)"
  eval "$(bash local-env/mariadb.sh env)"
  eval "$(bash local-env/s3.sh env)"
  eval "$(bash local-env/sshd.sh env)"
  eval "$(bash local-env/dockerhost.sh env)"
}

# Debian's Chromium, for the report page tests (tests/integration/reportPage.test.ts): installed with
# apt when missing, one `apt-get update` first. ROLLOUT_CHROMIUM names another binary to use instead.
ensure_chromium() {
  local chromium=${ROLLOUT_CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] && return 0
  [ -n "${ROLLOUT_CHROMIUM:-}" ] && die "ROLLOUT_CHROMIUM=$chromium is not an executable"
  step "installing Chromium (apt-get install chromium) for the report page tests"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  [ -x "$chromium" ] || die "apt-get installed chromium, but $chromium is not there"
}
