"""Operations: health check, robots.txt, sitemap.xml, JSON logs, and `make serve` (gunicorn + whitenoise)."""

import datetime
import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper

from config.logging import GunicornJsonLogger, JsonFormatter
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
ESMA_REGISTERS = ["CASP", "NCASP", "OTHER", "EMT", "ART"]


@pytest.mark.django_db
def test_healthz_answers_ok_after_a_database_round_trip(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz")
    assert response.status_code == 200
    never = {"last_success": None, "age_seconds": None}
    assert response.json() == {"status": "ok", "esma_sync": {code: never for code in ESMA_REGISTERS}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_database_is_down(client):
    with mock.patch.object(CursorWrapper, "execute", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "connection refused" not in response.content.decode()  # no internals in the answer


@pytest.mark.django_db
def test_robots_txt_keeps_crawlers_out_of_the_admin_and_points_to_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    lines = response.content.decode().splitlines()
    assert "User-agent: *" in lines
    assert "Disallow: /admin/" in lines
    assert "Disallow: /api/" in lines
    assert "Allow: /" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines


def sitemap_urls(client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    namespace = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    document = ET.fromstring(response.content)  # noqa: S314 - our own response
    return {loc.text for loc in document.findall("s:url/s:loc", namespace)}


@pytest.mark.django_db
def test_sitemap_lists_published_detail_pages_and_never_drafts(client):
    published = [
        factories.LicenseFactory(),  # with its holder, regime, regulator and a published source
        factories.AuditFactory(),
        factories.RegulatorFactory(),
    ]
    license_ = published[0]
    drafts = [
        factories.DraftEntityFactory(),
        factories.DraftLicenseFactory(),
        factories.DraftAuditFactory(),
        factories.DraftRegulatorFactory(),
        factories.DraftRegimeFactory(),
        factories.DraftSourceFactory(),
        factories.UncitedLicenseFactory(),  # published itself, but cites nothing: not public
    ]
    urls = sitemap_urls(client)

    expected = {
        license_.get_absolute_url(),
        license_.holder.get_absolute_url(),
        license_.license_type.regime.get_absolute_url(),
        published[1].get_absolute_url(),
        published[2].get_absolute_url(),
        *(citation.source.get_absolute_url() for citation in license_.citations.all()),
    }
    paths = {re.sub(r"^https?://testserver", "", url) for url in urls}
    assert expected <= paths
    for draft in drafts:
        assert draft.get_absolute_url() not in paths, f"{draft} is not public"
    # Every listed page answers: the sitemap and the detail views agree on what is public.
    for path in paths:
        assert client.get(path).status_code == 200, path


def test_json_formatter_writes_one_parseable_line_per_record():
    record = logging.LogRecord("registry", logging.WARNING, __file__, 1, 'a "quoted"\nmessage', None, None)
    record.path = "/entities/"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["message"] == 'a "quoted"\nmessage'
    assert entry["path"] == "/entities/"
    assert datetime.datetime.fromisoformat(entry["time"])


def test_gunicorn_access_log_is_json_without_query_string_or_headers():
    # gunicorn builds the logger from its config; only access() is under test here.
    logger = GunicornJsonLogger.__new__(GunicornJsonLogger)
    logger._access_log_enabled = True
    logger.access_log = mock.Mock()
    response = mock.Mock(status="200 OK", sent=1234, headers=[("Set-Cookie", "sessionid=secret")])
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/licenses/",
        "QUERY_STRING": "token=secret",
        "RAW_URI": "/licenses/?token=secret",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_COOKIE": "sessionid=secret",
    }
    logger.access(response, mock.Mock(), environ, datetime.timedelta(milliseconds=12, microseconds=500))
    (line,), _ = logger.access_log.info.call_args
    entry = json.loads(line)
    assert {k: entry[k] for k in ("method", "path", "status", "bytes", "duration_ms")} == {
        "method": "GET",
        "path": "/licenses/",
        "status": 200,
        "bytes": 1234,
        "duration_ms": 12.5,
    }
    assert "secret" not in line


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_make_serve_runs_gunicorn_with_hashed_far_future_static_files_and_json_logs(tmp_path):
    """What `make serve` runs under production settings: migrate, collectstatic, gunicorn (config/gunicorn.conf.py)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "x" * 20 + "-test-only-" + "y" * 30,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }
    for command in (["migrate", "--noinput", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=300
        )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed_css = manifest["paths"]["registry/site.css"]
    assert re.fullmatch(r"registry/site\.[0-9a-f]{12}\.css", hashed_css)

    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.5)
        assert status == 200
        assert json.loads(body)["status"] == "ok"

        status, headers, body = get(f"http://127.0.0.1:{port}/static/{hashed_css}")
        assert status == 200
        assert headers["Cache-Control"] == "max-age=315360000, public, immutable"
        assert b"{" in body

        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/static/{hashed_css}", headers={"Accept-Encoding": "gzip"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            assert response.headers["Content-Encoding"] == "gzip"

        # The unhashed name is served too, but must not be cached for long: it changes with each release.
        status, headers, _ = get(f"http://127.0.0.1:{port}/static/registry/site.css")
        assert status == 200
        assert "immutable" not in headers.get("Cache-Control", "")
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)

    access = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    health = [entry for entry in access if entry.get("path") == "/healthz"]
    assert health and health[0]["status"] == 200 and health[0]["method"] == "GET"
    assert isinstance(health[0]["duration_ms"], float)
    assert "Booting worker" in err


WARM_UP_PROBE = """
import json
from config.wsgi import application  # noqa: F401 - importing it runs the warm-up, as gunicorn's preload does
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
left_open = connection.connection is not None
with CaptureQueriesContext(connection) as queries:
    status = Client().get("/licenses/").status_code
print(json.dumps({"left_open": left_open, "status": status, "queries": len(queries)}))
"""


def run_python(code, database_url, **env):
    """``code`` in a fresh Python process with Django's settings and ``database_url``; it must exit 0."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "1",
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


def run_wsgi_probe(database_url, **env):
    return json.loads(run_python(WARM_UP_PROBE, database_url, **env).stdout.strip().splitlines()[-1])


def test_warm_up_leaves_the_first_list_pages_ready_and_no_connection_open(transactional_db, tmp_path):
    """gunicorn loads the application once and forks its workers: the warm-up renders the first pages there,
    so a worker's first visitor gets cached counts, facets and choices. A connection left open would be
    shared by every forked worker."""
    from tests.operations.test_sqlite_concurrency import database_url_for_test

    for _ in range(3):
        factories.LicenseFactory()
    url = database_url_for_test(tmp_path)

    warm = run_wsgi_probe(url)
    cold = run_wsgi_probe(url, DJANGO_WARM_UP="0")

    assert warm["status"] == cold["status"] == 200
    assert warm["left_open"] is False
    # The data version, the page's rows and their passports: what a second visit to the page costs.
    assert warm["queries"] <= 3 < cold["queries"]


@pytest.mark.parametrize("case", ["database not migrated", "static files not collected"])
def test_the_application_starts_when_the_warm_up_cannot_render(case, transactional_db, tmp_path):
    """The warm-up is a head start, never a condition of starting: a database not migrated yet (or
    unreachable), or DEBUG off before ``collectstatic`` (no manifest to name the CSS by), must leave gunicorn
    able to start and answer its health check; the warm-up reports what stopped it."""
    from tests.operations.test_sqlite_concurrency import database_url_for_test

    if case == "database not migrated":
        url, env = f"sqlite:///{tmp_path / 'empty.sqlite3'}", {}
    else:
        url = database_url_for_test(tmp_path)
        env = {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "x" * 60,
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_STATIC_ROOT": str(tmp_path / "not-collected"),
        }
    probe = "from config.wsgi import application; print('started')"
    result = run_python(probe, url, **env)
    assert result.stdout.strip().endswith("started")
    assert "Warm-up rendered no pages" in result.stderr


WORKER_PROBE = """
import json
from config.wsgi import application  # noqa: F401 - gunicorn's master loads it, then forks the worker
from django.db import connection
from operations.ops import warm_worker
warm_worker()  # gunicorn's post_worker_init (config/gunicorn.conf.py)
prepared = None
if connection.vendor == "postgresql" and connection.connection is not None:
    with connection.cursor() as cursor:
        # The licence page's citations: a statement of no page but a licence's.
        table = 'FROM "registry_licensecitation"'
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, %s) > 0", [table])
        prepared = cursor.fetchone()[0]
print(json.dumps({"open": connection.connection is not None, "prepared": prepared}))
"""


@pytest.mark.parametrize("case", ["migrated", "database not migrated"])
def test_a_worker_opens_its_connection_before_its_first_request_and_starts_whatever_happens(
    case, transactional_db, tmp_path
):
    """A worker opens its database connection and renders the home page and a record page of each kind as it
    starts, so that its first visitor does not pay for either: on PostgreSQL, the record pages' statements are
    then prepared on its connection. A database it cannot read leaves it to start and say why."""
    from tests.operations.test_sqlite_concurrency import database_url_for_test

    if case == "migrated":
        factories.LicenseFactory()
        url = database_url_for_test(tmp_path)
    else:
        url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    result = run_python(WORKER_PROBE, url)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["open"] is True
    if case == "migrated" and connection.vendor == "postgresql":
        assert report["prepared"] > 0
    else:
        assert report["prepared"] is None
    assert ("warm-up did not finish" in result.stderr) is (case != "migrated")


@pytest.mark.django_db
def test_favicon_ico_answers_with_the_sites_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/vnd.microsoft.icon"
    assert "max-age=86400" in response["Cache-Control"]
    icon = response.content
    assert icon[:4] == b"\x00\x00\x01\x00"  # an ICO file
    sizes = set()
    for index in range(int.from_bytes(icon[4:6], "little")):
        entry = icon[6 + 16 * index : 22 + 16 * index]
        length, offset = struct.unpack("<II", entry[8:16])
        assert icon[offset : offset + 8] == b"\x89PNG\r\n\x1a\n" and len(icon) >= offset + length
        sizes.add(entry[0])
    assert {16, 32} <= sizes
    assert client.post("/favicon.ico").status_code in (403, 405)


@pytest.mark.django_db
def test_healthz_reports_the_age_of_each_esma_files_last_successful_sync(client, django_assert_num_queries):
    from django.utils import timezone

    from imports.models import RegisterFetch

    synced = timezone.now() - datetime.timedelta(hours=2)
    RegisterFetch.objects.create(register="CASP", last_success=synced, last_error="")
    RegisterFetch.objects.create(register="NCASP", last_attempt=synced, last_error="HTTP 500")
    with django_assert_num_queries(1):
        health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["esma_sync"]["CASP"]["last_success"] == synced.isoformat()
    assert 7200 <= health["esma_sync"]["CASP"]["age_seconds"] < 7260
    # Tried but never succeeded: no age, and still a healthy worker (an old sync is an alert, not an outage).
    assert health["esma_sync"]["NCASP"] == {"last_success": None, "age_seconds": None}
