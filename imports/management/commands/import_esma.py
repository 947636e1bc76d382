"""``manage.py import_esma FILE [FILE…]``: import ESMA's interim MiCA register files, each recognised by its header."""

import logging
import sys
import time
from pathlib import Path

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from imports.esma.registers import REGISTERS, BadFile, NoImporter, Register, prepare

logger = logging.getLogger(__name__)


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


class ProgressMixin:
    """A progress line on a terminal (rewritten in place); nothing otherwise, where one summary line per file is
    what a log wants."""

    def interactive(self) -> bool:
        return self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()

    def progress(self, done, total, started):
        elapsed = time.monotonic() - started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (total - done) / rate if rate else 0.0
        self.stdout.write(f"\r{done}/{total} rows, {rate:.0f} rows/s, about {left:.0f} s left", ending="")
        self.stdout.flush()

    def clear_progress(self):
        if self.interactive():
            self.stdout.write("\r\033[K", ending="")


class Command(ProgressMixin, BaseCommand):
    help = (
        "Import CSV files of ESMA's interim MiCA register (CASP, NCASP, OTHER, EMT, ART), each recognised by its "
        "header, in snapshot-date order. New records are drafts and changes to published records wait for review, "
        "unless --publish. A file that cannot be imported is named with the reason; the others are still imported."
    )
    # The aliases (import_esma_casps, import_esma_ncasp) take files of one register only.
    register: Register | None = None

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="+", metavar="FILE", help="CSV files as downloaded from ESMA (CASP20260123.csv: dated)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Do everything in a transaction and roll it back; print the counts."
        )
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Publish directly, without a second reviewer (an operator's decision, recorded in the history).",
        )

    def handle(self, *args, **options):
        progress = self.progress if self.interactive() else None
        failures, ready = [], []
        for path in map(Path, options["files"]):
            try:
                data = path.read_bytes()
            except OSError as error:
                failures.append(f"Cannot read {path}: {error.strerror or error}.")
                continue
            try:
                ready.append(
                    prepare(
                        data,
                        path.name,
                        expected=self.register,
                        publish=options["publish"],
                        dry_run=options["dry_run"],
                        progress=progress,
                    )
                )
            except BadFile as error:
                failures.append(str(error))
        # Oldest first: each snapshot's changes are recorded in the history dated by it, so order is history.
        ready.sort(key=lambda item: (item.date, REGISTERS.index(item.register)))
        imported = [item for item in ready if self._import(item, options["dry_run"], failures)]
        if imported and not options["dry_run"]:
            analyze_registry_tables()
        if failures:
            if len(options["files"]) == 1:
                raise CommandError(failures[0])
            raise CommandError(
                f"{len(failures)} of {len(options['files'])} files not imported:\n" + "\n".join(failures)
            )

    def _import(self, item, dry_run: bool, failures: list) -> bool:
        started = time.monotonic()
        try:
            counts = item.run()
        except NoImporter as error:
            failures.append(str(error))
            return False
        except Exception as error:  # its transaction rolled back; the other files still import
            logger.exception("Import of %s failed", item.name)
            self.clear_progress()
            failures.append(f"{item.name}: the import failed ({error.__class__.__name__}: {error}); nothing written.")
            return False
        self.clear_progress()
        prefix = "Dry run (nothing written): " if dry_run else ""
        self.stdout.write(
            f"{prefix}{item.name} (snapshot {item.date.isoformat()}): {counts.summary()}. "
            f"Took {time.monotonic() - started:.1f} s."
        )
        return True
