"""Curators write in the admin while the public reads: no "database is locked", and readers are never held up.

On SQLite this depends on the settings: WAL (readers see the last commit while a writer works), a busy
timeout and IMMEDIATE transactions (a second writer queues instead of failing). The scenario runs in a
separate process on a database *file* with those settings, N writer and M reader processes at once.
On PostgreSQL the same scenario runs against the test database.
"""

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
WRITERS, READERS, EDITS = 4, 4, 25
# A read waits only for the disk, never for a writer: far under the 20 s busy timeout a blocked reader would hit.
READ_BOUND_SECONDS = 2.0


def writer(number, edits, results):
    """An admin-like curator: each edit is one transaction that creates a draft and renames a record."""
    from django.db import transaction

    from registry.models import Entity, Publication

    errors, slowest = [], 0.0
    for edit in range(edits):
        started = time.monotonic()
        try:
            with transaction.atomic():
                Entity.objects.create(
                    slug=f"concurrent-{number}-{edit}",
                    name=f"Concurrent Writer {number} Edit {edit}",
                    kind="company",
                    publication_status=Publication.DRAFT,
                )
                shared = Entity.objects.select_for_update().get(slug="shared-record")
                shared.name = f"Shared record, edit {edit} by writer {number}"
                shared.save()
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the test, which fails on any
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.monotonic() - started)
    results.put({"role": "writer", "errors": errors, "slowest": slowest, "count": edits})


def reader(number, stop, results):
    """A public visitor: lists and counts published records until the writers are done."""
    from registry.models import Entity

    errors, slowest, count = [], 0.0, 0
    while not stop.is_set() or count < 5:
        started = time.monotonic()
        try:
            list(Entity.objects.published().order_by("name")[:50])
            Entity.objects.count()
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")
        slowest = max(slowest, time.monotonic() - started)
        count += 1
    results.put({"role": "reader", "errors": errors, "slowest": slowest, "count": count})


def run_scenario():
    """Entry point of the subprocess: prints the outcome as JSON."""
    import django

    django.setup()
    from django.db import connection as conn
    from django.db import connections

    from registry.models import Entity

    Entity.objects.create(slug="shared-record", name="Shared record", kind="company")
    journal = None
    if conn.vendor == "sqlite":
        with conn.cursor() as cursor:
            journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
    connections.close_all()  # each forked process opens its own connection

    context = multiprocessing.get_context("fork")
    results, stop = context.Queue(), context.Event()
    writers = [context.Process(target=writer, args=(n, EDITS, results)) for n in range(WRITERS)]
    readers = [context.Process(target=reader, args=(n, stop, results)) for n in range(READERS)]
    started = time.monotonic()
    for process in readers + writers:
        process.start()
    outcome = [results.get(timeout=300) for _ in writers]
    stop.set()
    outcome += [results.get(timeout=300) for _ in readers]
    for process in readers + writers:
        process.join(timeout=60)
    print(  # noqa: T201
        json.dumps(
            {
                "journal_mode": journal,
                "seconds": time.monotonic() - started,
                "outcome": outcome,
                "created": Entity.objects.filter(slug__startswith="concurrent-").count(),
                "shared_history": Entity.objects.get(slug="shared-record").history.count(),
            }
        )
    )


def run_kept_connection():
    """Entry point of the subprocess: a worker's two requests, with another process's commit in between."""
    import django

    django.setup()
    from django.core.signals import request_finished, request_started
    from django.db import connection as conn

    from registry.models import Entity

    request_started.send(sender=None)
    before = Entity.objects.filter(slug="written-elsewhere").exists()
    kept = conn.connection
    request_finished.send(sender=None)  # where Django's handler closes a connection older than CONN_MAX_AGE
    code = "import django; django.setup(); from tests.factories import EntityFactory as E; E(slug='written-elsewhere')"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)  # noqa: S603
    request_started.send(sender=None)
    after = Entity.objects.filter(slug="written-elsewhere").exists()
    request_finished.send(sender=None)
    max_age = conn.settings_dict["CONN_MAX_AGE"]
    print(json.dumps({"max_age": max_age, "kept": conn.connection is kept, "before": before, "after": after}))  # noqa: T201


def run_in_subprocess(database_url, entry_point="run_scenario"):
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DJANGO_CONN_MAX_AGE", None)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"from tests.operations.test_sqlite_concurrency import {entry_point}; {entry_point}()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def database_url_for_test(tmp_path):
    """A database the subprocess can share: on SQLite, a file copy of the (migrated) test database."""
    if connection.vendor == "sqlite":
        path = tmp_path / "concurrency.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        connection.connection.backup(target)
        target.close()
        return f"sqlite:///{path}"
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    )


def test_concurrent_writers_and_readers_never_fail_or_block(transactional_db, tmp_path):
    result = run_in_subprocess(database_url_for_test(tmp_path))

    if connection.vendor == "sqlite":
        assert result["journal_mode"] == "wal"
    errors = [error for entry in result["outcome"] for error in entry["errors"]]
    assert errors == [], errors[:5]
    assert not any("locked" in error for error in errors)
    # Every edit committed: nothing was lost to a lock.
    assert result["created"] == WRITERS * EDITS
    assert result["shared_history"] == 1 + WRITERS * EDITS
    readers = [entry for entry in result["outcome"] if entry["role"] == "reader"]
    assert len(readers) == READERS
    assert all(entry["count"] >= 5 for entry in readers)
    slowest_read = max(entry["slowest"] for entry in readers)
    assert slowest_read < READ_BOUND_SECONDS, f"a reader waited {slowest_read:.2f} s"
    print(  # noqa: T201
        f"{WRITERS} writers x {EDITS} edits, {sum(e['count'] for e in readers)} reads in {result['seconds']:.1f} s; "
        f"slowest read {slowest_read * 1000:.0f} ms, "
        f"slowest write {max(e['slowest'] for e in result['outcome'] if e['role'] == 'writer') * 1000:.0f} ms"
    )


def test_a_kept_connection_sees_another_process_commit_on_the_next_request(transactional_db, tmp_path):
    """Workers keep their database connection between requests (for the worker's life by default, on SQLite
    too): opening one per request cost a list page a third of its time. A kept connection must still read every
    new commit."""
    result = run_in_subprocess(database_url_for_test(tmp_path), "run_kept_connection")

    assert result["max_age"] is None
    assert result["kept"], "the connection was closed at the end of the request"
    assert result["before"] is False
    assert result["after"] is True


def test_live_server_request_threads_open_their_own_connections(django_db_setup, live_server):
    """Browser tests' server threads never share the test thread's connection (tests/conftest.py says why).

    Shared, one thread running a Python SQL function and another binding a parameter deadlock for good.
    """
    assert live_server.thread.connections_override == {}
