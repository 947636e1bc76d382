"""Operational endpoints: the load balancer's health check, robots.txt and /favicon.ico."""

import logging
from functools import lru_cache

from django.contrib.staticfiles import finders
from django.db import DatabaseError, connections
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe

from imports.sync import freshness
from operations.security import admin_prefix

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    """200 when this process can run a query on the database, 503 otherwise; with the age of each ESMA file's sync.

    The round-trip is what a load balancer needs to know: a worker that renders pages but cannot
    reach the database answers every page with an error, so it must leave the pool. The round trip reads
    when ``sync_esma`` last found each of ESMA's files current (``esma_sync``), for monitoring: an old sync
    is an operator's alert, not a reason to take the worker out of the pool, so it never changes the status.
    """
    try:
        esma_sync = freshness()
    except DatabaseError:
        logger.exception("Health check failed: the database did not answer")
        return JsonResponse({"status": "unavailable", "database": "error"}, status=503)
    return JsonResponse({"status": "ok", "esma_sync": esma_sync})


@cache_control(max_age=86400, public=True)
@require_safe
def robots_txt(request):
    """Crawl the public pages; keep crawlers out of the admin, the bulk exports and the API.

    Exports and API answers repeat what the pages show, at far greater cost per request;
    a crawler following every filter combination of an export would load the server for nothing.
    """
    lines = ["User-agent: *"]
    prefix = admin_prefix()
    if prefix:
        lines.append(f"Disallow: {prefix}")
    lines += [
        "Disallow: /api/",
        "Disallow: /*.csv$",
        "Disallow: /*.json$",
        "Disallow: /search/",
        "Allow: /",
        "",
        f"Sitemap: {request.build_absolute_uri(reverse('sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


FAVICON = "registry/favicon.ico"  # drawn from registry/favicon.svg: PNGs of 16, 32 and 48 px in one ICO


@lru_cache(maxsize=1)
def _favicon() -> bytes:
    with open(finders.find(FAVICON), "rb") as icon:
        return icon.read()


@cache_control(max_age=86400, public=True)
@require_safe
def favicon_ico(request):
    """The site's icon where browsers and feed readers look for it without reading a page's ``<link rel="icon">``."""
    return HttpResponse(_favicon(), content_type="image/vnd.microsoft.icon")


def _disconnect_caches() -> None:
    """Close the shared cache's connections (config/settings.py CACHES): none may outlive a fork."""
    from django.core.cache import caches

    from operations.cache import SharedDiskCache

    for cache in caches.all(initialized_only=True):
        if isinstance(cache, SharedDiskCache):
            cache.disconnect()


def warm_worker() -> None:
    """What a forked worker does before its first request (gunicorn's ``post_worker_init``): open its database
    connections (about 5 ms on SQLite: its pragmas, its schema read) and compute the home page once, under a data
    version no cache holds, so that the memory the master's warm-up left it is its own (copied on first write)
    and its first visitor does not pay for it: with its connection open but no page computed, a worker's first
    page after a write still took 7-10 ms more than its next ones (the home page, served at N = 20,000).

    A page of each kind of record (:func:`_record_paths`) is computed too: on PostgreSQL, the statements
    registry.prepared runs are prepared and planned on each connection at their first run (config/settings.py).
    Before, a worker's first group pages took 30-50 ms more than its next ones (the largest groups, served at
    N = 20,000). A database that cannot be reached is left to the requests to report."""
    try:
        for connection in connections.all():
            connection.ensure_connection()
        with _unknown_version():
            _render([reverse("public:home"), *_record_paths()])
    except Exception:
        logger.warning("The worker's warm-up did not finish; its first requests will", exc_info=True)


def _unknown_version():
    """Within it, pages compute every part rather than read the cache: no cache holds this data version."""
    from django.utils import timezone

    from registry.derived.version import serving

    return serving(-1, timezone.now())


def warm_up() -> None:
    """Do once, before gunicorn forks its workers, what each worker's first request would otherwise pay for.

    The URL resolvers, the compiled public templates and the release digest behind ETags (which reads every
    code, template and static file) took about 450 ms on a worker's first request, enough to put the first
    requests after every start or recycling above the latency target. Then the home page and the first page
    of each public list are rendered once (:func:`_render_first_pages`), and the database and cache connections
    that opened are closed: a connection opened before the fork would be shared by every worker.
    """
    from pathlib import Path

    from django.conf import settings
    from django.template.loader import get_template
    from django.urls import get_resolver

    from operations.conditional_get import release

    get_resolver()._populate()
    # The admin's prefix, which the conditional GET asks on every request, is reversed through a resolver of its
    # own (its namespace's): populated here, not on each worker's first request (35 ms).
    admin_prefix()
    release()
    templates = Path(settings.BASE_DIR) / "templates"
    for path in sorted(templates.rglob("*.html")):
        get_template(str(path.relative_to(templates)))
    try:
        _render_first_pages()
    except Exception:
        # A head start, never a condition of starting: an unmigrated or unreachable database, or static files
        # not collected yet (DEBUG off), must leave the workers to answer, and report, on their own requests.
        logger.warning("Warm-up rendered no pages; the workers will render them on first request", exc_info=True)
    finally:
        connections.close_all()
        _disconnect_caches()


# The pages most visitors open first, and the ones whose first render costs most.
FIRST_PAGES = (
    "public:home",
    "public:license-list",
    "public:entity-list",
    "public:audit-list",
    "public:regulator-list",
)


def _render_first_pages() -> None:
    """Render :data:`FIRST_PAGES` and a detail page of each kind once, without the middleware, for what their
    first render leaves behind.

    That is the filter choices, counts, facets and first page ids (cached per data version: after a write
    they are recomputed as usual), the interpreter's specialised bytecode for the code every page runs and the
    SQL registry.prepared compiles once per process. A forked worker inherits all of it: at N = 20,000 its first
    list page took 120–150 ms before, 48–62 ms now (its own connection and SQLite page cache remain), the next
    ones 14–15 ms.

    The pages are rendered twice: first under a data version no cache holds, so that every part is computed
    and its SQL compiled even when the cache already holds the pages (otherwise a worker compiled, after the
    next write, the SQL of every part the warm-up had read from the cache), then under the current one, to
    leave that version's cache ready for the first visitors.
    """
    with _unknown_version():
        _render(_first_paths())
    _render(_first_paths())


def _first_paths() -> list[str]:
    """The paths of :data:`FIRST_PAGES`, then :func:`_record_paths`."""
    return [reverse(name) for name in FIRST_PAGES] + _record_paths()


def _record_paths() -> list[str]:
    """The pages of the first published group, licence and audit, those there are."""
    from registry.models import Audit, Entity, License

    paths = []
    for records in (Entity.objects.filter(kind=Entity.Kind.GROUP), License.objects.all(), Audit.objects.all()):
        record = records.published().order_by("pk").first()
        if record is not None:
            paths.append(record.get_absolute_url())
    return paths


def _render(paths) -> None:
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from django.urls import resolve

    factory = RequestFactory()
    for path in paths:
        request = factory.get(path)
        request.user = AnonymousUser()
        match = resolve(path)
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render"):
            response.render()
