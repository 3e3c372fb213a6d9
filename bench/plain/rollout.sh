#!/usr/bin/env bash
# A release rollout the plain way (no soak): preflight, maintenance on, verified backup with a
# restore test, the pending migrations with their verify queries, grants, the container swap,
# checks, smoke steps, maintenance off. Input: see lib.sh.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
preflight
maintenance PUT
backup
migrate_up
grants
swap
checks
smoke
maintenance DELETE
