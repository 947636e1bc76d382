"""CSV and JSON exports: same rows as the list's filters, safe cells, stable shape, 400 on bad input."""

import csv
import datetime
import io

import pytest
from django.test import RequestFactory
from django.urls import reverse

from opendata import exports
from opendata.exports import neutralise
from opendata.serializers import AuditSerializer, EntitySerializer, LicenseSerializer, RegulatorSerializer
from registry.dates import DatePrecision
from registry.models import (
    Audit,
    Entity,
    EntityCitation,
    License,
    LicenseCitation,
    LicenseFact,
    Regulator,
)
from tests import factories
from tests.opendata.test_api import make_assured_audits
from tests.public.test_filters import okx, world  # noqa: F401 - shared fixtures
from tests.public.test_views_lists import make_records

pytestmark = pytest.mark.django_db

EXPORTS = ["license-export", "audit-export", "entity-export", "regulator-export"]


def export_url(name, fmt):
    return reverse(f"public:{name}", kwargs={"format": fmt})


def read_csv(response):
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def get_json(client, name, query=None, status=200):
    response = client.get(export_url(name, "json"), query or {})
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    return response.json()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("OKX", "OKX"),
        (None, ""),
    ],
)
def test_neutralise_formula_cells(value, expected):
    assert neutralise(value) == expected


class TestCsv:
    def test_headers_and_disposition(self, client, okx):  # noqa: F811
        response = client.get(export_url("license-export", "csv"))
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="licenses-')
        assert response.streaming

    def test_rows_match_the_filter_across_all_pages(self, client, okx):  # noqa: F811
        rows = read_csv(client.get(export_url("license-export", "csv"), {"usable_in": "MT", "regime": "mica"}))
        assert [row["slug"] for row in rows] == ["okx-mica-casp"]
        row = rows[0]
        assert row["holder"] == "OKX"
        assert row["granted"] == "2025-02"
        assert row["granted_display"] == "February 2025"
        assert row["passported_to"] == "EEA"
        assert row["url"] == "http://testserver" + reverse("public:license-detail", kwargs={"slug": "okx-mica-casp"})

    def test_all_rows_not_just_one_page(self, client):
        make_records(60)
        rows = read_csv(client.get(export_url("license-export", "csv"), {"page": "2"}))
        assert len(rows) == 60

    def test_formula_injection_is_neutralised(self, client):
        factories.EntityFactory(slug="evil", name="=cmd|'/c calc'!A1")
        rows = read_csv(client.get(export_url("entity-export", "csv"), {"q": "cmd"}))
        assert rows[0]["name"] == "'=cmd|'/c calc'!A1"

    @pytest.mark.parametrize("name", EXPORTS)
    def test_empty_export_still_has_the_header(self, client, name):
        response = client.get(export_url(name, "csv"))
        body = b"".join(response.streaming_content).decode("utf-8")
        assert body.startswith("\ufeffurl,slug,")
        assert body.count("\n") == 1

    def test_drafts_never_exported(self, client, okx):  # noqa: F811
        factories.DraftLicenseFactory(slug="draft-licence", holder=okx["group"])
        factories.DraftEntityFactory(slug="draft-entity")
        factories.DraftAuditFactory(slug="draft-audit", subject=okx["group"])
        factories.DraftRegulatorFactory(slug="draft-regulator")
        for name in EXPORTS:
            for fmt in ("csv", "json"):
                response = client.get(export_url(name, fmt))
                body = b"".join(response.streaming_content) if response.streaming else response.content
                assert b"draft-" not in body, (name, fmt)

    def test_cited_sources_are_exported_but_draft_sources_are_not(self, client, okx):  # noqa: F811
        draft_source = factories.DraftSourceFactory(slug="draft-source")
        licence = okx["group"].licenses.get(slug="okx-mica-casp")
        licence.citations.create(source=draft_source, quote="secret")
        rows = read_csv(client.get(export_url("license-export", "csv"), {"regime": "mica"}))
        assert "/sources/" in rows[0]["sources"]
        assert "draft-source" not in rows[0]["sources"]


class TestJson:
    def test_shape(self, client, okx):  # noqa: F811
        body = get_json(client, "license-export", {"holder": "okx-sg"})
        assert body["count"] == 1
        assert body["next"] is None
        record = body["results"][0]
        assert record["url"] == "http://testserver" + reverse("public:license-detail", kwargs={"slug": "okx-sg-mpi"})
        assert record["slug"] == "okx-sg-mpi"
        granted_in = (record["granted_in"], record["granted_in_name"], record["granted_in_stated"])
        assert granted_in == ("SG", "Singapore", True)
        assert record["status"] == "suspended"
        assert record["granted"] == "2024-09-02"
        assert record["granted_display"] == "2 September 2024"
        assert record["client_scope"] == ["professional"]
        assert record["regulator_slug"] == "mas"

    def test_next_links_page_through_every_row(self, client):
        make_records(5)
        body = get_json(client, "audit-export", {"page_size": "2", "q": "example"})
        seen = [record["slug"] for record in body["results"]]
        assert body["count"] == 5
        while body["next"]:
            assert "q=example" in body["next"]
            body = client.get(body["next"]).json()
            seen += [record["slug"] for record in body["results"]]
        assert len(seen) == len(set(seen)) == 5

    def test_size_is_capped(self, client):
        make_records(3)
        body = get_json(client, "regulator-export", {"page_size": "100000"})
        assert len(body["results"]) == body["count"] == 4

    def test_a_page_past_the_end_is_a_json_404(self, client):
        make_records(3)
        body = get_json(client, "entity-export", {"page": "9" * 30}, status=404)
        assert body == {
            "error": "not found",
            "detail": "Page 999999999999999999999999999999 does not exist: there is 1 page.",
        }


class TestBadInput:
    @pytest.mark.parametrize(
        ("name", "query", "parameter"),
        [
            ("license-export", {"granted_after": "2025-13-45"}, "granted_after"),
            ("license-export", {"status": "bogus"}, "status"),
            ("license-export", {"sort": "password"}, "sort"),
            ("license-export", {"q": "x" * 10_000}, "q"),
            ("license-export", {"usable_in": "M\x00T"}, "usable_in"),
            ("audit-export", {"valid_on": "2025-02-30"}, "valid_on"),
            ("audit-export", {"standard": "no-such-standard"}, "standard"),
            ("entity-export", {"kind": "bogus"}, "kind"),
            ("regulator-export", {"regime": "nope"}, "regime"),
        ],
    )
    @pytest.mark.parametrize("fmt", ["csv", "json"])
    def test_bad_filter_answers_400_naming_the_parameter(self, client, name, query, parameter, fmt):
        response = client.get(export_url(name, fmt), query)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        body = response.json()
        assert body["error"] == "invalid parameter"
        assert list(body["parameters"]) == [parameter]
        assert body["parameters"][parameter]

    @pytest.mark.parametrize(
        "query", [{"page_size": "abc"}, {"page_size": "0"}, {"page": "-1"}, {"page": "x\x00"}, {"page": ""}]
    )
    def test_bad_json_paging_answers_400(self, client, query):
        body = get_json(client, "license-export", query, status=400)
        assert list(body["parameters"]) == list(query)

    def test_the_csv_holds_every_row_whatever_the_paging_parameters(self, client, okx):  # noqa: F811
        rows = read_csv(client.get(export_url("license-export", "csv"), {"page": "abc", "page_size": "1"}))
        assert len(rows) == 3


def test_empty_csv_header_matches_the_row_keys(okx):  # noqa: F811
    request = RequestFactory().get("/")
    factories.AuditFactory(subject=okx["group"])
    for serializer in [LicenseSerializer, AuditSerializer, EntitySerializer, RegulatorSerializer]:
        table = serializer.table()
        assert list(table.row(request, serializer.Meta.model.objects.published().first())) == table.names


@pytest.mark.parametrize("count", [3, 300])
@pytest.mark.parametrize(
    ("name", "fmt", "limit"),
    # Each limit counts the data-version read behind the ETag (registry/derived/version.py). Both formats read the keys
    # in order, then the records by key (300 fit in one CSV batch) and each list column; JSON counts first.
    [
        ("license-export", "csv", 6),
        ("license-export", "json", 7),
        ("audit-export", "csv", 9),
        ("audit-export", "json", 10),
        ("entity-export", "csv", 5),
        ("entity-export", "json", 6),
        ("regulator-export", "csv", 4),
        ("regulator-export", "json", 5),
    ],
)
def test_export_query_count_does_not_grow_with_rows(client, django_assert_max_num_queries, name, fmt, limit, count):
    assert count <= exports.CSV_BATCH_SIZE
    make_records(count)
    with django_assert_max_num_queries(limit):
        # A word prefix every record make_records creates has (search matches the starts of words).
        response = client.get(export_url(name, fmt), {"q": "auth" if name == "regulator-export" else "example"})
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200
    assert body.count(b"/") > count


# Queries per CSV batch: its records, then one per list column (passports, activities, sources; status changes,
# accreditations, scope items, findings, the latest reserve figures, sources; aliases, sources; regimes).
PER_BATCH = {"license-export": 4, "audit-export": 7, "entity-export": 3, "regulator-export": 2}
PUBLISHED = {
    "license-export": License.objects.published,
    "audit-export": Audit.objects.published,
    "entity-export": Entity.objects.published,
    "regulator-export": Regulator.objects.published,
}


class TestCsvBatches:
    """A CSV is read a batch of records at a time: the same rows in the same order, a fixed cost per batch."""

    @pytest.mark.parametrize("name", EXPORTS)
    def test_queries_grow_by_a_fixed_number_per_batch(self, client, monkeypatch, django_assert_num_queries, name):
        make_records(10)
        monkeypatch.setattr(exports, "CSV_BATCH_SIZE", 4)
        count = PUBLISHED[name]().count()
        batches = -(-count // 4)
        assert batches >= 3
        # The data version and the keys in order, then each batch.
        with django_assert_num_queries(2 + PER_BATCH[name] * batches):
            rows = read_csv(client.get(export_url(name, "csv")))
        assert len(rows) == count

    @pytest.mark.parametrize(
        ("name", "query"),
        [
            ("license-export", {}),
            ("license-export", {"sort": "-granted_on"}),
            ("license-export", {"sort": "holder", "q": "example"}),
            ("audit-export", {"sort": "-issued_on"}),
            ("entity-export", {}),
            ("regulator-export", {"sort": "-jurisdiction"}),
        ],
    )
    def test_every_row_once_in_the_filtersets_order(self, client, monkeypatch, name, query):
        make_records(12)
        for index, licence in enumerate(License.objects.order_by("pk")):
            # Dates in another order than the names, and ties, so a sort really reorders the rows.
            licence.granted_on = datetime.date(2020 + index % 4, 1, 1)
            licence.granted_on_precision = DatePrecision.YEAR
            licence.save()
        for index, audit in enumerate(Audit.objects.order_by("-pk")):
            audit.issued_on = datetime.date(2021, 1 + index % 3, 1)
            audit.save()
        whole = read_csv(client.get(export_url(name, "csv"), query))
        monkeypatch.setattr(exports, "CSV_BATCH_SIZE", 5)
        batched = read_csv(client.get(export_url(name, "csv"), query))
        assert batched == whole
        assert len({row["slug"] for row in batched}) == len(batched) >= 12
        # The order is the JSON export's, which pages through the filterset's own ordering.
        listed = get_json(client, name, {**query, "page_size": "1000"})["results"]
        assert [row["slug"] for row in batched] == [record["slug"] for record in listed]

    def test_default_order_is_the_models(self, client, monkeypatch):
        make_records(9)
        monkeypatch.setattr(exports, "CSV_BATCH_SIZE", 2)
        rows = read_csv(client.get(export_url("license-export", "csv")))
        assert [row["slug"] for row in rows] == list(License.objects.published().values_list("slug", flat=True))


def test_rows_read_in_batches_equal_rows_built_from_instances(okx, world):  # noqa: F811
    """The batched reading (CSV, JSON) and an instance (as-of exports, dataset releases) give the same rows."""
    first, second = factories.SourceFactory(title="A"), factories.SourceFactory(title="B")
    draft = factories.DraftSourceFactory(title="0 draft")
    licence = License.objects.get(slug="okx-mica-casp")
    (original,) = [citation.source for citation in licence.citations.all()]
    licence.passported_to.set([world["AE"], world["SG"], world["EEA"]])
    licence.activities.add(factories.ActivityFactory(name="Advice"), factories.ActivityFactory(name="Zebra"))
    # The same source for two facts is listed once; a draft source never.
    for source, supports in [(second, LicenseFact.STATUS), (first, LicenseFact.GRANTED), (second, ""), (draft, "")]:
        LicenseCitation.objects.create(license=licence, source=source, supports=supports)
    factories.LicenseFactory(holder=okx["sg"], jurisdiction=None, granted_on=None, granted_on_precision="")
    draft_group = factories.DraftEntityFactory(kind="group")
    hidden = factories.AffiliateFactory(slug="hidden-group-member", parent=draft_group, lei="", website="")
    factories.EntityAliasFactory(entity=hidden, name="Zed")
    factories.EntityAliasFactory(entity=hidden, name="Alpha")
    EntityCitation.objects.create(entity=hidden, source=first)
    factories.OngoingAuditFactory(subject=okx["sg"], citations=[second, first])
    factories.AuditFactory(subject=okx["group"], auditor=factories.AuditorFactory(), reference="=1+1")
    factories.AuditFactory(
        subject=hidden, standard=None, valid_until=datetime.date(2027, 3, 1), valid_until_precision=DatePrecision.MONTH
    )
    okx["mas"].regimes.add(factories.DraftRegimeFactory(), factories.RegimeFactory(short_name="Another"))
    factories.RegulatorFactory(jurisdiction=world["MT"], abbreviation="")

    request = RequestFactory().get("/")
    # Instances prefetched as the API prefetches them (each serializer's ``optimise``).
    for serializer, ordering in [
        (LicenseSerializer, ()),
        (AuditSerializer, ()),
        (EntitySerializer, ("name", "slug")),
        (RegulatorSerializer, ("name", "slug")),
    ]:
        table = serializer.table()
        queryset = serializer.optimise(serializer.Meta.model.objects.published())
        queryset = queryset.order_by(*ordering) if ordering else queryset
        built = table.rows(request, queryset)
        assert len(built) >= 3
        batches = list(table.read(request, queryset, 2))
        assert [len(batch) for batch in batches[:-1]] == [2] * (len(batches) - 1)
        assert [row for batch in batches for row in batch] == built
        assert table.page(request, queryset, 1, 2) == built[1:3]
    (licences,) = LicenseSerializer.table().read(request, License.objects.published(), 10)
    mica = next(row for row in licences if row["slug"] == "okx-mica-casp")
    assert mica["passported_to"] == ["EEA", "SG", "AE"]  # by name, as the prefetch orders them
    assert mica["activities"] == ["Advice", "Custody", "Zebra"]
    # By the fact supported ("" first), then title; each source once.
    assert [url.rstrip("/").rsplit("/", 1)[1] for url in mica["sources"]] == [second.slug, original.slug, first.slug]
    (entities,) = EntitySerializer.table().read(request, Entity.objects.published(), 10)
    member = next(row for row in entities if row["slug"] == "hidden-group-member")
    assert (member["group"], member["group_slug"], member["aliases"]) == ("", "", ["Alpha", "Zed"])


# ---------------------------------------------------------------------------
# One serializer, one paging scheme: the JSON export against the API
# ---------------------------------------------------------------------------


def title(related):
    """The field of a related record that the export's column named after it holds.

    A jurisdiction ``{code, name}`` is its code; a regime its short name; another record its name; a row that
    cites its own source (an audit's status change, finding, accreditation) its summary; a report its page.
    """
    if set(related) == {"code", "name"}:
        return "code"
    return next(name for name in ("short_name", "name", "summary", "url") if name in related)


def flatten(record):
    """An API record as the export's columns, by the rule docs/exports.md states.

    A related record ``{slug, name, url}`` is ``holder``, ``holder_slug``, ``holder_url``; a partial date is
    ``granted`` and ``granted_display``; a list of related records is their codes or names; the citations are
    ``sources``, the pages of the sources cited, each once.
    """
    flat = {}
    for key, value in record.items():
        if key == "citations":
            flat["sources"] = list(dict.fromkeys(citation["source"]["url"] for citation in value))
        elif isinstance(value, dict) and "precision" in value:
            flat[key], flat[f"{key}_display"] = value["value"], value["display"]
        elif isinstance(value, dict):
            flat[key] = value[title(value)]
            flat.update({f"{key}_{name}": item for name, item in value.items() if name != title(value)})
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            flat[key] = [item[title(item)] for item in value]
        else:
            flat[key] = value
    return flat


def assert_rows_flatten_records(rows, records):
    """Each export row holds exactly what the API record of the same slug says, column by column."""
    by_slug = {record["slug"]: flatten(record) for record in records}
    assert [row["slug"] for row in rows] == list(by_slug)
    for row in rows:
        flat = by_slug[row["slug"]]
        for column, value in row.items():
            # A null related record or partial date is an empty cell in each of its columns (a plain date null).
            expected = flat.get(column)
            assert value in ("", None) if expected is None else value == expected, (row["slug"], column)
            assert column in flat or value == "", (row["slug"], column)


@pytest.mark.parametrize(
    ("export", "api", "query"),
    [
        ("license-export", "/api/licenses/", {"sort": "holder"}),
        ("license-export", "/api/licenses/", {"as_of": "2099-01-01"}),
        ("audit-export", "/api/audits/", {}),
        ("entity-export", "/api/entities/", {}),
        ("regulator-export", "/api/regulators/", {}),
    ],
)
def test_the_json_export_pages_as_the_api_and_its_rows_say_what_the_api_says(client, okx, export, api, query):  # noqa: F811
    make_records(6)
    factories.AuditFactory(subject=okx["sg"], valid_until=None, standard=None, citations=[factories.SourceFactory()])
    for page in ("1", "2"):
        params = {**query, "page": page, "page_size": "3"}
        exported = get_json(client, export, params)
        listed = client.get(api, params).json()
        assert (exported["count"], len(exported["results"])) == (listed["count"], len(listed["results"]))
        assert exported["count"] > 6
        # The same pages, linked the same way: only the path differs.
        for link in ("next", "previous"):
            assert (exported[link] or "").replace(export_url(export, "json"), api) == (listed[link] or ""), link
        assert_rows_flatten_records(exported["results"], listed["results"])


@pytest.mark.parametrize(("parameter", "replacement"), [("_size", "page_size"), ("_next", "page")])
def test_the_former_json_paging_parameters_are_refused_naming_their_replacement(client, parameter, replacement):
    body = get_json(client, "license-export", {parameter: "100"}, status=400)
    assert list(body["parameters"]) == [parameter]
    assert f"Replaced by {replacement}" in body["parameters"][parameter][0]
    # The CSV holds every row whatever the paging: it ignores them.
    assert client.get(export_url("license-export", "csv"), {parameter: "100"}).status_code == 200


def test_status_changes_vouchers_findings_and_reserve_figures_export_as_the_api_gives_them(client):
    """Issue 17: one serializer, so the CSV and JSON exports say what the API says, for today and as of today."""
    make_assured_audits(2)
    for query in ({}, {"as_of": datetime.datetime.now(datetime.UTC).date().isoformat()}):
        listed = client.get("/api/audits/", {**query, "page_size": 100}).json()["results"]
        exported = get_json(client, "audit-export", {**query, "page_size": 100})["results"]
        assert_rows_flatten_records(exported, listed)
        rows = {row["slug"]: row for row in read_csv(client.get(export_url("audit-export", "csv"), query))}
        certificate, reserves = rows["certificate-0"], rows["reserves-0"]
        assert (certificate["status"], certificate["status_changes"]) == ("suspended", "suspended 2025-06-01")
        assert (certificate["vouched_by"], certificate["findings"]) == ("UKAS (ISO/IEC 27001)", "high: 3 (2 fixed)")
        assert certificate["scope_items"] == "wallet modules" and certificate["reserve_ratio"] == ""
        assert (reserves["reserves_as_of"], reserves["reserve_ratio"], reserves["reserve_ratio_under_100"]) == (
            "2025-02-01",
            "98.0",
            "true",
        )
