#!/usr/bin/env bash
# A MySQL backup the plain way: mysqldump with the same consistency options, then its sha256.
#   bash bench/plain/mysql-backup.sh DATABASE FILE      (MYSQL_HOST, MYSQL_TCP_PORT, MYSQL_USER, MYSQL_PWD)
set -euo pipefail
umask 077
mariadb-dump --host="$MYSQL_HOST" --port="$MYSQL_TCP_PORT" --user="$MYSQL_USER" --protocol=tcp \
  --single-transaction --routines --triggers --events --hex-blob --default-character-set=utf8mb4 "$1" >"$2"
sha256sum "$2" >"$2.sha256"
