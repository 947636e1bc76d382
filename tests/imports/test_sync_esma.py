"""`manage.py sync_esma`: ESMA's files fetched from a local HTTP server, imported only when changed and sound."""

import hashlib
import io
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from imports import esma
from imports.models import QuarantinedFile, RegisterFetch
from registry.models import License, Source, WarningNotice
from tests.conftest import ESMA_DATA
from tests.factories import UserFactory

JANUARY = (ESMA_DATA / "CASP20260123.csv").read_bytes()
NCASP = (ESMA_DATA / "NCASP20260129.csv").read_bytes()
LAST_MODIFIED = "Fri, 23 Jan 2026 10:00:00 GMT"


@dataclass
class Route:
    body: bytes
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0
    announced: int | None = None  # a Content-Length other than the body's: the connection closes early


@dataclass
class Served:
    routes: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)  # (path, headers, status)
    url: str = ""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        route = self.server.served.routes.get(self.path)
        if route is None:
            return self._answer(404, b"")
        time.sleep(route.delay)
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            return self._answer(304, b"")
        if route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified:
            return self._answer(304, b"")
        headers = {"ETag": route.etag, "Last-Modified": route.last_modified}
        self._answer(route.status, route.body, route.announced, {k: v for k, v in headers.items() if v})

    def _answer(self, status, body, announced=None, headers=None):
        self.server.served.requests.append((self.path, dict(self.headers), status))
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(announced or len(body)))
        self.end_headers()
        if status != 304:
            try:
                self.wfile.write(body)
            except OSError:  # the client gave up (a timeout test)
                pass
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def esma_server():
    """A stand-in for ESMA's web server on 127.0.0.1 (no network): ``served.routes["/CASPS.csv"] = Route(…)``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.served = Served(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.served
    server.shutdown()
    server.server_close()


def sync(served, *registers, publish=True):
    """Run the command as the timer does; (exit status, output)."""
    out = io.StringIO()
    args = [*registers, "--base-url", served.url] + (["--publish"] if publish else [])
    try:
        call_command("sync_esma", *args, stdout=out)
    except CommandError as error:
        return 1, out.getvalue() + str(error)
    return 0, out.getvalue()


def database_rows():
    """Rows in every table of the register, history tables included: equal before and after means nothing written."""
    return {model.__name__: model.objects.count() for model in apps.get_app_config("registry").get_models()}


def state(code="CASP"):
    return RegisterFetch.objects.get(register=code)


def test_a_new_file_is_imported_cited_and_its_validators_kept(countries, esma_server):
    esma_server.routes["/CASPS.csv"] = Route(JANUARY, etag='"v1"', last_modified=LAST_MODIFIED)
    status, out = sync(esma_server, "CASP")
    assert status == 0, out
    assert out.startswith(
        f"CASP ({esma_server.url}/CASPS.csv): imported: CASP20260123.csv (snapshot 2026-01-23); "
        "created 145 entities, 146 licences"
    )
    assert License.objects.count() == 146
    source = Source.objects.get(sha256=hashlib.sha256(JANUARY).hexdigest())
    assert source.retrieved_on == timezone.localdate()
    fetched = state()
    assert (fetched.etag, fetched.last_modified, fetched.row_count) == ('"v1"', LAST_MODIFIED, 146)
    assert fetched.last_success == fetched.last_import == fetched.last_attempt and fetched.last_error == ""


def test_the_addresses_come_from_the_setting_without_base_url(countries, esma_server, settings):
    esma_server.routes["/mirror/casps-latest.csv"] = Route(JANUARY)
    settings.ESMA_REGISTER_URLS = {"CASP": f"{esma_server.url}/mirror/casps-latest.csv"}
    call_command("sync_esma", "CASP", stdout=io.StringIO())
    assert [path for path, _, _ in esma_server.requests] == ["/mirror/casps-latest.csv"]
    assert License.objects.count() == 146


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_not_modified_writes_nothing_and_fetches_no_body(countries, esma_server, validator):
    esma_server.routes["/CASPS.csv"] = Route(JANUARY, **{validator: '"v1"' if validator == "etag" else LAST_MODIFIED})
    sync(esma_server, "CASP")
    before = database_rows()
    status, out = sync(esma_server, "CASP")
    assert (status, database_rows()) == (0, before)
    assert out.startswith(f"CASP ({esma_server.url}/CASPS.csv): not modified")
    path, headers, answered = esma_server.requests[-1]
    assert answered == 304
    assert headers.get("If-None-Match" if validator == "etag" else "If-Modified-Since")
    assert state().last_success > state().last_import


def test_the_same_bytes_again_write_nothing(countries, esma_server):
    esma_server.routes["/CASPS.csv"] = Route(JANUARY)  # a server without validators: always 200
    sync(esma_server, "CASP")
    before = database_rows()
    status, out = sync(esma_server, "CASP")
    assert (status, database_rows()) == (0, before)
    assert "unchanged: the same bytes (SHA-256) as the last file imported" in out


def cut_mid_row(data):
    return Route(data[: len(data) // 2])


def half_the_rows(data):
    lines = data.split(b"\r\n")
    return Route(b"\r\n".join(lines[: len(lines) // 2]) + b"\r\n")


def connection_closed_early(data):
    return Route(data[: len(data) // 2], announced=len(data))


@pytest.mark.parametrize(
    ("truncate", "reason"),
    [
        (cut_mid_row, "does not end with a line break: it is cut short"),
        (half_the_rows, "rows where the last file imported had 146: fewer than 80% (ESMA_MIN_ROW_FRACTION)"),
        (connection_closed_early, f"the server sent {len(JANUARY) // 2} of the {len(JANUARY)} bytes it announced"),
    ],
)
def test_a_truncated_file_is_quarantined_and_the_register_left_as_it_was(countries, esma_server, truncate, reason):
    esma_server.routes["/CASPS.csv"] = Route(JANUARY, etag='"v1"')
    sync(esma_server, "CASP")
    before, good = database_rows(), state()
    esma_server.routes["/CASPS.csv"] = route = truncate(JANUARY)
    route.etag = '"v2"'
    status, out = sync(esma_server, "CASP")
    assert status == 1 and "CASP" in out.splitlines()[-1]
    assert f"CASP ({esma_server.url}/CASPS.csv): refused: " in out and reason in out
    assert database_rows() == before
    kept = QuarantinedFile.objects.get()
    assert (kept.register, bytes(kept.content), kept.size) == ("CASP", route.body, len(route.body))
    assert reason in kept.reason
    # The next run asks again with the last good file's validators: the refused one is not taken as current.
    after = state()
    assert (after.etag, after.sha256, after.row_count, after.last_success) == (
        good.etag,
        good.sha256,
        good.row_count,
        good.last_success,
    )
    assert reason in after.last_error


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (NCASP, "is ESMA's file of non-compliant entities (NCASP), not of authorised crypto-asset service providers"),
        (JANUARY.replace(b"ac_authorisationEndDate", b"ac_endDate", 1), "has no column ac_authorisationEndDate"),
    ],
)
def test_a_file_with_the_wrong_header_is_quarantined(countries, esma_server, body, reason):
    esma_server.routes["/CASPS.csv"] = Route(body)
    status, out = sync(esma_server, "CASP")
    assert status == 1 and reason in out
    assert not License.objects.exists() and not WarningNotice.objects.exists() and not Source.objects.exists()
    assert reason in QuarantinedFile.objects.get(register="CASP").reason
    assert state().sha256 == "" and state().last_success is None


def test_a_server_error_is_recorded_and_nothing_written(countries, esma_server):
    esma_server.routes["/CASPS.csv"] = Route(b"Internal error", status=500)
    before = database_rows()
    status, out = sync(esma_server, "CASP")
    assert status == 1
    assert f"CASP ({esma_server.url}/CASPS.csv): failed: {esma_server.url}/CASPS.csv answered HTTP 500" in out
    assert database_rows() == before and not QuarantinedFile.objects.exists()
    assert "HTTP 500" in state().last_error and state().last_success is None


def test_a_timeout_is_recorded_and_nothing_written(countries, esma_server, settings):
    settings.ESMA_FETCH_TIMEOUT = 0.3
    esma_server.routes["/CASPS.csv"] = Route(JANUARY, delay=10)
    before = database_rows()
    started = time.monotonic()
    status, out = sync(esma_server, "CASP")
    assert time.monotonic() - started < 8  # gave up long before the server would have answered
    assert status == 1 and "timed out" in out
    assert database_rows() == before and not QuarantinedFile.objects.exists()
    assert "timed out" in state().last_error


def test_one_files_failure_does_not_stop_the_others(countries, esma_server):
    esma_server.routes["/CASPS.csv"] = Route(b"", status=503)
    esma_server.routes["/NCASP.csv"] = Route(NCASP)
    status, out = sync(esma_server, "CASP", "NCASP")
    assert status == 1 and out.splitlines()[-1].endswith("1 of 2 register files not synced: CASP.")
    assert WarningNotice.objects.count() == 100


def test_a_register_without_an_importer_is_not_fetched(countries, esma_server, monkeypatch):
    monkeypatch.delitem(esma.IMPORTERS, "other", raising=False)
    esma_server.routes["/OTHER.csv"] = Route((ESMA_DATA / "OTHER20260129.csv").read_bytes())
    status, out = sync(esma_server, "OTHER")
    assert status == 1
    assert "OTHER" in out and "no importer: the project has no importer of white papers for other crypto-assets" in out
    assert esma_server.requests == []


def test_the_admin_shows_quarantined_files_read_only_with_their_bytes(countries, esma_server, client):
    esma_server.routes["/CASPS.csv"] = Route(NCASP)
    sync(esma_server, "CASP")
    kept = QuarantinedFile.objects.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:imports_quarantinedfile_change", args=[kept.pk])).content.decode()
    assert "is ESMA&#x27;s file of non-compliant entities" in page
    assert 'name="_save"' not in page  # read-only
    download = client.get(reverse("admin:imports_quarantinedfile_download", args=[kept.pk]))
    assert download.content == NCASP
    assert download["Content-Disposition"].startswith('attachment; filename="CASP-quarantined-')
    assert client.get(reverse("admin:imports_quarantinedfile_add")).status_code == 403
    listing = client.get(reverse("admin:imports_registerfetch_changelist")).content.decode()
    assert "never" in listing and "is ESMA&#x27;s file of non-compliant entities" in listing


def test_a_refused_file_an_operator_imports_by_hand_becomes_the_last_good_file(countries, esma_server, tmp_path):
    esma_server.routes["/CASPS.csv"] = Route(JANUARY, etag='"v1"')
    sync(esma_server, "CASP")
    # ESMA really did drop half its rows: refused, until an operator who checked it imports it by hand.
    esma_server.routes["/CASPS.csv"] = route = half_the_rows(JANUARY)
    route.etag = '"v2"'
    assert sync(esma_server, "CASP")[0] == 1
    checked = tmp_path / "CASP20260130.csv"
    checked.write_bytes(bytes(QuarantinedFile.objects.get().content))
    call_command("import_esma", str(checked), "--publish", stdout=io.StringIO())
    before = database_rows()
    status, out = sync(esma_server, "CASP")
    assert (status, database_rows()) == (0, before)
    assert "unchanged: the same bytes (SHA-256) as the last file imported" in out
    assert state().etag == '"v2"' and state().row_count == 73
