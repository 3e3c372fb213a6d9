#!/usr/bin/env bash
# End-to-end check of our Node.js language host (this directory) with the real
# pulumi CLI: builds the host from source, puts it beside `pulumi` and the
# pulumi-resource-pulumi-nodejs shim in a temp bin dir, and drives the small
# TypeScript project in testdata/project through pulumi install, stack init,
# preview, up, a second up (no changes), a failing program, Ctrl-C, destroy,
# the Automation API and `pulumi about`. Everything lives in one temp dir
# (backend, PULUMI_HOME, project); the toolchain cache is only read.
#
#   bash toolchain/go/langhost/selftest.sh [BIN_DIR]
#
# BIN_DIR holds `pulumi` v3.248.0 and pulumi-resource-pulumi-nodejs; default:
# the toolchain cache's bin/ (toolchain/build.sh). Needs go, node and npm (the
# project's npm install needs the registry or a warm npm cache).
# KEEP=1 keeps the temp dir; it is also kept when a check fails.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLCHAIN_DIR=$(cd "$HERE/../.." && pwd)
export GOTOOLCHAIN=local
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="$PATH:/usr/local/go/bin"
fi

# Logging (say/step/die): the report on stdout, errors on stderr.
log_name=langhost-selftest log_fd=1
# shellcheck source-path=SCRIPTDIR source=../../../scripts/log.sh
source "$TOOLCHAIN_DIR/../scripts/log.sh"

BIN_SRC=${1:-}
if [[ -z $BIN_SRC ]]; then
  # shellcheck source-path=SCRIPTDIR source=../../lib.sh
  source "$TOOLCHAIN_DIR/lib.sh"
  _rollout_toolchain_paths "$TOOLCHAIN_DIR"
  BIN_SRC=$ROLLOUT_TOOLCHAIN_DIR/bin
fi
for f in pulumi pulumi-resource-pulumi-nodejs; do
  [[ -x $BIN_SRC/$f ]] || die 2 "$BIN_SRC/$f not found (run toolchain/build.sh or pass BIN_DIR)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/langhost-selftest.XXXXXX")
FAILED=0
finish() {
  if ((FAILED)) || [[ ${KEEP:-} == 1 ]]; then
    say "files kept in $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap finish EXIT

# check DESCRIPTION COMMAND...: runs COMMAND, prints ok/FAIL; on failure the
# log's tail. The log of the last check is $LOG.
N=0
check() {
  local what=$1
  shift
  N=$((N + 1))
  LOG=$WORK/logs/$N.log
  if "$@" >"$LOG" 2>&1; then
    say "ok $N - $what"
  else
    FAILED=$((FAILED + 1))
    say "FAIL $N - $what"
    sed 's/^/    | /' "$LOG" | tail -25
  fi
}
# run_expect DESCRIPTION COMMAND...: a check whose output has/lacks inspect.
run_expect() {
  check "$@"
  cp "$LOG" "$WORK/logs/last"
}
# Functions, not `bash -c`: a helper process would carry the pattern in its
# own command line and match pgrep.
fails() { ! "$@"; }
not_in() { ! grep -Eq -- "$1" "$2"; }
no_process() { ! pgrep -f -- "$1" >/dev/null; }
has() { check "  output has: $1" grep -Eq -- "$1" "$WORK/logs/last"; }
lacks() { check "  output lacks: $1" not_in "$1" "$WORK/logs/last"; }

mkdir -p "$WORK/bin" "$WORK/home" "$WORK/state" "$WORK/logs"

step "unit tests and build of the host"
check "go test" go -C "$HERE" test -count=1 ./...
start=$SECONDS
check "go build" env CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" go -C "$HERE" build -trimpath \
  -tags osusergo,grpcnotrace -ldflags "-s -w" -o "$WORK/bin/pulumi-language-nodejs" .
[[ -x $WORK/bin/pulumi-language-nodejs ]] || exit 1
say "    built in $((SECONDS - start))s, $(stat -c %s "$WORK/bin/pulumi-language-nodejs") bytes"

# A hard link where possible (same file system): the engine finds plugins
# beside the real path of the running pulumi, so a symlink would not do.
ln "$BIN_SRC/pulumi" "$WORK/bin/pulumi" 2>/dev/null || cp "$BIN_SRC/pulumi" "$WORK/bin/pulumi"
cp "$BIN_SRC/pulumi-resource-pulumi-nodejs" "$WORK/bin/"

export PATH="$WORK/bin:$PATH"
export PULUMI_HOME=$WORK/home
export PULUMI_BACKEND_URL=file://$WORK/state
export PULUMI_CONFIG_PASSPHRASE=test
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
unset PULUMI_CONFIG_PASSPHRASE_FILE PULUMI_ACCESS_TOKEN
OUT=$WORK/greeting.txt
P=(pulumi --non-interactive --color never)

step "test project in $WORK/project"
cp -R "$HERE/testdata/project" "$WORK/project"
cp "$HERE/testdata/automation.mjs" "$WORK/project/"
cd "$WORK/project"
check "npm install --ignore-scripts" npm install --ignore-scripts --no-audit --no-fund
run_expect "pulumi install (InstallDependencies)" "${P[@]}" install
has 'Installing dependencies with npm'
has 'Finished installing dependencies'
check "pulumi stack init dev" "${P[@]}" stack init dev
check "pulumi config set (plain, secret, path)" bash -c \
  "pulumi config set greeting hello && pulumi config set --secret token s3cret && pulumi config set outFile '$OUT'"

step "preview, up, up again"
run_expect "pulumi preview" "${P[@]}" preview
has '\+ 2 to create'
has 'message +: "hello from langhost-selftest/dev"'
run_expect "pulumi up --yes" "${P[@]}" up --yes
has '\+ 2 created'
check "  the dynamic provider wrote the file" grep -qx hello "$OUT"
run_expect "pulumi stack output --show-secrets --json" "${P[@]}" stack output --show-secrets --json
has '"tokenLength": 6'
has '"tokenIsSecretKey": true'
has '"nodeArgs": "--max-old-space-size=512"'
run_expect "pulumi stack output (secret stays hidden)" "${P[@]}" stack output tokenLength
has '^\[secret\]$'
run_expect "second pulumi up --yes" "${P[@]}" up --yes
has '2 unchanged'
lacks 'created|updated|replaced|deleted'

step "a program that throws"
"${P[@]}" config set fail true
run_expect "pulumi preview fails" fails "${P[@]}" preview
has 'selftest: the program was asked to fail'
# Exit code 32 (already reported): the engine must not add a second error.
lacks 'an unhandled error occurred'
"${P[@]}" config rm fail

step "Ctrl-C while the program runs"
"${P[@]}" config set hang true
"${P[@]}" up --yes >"$WORK/logs/hang.log" 2>&1 &
PULUMI_PID=$!
for _ in $(seq 60); do
  grep -q 'selftest: hanging until canceled' "$WORK/logs/hang.log" && break
  sleep 0.5
done
check "  the program is running" grep -q 'selftest: hanging until canceled' "$WORK/logs/hang.log"
start=$SECONDS
kill -INT "$PULUMI_PID"
(sleep 30 && kill -KILL "$PULUMI_PID") 2>/dev/null & # never hang the selftest
WATCHDOG=$!
wait "$PULUMI_PID" && rc=0 || rc=$?
kill "$WATCHDOG" 2>/dev/null || true
say "    pulumi exited $rc after $((SECONDS - start))s"
check "  pulumi exits non-zero" test "$rc" -ne 0
check "  no node program is left" no_process "$WORK/project/node_modules/@pulumi/pulumi/cmd/run"
check "  no language host is left" no_process "$WORK/bin/pulumi-language-nodejs"
"${P[@]}" config rm hang

step "destroy"
run_expect "pulumi destroy --yes" "${P[@]}" destroy --yes
has '- 2 deleted'
check "  the dynamic provider removed the file" test ! -e "$OUT"

step "Automation API (LocalWorkspace)"
run_expect "node automation.mjs" node automation.mjs "$WORK/project" "$WORK/automation.txt"
has 'automation up: succeeded; message="hello from automation from langhost-selftest/automation"'
has 'automation destroy: succeeded'

step "pulumi about"
run_expect "pulumi about" "${P[@]}" about
has 'language +nodejs +3\.248\.0'
has "executable='[^']*node' version='[0-9.]+'"
has '@pulumi/pulumi +3\.248\.0'

if ((FAILED)); then
  say "$FAILED of $N checks failed"
  exit 1
fi
say "all $N checks passed"
