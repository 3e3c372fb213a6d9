#!/usr/bin/env bash
# The tests: lint and types, unit tests with mocks, and integration tests through the Automation
# API against the real CLI, PostgreSQL and Docker engine. Sets up whatever is missing first.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_node_modules
step "lint and typecheck"
npm run --silent lint
npm run --silent typecheck
ensure_toolchain
ensure_local_env
ensure_chromium

step "unit and integration tests"
shopt -s globstar nullglob
# One run, one summary; integration tests share one Docker engine and database, so run serially.
exec node --import tsx --test --test-reporter=spec --test-concurrency=1 --test-timeout=1800000 \
  tests/unit/**/*.test.ts tests/integration/**/*.test.ts
