"""In-process timings of the benchmark's page types: a quick check before and after a change to a view.

    DATABASE_URL=sqlite:///$PWD/bench/bench.sqlite3 DJANGO_DEBUG=0 DJANGO_SECRET_KEY=x \\
        DJANGO_ALLOWED_HOSTS=127.0.0.1 DJANGO_SECURE_SSL_REDIRECT=0 \\
        .venv/bin/python bench/inprocess.py [--urls 100] [--only home,licences] [--profile licences]

For each page type of ``bench/urllists.py`` (its first ``--urls`` distinct URLs): one write (bench/drive.py's
``BUMP_SQL``, which makes the caches of derived data unreachable, as the served benchmark's cold pass does), then
*cold*, each URL once, then *warm*, each URL again; p50 and p95 of each, in milliseconds, and the queries per
request (the largest). No HTTP and no server: a page's cost in Python and SQL alone, for comparing two versions of
the code on the same machine state (run them alternately; a shared machine is noisy). ``--profile KEY`` prints
cProfile's top functions for that page type's warm pass instead (``--cold``: a pass after a write).
With ``DJANGO_DEBUG=0`` the pages need the collected static files' manifest: run ``manage.py collectstatic`` once
(or point ``DJANGO_STATIC_ROOT`` at a collected copy). Without ``DJANGO_SECURE_SSL_REDIRECT=0`` every page is a 301.
"""

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import urllists  # noqa: E402 (sets Django up)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from drive import BUMP_SQL  # noqa: E402


def page_lists(limit):
    values = urllists.licence_filters(limit)
    groups = urllists.largest_groups(limit)
    slugs = urllists.License.objects.published().order_by("pk").values_list("slug", flat=True)
    licences = urllists.spread(slugs, limit)
    return {
        "home": ["/"],
        "licences": [urllists.path("/licenses/", {k: v}) for k, v in values],
        "entities": [urllists.path("/entities/", v) for v in urllists.entity_filters(limit)],
        "audits": [urllists.path("/audits/", v) for v in urllists.audit_filters(limit)],
        "json": [urllists.path("/licenses.json", {k: v, "page_size": 100}) for k, v in values],
        "api": [urllists.path("/api/licenses/", {k: v, "page_size": 100}) for k, v in values],
        "group": [f"/entities/{g['slug']}/" for g in groups],
        "licence": [f"/licenses/{slug}/" for slug in licences],
    }


def timed(client, path):
    connection.queries_log.clear()  # a full log (9,000 entries) would make CaptureQueriesContext count nothing
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    return elapsed, len(captured.captured_queries)


def bump():
    with connection.cursor() as cursor:
        cursor.execute(BUMP_SQL)


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=100)
    parser.add_argument("--only", default="")
    parser.add_argument("--profile", default="")
    parser.add_argument("--cold", action="store_true", help="With --profile: profile a pass after a write.")
    parser.add_argument("--repeat-home", type=int, default=20, help="Cold home pages (one write before each).")
    options = parser.parse_args()
    lists = page_lists(options.urls)
    only = [key for key in options.only.split(",") if key] or list(lists)
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
    client.get("/")
    client.get("/licenses/")
    if options.profile:
        paths = lists[options.profile]
        for path in paths:
            client.get(path)
        if options.cold:
            bump()
        profiler = cProfile.Profile()
        profiler.enable()
        for path in paths:
            client.get(path)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("SORT", "cumulative"))
        stats.print_stats(int(os.environ.get("LINES", 45)))
        print(out.getvalue())
        return
    print(f"{'page':10} {'n':>4} {'cold p50':>9} {'cold p95':>9} {'warm p50':>9} {'warm p95':>9} {'queries':>8}")
    for key in only:
        paths = lists[key]
        cold, warm, queries = [], [], []
        if key == "home":
            for _ in range(options.repeat_home):
                bump()
                elapsed, count = timed(client, paths[0])
                cold.append(elapsed)
                queries.append(count)
                elapsed, count = timed(client, paths[0])
                warm.append(elapsed)
                queries.append(count)
        else:
            bump()
            for phase in (cold, warm):
                for path in paths:
                    elapsed, count = timed(client, path)
                    phase.append(elapsed)
                    queries.append(count)
        print(
            f"{key:10} {len(paths):>4} {statistics.median(cold):9.1f} {p95(cold):9.1f} "
            f"{statistics.median(warm):9.1f} {p95(warm):9.1f} {min(queries):>3}-{max(queries):<4}",
            flush=True,
        )


if __name__ == "__main__":
    main()
