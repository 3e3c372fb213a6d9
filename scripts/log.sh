# shellcheck shell=sh
# The one logging/die helper, sourced by the scripts in scripts/, local-env/ and toolchain/.
# Lines read "[$log_name] ..."; set log_name (and log_fd=1 to send say/step to stdout) before
# sourcing. Warnings and errors always go to stderr. POSIX sh; sourcing it prints nothing.
: "${log_name:=rollout}" "${log_fd:=2}"

say() { printf '[%s] %s\n' "$log_name" "$*" >&"$log_fd"; }
step() { printf '[%s] ==> %s\n' "$log_name" "$*" >&"$log_fd"; }
warn() { printf '[%s] WARNING: %s\n' "$log_name" "$*" >&2; }
error() { printf '[%s] ERROR: %s\n' "$log_name" "$*" >&2; }
# die [CODE] MESSAGE...: error, then exit CODE (default 1).
die() {
  _log_rc=1
  if [ $# -gt 1 ]; then case $1 in '' | *[!0-9]*) ;; *) _log_rc=$1 && shift ;; esac; fi
  error "$*"
  exit "$_log_rc"
}
