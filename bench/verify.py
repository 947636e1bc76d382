"""POST /api/verify/ with 1,000 counterparties on the demo data: time per call (p50, p95) and queries per call.

    DATABASE_URL=sqlite:////abs/path/bench/bench.sqlite3 .venv/bin/python bench/verify.py [--items 1000] [--repeat 20]

Fill the database first with ``manage.py generate_demo_data --entities 20000`` (the issue's target: p95 under 1 s
on SQLite with 20,000 entities). The items mix what a compliance team sends: exact names and names with another
legal form, LEIs, website domains, near-miss spellings and firms the register does not know, most with a
jurisdiction and some with a MiCA service. Calls go through Django's test client in-process (no HTTP), with
the rate limit off. The first call builds the name index (once per data version and worker) and is reported
apart: ``cold``; the others are ``warm``. Prints one JSON object, with the machine's load average (a shared
machine's figures are comparable only at similar loads: run two versions alternately). ``--answers FILE`` writes
every call's answer but its ``as_of`` (the data version and day) to FILE, to check that a change leaves the
answers as they were (``cmp`` two such files).
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,127.0.0.1")
os.environ["DJANGO_VERIFY_THROTTLE"] = "off"

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from registry.models import Entity  # noqa: E402
from verification import register  # noqa: E402

PLACES = ["FR", "DE", "MT", "IE", "NL", "SG", "GB", "AE", "NO", ""]
SERVICES = ["", "", "", "a", "c", "spot-trading"]
FORMS = {" Ltd": " Limited", " Limited": " Ltd.", " GmbH": " G.m.b.H.", " S.A.": " SA", " B.V.": " BV"}


def items(count: int, rng: random.Random) -> list[dict]:
    entities = list(Entity.objects.published().values_list("name", "lei", "website"))
    made = []
    for n in range(count):
        name, lei, website = rng.choice(entities)
        kind = n % 10
        if kind < 3:
            item = {"name": name}
        elif kind < 5:
            item = {"name": next((name.replace(a, b) for a, b in FORMS.items() if name.endswith(a)), name.upper())}
        elif kind < 6 and lei:
            item = {"lei": lei}
        elif kind < 7 and website:
            item = {"domain": website}
        elif kind < 8:
            item = {"name": name[:-2] + name[-1:] if len(name) > 6 else name}  # a near miss
        else:
            item = {"name": f"Unknown {rng.randrange(10**6)} Trading Ltd"}
        place, service = rng.choice(PLACES), rng.choice(SERVICES)
        item.update({"jurisdiction": place} if place else {}, **({"service": service} if service else {}))
        made.append(item)
    return made


def call(client, body) -> tuple[float, float, int, dict]:
    """``(seconds, CPU seconds of this thread, queries, answer less as_of)`` of one call."""
    with CaptureQueriesContext(connection) as queries:
        started, cpu = time.perf_counter(), time.thread_time()
        response = client.post("/api/verify/", body, content_type="application/json")
        cpu, elapsed = time.thread_time() - cpu, time.perf_counter() - started
    assert response.status_code == 200, response.content[:300]
    answer = response.json()
    answer.pop("as_of")
    return elapsed, cpu, len(queries), answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--answers", help="Write the answers (less as_of) to this file.")
    options = parser.parse_args()
    rng = random.Random(options.seed)
    client = Client()
    bodies = [json.dumps(items(options.items, rng)) for _ in range(options.repeat)]
    register.forget()
    cold, _, cold_queries, _ = call(client, bodies[0])
    times, cpu_times, queries, answers = [], [], set(), []
    for body in bodies:
        elapsed, cpu, count, answer = call(client, body)
        times.append(elapsed)
        cpu_times.append(cpu)
        queries.add(count)
        answers.append(answer)
    times.sort()
    cpu_times.sort()
    if options.answers:
        Path(options.answers).write_text(json.dumps(answers, sort_keys=True, indent=0))
    result = {
        "backend": connection.vendor,
        "entities": Entity.objects.published().count(),
        "items": options.items,
        "calls": options.repeat,
        "cold_ms": round(cold * 1000),
        "cold_queries": cold_queries,
        "warm_p50_ms": round(statistics.median(times) * 1000),
        "warm_p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000),
        "warm_max_ms": round(times[-1] * 1000),
        # This thread's CPU time (SQLite's included): what other processes on a shared machine change least.
        "warm_cpu_p50_ms": round(statistics.median(cpu_times) * 1000),
        "warm_cpu_p95_ms": round(cpu_times[min(len(cpu_times) - 1, int(0.95 * len(cpu_times)))] * 1000),
        "warm_queries": sorted(queries),
        "verdicts_of_last_call": answers[-1]["verdicts"],
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
