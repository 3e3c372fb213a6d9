#!/usr/bin/env bash
# Runs the migration record repairs (deploy/migrations.ts) with the project's toolchain on PATH.
#   npm run migrations -- repair-down|accept-checksum --stack NAME --migration ID --reason TEXT
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../toolchain/env.sh
source "$ROOT/toolchain/env.sh"
exec node --import tsx "$ROOT/deploy/migrations.ts" "$@"
