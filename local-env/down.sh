#!/usr/bin/env bash
# Stops the local environment started by up.sh. Data is kept (PostgreSQL
# cluster, MariaDB data dir, Docker images incl. the base image) in ROLLOUT_STATE_DIR; delete
# that directory after down.sh for a clean slate.
#
#   local-env/down.sh
set -euo pipefail

log_name=down
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root "to stop PostgreSQL, MariaDB and dockerd"

rc=0
# Docker first: containers of the dev stack may hold database connections.
"$LOCAL_ENV_DIR/dockerhost.sh" stop || rc=$?
"$LOCAL_ENV_DIR/docker.sh" stop || rc=$?
"$LOCAL_ENV_DIR/s3.sh" stop || rc=$?
"$LOCAL_ENV_DIR/sshd.sh" stop || rc=$?
"$LOCAL_ENV_DIR/postgres.sh" stop || rc=$?
"$LOCAL_ENV_DIR/mariadb.sh" stop || rc=$?
((rc == 0)) && say "done (data, if any, kept in $STATE_DIR)"
exit $rc
