"""``manage.py restore FILE``: load a backup written by ``manage.py backup`` into an empty database.

The kind of backup is read from the file name:

- ``.sqlite3``: a SQLite snapshot, copied into the configured SQLite database with the online backup API;
- ``.pgdump``: a ``pg_dump -Fc`` archive, loaded with ``pg_restore`` into the configured PostgreSQL database;
- ``.json``: the natural-key JSON dump, loaded into either backend (the way to move between them).

It refuses a database that holds any register record, history entry or account, so a restore can never
merge into or overwrite live data. Migrations are applied afterwards (or, for a JSON dump, before),
so a backup taken by an older release loads into the current schema.
"""

import sqlite3
import subprocess
import time
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.sqlite3._functions import register as register_sqlite_functions
from django.test.utils import override_settings

from operations.management.commands.backup import pg_environment


def holding_data(connection):
    """Tables of the register or of accounts that have rows (a table not created yet counts as empty)."""
    tables = set(connection.introspection.table_names())
    models = [apps.get_model("auth", "User"), *apps.get_app_config("registry").get_models()]
    full = []
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            if table in tables:
                cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608
                if cursor.fetchone():
                    full.append(table)
    return full


class Command(BaseCommand):
    help = "Restore a backup (.sqlite3, .pgdump or .json from `manage.py backup`) into an empty database."

    def add_arguments(self, parser):
        parser.add_argument("file", help="A file written by `manage.py backup`.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, file, database=DEFAULT_DB_ALIAS, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such backup file: {path}")
        connection = connections[database]
        full = holding_data(connection)
        if full:
            raise CommandError(
                f"The database is not empty ({', '.join(sorted(full)[:5])}{'…' if len(full) > 5 else ''} "
                "hold rows). Restore only into an empty database: create a new one and point DATABASE_URL at it."
            )
        started = time.monotonic()
        if path.suffix == ".json":
            self.restore_json(path, database)
        elif path.suffix == ".sqlite3":
            self.restore_sqlite(path, connection)
            call_command("migrate", database=database, interactive=False, verbosity=0)
        elif path.suffix == ".pgdump":
            self.restore_pg(path, connection)
            call_command("migrate", database=database, interactive=False, verbosity=0)
        else:
            raise CommandError("Unknown backup kind: expected a .sqlite3, .pgdump or .json file.")
        if options["verbosity"]:
            elapsed = time.monotonic() - started
            self.stdout.write(self.style.SUCCESS(f"Restored {path.name} in {elapsed:.1f} s."))

    def restore_json(self, path, database):
        call_command("migrate", database=database, interactive=False, verbosity=0)
        with transaction.atomic(using=database):
            # The roles made by a migration come back from the dump, with the permissions they had.
            apps.get_model("auth", "Group").objects.using(database).all().delete()
            # Django's loaddata, not load_fixtures (which adds history for what it loads), with
            # django-simple-history off: setting a many-to-many field would otherwise add a history entry.
            # A restore brings back the history exactly as it was, adding nothing.
            with override_settings(SIMPLE_HISTORY_ENABLED=False):
                call_command("loaddata", str(path), database=database, verbosity=0)

    def restore_sqlite(self, path, connection):
        if connection.vendor != "sqlite":
            raise CommandError("A .sqlite3 snapshot restores into SQLite only; restore the .json dump instead.")
        source = sqlite3.connect(path)
        # The check constraints call functions Django defines on its own connections.
        register_sqlite_functions(source)
        try:
            (result,) = source.execute("PRAGMA quick_check").fetchone()
            if result != "ok":
                raise CommandError(f"{path} is damaged: {result}")
            connection.close()
            connection.ensure_connection()
            source.backup(connection.connection)
        except sqlite3.DatabaseError as exc:
            raise CommandError(f"{path} is not a readable SQLite database: {exc}") from exc
        finally:
            source.close()
        # The copy replaced the schema under Django's feet: start again from a fresh connection.
        connection.close()

    def restore_pg(self, path, connection):
        if connection.vendor != "postgresql":
            raise CommandError("A .pgdump archive restores into PostgreSQL only; restore the .json dump instead.")
        connection.close()
        command = [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            # An "empty" database may already hold the (empty) tables made by migrate.
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={connection.settings_dict['NAME']}",
            str(path),
        ]
        try:
            result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                command, env=pg_environment(connection.settings_dict), capture_output=True, text=True, check=False
            )
        except FileNotFoundError as exc:
            raise CommandError("pg_restore is not installed (Debian: apt-get install postgresql-client).") from exc
        if result.returncode:
            raise CommandError(f"pg_restore failed: {result.stderr.strip()}")
