"""Backups: what `make backup` writes, `make restore` brings back exactly, every record and every history entry."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from registry import models
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


def register_state():
    """Every row the backup promises to keep, with references by natural key (ids of content types may differ)."""
    state = {}
    labels = [
        "auth.Group",
        "auth.User",
        "admin.LogEntry",
        *(model._meta.label for model in apps.get_app_config("registry").get_models()),
    ]
    for label in labels:
        model = apps.get_model(label)
        rows = serializers.serialize(
            "python", model._base_manager.order_by("pk"), use_natural_foreign_keys=True, use_natural_primary_keys=False
        )
        for row in rows:
            row["fields"].pop("password", None)  # the JSON dump leaves password hashes out, by design
            if label == "auth.Group":
                row.pop("pk")  # roles are matched by name
                row["fields"]["permissions"] = sorted(row["fields"]["permissions"])
        state[label] = sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))
    return state


def curate(countries_fixture):
    """The seed, then the kinds of change curators make in the admin, each leaving a history entry."""
    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)
    curator = factories.UserFactory(username="curator-backup")
    entity = models.Entity.objects.published().order_by("slug").first()
    entity._history_user = curator
    entity._change_reason = "Renamed after the annual report"
    entity.name = f"{entity.name} (renamed)"
    entity.save()
    draft = factories.DraftEntityFactory()
    draft._history_user = curator
    draft.delete()
    factories.DraftLicenseFactory()


@pytest.fixture
def curated_register(transactional_db, countries_fixture):
    curate(countries_fixture)
    state = register_state()
    history_entries = sum(len(rows) for label, rows in state.items() if ".Historical" in label)
    # The comparison below means something only if there is history to lose.
    assert history_entries > 50
    assert any(row["fields"]["history_type"] == "-" for row in state["registry.HistoricalEntity"])
    return state


def backup_files(directory):
    call_command("backup", output_dir=str(directory), verbosity=0)
    files = sorted(directory.iterdir())
    snapshot_suffix = ".sqlite3" if connection.vendor == "sqlite" else ".pgdump"
    assert [f.suffix for f in files] == [".json", snapshot_suffix]
    stamps = {f.name.rsplit(".", 1)[0] for f in files}
    assert len(stamps) == 1, "both files of one backup share its timestamp"
    for f in files:
        assert f.stat().st_mode & 0o077 == 0, f"{f.name} holds account data: owner-only"
    return {f.suffix: f for f in files}


def test_json_dump_restores_every_record_and_history_entry(curated_register, tmp_path):
    files = backup_files(tmp_path)
    dump = json.loads(files[".json"].read_text(encoding="utf-8"))
    users = [row for row in dump if row["model"] == "auth.user"]
    assert users and all(not row["fields"]["password"] or row["fields"]["password"].startswith("!") for row in users)

    call_command("flush", interactive=False, verbosity=0)
    assert models.Entity.objects.count() == 0
    call_command("restore", str(files[".json"]), verbosity=0)

    assert register_state() == curated_register


def test_snapshot_restores_every_record_and_history_entry(curated_register, tmp_path):
    files = backup_files(tmp_path)
    call_command("flush", interactive=False, verbosity=0)
    snapshot = files[".sqlite3"] if connection.vendor == "sqlite" else files[".pgdump"]

    call_command("restore", str(snapshot), verbosity=0)

    assert register_state() == curated_register
    # The snapshot is the whole database: passwords too, so staff sign in as before.
    assert (
        apps.get_model("auth.User")
        .objects.get(username="curator-backup")
        .check_password("correct-horse-battery-staple")
    )


def test_restore_refuses_a_database_that_holds_data(curated_register, tmp_path):
    files = backup_files(tmp_path)
    for backup in files.values():
        with pytest.raises(CommandError, match="not empty"):
            call_command("restore", str(backup), verbosity=0)
    assert register_state() == curated_register


def test_restore_refuses_a_file_that_is_not_a_backup(transactional_db, tmp_path):
    bogus = tmp_path / "registry.sqlite3"
    bogus.write_bytes(b"not a database" * 100)
    with pytest.raises(CommandError):
        call_command("restore", str(bogus), verbosity=0)
    with pytest.raises(CommandError, match="No such backup file"):
        call_command("restore", str(tmp_path / "missing.json"), verbosity=0)


def manage(*args, database, check=True):
    """`manage.py` in a subprocess against its own SQLite file, as `make backup` and `make restore` run it."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "DJANGO_DEBUG": "1"}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=check
    )


def test_backup_and_restore_commands_on_sqlite_files(tmp_path, countries_fixture):
    """The commands end to end, on database files: the online backup of a WAL database, restored into a new file.

    (The JSON dump's round trip is tested above, in-process, on whichever backend the suite runs on.)
    """
    original, from_snapshot = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    manage("migrate", "--noinput", database=original)
    manage("load_fixtures", str(countries_fixture), "seed", database=original)
    manage("backup", "--output-dir", str(tmp_path / "backups"), database=original)
    snapshot = next((tmp_path / "backups").glob("*.sqlite3"))

    started = time.monotonic()
    restored = manage("restore", str(snapshot), database=from_snapshot)
    print(f"restore of the seed snapshot: {time.monotonic() - started:.1f} s ({restored.stdout.strip()})")

    def contents(database):
        out = manage(
            "dumpdata", "registry", "auth.user", "auth.group", "--natural-foreign", "--indent=0", database=database
        ).stdout
        rows = json.loads(out)
        for row in rows:
            row["fields"].pop("password", None)
            if row["model"] == "auth.group":
                row.pop("pk")
                row["fields"]["permissions"] = sorted(row["fields"]["permissions"])
        return sorted(json.dumps(row, sort_keys=True) for row in rows)

    expected = contents(original)
    assert sum('"model": "registry.historical' in row for row in expected) > 50
    assert contents(from_snapshot) == expected

    refused = manage("restore", str(snapshot), database=original, check=False)
    assert refused.returncode != 0
    assert "not empty" in refused.stderr
