# The plain way: the steps of a dev-stack rollout written as a shell script with the real tools
# (psql, pg_dump, pg_restore, sha256sum, docker, curl), sourced by rollout.sh and way-back.sh.
# It is what the rollout would be without the program: the floor the bench compares it with.
#
# Input (environment): the libpq admin variables (PGHOST, PGPORT, PGUSER, PGPASSWORD) and
#   PLAIN_DB, PLAIN_ROLE, PLAIN_ROLE_PASSWORD  the service's database, its role and password
#   PLAIN_NAME, PLAIN_PORT                     container prefix and the port the service listens on
#   PLAIN_TOKEN, PLAIN_SMOKE_PASSWORD          maintenance token and the smoke user's password
#   PLAIN_BACKUP_DIR, PLAIN_MIGRATIONS         backup folder and migrations folder
#   PLAIN_IMAGE, PLAIN_VERSION                 the image to run and the version its /health names
#   PLAIN_FROM, PLAIN_TO                       schema version now and the target ("none" for empty)
# Secrets travel in the environment and in files of mode 0600, never in arguments or output.
set -euo pipefail
umask 077

base="http://127.0.0.1:${PLAIN_PORT}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'authorization: Bearer %s\n' "$PLAIN_TOKEN" >"$work/auth"
printf 'x-maintenance-bypass: %s\n' "$PLAIN_TOKEN" >"$work/bypass"
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d "$PLAIN_DB" "$@"; }
value() { psql -X -At -v ON_ERROR_STOP=1 -d "$PLAIN_DB" -c "$1"; }
fail() {
  echo "plain: $*" >&2
  exit 1
}

preflight() {
  value "SELECT 1" >/dev/null
  # allowNoCurrentService: the current service's health is looked at, not required.
  curl -s -o /dev/null --max-time 5 "$base/health" || true
  local deadline=$((SECONDS + 30))
  until [ "$(value "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")" = 0 ]; do
    [ $SECONDS -lt $deadline ] || fail "gate no-other-migration did not hold within 30 s"
    sleep 0.25
  done
}

# PUT or DELETE; an unreachable service is fine (allowUnreachable), a refusal is not.
maintenance() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" -H @"$work/auth" "$base/admin/maintenance" || true)
  case "$code" in 200 | 000) ;; *) fail "maintenance $1 answered $code" ;; esac
}

# Exact row count per user table, one `schema.table|n` line each, sorted.
row_counts() {
  psql -X -At -v ON_ERROR_STOP=1 -d "$1" <<'SQL'
SELECT coalesce(string_agg(format('SELECT %L, count(*) FROM %I.%I', schemaname || '.' || relname, schemaname, relname), ' UNION ALL '), 'SELECT 1 WHERE false') || ' ORDER BY 1'
FROM pg_stat_user_tables \gexec
SQL
}

# pg_dump -Fc, size floor, pg_restore --list, sha256sum, a restore test into a scratch database
# with per-table row counts compared, then the dump moves into place.
backup() {
  mkdir -p "$PLAIN_BACKUP_DIR"
  local file
  file="$PLAIN_BACKUP_DIR/${PLAIN_NAME}_$(date -u +%Y%m%dT%H%M%S%NZ).dump"
  pg_dump -Fc -f "$file.partial" -d "$PLAIN_DB"
  [ "$(stat -c %s "$file.partial")" -ge 512 ] || fail "backup is under 512 bytes"
  pg_restore --list "$file.partial" | grep -q ' TABLE ' || fail "backup lists no table"
  sha256sum "$file.partial" | sed 's/\.partial$//' >"$file.sha256"
  row_counts "$PLAIN_DB" >"$work/source.counts"
  local scratch="plain_restore_${RANDOM}${RANDOM}"
  createdb -T template0 "$scratch"
  pg_restore --no-owner --exit-on-error -d "$scratch" "$file.partial"
  row_counts "$scratch" >"$work/restored.counts"
  dropdb --force "$scratch"
  cmp -s "$work/source.counts" "$work/restored.counts" || fail "restore test: row counts differ"
  mv "$file.partial" "$file"
}

# A verify file's queries as assertions: `-- expect: V` then a query ending with `;` becomes a
# statement that divides by zero unless the query's first value is V.
verify_sql() {
  awk '
    /^[[:space:]]*--[[:space:]]*expect:/ { sub(/^[[:space:]]*--[[:space:]]*expect:[[:space:]]*/, ""); expect = $0; q = ""; next }
    expect != "" {
      q = q " " $0
      if ($0 ~ /;[[:space:]]*$/) {
        sub(/;[[:space:]]*$/, "", q)
        gsub(/\047/, "\047\047", expect)
        printf "SELECT 1 / (((%s)::text = \047%s\047)::int);\n", q, expect
        expect = ""; q = ""
      }
    }
  ' "$1"
}

# Ids of the migrations in the folder, sorted.
migration_ids() { find "$PLAIN_MIGRATIONS" -name '*.up.sql' -printf '%f\n' | sed 's/_.*//' | sort -u; }
num() { [ "$1" = none ] && echo 0 || echo $((10#$1)); }

# Each pending up, its verify queries and its record row in one transaction.
migrate_up() {
  local from to id name
  from=$(num "$PLAIN_FROM") to=$(num "$PLAIN_TO")
  for id in $(migration_ids); do
    [ $((10#$id)) -gt "$from" ] && [ $((10#$id)) -le "$to" ] || continue
    name=$(basename "$(ls "$PLAIN_MIGRATIONS/${id}"_*.up.sql)" .up.sql)
    verify_sql "$PLAIN_MIGRATIONS/$name.verify.sql" >"$work/verify.sql" 2>/dev/null || : >"$work/verify.sql"
    psql_ -1 -c "SET LOCAL lock_timeout = '10s'" -f "$PLAIN_MIGRATIONS/$name.up.sql" -f "$work/verify.sql" \
      -c "INSERT INTO plain_migrations (id, name) VALUES ('$id', '$name')"
  done
}

# Each down to the target, newest first, with its record row removed, in one transaction each.
migrate_down() {
  local from to id name
  from=$(num "$PLAIN_FROM") to=$(num "$PLAIN_TO")
  for id in $(migration_ids | sort -r); do
    [ $((10#$id)) -le "$from" ] && [ $((10#$id)) -gt "$to" ] || continue
    name=$(basename "$(ls "$PLAIN_MIGRATIONS/${id}"_*.down.sql)" .down.sql)
    psql_ -1 -c "SET LOCAL lock_timeout = '10s'" -f "$PLAIN_MIGRATIONS/$name.down.sql" \
      -c "DELETE FROM plain_migrations WHERE id = '$id'"
  done
}

# The service's role may read and write the tables, present and future.
grants() {
  psql_ <<SQL
GRANT CONNECT ON DATABASE "$PLAIN_DB" TO "$PLAIN_ROLE";
GRANT USAGE ON SCHEMA public TO "$PLAIN_ROLE";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "$PLAIN_ROLE";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "$PLAIN_ROLE";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "$PLAIN_ROLE";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "$PLAIN_ROLE";
SQL
}

# Recreate: the old container goes, the new one starts on the same volume and host network.
swap() {
  local name="$PLAIN_NAME-app"
  docker image inspect "$PLAIN_IMAGE" >/dev/null
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume create "$PLAIN_NAME-state" >/dev/null
  DATABASE_URL="postgresql://${PLAIN_ROLE}:${PLAIN_ROLE_PASSWORD}@${PGHOST}:${PGPORT}/${PLAIN_DB}?sslmode=disable" \
    MAINTENANCE_TOKEN="$PLAIN_TOKEN" SEED_PASSWORD="$PLAIN_SMOKE_PASSWORD" \
    docker run -d --name "$name" --network host --restart unless-stopped \
    -e PORT="$PLAIN_PORT" -e HOST=127.0.0.1 -e SEED_USER=smoke \
    -e DATABASE_URL -e MAINTENANCE_TOKEN -e SEED_PASSWORD \
    -v "$PLAIN_NAME-state:/state" "$PLAIN_IMAGE" >/dev/null
}

# GET with the bypass header; prints the body, fails unless the status is $2.
get() {
  local body code
  body=$(curl -s --max-time 5 -w '\n%{http_code}' -H @"$work/bypass" "${@:3}" "$base$1") || return 1
  code=${body##*$'\n'}
  [ "$code" = "$2" ] || return 1
  printf '%s' "${body%$'\n'*}"
}

checks() {
  local i body=""
  for i in $(seq 1 21); do
    body=$(get /health 200) && [ "$(jq -r '.status + " " + .version' <<<"$body")" = "ok $PLAIN_VERSION" ] && break
    [ "$i" -lt 21 ] || fail "check health: expected status ok and version $PLAIN_VERSION, saw ${body:-no answer}"
    sleep 0.5
  done
  body=$(get /health/db 200) && [ "$(jq -r .status <<<"$body")" = ok ] || fail "check health-db: ${body:-no answer}"
  [ "$(value "SELECT coalesce(max(id), 'none') FROM plain_migrations")" = "$PLAIN_TO" ] ||
    fail "check schema-version: expected $PLAIN_TO"
}

# login -> create -> read -> update -> delete -> gone, each with its expected status.
smoke() {
  local token id body
  jq -n --arg p "$PLAIN_SMOKE_PASSWORD" '{username: "smoke", password: $p}' >"$work/login.json"
  token=$(get /login 200 -X POST -H 'content-type: application/json' --data-binary @"$work/login.json" | jq -r .token)
  [ -n "$token" ] && [ "$token" != null ] || fail "smoke login: no token"
  printf 'authorization: Bearer %s\n' "$token" >"$work/session"
  id=$(get /items 201 -X POST -H @"$work/session" -H 'content-type: application/json' \
    --data '{"title":"smoke test item"}' | jq -r .id) || fail "smoke create"
  body=$(get "/items/$id" 200 -H @"$work/session") && [ "$(jq -r .title <<<"$body")" = "smoke test item" ] ||
    fail "smoke read"
  get "/items/$id" 200 -X PUT -H @"$work/session" -H 'content-type: application/json' \
    --data '{"title":"smoke test item, updated"}' >/dev/null || fail "smoke update"
  get "/items/$id" 204 -X DELETE -H @"$work/session" >/dev/null || fail "smoke delete"
  get "/items/$id" 404 -H @"$work/session" >/dev/null || fail "smoke gone"
}
