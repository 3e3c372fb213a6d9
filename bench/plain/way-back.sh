#!/usr/bin/env bash
# The plain way back from a release: the database must answer, maintenance on (the broken release
# may not answer), a verified backup before any down script, the downs to the earlier target, the
# earlier image back, checks, smoke steps, maintenance off. Input: see lib.sh.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
value "SELECT 1" >/dev/null
maintenance PUT
backup
migrate_down
swap
checks
smoke
maintenance DELETE
