"""A deterministic, synthetic register for demos and benchmarks (``manage.py generate_demo_data``).

Everything generated is marked synthetic twice over: every slug starts with
``demo-``, and every entity, licence and audit cites the source
``demo-synthetic-data`` ("Synthetic demo data", kind "other"). "Synthetic" is
derived from that citation, so no model needs a flag, and the generator can tell
a database holding real records (it refuses to mix with them unless asked).

The same ``entities`` and ``seed`` always give the same rows: every choice comes
from one ``random.Random(seed)`` drawn in a fixed order, and timestamps are fixed
rather than "now". Every row is planned in memory first (``plan.py``, one planner
per record type), then written in batches straight into the tables, many-to-many
through tables included (``writing.py``: ``executemany`` on SQLite, ``COPY`` on
PostgreSQL), with the derived data (``public``, search documents, data version)
computed once at the end rather than by a trigger per row: 20,000 entities (about
120,000 entities, licences and audits, plus their citations) take well under two
minutes. History: each curated record, and each citation of a licence
or audit, gets one "+" entry, written in bulk; a licence or audit is dated no
earlier than the records it names, so that the as-of view and the change feed
(which ask whether it was public at each instant) see it public from its
creation. Entity citations, aliases and many-to-many snapshots get no history
(``history=False`` skips history altogether).
"""

from __future__ import annotations

import random
import time
from collections import Counter

from django.core.management import call_command
from django.db import connections, router, transaction

from operations.demo.checks import MixedDataError, check_database, real_records
from operations.demo.plan import Plan
from operations.demo.vocabulary import DEMO_QUOTE, DEMO_SOURCE_SLUG, DEMO_SOURCE_TITLE, EPOCH, PREFIX
from operations.demo.writing import Writer, sqlite_bulk_mode
from registry.models import Entity, Jurisdiction, JurisdictionKind

__all__ = [
    "DEMO_QUOTE",
    "DEMO_SOURCE_SLUG",
    "DEMO_SOURCE_TITLE",
    "EPOCH",
    "PREFIX",
    "DemoGenerator",
    "MixedDataError",
    "real_records",
]


class DemoGenerator:
    """``entities`` entities with their licences, audits, catalogue and sources, the same for the same ``seed``."""

    def __init__(self, entities, seed, *, history=True, stream=None, quiet=False):
        if entities < 1:
            raise ValueError("The number of entities must be at least 1.")
        self.n = entities
        self.seed = seed
        self.history = history
        self.stream = stream
        self.quiet = quiet
        self.rng = random.Random(seed)  # noqa: S311 - reproducible, not secret
        self.counts = Counter()

    def generate(self, allow_mixed=False):
        """Plan, then write everything in one transaction; returns a one-line summary."""
        started = time.monotonic()
        if not Jurisdiction.objects.filter(kind=JurisdictionKind.COUNTRY).exists():
            call_command("load_fixtures", "jurisdictions", verbosity=0)
        check_database(allow_mixed)
        connection = connections[router.db_for_write(Entity)]
        writer = Writer(connection, self.counts, stream=self.stream, quiet=self.quiet)
        with sqlite_bulk_mode(connection), transaction.atomic(using=connection.alias):
            tables = Plan(self.n, self.rng, self.history).build()
            writer.write_all(list(tables.values()))
        writer.finish()
        elapsed = time.monotonic() - started
        total = sum(self.counts.values())
        parts = ", ".join(f"{count:,} {name}" for name, count in self.counts.items())
        return f"Generated {total:,} synthetic rows in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s): {parts}."
