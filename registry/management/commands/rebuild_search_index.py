"""``manage.py rebuild_search_index``: recompute every search document (``--check`` only reports drift).

Triggers keep the index in step with every write, so this is rarely needed: after
restoring the index from elsewhere, or to verify it (``--check`` exits 1 when a
document is missing, stale or left over).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction

from registry.derived import search
from registry.models import Entity


class Command(BaseCommand):
    help = "Recompute the full-text search index of entities, licences, audits and regulators."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help="Database alias (default: where writes go).")
        parser.add_argument("--batch-size", type=int, default=5000, help="Records per INSERT (default 5000).")
        parser.add_argument("--check", action="store_true", help="Only compare the index with the tables.")

    def handle(self, *args, database=None, batch_size=5000, check=False, verbosity=1, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be 1 or more.")
        alias = database or router.db_for_write(Entity)
        connection = connections[alias]
        if check:
            problems = search.SEARCH_INDEX.differences(connection)
            for kind, object_id, problem in problems[:20]:
                self.stdout.write(f"{kind} {object_id}: {problem}")
            if problems:
                raise CommandError(f"{len(problems)} search document(s) out of step: run rebuild_search_index.")
            self.stdout.write(self.style.SUCCESS("The search index is in step with the tables."))
            return

        def progress(kind, done, total):
            if verbosity >= 1:
                self.stdout.write(f"  {kind}: {done:,} of {total:,}")

        # One transaction: searches keep using the old index until the new one is complete.
        with transaction.atomic(using=alias):
            written = search.SEARCH_INDEX.rebuild(connection, batch_size=batch_size, progress=progress)
        self.stdout.write(self.style.SUCCESS(f"Indexed {written:,} records."))
