"""``manage.py rebuild_derived_data``: recompute the derived data (docs/derived-data.md); ``--check`` only compares.

Triggers keep ``public``, the licence sort keys, the search index and the data
version in step with every write, so this is rarely needed: after a restore from
elsewhere, or to verify a database. ``--check`` exits 1 when stored values differ
from the tables, or when the database's triggers are not the code's (a migration
is missing).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router, transaction

from registry import derived
from registry.models import Entity


class Command(BaseCommand):
    help = "Recompute the stored visibility, licence sort keys, search index and data version (or --check them)."

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help="Database alias (default: where writes go).")
        parser.add_argument(
            "--only", action="append", choices=sorted(derived.ALL), help="One derived value (repeatable; default all)."
        )
        parser.add_argument("--check", action="store_true", help="Only compare with the tables and the code.")

    def handle(self, *args, database=None, only=None, check=False, **options):
        alias = database or router.db_for_write(Entity)
        connection = connections[alias]
        if check:
            problems = 0
            for kind, found in (
                ("trigger", derived.outdated(connection, only)),
                ("row", derived.differences(connection, only)),
            ):
                for name, rows in found.items():
                    problems += len(rows)
                    for row in rows[:20]:
                        self.stdout.write(f"{name} {kind}: {' '.join(map(str, row))}")
            if problems:
                raise CommandError(f"{problems} problem(s) in the derived data: see docs/derived-data.md.")
            self.stdout.write(self.style.SUCCESS("The derived data is in step with the tables and the code."))
            return
        # One transaction: readers keep the old values until the new ones are complete.
        with transaction.atomic(using=alias):
            written = derived.rebuild(connection, only)
        for name, count in written.items():
            self.stdout.write(f"  {name}: {count:,} row(s) written")
        self.stdout.write(self.style.SUCCESS("Rebuilt the derived data."))
