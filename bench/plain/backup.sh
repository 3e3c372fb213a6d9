#!/usr/bin/env bash
# A backup the plain way: pg_dump in custom format, its sha256, and pg_restore --list of it.
#   bash bench/plain/backup.sh DATABASE FILE      (libpq admin variables in the environment)
set -euo pipefail
umask 077
pg_dump -Fc -f "$2" -d "$1"
sha256sum "$2" >"$2.sha256"
pg_restore --list "$2" >/dev/null
