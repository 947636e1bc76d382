"""Operational endpoints: the load balancer's health check and robots.txt."""

import logging

from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe

from .security import admin_prefix

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    """200 when this process can run a query on the database, 503 otherwise.

    The round-trip is what a load balancer needs to know: a worker that renders pages but cannot
    reach the database answers every page with an error, so it must leave the pool.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("Health check failed: the database did not answer")
        return JsonResponse({"status": "unavailable", "database": "error"}, status=503)
    return JsonResponse({"status": "ok"})


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


def warm_up() -> None:
    """Do once, before gunicorn forks its workers, what each worker's first request would otherwise pay for.

    The URL resolver, the compiled public templates and the release digest behind ETags (which reads every
    code, template and static file) took about 450 ms on a worker's first request, enough to put the first
    requests after every start or recycling above the latency target. Nothing here touches the database:
    connections opened before the fork would be shared by every worker.
    """
    from pathlib import Path

    from django.conf import settings
    from django.template.loader import get_template
    from django.urls import get_resolver

    from .caching import release

    get_resolver()._populate()
    release()
    templates = Path(settings.BASE_DIR) / "templates"
    for path in sorted(templates.rglob("*.html")):
        get_template(str(path.relative_to(templates)))
