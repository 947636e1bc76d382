#!/usr/bin/env bash
# Make a local PostgreSQL 15 ready for the test suite, then print its DATABASE_URL on stdout
# (everything else goes to stderr). Safe to run again: it only does what is missing.
#
#   export DATABASE_URL="$(bash .ci/postgres.sh)"
#
# The role gets CREATEDB because pytest-django creates (and drops) test_<dbname> itself.
# The password only guards a throwaway test role on 127.0.0.1; override it with
# REGISTRY_PG_PASSWORD if the cluster is shared.
set -euo pipefail

version="${REGISTRY_PG_VERSION:-15}"
cluster="${REGISTRY_PG_CLUSTER:-main}"
role="${REGISTRY_PG_ROLE:-registry}"
dbname="${REGISTRY_PG_DB:-registry}"
password="${REGISTRY_PG_PASSWORD:-registry-test-only}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "postgres.sh: $*" >&2; }

# Identifiers and the password are spliced into SQL and a URL below; keep them boring.
for value in "$role" "$dbname" "$password"; do
  if ! [[ "$value" =~ ^[A-Za-z0-9_-]+$ ]]; then
    log "role, database and password may only contain letters, digits, '_' and '-'"
    exit 2
  fi
done

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
  as_postgres=(runuser -u postgres --)
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo --non-interactive)
  as_postgres=(sudo --non-interactive -u postgres)
else
  log "needs root or sudo to manage the PostgreSQL cluster"
  exit 1
fi

# A UTF-8 locale so a cluster created here (or by the package's postinst) stores any text.
export LANG=C.UTF-8 LC_ALL=C.UTF-8

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x "/usr/lib/postgresql/$version/bin/postgres" ]; then
  log "installing PostgreSQL $version"
  bash "$here/apt-install.sh" postgresql "postgresql-$version"
fi

if [ ! -d "/etc/postgresql/$version/$cluster" ]; then
  log "creating cluster $version/$cluster"
  "${as_root[@]}" pg_createcluster --locale C.UTF-8 --encoding UTF8 "$version" "$cluster" >&2
fi

if ! "${as_root[@]}" pg_ctlcluster "$version" "$cluster" status >/dev/null 2>&1; then
  log "starting cluster $version/$cluster"
  "${as_root[@]}" pg_ctlcluster "$version" "$cluster" start >&2
fi

port="$(pg_conftool -s "$version" "$cluster" show port 2>/dev/null || echo 5432)"

for _ in $(seq 1 30); do
  if pg_isready -q -h 127.0.0.1 -p "$port"; then
    break
  fi
  sleep 1
done
if ! pg_isready -h 127.0.0.1 -p "$port" >&2; then
  log "cluster $version/$cluster is not accepting connections on 127.0.0.1:$port"
  log "see /var/log/postgresql/postgresql-$version-$cluster.log"
  exit 1
fi

psql_admin() {
  # cd / so psql, running as postgres, is not left in a directory it cannot read.
  (cd / && "${as_postgres[@]}" psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres "$@")
}

psql_admin >&2 <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE "$role";
  END IF;
END
\$\$;
ALTER ROLE "$role" WITH LOGIN CREATEDB PASSWORD '$password';
SQL

if [ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$dbname'")" != "1" ]; then
  log "creating database $dbname"
  psql_admin -c "CREATE DATABASE \"$dbname\" OWNER \"$role\" ENCODING 'UTF8' TEMPLATE template0" >&2
fi

# pytest-django creates test_$dbname from template1; a cluster made under the C locale
# would make it SQL_ASCII, which cannot hold the register's non-ASCII names.
if [ "$(psql_admin -tA -c "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1'")" != "UTF8" ]; then
  log "template1 is not UTF8: rebuilding it from template0"
  psql_admin >&2 <<'SQL'
UPDATE pg_database SET datistemplate = false WHERE datname = 'template1';
DROP DATABASE template1;
CREATE DATABASE template1 WITH TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8';
UPDATE pg_database SET datistemplate = true WHERE datname = 'template1';
SQL
fi

log "ready: $role@127.0.0.1:$port/$dbname"
echo "postgres://$role:$password@127.0.0.1:$port/$dbname"
