"""Killing a gunicorn worker mid-request (SIGKILL) loses no committed data, and the service keeps answering.

gunicorn runs as in production (``config/gunicorn.conf.py``, DEBUG off) with two
sync workers on 127.0.0.1, against a database of its own: on SQLite a file copied
from the test database, on PostgreSQL the test database itself (its rows are
committed: ``transactional_db``). A client starts a large streaming CSV export
and stops reading, so the worker serving it is stuck mid-response; that worker is
killed with SIGKILL while another process commits writes through the ORM. Then
the master must have replaced the worker, every request must succeed, every
write committed must be there, and SQLite's ``PRAGMA integrity_check`` must say ok.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from django.core.management import call_command
from django.db import connection
from django.db.backends.sqlite3.base import DatabaseWrapper

from registry.models import EntityAlias

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT = 60
ALIAS_PREFIX = "Committed before the kill"

# Commits one alias per transaction through the ORM and says so only after each commit.
WRITER = f"""
import sys, time, django
django.setup()
from registry.models import Entity, EntityAlias
okx = Entity.objects.get(slug="okx")
for number in range(int(sys.argv[1])):
    EntityAlias.objects.create(entity=okx, name=f"{ALIAS_PREFIX} {{number}}")
    print(number, flush=True)
    time.sleep(0.05)
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(tmp_path):
    """The database gunicorn serves: a file copy of the in-memory SQLite test database, or the PostgreSQL one."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        path = tmp_path / "served.sqlite3"
        connection.ensure_connection()
        target = sqlite3.connect(path)
        try:
            connection.connection.backup(target)
        finally:
            target.close()
        return f"sqlite:///{path}", path
    user, password = quote(settings["USER"] or "", safe=""), quote(settings["PASSWORD"] or "", safe="")
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or "5432"
    return f"postgres://{user}:{password}@{host}:{port}/{settings['NAME']}", None


def children_of(pid):
    """Live child processes of ``pid`` (gunicorn's workers), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command: state, ppid, ...
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def two_workers(master, without=None):
    """gunicorn's two workers once both are up (and ``without`` is not one of them), else None."""
    workers = children_of(master)
    return workers if len(workers) == 2 and without not in workers else None


def socket_inodes(pid):
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def server_side_inode(server_port, client_port):
    """The inode of the server's end of our connection, from /proc/net/tcp (local :server, remote :client)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == server_port and remote_port == client_port:
                return fields[9]
    return None


def worker_serving(master, server_port, client_port, workers):
    inode = server_side_inode(server_port, client_port)
    if inode is None:
        return None
    for pid in workers:
        try:
            if inode in socket_inodes(pid):
                return pid
        except OSError:
            continue
    return None


def get(base, path, timeout=15):
    """(status, body); an HTTP error status is an answer too, a refused or reset connection is not."""
    try:
        with urllib.request.urlopen(base + path, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(predicate, deadline, message):
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(message)


def stop(process):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def test_sigkill_of_a_worker_mid_request_loses_nothing(transactional_db, countries_fixture, tmp_path):
    started = time.monotonic()
    deadline = started + TIME_LIMIT
    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)
    # Enough licences that their CSV export outgrows the socket buffers and keeps the worker busy.
    call_command("generate_demo_data", entities=600, seed=1, allow_mixed=True, no_history=True, verbosity=0)
    url, sqlite_path = database_url(tmp_path)
    print(f"data ready in {time.monotonic() - started:.1f} s")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_BIND": f"127.0.0.1:{port}",
        "DJANGO_LOG_LEVEL": "WARNING",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_TIMEOUT": "30",
        "GUNICORN_LOG_LEVEL": "warning",
        "PYTHONPATH": str(ROOT),
    }
    gunicorn = writer = slow = None
    log = (tmp_path / "gunicorn.log").open("wb")
    try:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py", "--access-logfile", "/dev/null"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def healthy():
            try:
                return get(base, "/healthz", timeout=2)[0] == 200
            except OSError:
                return False

        wait_until(healthy, deadline, "gunicorn did not become healthy")
        workers = wait_until(lambda: two_workers(gunicorn.pid), deadline, "gunicorn started no workers")

        # Another process commits writes through the ORM before, during and after the kill.
        writer = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", WRITER, "40"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        committed_before = []
        while len(committed_before) < 5:
            line = writer.stdout.readline()
            assert line, "the writer stopped early"
            committed_before.append(int(line))

        # A client asks for every licence as CSV, reads a little, and stops reading: the worker is stuck sending.
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        slow.sendall(b"GET /licenses.csv HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        first = slow.recv(4096)
        assert first.startswith(b"HTTP/1.") and b" 200 " in first.split(b"\r\n", 1)[0]
        client_port = slow.getsockname()[1]
        busy = wait_until(
            lambda: worker_serving(gunicorn.pid, port, client_port, workers), deadline, "no worker serving the export"
        )
        time.sleep(0.5)
        assert worker_serving(gunicorn.pid, port, client_port, workers) == busy, "the export finished too soon"

        os.kill(busy, signal.SIGKILL)

        # The interrupted response ends early: the connection closes before the whole export is sent.
        slow.settimeout(10)
        received = len(first)
        while chunk := slow.recv(65536):
            received += len(chunk)
        slow.close()

        # The master replaces the dead worker.
        replaced = wait_until(
            lambda: two_workers(gunicorn.pid, without=busy), deadline, "the master did not replace the killed worker"
        )
        assert gunicorn.poll() is None

        # Every request after the kill is answered, the export included (complete this time).
        status, full_export = get(base, "/licenses.csv")
        assert status == 200
        assert received < len(full_export)
        for path in ["/healthz", "/api/licenses/okx-mica-casp/", "/licenses.json?regime=mica", "/api/entities/okx/"]:
            for _ in range(5):
                assert get(base, path)[0] == 200, path

        assert writer.wait(timeout=max(1, deadline - time.monotonic())) == 0
        committed = committed_before + [int(line) for line in writer.stdout.read().split()]
        assert committed == list(range(40))

        # Every committed write is there: through the service and in the database itself.
        status, body = get(base, "/api/entities/okx/")
        assert status == 200
        for number in committed:
            assert f"{ALIAS_PREFIX} {number}".encode() in body
        if sqlite_path is not None:
            # Through Django's backend: the CHECK constraints the check verifies call its SQL functions.
            served = DatabaseWrapper({**connection.settings_dict, "NAME": str(sqlite_path)}, alias="served")
            try:
                with served.cursor() as cursor:
                    cursor.execute("PRAGMA integrity_check")
                    assert cursor.fetchall() == [("ok",)]
                    cursor.execute("SELECT name FROM registry_entityalias")
                    names = {row[0] for row in cursor.fetchall()}
            finally:
                served.close()
        else:
            names = set(EntityAlias.objects.values_list("name", flat=True))
        assert {f"{ALIAS_PREFIX} {number}" for number in committed} <= names
        assert replaced.isdisjoint({busy})
        elapsed = time.monotonic() - started
        print(
            f"killed worker {busy} after {received:,} of {len(full_export):,} bytes; "
            f"{len(committed)} writes; {elapsed:.1f} s"
        )
        assert elapsed < TIME_LIMIT
    finally:
        if slow is not None:
            slow.close()
        stop(writer)
        stop(gunicorn)
        log.close()
