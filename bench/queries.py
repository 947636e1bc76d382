"""Where the time goes: queries per page and the slowest query of each, with its plan (no debug toolbar).

    DATABASE_URL=sqlite:////abs/path/bench/bench.sqlite3 .venv/bin/python bench/queries.py [PATH ...]

Renders each page in-process with Django's test client inside ``CaptureQueriesContext`` and prints the number of
queries, the total time, the time spent in SQL, and the slowest query with ``EXPLAIN QUERY PLAN`` (SQLite) or
``EXPLAIN`` (PostgreSQL).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1")

import django  # noqa: E402

django.setup()

from capture import captured_get  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

DEFAULT_PATHS = [
    "/licenses/",
    "/licenses/?status=active&regime=demo-eu-casp&q=aurora",
    "/licenses/?granted_in=MT",
    "/entities/",
    "/entities/?kind=affiliate&jurisdiction=MT&q=aurora",
    "/audits/",
    "/audits/?kind=certification&standard=demo-iso-iec-27001&q=aurora",
    "/regulators/",
    "/licenses.json?status=active&regime=demo-eu-casp&_size=100",
]


def explain(sql):
    if connection.vendor == "sqlite":
        prefix = "EXPLAIN QUERY PLAN "
    elif connection.vendor == "postgresql":
        prefix = "EXPLAIN "
    else:
        return []
    with connection.cursor() as cursor:
        # The statement is one Django just ran, with its parameters already interpolated by the backend.
        cursor.execute(prefix + sql)
        return [" ".join(str(c) for c in row) for row in cursor.fetchall()]


def main(paths):
    client = Client()
    for path in paths:
        client.get(path)  # warm caches
        response, queries, total_ms = captured_get(client, path)
        timed = [(float(q["time"]), q["sql"]) for q in queries]
        in_sql = sum(t for t, _ in timed)
        print(
            f"\n{path}\n  status {response.status_code}, {len(timed)} queries, {total_ms:.0f} ms total, "
            f"{in_sql * 1000:.0f} ms in SQL"
        )
        for seconds, sql in sorted(timed, reverse=True)[:3]:
            print(f"  {seconds * 1000:7.0f} ms  {sql[:300]}")
        if timed:
            seconds, sql = max(timed)
            for line in explain(sql)[:12]:
                print(f"           plan: {line}")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT_PATHS)
