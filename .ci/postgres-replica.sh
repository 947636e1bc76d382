#!/usr/bin/env bash
# A streaming replica of the local PostgreSQL 15 cluster, as a second Debian cluster on this machine, for
# measuring DATABASE_REPLICA_URL (docs/scaling.md, section 5); prints the replica's URL for the database that
# .ci/postgres.sh prepared (same role, password and database name: a physical copy has them all).
#
#   primary="$(REGISTRY_PG_DB=registry_load bash .ci/postgres.sh)"
#   replica="$(REGISTRY_PG_DB=registry_load bash .ci/postgres-replica.sh)"
#
# Safe to run again: an existing replica is started if it is down and otherwise left alone.
# `REGISTRY_PG_REPLICA_RESET=1` copies the primary again from scratch.
set -euo pipefail

version="${REGISTRY_PG_VERSION:-15}"
primary="${REGISTRY_PG_CLUSTER:-main}"
replica="${REGISTRY_PG_REPLICA_CLUSTER:-replica}"
replica_port="${REGISTRY_PG_REPLICA_PORT:-5433}"
role="${REGISTRY_PG_ROLE:-registry}"
dbname="${REGISTRY_PG_DB:-registry}"
password="${REGISTRY_PG_PASSWORD:-registry-test-only}"

log() { echo "postgres-replica.sh: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "needs root (it creates a cluster and copies the primary's files as the postgres user)"
  exit 1
fi
as_postgres=(runuser -u postgres --)
primary_port="$(pg_conftool -s "$version" "$primary" show port 2>/dev/null || echo 5432)"

if ! pg_ctlcluster "$version" "$primary" status >/dev/null 2>&1; then
  log "the primary ($version/$primary) is not running: run .ci/postgres.sh first"
  exit 1
fi

if [ "${REGISTRY_PG_REPLICA_RESET:-0}" = "1" ] && [ -d "/etc/postgresql/$version/$replica" ]; then
  log "dropping the old replica"
  pg_dropcluster --stop "$version" "$replica" >&2
fi

if [ ! -d "/etc/postgresql/$version/$replica" ]; then
  log "creating cluster $version/$replica on port $replica_port"
  pg_createcluster --locale C.UTF-8 --encoding UTF8 -p "$replica_port" "$version" "$replica" >&2
  data="/var/lib/postgresql/$version/$replica"
  # Its own files are replaced by a copy of the primary's; -R makes it a standby streaming from the primary.
  rm -rf "$data"
  log "copying the primary (pg_basebackup)"
  (cd / && "${as_postgres[@]}" pg_basebackup -p "$primary_port" -D "$data" -R -X stream -c fast) >&2
fi
# Without it, the primary's vacuum removes rows a public read on the replica still needs, and the replica
# cancels that read ("conflict with recovery"): measured, every long /changes/ read under the load test's writes.
pg_conftool "$version" "$replica" set hot_standby_feedback on

if ! pg_ctlcluster "$version" "$replica" status >/dev/null 2>&1; then
  log "starting the replica"
  pg_ctlcluster "$version" "$replica" start >&2
else
  pg_ctlcluster "$version" "$replica" reload >&2
fi

for _ in $(seq 1 30); do
  if pg_isready -q -h 127.0.0.1 -p "$replica_port"; then
    break
  fi
  sleep 1
done
in_recovery="$(cd / && "${as_postgres[@]}" psql -X -tA -p "$replica_port" -d postgres -c "SELECT pg_is_in_recovery()")"
if [ "$in_recovery" != "t" ]; then
  log "$version/$replica is not a standby (pg_is_in_recovery: $in_recovery)"
  exit 1
fi
log "ready: a standby of $version/$primary on 127.0.0.1:$replica_port"
echo "postgres://$role:$password@127.0.0.1:$replica_port/$dbname"
