"""``manage.py backup``: a consistent snapshot of the database plus a portable JSON dump.

Writes, into ``backups/`` (or ``--output-dir``), two files sharing a UTC timestamp:

- ``registry-<time>.sqlite3`` (SQLite, through the online backup API: a consistent copy even while
  the site is serving and curators are writing) or ``registry-<time>.pgdump`` (PostgreSQL, ``pg_dump
  -Fc``, one transaction). This is the complete database: passwords, TOTP secrets, sessions included.
- ``registry-<time>.json``: the register, its full change history, the admin's action log, staff
  accounts and roles, with natural keys for content types and users, so it loads into either backend.
  Password hashes are left out (every account comes back with an unusable password, to be reset
  with ``changepassword``), as are TOTP devices, sessions and login-attempt logs: the dump can be
  handled with less care than the snapshot, and a restored staff account must enrol again.

Both files are created readable by their owner only. ``manage.py restore FILE`` loads either one.
"""

import datetime
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import serializers
from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections

# Everything the JSON dump holds, by app label or app_label.Model.
JSON_LABELS = ("auth.group", "auth.user", "admin.logentry", "registry")


def dump_models():
    """The models of the JSON dump, ordered so natural-key references load before their users."""
    models = []
    for label in JSON_LABELS:
        if "." in label:
            models.append(apps.get_model(label))
        else:
            models.extend(apps.get_app_config(label).get_models())
    ordered = serializers.sort_dependencies([(None, models)], allow_cycles=True)
    return [model for model in ordered if model._meta.managed and not model._meta.proxy]


def dump_objects(using):
    for model in dump_models():
        queryset = model._base_manager.using(using).order_by(model._meta.pk.name)
        for obj in queryset.iterator(chunk_size=2000):
            if model._meta.label == "auth.User":
                obj.password = make_password(None)  # unusable: see the module docstring
            yield obj


class ExactJSONEncoder(DjangoJSONEncoder):
    """Keeps microseconds, which Django's encoder cuts to milliseconds: a restore must give back the same times."""

    def default(self, o):
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def write_json_dump(path: Path, using=DEFAULT_DB_ALIAS):
    """Streams the dump to ``path``; registry rows keep their ids (history rows refer to them by id)."""
    with open(path, "w", encoding="utf-8") as stream:
        serializers.serialize(
            "json",
            dump_objects(using),
            stream=stream,
            use_natural_foreign_keys=True,
            use_natural_primary_keys=False,
            cls=ExactJSONEncoder,
        )


def pg_environment(settings_dict):
    """libpq's variables for the configured database: the password never appears on a command line."""
    env = {**os.environ}
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if settings_dict.get(key):
            env[variable] = str(settings_dict[key])
    env["PGDATABASE"] = settings_dict["NAME"]
    return env


def private_file(path: Path):
    path.touch(mode=0o600, exist_ok=False)
    return path


class Command(BaseCommand):
    help = "Write a consistent snapshot of the database and a natural-key JSON dump into backups/."

    def add_arguments(self, parser):
        parser.add_argument(
            "--output-dir", default=None, help="Directory for the backup files (default: backups/ in the project)."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, output_dir=None, database=DEFAULT_DB_ALIAS, **options):
        directory = Path(output_dir) if output_dir else Path(settings.BASE_DIR) / "backups"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        stamp = datetime.datetime.now(tz=datetime.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        connection = connections[database]
        started = time.monotonic()

        if connection.vendor == "sqlite":
            snapshot = private_file(directory / f"registry-{stamp}.sqlite3")
            self.sqlite_snapshot(connection, snapshot)
        elif connection.vendor == "postgresql":
            snapshot = private_file(directory / f"registry-{stamp}.pgdump")
            self.pg_snapshot(connection, snapshot)
        else:
            raise CommandError(f"No snapshot method for the {connection.vendor} backend.")

        dump = private_file(directory / f"registry-{stamp}.json")
        write_json_dump(dump, using=database)

        if options["verbosity"]:
            elapsed = time.monotonic() - started
            self.stdout.write(f"Snapshot: {snapshot}\nJSON dump: {dump}")
            self.stdout.write(self.style.SUCCESS(f"Backup written in {elapsed:.1f} s."))

    def sqlite_snapshot(self, connection, destination: Path):
        # The backup API copies page by page under a read transaction: writers carry on (WAL),
        # and the copy is the database as of one instant, unlike copying the file (and its -wal).
        connection.ensure_connection()
        target = sqlite3.connect(destination)
        try:
            connection.connection.backup(target)
            # A single self-contained file: no -wal beside it to lose when the snapshot is copied away.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()

    def pg_snapshot(self, connection, destination: Path):
        command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={destination}"]
        try:
            result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                command, env=pg_environment(connection.settings_dict), capture_output=True, text=True, check=False
            )
        except FileNotFoundError as exc:
            destination.unlink(missing_ok=True)
            raise CommandError("pg_dump is not installed (Debian: apt-get install postgresql-client).") from exc
        if result.returncode:
            destination.unlink(missing_ok=True)
            raise CommandError(f"pg_dump failed: {result.stderr.strip()}")
