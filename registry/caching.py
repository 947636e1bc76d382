"""Conditional GET for the public site: ``ETag``, ``Last-Modified``, ``304 Not Modified`` and CDN-friendly caching.

What a public page shows depends on the register's data, today's date (what is
"in force") and the code that renders it. So every public response is labelled
with a validator made of:

* the **data version**: a counter in ``registry_data_version`` that database
  triggers (installed by migration 0004) raise on every write to any
  ``registry_*`` table: edits, publishing, approving a revision, history rows,
  many-to-many changes, ``loaddata``, bulk and raw inserts alike. It commits
  with the write, so a reader never sees the new number before the new data;
* today's date, and the release (a digest of the code, templates and static files);
* the request's host, path and full query string.

:class:`ConditionalGetMiddleware` reads the version (one primary-key lookup)
*before* the view runs, answers ``304`` when the client's ``If-None-Match``
or ``If-Modified-Since`` still holds (the view never runs), and otherwise
labels the ``200`` with ``ETag``, ``Last-Modified`` and ``Cache-Control:
public, max-age=60, stale-while-revalidate=300``. A CDN in front may serve
a page for a minute and revalidate it cheaply after that. The admin is never
cached (``private, no-store``). One version for the whole register is coarse
(any edit changes every page's ETag) but always right; edits are rare next
to reads.

The validators are weak (``W/"..."``): they stand for the page's meaning, not
its bytes.
"""

from __future__ import annotations

import contextvars
import datetime
import hashlib
import os
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db import connections, router
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, get_conditional_response, patch_cache_control
from django.utils.http import http_date

TABLE = "registry_data_version"
MAX_AGE = 60
STALE_WHILE_REVALIDATE = 300
# Public views whose content comes from files rather than the database, or which must never be cached.
UNCACHED_URL_NAMES = {"data-releases", "data-dictionary", "data-release-file", "healthz"}
# Data-derived views outside the ``registry`` namespace.
CACHED_URL_NAMES = {"sitemap"}
# Views that depend on the code alone (the API's schema and its docs): validated without reading the database.
CODE_ONLY_URL_NAMES = {"api-schema", "api-docs", "api-guide"}


# ---------------------------------------------------------------------------
# The data version: a table and the triggers that raise it
# ---------------------------------------------------------------------------


def versioned_tables(connection) -> list[str]:
    """Every table of the register's data: ``registry_*`` but the search index and the version itself."""
    from registry import search

    tables = connection.introspection.table_names()
    return sorted(
        name for name in tables if name.startswith("registry_") and name != TABLE and not name.startswith(search.TABLE)
    )


def _trigger_name(table):
    return f"{TABLE}_{table.removeprefix('registry_')}"


def schema_sql(vendor: str, tables: list[str]) -> list[str]:
    """Statements that (re)create the version table and a trigger on each of ``tables``; safe to run again."""
    if vendor == "sqlite":
        statements = [
            f"CREATE TABLE IF NOT EXISTS {TABLE} ("
            " id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, changed_at text NOT NULL)",
            f"INSERT OR IGNORE INTO {TABLE} (id, version, changed_at) VALUES (1, 1, {_SQLITE_NOW})",  # noqa: S608
        ]
        bump = f"UPDATE {TABLE} SET version = version + 1, changed_at = {_SQLITE_NOW} WHERE id = 1;"  # noqa: S608
        for table in tables:
            for event in ("INSERT", "UPDATE", "DELETE"):
                name = f"{_trigger_name(table)}_{event.lower()}"
                statements += [
                    f"DROP TRIGGER IF EXISTS {name}",
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW BEGIN {bump} END",
                ]
        return statements
    if vendor != "postgresql":
        raise NotImplementedError(f"No data version for the {vendor} backend.")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        " id integer PRIMARY KEY CHECK (id = 1), version bigint NOT NULL, changed_at timestamptz NOT NULL)",
        f"INSERT INTO {TABLE} (id, version, changed_at) VALUES (1, 1, now()) ON CONFLICT (id) DO NOTHING",  # noqa: S608
        # Once per transaction, not per statement: a bulk load would otherwise pile up versions of one row.
        # The row stays locked until commit, so concurrent writers queue here; the register's writes are few.
        f"CREATE OR REPLACE FUNCTION {TABLE}_bump() RETURNS trigger LANGUAGE plpgsql AS $$ {_PG_BUMP} $$",
    ]
    for table in tables:
        name = _trigger_name(table)
        statements += [
            f"DROP TRIGGER IF EXISTS {name} ON {table}",
            f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_bump()",
        ]
    return statements


_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
_PG_BUMP = (
    "BEGIN IF current_setting('registry.data_version_txid', true) IS DISTINCT FROM txid_current()::text THEN"  # noqa: S608
    f" UPDATE {TABLE} SET version = version + 1, changed_at = clock_timestamp() WHERE id = 1;"
    " PERFORM set_config('registry.data_version_txid', txid_current()::text, true);"
    " END IF; RETURN NULL; END"
)


def install(connection) -> None:
    """Create the version table and a trigger on every register table present now."""
    with connection.cursor() as cursor:
        for statement in schema_sql(connection.vendor, versioned_tables(connection)):
            cursor.execute(statement)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        for table in versioned_tables(connection):
            if connection.vendor == "sqlite":
                for event in ("insert", "update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table)}_{event}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table)} ON {table}")
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP FUNCTION IF EXISTS {TABLE}_bump() CASCADE")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def tables_without_trigger(connection) -> list[str]:
    """Register tables a write to which would not change the data version (empty when all are covered)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{TABLE}%"])
        else:
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal AND t.tgname LIKE %s",
                [f"{TABLE}%"],
            )
        covered = {name for (name,) in cursor.fetchall()}
    return [table for table in versioned_tables(connection) if table not in covered]


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


# The version the middleware read for the request being served: caches of derived data (facet labels,
# filter choices, list pages) key on it without reading the table again.
_REQUEST_VERSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("registry_data_version", default=None)


def version_key(version: int, changed_at: datetime.datetime) -> str:
    """The version with the time of the write that made it: a restored or flushed database restarts
    its counter, but not at the same moment, so a worker's cache never mistakes old data for new."""
    return f"{version}@{changed_at.isoformat()}"


def current_version() -> str:
    """The data version of the request being served (:func:`version_key`), as the middleware read it;
    outside a request, read now.

    Read before the view runs, so anything computed during the request and stored under it is at least
    as new as the version: a write meanwhile raises the version and the next request computes it again.
    """
    version = _REQUEST_VERSION.get()
    return version if version is not None else version_key(*data_version())


# ---------------------------------------------------------------------------
# Validators
# ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def release() -> str:
    """A digest of what renders the pages: ``REGISTRY_RELEASE`` if set, else the code, templates, static files and
    docs (the API guide page is docs/api.md).

    Computed from file contents, not times, so every worker and every machine
    of one deployment agrees, and a deployment changes every ETag.
    """
    configured = os.environ.get("REGISTRY_RELEASE", "").strip()
    if configured:
        return configured
    base = Path(settings.BASE_DIR)
    digest = hashlib.sha256()
    for folder in ("registry", "templates", "static", "config", "docs"):
        root = base / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def validators(request, version: int, changed_at: datetime.datetime, today: datetime.date | None = None):
    """``(etag, last_modified timestamp)`` of the response to ``request`` at data ``version``."""
    today = today or timezone.localdate()
    key = "|".join(
        [release(), str(version), today.isoformat(), request.scheme, request.get_host(), request.get_full_path()]
    )
    etag = f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
    # Pages say what is in force *today*: they may change at midnight without any write.
    midnight = datetime.datetime.combine(today, datetime.time.min, tzinfo=timezone.get_current_timezone())
    return etag, int(max(changed_at, midnight).timestamp())


def code_validator(request) -> str:
    """The ETag of a page that only a new release changes."""
    key = "|".join([release(), request.scheme, request.get_host(), request.get_full_path()])
    return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


def is_admin(request) -> bool:
    from operations.security import admin_prefix

    prefix = admin_prefix()
    return bool(prefix) and request.path.startswith(prefix)


def public_view_kind(request) -> str | None:
    """``"data"`` for a public view whose content comes from the database, ``"code"`` for one that
    depends on the release alone, None for anything this middleware leaves alone."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    if match.url_name in UNCACHED_URL_NAMES:
        return None
    if match.url_name in CODE_ONLY_URL_NAMES:
        return "code"
    if match.namespace == "registry" or match.url_name in CACHED_URL_NAMES:
        return "data"
    return None


def make_cacheable(response, etag: str, last_modified: int | None) -> None:
    """Label a response to a public GET: validators, and how long shared caches may keep it."""
    response.headers.setdefault("ETag", etag)
    if last_modified is not None:
        response.headers.setdefault("Last-Modified", http_date(last_modified))
    if "Cache-Control" in response.headers:
        return  # the view decided
    vary = response.headers.get("Vary", "")
    if response.cookies or "cookie" in vary.lower():
        # A response that depends on, or sets, a cookie is one person's: never a shared cache's.
        patch_cache_control(response, private=True, no_cache=True)
    else:
        patch_cache_control(response, public=True, max_age=MAX_AGE, stale_while_revalidate=STALE_WHILE_REVALIDATE)


class ConditionalGetMiddleware:
    """``304`` for unchanged public pages before their view runs; validators and caching on the others.

    Place it after the database routing middleware (public reads go to the
    replica: so does the version) and before the session middleware (an
    answered ``304`` needs no session).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if is_admin(request):
            response = self.get_response(request)
            if "Cache-Control" not in response.headers or "private" not in response.headers["Cache-Control"]:
                add_never_cache_headers(response)
            return response
        kind = public_view_kind(request)
        if kind is None:
            return self.get_response(request)
        if kind == "data":
            version, changed_at = data_version()
            etag, last_modified = validators(request, version, changed_at)
        else:
            etag, last_modified = code_validator(request), None
        # Answered before the view runs: If-None-Match (or If-Modified-Since) from a cache holding this page.
        # The rarer If-Match, If-Unmodified-Since and ``If-None-Match: *`` ("does it exist?") wait for the
        # view, since a missing record must still answer 404.
        deferred = request.headers.get("If-None-Match", "").strip() == "*" or any(
            header in request.headers for header in ("If-Match", "If-Unmodified-Since")
        )
        if not deferred:
            not_modified = get_conditional_response(request, etag=etag, last_modified=last_modified)
            if not_modified is not None:
                make_cacheable(not_modified, etag, last_modified)
                return not_modified
        token = _REQUEST_VERSION.set(version_key(version, changed_at)) if kind == "data" else None
        try:
            response = self.get_response(request)
        finally:
            if token is not None:
                _REQUEST_VERSION.reset(token)
        if response.status_code != 200:
            return response
        make_cacheable(response, etag, last_modified)
        return get_conditional_response(request, etag=etag, last_modified=last_modified, response=response)
