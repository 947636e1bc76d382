"""``manage.py import_esma_casps FILE``: import a snapshot of ESMA's interim MiCA register of CASPs."""

import sys
import time
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from imports.esma import CaspImporter, NotAnEsmaFile


def analyze_registry_tables():
    """Refresh PostgreSQL's statistics of the register's tables after a bulk load, as its documentation advises.

    Without it, tables analysed while they held few (or only rolled-back) rows keep estimates of one row, and
    the planner picks nested loops that re-read an inner table per row: an entity page's sources took 25 s
    after an import instead of milliseconds. SQLite plans without such statistics (its ANALYZE is optional)."""
    if connection.vendor != "postgresql":
        return
    tables = [model._meta.db_table for model in apps.get_app_config("registry").get_models()]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE " + ", ".join(connection.ops.quote_name(table) for table in tables))


class EsmaImportCommand(BaseCommand):
    """Shared by both ESMA files: read, import (or dry-run), print what was written, by record type."""

    importer = CaspImporter

    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file as downloaded from ESMA (its name carries the snapshot date).")
        parser.add_argument(
            "--dry-run", action="store_true", help="Do everything in a transaction and roll it back; print the counts."
        )
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Publish directly, without a second reviewer (an operator's decision, recorded in the history).",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        interactive = self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()
        started = time.monotonic()
        try:
            importer = self.importer(
                data,
                path.name,
                publish=options["publish"],
                dry_run=options["dry_run"],
                progress=self._progress if interactive else None,
            )
        except NotAnEsmaFile as error:
            raise CommandError(str(error)) from error
        counts = importer.run()
        if not options["dry_run"]:
            analyze_registry_tables()
        if interactive:
            self.stdout.write("\r\033[K", ending="")
        prefix = "Dry run (nothing written): " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}{path.name} (snapshot {importer.snapshot.date.isoformat()}): {counts.summary()}. "
            f"Took {time.monotonic() - started:.1f} s."
        )

    def _progress(self, done, total, started):
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate else 0.0
        self.stdout.write(f"\r{done}/{total} rows, {rate:.0f} rows/s, about {left:.0f} s left", ending="")
        self.stdout.flush()


class Command(EsmaImportCommand):
    help = (
        "Import a CSV snapshot of ESMA's interim MiCA register of authorised CASPs (CASPYYYYMMDD.csv). "
        "New records are drafts and changes to published records wait for review, unless --publish."
    )
    importer = CaspImporter
