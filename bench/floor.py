"""The physical floor: the SQL our views run for each URL, timed alone (bench/run.py calls it).

    DATABASE_URL=... .venv/bin/python bench/floor.py LISTS.json [--repeat 3]

LISTS.json is ``{page key: [path, ...]}``. For each page type, after one write (which empties the caches of
derived data, as in the served cold pass), each path is rendered in-process once (*cold*) and then once more
(*warm*), inside ``CaptureQueriesContext``. The captured statements (parameters already in place) are then replayed
through ``connection.cursor()``, every row fetched, ``--repeat`` times; the fastest replay is the floor: what the
database alone needs for that request, with no Python rendering and no HTTP.

Prints one JSON object: ``{page key: {"cold": [...], "warm": [...]}}``, one entry per path: ``[queries, SQL floor
ms, in-process render ms]``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from capture import captured_get  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from drive import BUMP_SQL  # noqa: E402

READS = ("SELECT", "WITH", "VALUES")


def render(client, path):
    """Render ``path``; returns (statements run, milliseconds)."""
    response, queries, elapsed = captured_get(client, path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    return [query["sql"] for query in queries], elapsed


def replay(statements, repeat):
    """The fastest of ``repeat`` replays of ``statements`` (reads only), every row fetched, in ms."""
    reads = [sql for sql in statements if sql.lstrip().upper().startswith(READS)]
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for sql in reads:
                cursor.execute(sql)
                cursor.fetchall()
        elapsed = (time.perf_counter() - started) * 1000
        best = elapsed if best is None else min(best, elapsed)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lists")
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    lists = json.loads(Path(options.lists).read_text(encoding="utf-8"))
    # The served benchmark's settings (DEBUG off, its allowed hosts): the first allowed host names the server.
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
    client.get("/")  # the process's own start-up (imports, templates) is not a page's cost
    total = sum(len(paths) for paths in lists.values())
    done = 0
    results = {}
    for key, paths in lists.items():
        with connection.cursor() as cursor:
            cursor.execute(BUMP_SQL)
        entry = results[key] = {"cold": [], "warm": []}
        for phase in ("cold", "warm"):
            for path in paths:
                statements, elapsed = render(client, path)
                entry[phase].append([len(statements), replay(statements, options.repeat), elapsed])
                done += 1
                print(f"floor {key} {phase} {done} {total * 2}", file=sys.stderr, flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
