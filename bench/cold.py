"""Cold renders: each page in-process with every cache of derived data emptied first (bench/run.py calls it).

    DATABASE_URL=... .venv/bin/python bench/cold.py PATH [PATH ...]

The served benchmark repeats one URL, so after a worker's first request it measures the cached path
(counts, facets, page ids and filter options are cached per data version: docs/scaling.md). This measures
the other path, the first request after a write: the median and worst of ``--repeat`` renders of each page,
each after emptying the caches, without HTTP. Prints one JSON object: ``{path: {"median_ms", "max_ms"}}``.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.test import Client  # noqa: E402

from public import filters  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    # The served benchmark's settings (DEBUG off, its allowed hosts): the first allowed host names the server.
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
    client.get("/")  # the process's own start-up (imports, templates) is not a page's cost
    results = {}
    for path in options.paths:
        times = []
        for _ in range(options.repeat):
            cache.clear()
            filters.CachedModelChoiceIterator._cache.clear()
            started = time.perf_counter()
            response = client.get(path)
            if getattr(response, "streaming", False):
                for _ in response.streaming_content:
                    pass
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        results[path] = {"median_ms": statistics.median(times), "max_ms": max(times)}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
