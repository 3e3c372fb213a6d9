#!/usr/bin/env bash
# Runs the deploy/rollback/history commands (deploy/cli.ts) with the project's toolchain on PATH.
#   npm run rollback -- --stack dev [--to N] [--restore-backup] [--yes]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../toolchain/env.sh
source "$ROOT/toolchain/env.sh"
exec node --import tsx "$ROOT/deploy/cli.ts" "$@"
