"""The data version: a counter the database raises on every write to the register, behind ETags and caches.

``registry_data_version`` holds one row, ``(version, changed_at)``. Triggers on
every ``registry_*`` table raise it: edits, publishing, approving a revision,
history rows, many-to-many changes, ``loaddata``, bulk and raw inserts alike.
It commits with the write, so a reader never sees the new number before the new
data. History tables are watched too, on purpose: the change feed and the as-of
view read them, and a corrected change reason changes what the feed shows.

Readers: the conditional GET (``operations/conditional_get.py``) labels every
public page with it, and caches of derived data (list counts, facet labels, page
ids) key on :func:`current_version`, so one write makes every old entry unreachable.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime

from django.core.cache import cache
from django.db import connections, router

from registry.derived.triggers import Derived, Trigger, check_vendor, installed

TABLE = "registry_data_version"
BUMP_FUNCTION = f"{TABLE}_bump"
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
# PostgreSQL: once per transaction, not per statement: a bulk load would otherwise pile up versions of one row.
# The row stays locked until commit, so concurrent writers queue here; the register's writes are few.
_PG_BUMP = (
    " BEGIN IF current_setting('registry.data_version_txid', true) IS DISTINCT FROM txid_current()::text THEN"  # noqa: S608
    f" UPDATE {TABLE} SET version = version + 1, changed_at = clock_timestamp() WHERE id = 1;"
    " PERFORM set_config('registry.data_version_txid', txid_current()::text, true);"
    " END IF; RETURN NULL; END "
)


class DataVersion(Derived):
    """The one-row version table and a trigger on every register table."""

    name = "version"
    table = TABLE

    def storage_sql(self, vendor):
        if vendor == "sqlite":
            return [
                f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                " id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, changed_at text NOT NULL)",
                f"INSERT OR IGNORE INTO {TABLE} (id, version, changed_at) VALUES (1, 1, {_SQLITE_NOW})",  # noqa: S608
            ]
        check_vendor(vendor)
        return [
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL, changed_at timestamptz NOT NULL)",
            f"INSERT INTO {TABLE} (id, version, changed_at) VALUES (1, 1, now()) ON CONFLICT (id) DO NOTHING",  # noqa: S608
        ]

    def functions(self, vendor):
        return {BUMP_FUNCTION: _PG_BUMP} if vendor == "postgresql" else {}

    def triggers(self, vendor, tables):
        if vendor == "sqlite":
            bump = f"UPDATE {TABLE} SET version = version + 1, changed_at = {_SQLITE_NOW} WHERE id = 1"  # noqa: S608
            return [
                Trigger(f"{self.prefix}{table.removeprefix('registry_')}_{event.lower()}", table, (event,), (bump,))
                for table in tables
                for event in ("INSERT", "UPDATE", "DELETE")
            ]
        return [
            Trigger(
                f"{self.prefix}{table.removeprefix('registry_')}",
                table,
                ("INSERT", "UPDATE", "DELETE", "TRUNCATE"),
                for_each="STATEMENT",
                function=BUMP_FUNCTION,
            )
            for table in tables
        ]

    def rebuild(self, connection) -> int:
        """Raise the version: every cached page and list is computed afresh (nothing else to recompute)."""
        now = _SQLITE_NOW if connection.vendor == "sqlite" else "clock_timestamp()"
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {TABLE} SET version = version + 1, changed_at = {now} WHERE id = 1")  # noqa: S608
            return max(cursor.rowcount, 0)

    def differences(self, connection) -> list[tuple[str, str]]:
        """Register tables a write to which would not change the version: ``[(table, "not watched")]``."""
        watched = {table for table, _definition in self.expected(connection).values()}
        covered = {table for table, _definition in installed(connection, self.prefix).values()}
        return [(table, "not watched") for table in sorted(watched - covered)]


DATA_VERSION = DataVersion()


def data_version(using: str | None = None) -> tuple[int, datetime.datetime]:
    """``(version, changed_at)`` of the register, read from the database public reads go to."""
    from registry.models import Entity

    alias = using or router.db_for_read(Entity)
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT version, changed_at FROM {TABLE} WHERE id = 1")  # noqa: S608
        version, changed_at = cursor.fetchone()
    if isinstance(changed_at, str):  # SQLite keeps it as text, in UTC
        changed_at = datetime.datetime.fromisoformat(changed_at).replace(tzinfo=datetime.UTC)
    return int(version), changed_at


def version_key(version: int, changed_at: datetime.datetime) -> str:
    """The version with the time of the write that made it: a restored or flushed database restarts
    its counter, but not at the same moment, so a worker's cache never mistakes old data for new."""
    return f"{version}@{changed_at.isoformat()}"


# The version read for the request being served (:func:`serving`): caches of derived data key on it
# without reading the table again.
_REQUEST_VERSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("registry_data_version", default=None)


@contextlib.contextmanager
def serving(version: int, changed_at: datetime.datetime):
    """Within it, :func:`current_version` is this version (the conditional GET reads it before the view runs)."""
    token = _REQUEST_VERSION.set(version_key(version, changed_at))
    try:
        yield
    finally:
        _REQUEST_VERSION.reset(token)


def current_version() -> str:
    """The data version of the request being served (:func:`version_key`), as read before its view ran;
    outside a request, read now.

    Read before the view runs, so anything computed during the request and stored under it is at least
    as new as the version: a write meanwhile raises the version and the next request computes it again.
    """
    version = _REQUEST_VERSION.get()
    return version if version is not None else version_key(*data_version())


def keeps_pages(model) -> bool:
    """Whether what is read of ``model`` now may be kept under the data version (a list's keys and count, the
    places of "granted in" and "usable in": :func:`kept`): not within a transaction, in which PostgreSQL raises
    the version once, at its first write, so a later write in it would leave the key unchanged. A request outside
    one sees every write."""
    return not connections[router.db_for_read(model)].in_atomic_block


def kept(model, key: str, read):
    """``read()``, kept in the cache under the data version as ``key`` when :func:`keeps_pages` allows for
    ``model``; read again otherwise (within a transaction)."""
    if not keeps_pages(model):
        return read()
    key = f"registry:{key}:{current_version()}"
    found = cache.get(key)
    if found is None:
        found = read()
        cache.set(key, found)
    return found
