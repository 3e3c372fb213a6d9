#!/usr/bin/env bash
# `npm run bench`: sets up what is missing (as `npm run dev` does), then measures (bench/run.ts).
set -euo pipefail
# shellcheck source=../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
ensure_node_modules
ensure_toolchain
ensure_local_env
exec node --import tsx bench/run.ts "$@"
