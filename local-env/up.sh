#!/usr/bin/env bash
# Starts the whole local environment: PostgreSQL, MariaDB, the Docker engine,
# the S3 server for backup copies, a private sshd for hosts reached over SSH, the
# offline Node.js base image, and a second Docker host reached over SSH (a network namespace). Safe to run again at any time (each step is a
# no-op when already done).
#
#   local-env/up.sh
#
# Afterwards:
#   eval "$(local-env/postgres.sh env)"          # libpq variables for clients
#   eval "$(local-env/mariadb.sh env)"           # MySQL client variables
#   eval "$(local-env/s3.sh env)"                # S3 endpoint and keys
#   eval "$(local-env/sshd.sh env)"              # SSH host, port, user, key, known_hosts
#   eval "$(local-env/dockerhost.sh env)"        # the second Docker host: ssh:// URL, key, known_hosts
#   docker build --network host --build-arg BASE_IMAGE=<printed tag> ...
set -euo pipefail

log_name=up
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root "to start PostgreSQL, MariaDB and dockerd"

t0=$(now)
"$LOCAL_ENV_DIR/postgres.sh" start
"$LOCAL_ENV_DIR/mariadb.sh" start
"$LOCAL_ENV_DIR/docker.sh" start
"$LOCAL_ENV_DIR/s3.sh" start
"$LOCAL_ENV_DIR/sshd.sh" start
tag=$("$LOCAL_ENV_DIR/base-image.sh" | tail -n1)
# After the base image: the second host gets a copy of it.
"$LOCAL_ENV_DIR/dockerhost.sh" start
say "ready in $(elapsed_since "$t0")s"
say "  PostgreSQL: eval \"\$($LOCAL_ENV_DIR/postgres.sh env)\""
say "  MariaDB:    eval \"\$($LOCAL_ENV_DIR/mariadb.sh env)\""
say "  S3:         eval \"\$($LOCAL_ENV_DIR/s3.sh env)\""
say "  SSH:        eval \"\$($LOCAL_ENV_DIR/sshd.sh env)\""
say "  2nd host:   eval \"\$($LOCAL_ENV_DIR/dockerhost.sh env)\" (Docker over ssh://root@198.18.0.2)"
say "  Docker:     $DOCKER_SOCK (use --network host)"
say "  Base image: --build-arg BASE_IMAGE=$tag"
# Last stdout line: the base image tag, for scripts.
echo "$tag"
