#!/usr/bin/env bash
# Migrations the plain way: one psql session running the given files with \i, in order.
#   bash bench/plain/migrations.sh DATABASE FILE...   (libpq admin variables in the environment)
set -euo pipefail
db=$1
shift
printf '\\i %s\n' "$@" | psql -X -q -v ON_ERROR_STOP=1 -d "$db"
