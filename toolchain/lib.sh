# shellcheck shell=bash disable=SC2034  # the variables set here are used by the callers
# Shared by toolchain/build.sh and toolchain/env.sh (sourced, not run).
# Works out where the toolchain for the version set in versions.json lives.
# It must stay safe to source into an interactive shell: no `set -e`, no exit,
# and nothing printed on success.

# _rollout_toolchain_paths TOOLCHAIN_DIR
# Sets ROLLOUT_TOOLCHAIN_KEY and ROLLOUT_TOOLCHAIN_DIR. The key is derived only
# from the version set, so every clone, worktree and CI run on this machine
# shares one cache, and changing a version selects a fresh directory.
_rollout_toolchain_paths() {
  local versions="$1/versions.json" key
  key=$(node -e '
    const v = require(process.argv[1]);
    const plugins = Object.entries(v.plugins).sort(([a], [b]) => a.localeCompare(b));
    process.stdout.write(
      [`pulumi-${v.pulumi.version}`, ...plugins.map(([name, p]) => `${name}-${p.version}`)].join("_"));
  ' "$versions") || {
    # In a subshell: scripts/log.sh must not define say/die/... in the caller's shell.
    # shellcheck source-path=SCRIPTDIR source=../scripts/log.sh
    (log_name=toolchain log_fd=2 && . "$1/../scripts/log.sh" && error "cannot read $versions (is node installed?)")
    return 1
  }
  ROLLOUT_TOOLCHAIN_KEY=$key
  ROLLOUT_TOOLCHAIN_DIR="${ROLLOUT_CACHE_DIR:-$HOME/.cache/rollout-as-code}/toolchain/$key"
}
