#!/usr/bin/env bash
# The main job: set up whatever is missing on this machine, then roll out the sample service on the
# dev stack (local PostgreSQL, local Docker engine, file backend under .pulumi-state/).
#
#   bash scripts/dev.sh            # preview and up
#   bash scripts/dev.sh destroy    # tear the dev stack down
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_node_modules
ensure_toolchain
ensure_local_env

# The dev stack's state and secrets: a file backend inside the project and the documented dev
# passphrase. Other stacks bring their own backend and secrets provider.
export PULUMI_BACKEND_URL="file://$ROOT/.pulumi-state"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-rollout-dev}"
mkdir -p "$ROOT/.pulumi-state"
pulumi stack select --create dev >/dev/null

case "${1:-up}" in
  up)
    release=$(node -e 'const y=require("fs").readFileSync("Pulumi.dev.yaml","utf8");const m=y.match(/^\s+id:\s*"?([^"\n]+)"?/m);process.stdout.write(m?m[1]:"unknown")')
    step "pulumi preview --diff --stack dev"
    pulumi preview --diff --stack dev
    step "pulumi up --stack dev (release $release)"
    pulumi up --yes --skip-preview --stack dev --message "release $release"
    step "report"
    pulumi stack output report --stack dev --json
    ;;
  destroy)
    pulumi destroy --yes --stack dev
    ;;
  *) die "unknown action '$1'; use 'up' (default) or 'destroy'" ;;
esac
