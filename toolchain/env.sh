# Source this (`source toolchain/env.sh`) to use the toolchain that
# toolchain/build.sh built for the version set in toolchain/versions.json.
# It never builds anything, prints nothing on success, and leaves the backend
# and passphrase settings to the scripts that own them.
#
# Exports:
#   ROLLOUT_TOOLCHAIN_BIN  the directory holding the `pulumi` to use
#   PATH                   with that directory first
#   PULUMI_HOME            the cache's pulumi-home (providers registered there)
#   PULUMI_SKIP_UPDATE_CHECK=true
#   PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true   with our own build only:
#     offline, a missing plugin should fail fast as "not installed"

# shellcheck shell=bash source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)/lib.sh" &&
  _rollout_toolchain_paths "$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)" &&
  {
    _rollout_bin="$ROLLOUT_TOOLCHAIN_DIR/bin"
    # build.sh records which CLI it verified: ours, or a `pulumi` found on PATH
    # (ROLLOUT_BUILD_TOOLCHAIN=auto with a matching install).
    _rollout_cli=$(sed -n 's/^cli=//p' "$ROLLOUT_TOOLCHAIN_DIR/.complete" 2>/dev/null || true)
    if [ -n "$_rollout_cli" ] && [ "$_rollout_cli" != "$_rollout_bin/pulumi" ]; then
      _rollout_bin=$(dirname "$_rollout_cli")
    elif [ -x "$_rollout_bin/pulumi" ]; then
      export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    fi
    export ROLLOUT_TOOLCHAIN_BIN="$_rollout_bin"
    case ":${PATH:-}:" in
      ":$_rollout_bin:"*) ;; # already first: sourcing twice changes nothing
      *) export PATH="$_rollout_bin${PATH:+:$PATH}" ;;
    esac
    export PULUMI_HOME="$ROLLOUT_TOOLCHAIN_DIR/pulumi-home"
    export PULUMI_SKIP_UPDATE_CHECK=true
    unset _rollout_bin _rollout_cli
  }
