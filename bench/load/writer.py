"""Admin-like writes during the load test: save a record through the ORM every ``--interval`` seconds.

Run by bench/load/run.py against the database gunicorn serves (``DATABASE_URL``). Each
write is what a curator's save does: ``Model.save()`` in a transaction, writing the row
and its history entry (django-simple-history) and raising the data version (ETags).
Prints one JSON line: writes, failures (with their messages), and save latencies.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from registry.models import Entity, EntityAlias, License  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    entity_ids = list(Entity.objects.published().values_list("pk", flat=True)[:2000])
    license_ids = list(License.objects.published().values_list("pk", flat=True)[:2000])
    latencies, failures = [], []
    writes = 0
    # The database outlives a run (run.py reuses it): aliases of an earlier run must not collide with this one's.
    run = f"{time.time():.0f}"
    end = time.monotonic() + options.duration
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            with transaction.atomic():
                kind = writes % 3
                if kind == 0:
                    entity = Entity.objects.get(pk=rng.choice(entity_ids))
                    entity.description = f"Load-test edit {writes} at {time.time():.3f}."
                    entity.save()
                elif kind == 1:
                    licence = License.objects.get(pk=rng.choice(license_ids))
                    licence.conditions = f"Load-test condition {writes}."
                    licence.save()
                else:
                    EntityAlias.objects.create(entity_id=rng.choice(entity_ids), name=f"Load-test alias {run}-{writes}")
            writes += 1
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported, none may pass unseen
            failures.append(f"{type(error).__name__}: {error}")
        latencies.append((time.monotonic() - started) * 1000)
        time.sleep(max(0.0, options.interval - (time.monotonic() - started)))
    ordered = sorted(latencies) or [0.0]
    print(
        json.dumps(
            {
                "writes": writes,
                "failures": len(failures),
                "failure_messages": sorted(set(failures))[:10],
                "save_p50_ms": round(statistics.median(ordered), 2),
                "save_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
                "save_max_ms": round(ordered[-1], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
