"""Conditional GET for the public site: ``ETag``, ``Last-Modified``, ``304 Not Modified`` and CDN-friendly caching.

What a public page shows depends on the register's data, today's date (what is
"in force") and the code that renders it. So every public response is labelled
with a validator made of:

* the **data version** (``registry/derived/version.py``): a counter the database
  raises on every write to the register, committed with the write;
* today's date, and the release (a digest of the code, templates and static files);
* the request's host, path and full query string.

:class:`DataVersionETagMiddleware` reads the version (one primary-key lookup)
*before* the view runs, answers ``304`` when the client's ``If-None-Match``
or ``If-Modified-Since`` still holds (the view never runs), and otherwise
labels the ``200`` with ``ETag``, ``Last-Modified`` and ``Cache-Control:
public, max-age=60, stale-while-revalidate=300``. A CDN in front may serve
a page for a minute and revalidate it cheaply after that. The admin is never
cached (``private, no-store``). One version for the whole register is coarse
(any edit changes every page's ETag) but always right; edits are rare next
to reads.

Django's ``condition()`` decorator answers the same questions per view, but only
after URL resolution picked the view, and needs wrapping every public view (the
DRF ones included); one middleware covers them all, before the session is read.

The validators are weak (``W/"..."``): they stand for the page's meaning, not
its bytes.
"""

from __future__ import annotations

import datetime
import hashlib
from functools import lru_cache
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, get_conditional_response, patch_cache_control
from django.utils.http import http_date

from registry.derived.version import data_version, serving

MAX_AGE = 60
STALE_WHILE_REVALIDATE = 300
# Public views whose content comes from files rather than the database, or which must never be cached.
UNCACHED_URL_NAMES = {"data-releases", "data-dictionary", "data-release-file", "healthz"}
# Data-derived views outside the ``public`` namespace.
CACHED_URL_NAMES = {"sitemap"}
# Views that depend on the code alone (the API's schema and its docs): validated without reading the database.
CODE_ONLY_URL_NAMES = {"api-schema", "api-docs", "api-guide"}
# Besides the project's own apps: what else renders a page (the API guide page is docs/api.md).
RELEASE_FOLDERS = ("templates", "static", "config", "docs")


@lru_cache(maxsize=1)
def release() -> str:
    """A digest of what renders the pages: the ``REGISTRY_RELEASE`` setting if set, else the project's apps,
    templates, static files, settings and docs.

    Computed from file contents, not times, so every worker and every machine
    of one deployment agrees, and a deployment changes every ETag.
    """
    configured = str(getattr(settings, "REGISTRY_RELEASE", "") or "").strip()
    if configured:
        return configured
    base = Path(settings.BASE_DIR)
    folders = sorted(
        {Path(app.path) for app in apps.get_app_configs() if Path(app.path).parent == base}
        | {base / folder for folder in RELEASE_FOLDERS}
    )
    digest = hashlib.sha256()
    for root in folders:
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
    if match.namespace == "public" or match.url_name in CACHED_URL_NAMES:
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


class DataVersionETagMiddleware:
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
        if kind == "data":
            with serving(version, changed_at):
                response = self.get_response(request)
        else:
            response = self.get_response(request)
        if response.status_code != 200:
            return response
        make_cacheable(response, etag, last_modified)
        return get_conditional_response(request, etag=etag, last_modified=last_modified, response=response)
