"""Attack the inputs: arbitrary query strings and paths against every public list, export and API list.

Hypothesis builds raw query strings (repeated keys, 10,000-character values, NUL
bytes, lone surrogates and other invalid UTF-8 as percent-escapes, control
characters, unicode, huge numbers, impossible dates) for every parameter the
FilterSets in ``public/filters.py`` declare, plus the paging and snapshot
parameters. They reach the views undecoded through ``QUERY_STRING``. The
contract, from issue 8:

* never a 5xx and never a traceback in a body;
* an HTML list answers 200 (a bad parameter is reported beside its field) or 400;
* a CSV/JSON export or the API answers 200, or 400 with
  ``{"error": ..., "parameters": {name: [...]}}`` naming a parameter it was sent.

Runs are repeatable by default (profile ``registry-fuzz-ci``: derandomized);
``REGISTRY_FUZZ_PROFILE=registry-fuzz-explore`` draws fresh examples, and
``REGISTRY_FUZZ_EXAMPLES`` sets the number of examples per target.
"""

from __future__ import annotations

import csv
import io
import json
import os
from urllib.parse import quote, quote_from_bytes

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opendata import api
from opendata.paging import ExportPagination
from public import filters
from tests import factories
from tests.public.test_filters import okx, world  # noqa: F401 - shared fixtures

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("REGISTRY_FUZZ_EXAMPLES", "50"))
settings.register_profile(
    "registry-fuzz-ci",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # The register is built once per test and only read by the examples, so sharing it is safe.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "registry-fuzz-explore", settings.get_profile("registry-fuzz-ci"), derandomize=False, database=None
)
FUZZ = settings(settings.get_profile(os.environ.get("REGISTRY_FUZZ_PROFILE", "registry-fuzz-ci")))

# Parameters every list, export or API list understands besides its FilterSet's own.
COMMON_PARAMS = ["q", "sort", "page", "_size", "_next", "as_of", "format", "page_size"]


def params_of(filterset_class):
    """Every query parameter a FilterSet declares, in a stable order, plus the common ones."""
    return sorted(set(filterset_class.base_filters) | set(COMMON_PARAMS))


LISTS = [
    ("public:entity-list", filters.EntityFilterSet),
    ("public:regulator-list", filters.RegulatorFilterSet),
    ("public:license-list", filters.LicenseFilterSet),
    ("public:audit-list", filters.AuditFilterSet),
    ("public:change-list", filters.ChangeFilterSet),
]
EXPORTS = [(name.removesuffix("-list") + "-export", filterset) for name, filterset in LISTS]
API_LISTS = [(f"public:{basename}-list", viewset.filterset_class) for _, viewset, basename in api.Router.viewsets]

# Real values, so fuzzed parameters also meet valid ones (a valid filter beside a broken one).
VALID_VALUES = [
    "okx",
    "okx-sg",
    "mica",
    "mas",
    "MT",
    "ae-du",
    "EEA",
    "casp",
    "custody",
    "iso-27001",
    "slowmist",
    "active",
    "retail",
    "certification",
    "group",
    "yes",
    "true",
    "license",
    "holder",
    "-granted_on",
    "2025",
    "2025-03",
    "2024-01-16",
    "1",
    "2",
    "0",
]

# Raw percent-escapes that are not valid UTF-8: a lone surrogate, overlong forms, stray bytes, a NUL.
BAD_ESCAPES = ["%ED%A0%80", "%ED%BF%BF", "%C0%AF", "%C0%80", "%FF", "%FE%FF", "%80", "%F4%90%80%80", "%00", "%E2%82"]
# Escapes that are not escapes at all, and separators in odd places.
BROKEN_SYNTAX = ["%", "%zz", "%4", "&", "=", "==", ";", "+", "%%", "%2", "?", "#"]


def _huge(pieces):
    return st.sampled_from(pieces).map(lambda piece: piece * (10_000 // len(piece)))


def _encode(text):
    # surrogatepass: hypothesis text may hold lone surrogates; they arrive as invalid UTF-8 bytes.
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")


encoded_values = st.one_of(
    st.sampled_from(VALID_VALUES).map(_encode),
    st.text(max_size=40).map(_encode),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40).map(_encode),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Cs"]), max_size=20).map(_encode),
    st.binary(max_size=30).map(lambda raw: quote_from_bytes(raw, safe="")),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["-1", "0", "00", "1e9", "9" * 40, "NaN", "inf", "-0", "0x10", " 1", "1 ", "½", "١٢"]).map(_encode),
    # Unescaped bytes as a raw client sends them: a WSGI server hands them over decoded as latin-1.
    st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass").decode("latin-1")),
    st.builds(
        "{}-{}-{}".format,
        st.integers(-99999, 99999),
        st.integers(-99, 999),
        st.integers(-99, 999),
    ),
    st.sampled_from(["2025-13-45", "2025-02-30", "0000-01-01", "9999-12-31", "10000-01-01", "2025-W01", "2025/03"]),
    st.sampled_from(BAD_ESCAPES),
    st.lists(st.sampled_from(BAD_ESCAPES + BROKEN_SYNTAX + ["a", "é", "%2F"]), max_size=8).map("".join),
    _huge(["a", "é", "%00", "%ED%A0%80", "ab%0A", "okx ", "-", "9"]),
    st.just(""),
)


def query_strings(names):
    """Raw query strings over ``names``: repeated keys, odd keys, and every kind of value above."""
    key = st.one_of(
        st.sampled_from(names),
        st.sampled_from(names),
        st.text(max_size=12).map(_encode),
        st.sampled_from(BAD_ESCAPES + BROKEN_SYNTAX),
        st.sampled_from(names).map(lambda name: name + "[]"),
    )
    pair = st.one_of(
        st.builds(lambda k, v: f"{k}={v}", key, encoded_values),
        key,  # a key without "=" at all
    )
    separator = st.sampled_from(["&", "&", "&", ";", "&&"])
    return st.builds(
        lambda pairs, seps: "".join(p + s for p, s in zip(pairs, seps, strict=False)),
        st.lists(pair, min_size=1, max_size=6),
        st.lists(separator, min_size=6, max_size=6),
    )


def body_of(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_no_crash(response, body):
    assert response.status_code < 500, body[:2000]
    assert b"Traceback" not in body
    assert b'File "/' not in body


def fuzz(client, path, params, expect):
    """Ask ``path`` with any query string of ``params`` (hypothesis): no answer crashes, and each passes
    ``expect(response, body, query)``."""

    @FUZZ
    @given(query=query_strings(params))
    def check(query):
        response = client.get(path, QUERY_STRING=query)
        # Streaming CSV runs the query while the body is read: read all of it.
        body = body_of(response)
        assert_no_crash(response, body)
        expect(response, body, query)

    check()


def assert_json_error(response, body, query):
    """A 400 that a script can act on: JSON naming at least one parameter it was sent."""
    assert response["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["error"]
    assert isinstance(payload["parameters"], dict)
    assert payload["parameters"]
    for name, messages in payload["parameters"].items():
        assert messages and all(isinstance(message, str) and message for message in messages)
        # Names come back decoded; the query string holds them percent-encoded (or raw).
        assert name in query or _encode(name) in query or quote(name) in query, (name, query)


@pytest.fixture
def register(okx):  # noqa: F811
    """The OKX-like register plus audits, a standard, an alias and a draft: every filter has something to find."""
    iso = factories.StandardFactory(slug="iso-27001", name="ISO 27001")
    slowmist = factories.AuditorFactory(slug="slowmist", name="SlowMist")
    factories.AuditFactory(slug="okx-iso", subject=okx["group"], standard=iso, auditor=slowmist)
    factories.OngoingAuditFactory(slug="okx-ongoing", subject=okx["sg"], auditor=slowmist)
    factories.EntityAliasFactory(entity=okx["group"], name="OKEx")
    factories.DraftEntityFactory(slug="draft-entity")
    return okx


# ---------------------------------------------------------------------------
# Lists (HTML)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "filterset_class"), LISTS, ids=[name for name, _ in LISTS])
def test_list_pages_survive_any_query_string(client, register, name, filterset_class):
    def expect(response, body, query):
        assert response.status_code in (200, 400), response.status_code
        if response.status_code == 200:
            assert response["Content-Type"].startswith("text/html")
            form = response.context["filter"].form
            if form.is_bound and form.errors:
                # The page says what it ignored rather than silently showing everything.
                assert b"Some parameters were not understood" in body

    fuzz(client, reverse(name), params_of(filterset_class), expect)


@FUZZ
@given(query=query_strings(["q", "page", "sort"]))
def test_search_page_survives_any_query_string(client, register, query):
    response = client.get(reverse("public:search"), QUERY_STRING=query)
    body = body_of(response)
    assert_no_crash(response, body)
    assert response.status_code in (200, 400)


# ---------------------------------------------------------------------------
# Exports (CSV and JSON)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize(("name", "filterset_class"), EXPORTS, ids=[name for name, _ in EXPORTS])
def test_exports_survive_any_query_string(client, register, name, filterset_class, fmt):
    def expect(response, body, query):
        # 404 is the documented answer for a JSON page past the end (the API's paging).
        assert response.status_code in ((200, 400, 404) if fmt == "json" else (200, 400)), response.status_code
        if response.status_code == 400:
            assert_json_error(response, body, query)
        elif response.status_code == 404:
            assert json.loads(body)["error"] == "not found"
        elif fmt == "csv":
            assert response["Content-Type"] == "text/csv; charset=utf-8"
            rows = list(csv.reader(io.StringIO(body.decode("utf-8").removeprefix("\ufeff"))))
            assert rows and rows[0][0] == ("date" if "change" in name else "url")
        else:
            assert response["Content-Type"] == "application/json"
            payload = json.loads(body)
            assert set(payload) == {"count", "next", "previous", "results"}
            assert len(payload["results"]) <= ExportPagination.max_page_size

    fuzz(client, reverse(name, kwargs={"format": fmt}), params_of(filterset_class), expect)


# ---------------------------------------------------------------------------
# The JSON API's lists (schemathesis covers the schema; this covers what the schema does not allow)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "filterset_class"), API_LISTS, ids=[name for name, _ in API_LISTS])
def test_api_lists_survive_any_query_string(client, register, name, filterset_class):
    def expect(response, body, query):
        # 404 is the documented answer for a page past the end.
        assert response.status_code in (200, 400, 404), response.status_code
        assert response["Content-Type"].startswith("application/json")
        payload = json.loads(body)
        if response.status_code == 400:
            assert_json_error(response, body, query)
        elif response.status_code == 404:
            assert payload["error"] == "not found"
        else:
            assert len(payload["results"]) <= api.MAX_PAGE_SIZE

    fuzz(client, reverse(name), params_of(filterset_class) if filterset_class else COMMON_PARAMS, expect)


# ---------------------------------------------------------------------------
# Detail pages and other paths with a key in them
# ---------------------------------------------------------------------------

DETAIL_PREFIXES = [
    "/entities/",
    "/regulators/",
    "/regimes/",
    "/licenses/",
    "/audits/",
    "/sources/",
    "/api/entities/",
    "/api/regulators/",
    "/api/regimes/",
    "/api/licenses/",
    "/api/audits/",
    "/api/sources/",
    "/api/jurisdictions/",
    "/data/",
    "/jurisdictions/",
]

path_segments = st.one_of(
    st.text(max_size=40).map(lambda text: quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")),
    st.binary(max_size=30).map(lambda raw: quote_from_bytes(raw, safe="")),
    st.sampled_from(BAD_ESCAPES + ["..", "%2E%2E", "..%2F..%2Fetc%2Fpasswd", "okx", "OKX", "mt", "okx-mica-casp"]),
    _huge(["a", "-", "%00"]),
)


@FUZZ
@given(
    prefix=st.sampled_from(DETAIL_PREFIXES),
    segments=st.lists(path_segments, min_size=1, max_size=3),
    suffix=st.sampled_from(["/", "", "/changes.atom", "/x.csv"]),
)
def test_detail_paths_answer_404_not_500(client, register, prefix, segments, suffix):
    response = client.get(prefix + "/".join(segments) + suffix)
    body = body_of(response)
    assert_no_crash(response, body)
    assert response.status_code in (200, 301, 302, 400, 404), response.status_code


# ---------------------------------------------------------------------------
# Regressions and the specific promises of issue 8
# ---------------------------------------------------------------------------


EXPORT_NAMES = [name for name, _ in EXPORTS]


@pytest.mark.parametrize(
    "query",
    [
        "granted_after=%ED%A0%80",
        "q=%ED%A0%80&q=%FF",
        "q=%00",
        "jurisdiction=%00MT",
        "sort=%C0%AF",
        "as_of=2025-13-45",
        "as_of=%00",
        "_size=" + "9" * 40,
        "_next=" + "9" * 40,
        "page_size=" + "9" * 40,
        "page=" + "9" * 40,
        "since=99999-1-1",
    ],
)
def test_known_nasty_values_on_exports(client, register, query):
    for name in EXPORT_NAMES:
        response = client.get(reverse(name, kwargs={"format": "json"}), QUERY_STRING=query)
        body = body_of(response)
        assert_no_crash(response, body)
        if response.status_code == 400:
            assert_json_error(response, body, query)
        elif response.status_code == 404:  # a page past the end
            assert query.startswith("page=") and json.loads(body)["error"] == "not found"
        else:
            assert response.status_code == 200, (name, response.status_code)


@pytest.mark.parametrize("name", ["public:entity-list", "public:license-list", "public:audit-list"])
def test_html_list_reports_an_impossible_date_or_unknown_code(client, register, name):
    field = {"public:entity-list": "jurisdiction", "public:license-list": "granted_after"}.get(name, "issued_after")
    value = "ZZ-NOPE" if field == "jurisdiction" else "2025-13-45"
    response = client.get(reverse(name), {field: value})
    assert response.status_code == 200
    assert b"Some parameters were not understood" in response.content
    assert b"field-invalid" in response.content


class TestLongQuery:
    """A ``q`` over 200 characters is refused politely: a message on the page, a 400 from exports and the API."""

    long_q = "okx" * 67 + "xx"  # 203 characters

    @pytest.mark.parametrize("name", [name for name, filterset in LISTS if "q" in filterset.base_filters])
    def test_html_list_explains(self, client, register, name):
        response = client.get(reverse(name), {"q": self.long_q})
        assert response.status_code == 200
        assert "q" in response.context["filter"].form.errors
        assert b"at most 200 characters" in response.content

    @pytest.mark.parametrize("fmt", ["csv", "json"])
    @pytest.mark.parametrize("name", [name for name, filterset in EXPORTS if "q" in filterset.base_filters])
    def test_exports_refuse(self, client, register, name, fmt):
        response = client.get(reverse(name, kwargs={"format": fmt}), {"q": self.long_q})
        assert response.status_code == 400
        assert list(response.json()["parameters"]) == ["q"]

    @pytest.mark.parametrize(
        "name", [name for name, filterset in API_LISTS if filterset and "q" in filterset.base_filters]
    )
    def test_api_refuses(self, client, register, name):
        response = client.get(reverse(name), {"q": self.long_q})
        assert response.status_code == 400
        assert list(response.json()["parameters"]) == ["q"]

    def test_exactly_200_characters_is_accepted(self, client, register):
        response = client.get(reverse("public:license-export", kwargs={"format": "json"}), {"q": "o" * 200})
        assert response.status_code == 200


class TestPageSizeCaps:
    def test_json_export_size_is_capped(self, client, register, monkeypatch):
        # A cap of 2 over 3 licences shows the cap applies without building a thousand records.
        monkeypatch.setattr(ExportPagination, "max_page_size", 2)
        response = client.get(reverse("public:license-export", kwargs={"format": "json"}), {"page_size": "1000000"})
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 3
        assert len(body["results"]) == 2
        assert "page=2" in body["next"]

    def test_api_page_size_is_capped(self, client, register):
        factories.EntityFactory.create_batch(api.MAX_PAGE_SIZE + 5)
        response = client.get(reverse("public:api-entity-list"), {"page_size": "100000"})
        assert response.status_code == 200
        assert len(response.json()["results"]) == api.MAX_PAGE_SIZE

    def test_html_list_page_size_is_fixed(self, client, register):
        factories.EntityFactory.create_batch(60)
        response = client.get(reverse("public:entity-list"), {"page_size": "100000", "_size": "100000"})
        assert response.status_code == 200
        assert len(response.context["object_list"]) == 50


# ---------------------------------------------------------------------------
# CSV and JSON are safe to open
# ---------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1:A9)", "\t=1+1", "\r=1+1"]


def csv_rows(response):
    assert response.status_code == 200
    body = body_of(response).decode("utf-8").removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(body, newline="")))


@pytest.fixture
def formula_register(register):
    """Records whose names, scopes and references start like spreadsheet formulas."""
    mt = register["group"].licenses.get(slug="okx-mica-casp").jurisdiction
    made = []
    for index, formula in enumerate(FORMULAS):
        entity = factories.EntityFactory(slug=f"formula-{index}", name=formula, website=formula, jurisdiction=mt)
        regulator = factories.RegulatorFactory(
            # abbreviation is varchar(30), which PostgreSQL enforces.
            slug=f"formula-reg-{index}",
            name=formula,
            abbreviation=formula[:30],
            jurisdiction=mt,
        )
        licence = factories.LicenseFactory(
            slug=f"formula-lic-{index}",
            holder=entity,
            regulator=regulator,
            reference_number=formula,
            conditions=formula,
        )
        factories.AuditFactory(slug=f"formula-audit-{index}", subject=entity, scope=formula, reference=formula)
        made.append((formula, entity, regulator, licence))
    return made


def _is_dangerous(cell):
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize("name", EXPORT_NAMES)
def test_no_csv_export_cell_starts_like_a_formula(client, formula_register, name):
    rows = csv_rows(client.get(reverse(name, kwargs={"format": "csv"})))
    assert rows
    dangerous = [(column, cell) for row in rows for column, cell in row.items() if cell and _is_dangerous(cell)]
    assert dangerous == []


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("public:entity-export", "name"),
        ("public:regulator-export", "name"),
        ("public:license-export", "reference_number"),
        ("public:audit-export", "scope"),
    ],
)
def test_csv_formula_is_kept_as_text(client, formula_register, name, column):
    rows = csv_rows(client.get(reverse(name, kwargs={"format": "csv"})))
    cells = {row[column] for row in rows}
    # Each value is all there, behind a quote that makes a spreadsheet show it as text.
    assert {"'" + formula for formula in FORMULAS} <= cells


def test_change_csv_neutralises_formulas(client, formula_register):
    rows = csv_rows(client.get(reverse("public:change-export", kwargs={"format": "csv"})))
    records = [row["record"] for row in rows]
    assert any(record.startswith("'") for record in records), records[:10]
    assert not any(_is_dangerous(row[column]) for row in rows for column in row if row[column])


JSON_URLS = [reverse(name, kwargs={"format": "json"}) for name in EXPORT_NAMES] + [
    reverse(name) for name, _ in API_LISTS
]


@pytest.mark.parametrize("url", JSON_URLS)
@pytest.mark.parametrize("query", ["", "status=bogus&kind=bogus&sort=bogus&since=bogus&page=0"])
def test_json_is_never_a_script(client, register, url, query):
    response = client.get(url, QUERY_STRING=query)
    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    # A JSON object literal: a <script src> of it is a syntax error, not a call.
    assert body_of(response).lstrip()[:1] == b"{"


def test_csv_is_an_attachment_with_nosniff(client, register):
    for name in EXPORT_NAMES:
        response = client.get(reverse(name, kwargs={"format": "csv"}))
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
