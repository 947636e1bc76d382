"""The read-only JSON API: published records only, the lists' filters, JSON errors, fixed query counts."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.dates import DatePrecision
from registry.models import License
from tests import factories

pytestmark = pytest.mark.django_db


def get(client, path, params=None, status=200):
    response = client.get(path, params or {})
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


@pytest.fixture
def world():
    """A published licence with passport, activity and citation; an audit; drafts that must stay hidden."""
    area = factories.AreaFactory(code="EEA", name="European Economic Area")
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    area.members.add(malta)
    group = factories.GroupFactory(slug="okx", name="OKX")
    holder = factories.AffiliateFactory(slug="okx-europe", name="OKX Europe", parent=group, jurisdiction=malta)
    regime = factories.RegimeFactory(slug="mica", short_name="MiCA")
    regulator = factories.RegulatorFactory(slug="mfsa", name="Malta Financial Services Authority", jurisdiction=malta)
    source = factories.SourceFactory(slug="article", title="OKX article", url="https://news.example/okx")
    licence = factories.LicenseFactory(
        slug="okx-mica",
        holder=holder,
        license_type=factories.LicenseTypeFactory(regime=regime, slug="casp", name="CASP authorisation"),
        regulator=regulator,
        jurisdiction=malta,
        citations=False,
    )
    licence.passported_to.add(area)
    licence.activities.add(factories.ActivityFactory(slug="custody", name="Custody", code="a"))
    licence.citations.create(source=source, quote="obtained its MiCA licence", supports="granted_on")
    licence.citations.create(source=factories.DraftSourceFactory(slug="secret-source"), quote="secret quote")
    audit = factories.AuditFactory(slug="okx-iso", subject=group, citations=[source])
    factories.DraftLicenseFactory(slug="draft-licence", holder=holder)
    factories.UncitedLicenseFactory(slug="uncited-licence", holder=holder)
    factories.DraftEntityFactory(slug="draft-entity", name="Hidden Ltd")
    return {"licence": licence, "audit": audit, "holder": holder, "group": group, "source": source}


class TestRecords:
    def test_licence_list_shows_published_facts_with_natural_key_dates_and_citations(self, client, world):
        body = get(client, "/api/licenses/")
        assert body["count"] == 1
        (row,) = body["results"]
        assert row["slug"] == "okx-mica"
        assert row["natural_key"] == ["okx-mica"]
        assert row["url"] == "http://testserver/licenses/okx-mica/"
        assert row["holder"] == {
            "slug": "okx-europe",
            "name": "OKX Europe",
            "url": "http://testserver/entities/okx-europe/",
        }
        assert row["granted"] == {"value": "2025-03", "precision": "month", "display": "March 2025"}
        assert row["ended"] is None
        assert row["regime"]["slug"] == "mica"
        assert [j["code"] for j in row["passported_to"]] == ["EEA"]
        assert row["activities"] == [{"slug": "custody", "name": "Custody", "code": "a"}]
        # Only the published source is cited; the draft source's quote never appears.
        assert len(row["citations"]) == 1
        citation = row["citations"][0]
        assert citation["quote"] == "obtained its MiCA licence"
        assert citation["supports"] == "granted_on"
        assert citation["source"]["address"] == "https://news.example/okx"
        assert citation["source"]["url"] == "http://testserver/sources/article/"

    def test_detail_by_slug_and_404_json_for_drafts_and_unknown(self, client, world):
        assert get(client, "/api/licenses/okx-mica/")["slug"] == "okx-mica"
        for path in ["/api/licenses/draft-licence/", "/api/licenses/uncited-licence/", "/api/licenses/nope/"]:
            body = get(client, path, status=404)
            assert body["error"] == "not found"
        assert get(client, "/api/entities/draft-entity/", status=404)["error"] == "not found"
        assert get(client, "/api/no-such-endpoint/", status=404)["error"] == "not found"

    def test_entity_hides_draft_group(self, client, world):
        world["group"].publication_status = "draft"
        world["group"].save()
        body = get(client, "/api/entities/okx-europe/")
        assert body["group"] is None
        assert "okx" not in [row["slug"] for row in get(client, "/api/entities/")["results"]]

    def test_entity_group_and_aliases(self, client, world):
        factories.EntityAliasFactory(entity=world["holder"], name="OKX EU")
        body = get(client, "/api/entities/okx-europe/")
        assert body["group"]["slug"] == "okx"
        assert body["aliases"] == ["OKX EU"]
        assert body["jurisdiction"] == {"code": "MT", "name": "Malta"}

    def test_audit_partial_dates(self, client, world):
        body = get(client, "/api/audits/okx-iso/")
        assert body["issued"]["display"] == "May 2025"
        assert body["valid_until"] is None
        assert body["subject"]["slug"] == "okx"

    def test_source_list_without_text_and_detail_with_it(self, client, world):
        listed = get(client, "/api/sources/")["results"]
        slugs = [row["slug"] for row in listed]
        assert "article" in slugs
        assert "secret-source" not in slugs
        assert all("archived_text" not in row for row in listed)
        detail = get(client, "/api/sources/article/")
        assert detail["archived_text"] == world["source"].archived_text
        assert len(detail["sha256"]) == 64
        get(client, "/api/sources/secret-source/", status=404)

    def test_regimes_regulators_and_jurisdictions(self, client, world):
        assert "mica" in [row["slug"] for row in get(client, "/api/regimes/")["results"]]
        regulator = get(client, "/api/regulators/mfsa/")
        assert regulator["jurisdiction"]["code"] == "MT"
        assert get(client, "/api/jurisdictions/mt/")["name"] == "Malta"
        get(client, "/api/jurisdictions/ZZ/", status=404)

    def test_root_lists_endpoints(self, client, world):
        body = get(client, "/api/")
        assert body["licenses"] == "http://testserver/api/licenses/"
        assert body["schema"] == "http://testserver/api/schema/"
        assert body["verify"] == "http://testserver/api/verify/"


class TestFiltersAndErrors:
    def test_same_filters_as_the_html_list(self, client, world):
        other = factories.LicenseFactory(slug="other")
        assert [row["slug"] for row in get(client, "/api/licenses/", {"regime": "mica"})["results"]] == ["okx-mica"]
        # A group matches its affiliates' licences, and a passport into the EEA makes it usable in Malta.
        assert [row["slug"] for row in get(client, "/api/licenses/", {"holder": "okx"})["results"]] == ["okx-mica"]
        assert [row["slug"] for row in get(client, "/api/licenses/", {"usable_in": "mt"})["results"]] == ["okx-mica"]
        # Holder "OKX Europe" sorts after "Example Exchange … Ltd".
        assert [row["slug"] for row in get(client, "/api/licenses/", {"sort": "holder"})["results"]] == [
            other.slug,
            "okx-mica",
        ]
        assert [row["slug"] for row in get(client, "/api/licenses/", {"sort": "-holder"})["results"]] == [
            "okx-mica",
            other.slug,
        ]

    @pytest.mark.parametrize(
        ("path", "query", "parameter"),
        [
            ("/api/licenses/", {"status": "bogus"}, "status"),
            ("/api/licenses/", {"regime": "draft-or-unknown"}, "regime"),
            ("/api/licenses/", {"granted_after": "2025-13"}, "granted_after"),
            ("/api/licenses/", {"as_of": "yesterday"}, "as_of"),
            ("/api/audits/", {"ongoing": "maybe"}, "ongoing"),
            ("/api/entities/", {"q": "x" * 201}, "q"),
            ("/api/entities/", {"jurisdiction": "\x00"}, "jurisdiction"),
            ("/api/regulators/", {"sort": "nonsense"}, "sort"),
            ("/api/regimes/", {"page": "abc"}, "page"),
            ("/api/sources/", {"page_size": "0"}, "page_size"),
        ],
    )
    def test_bad_parameter_answers_400_naming_it(self, client, world, path, query, parameter):
        body = get(client, path, query, status=400)
        assert body["error"] == "invalid parameter"
        assert list(body["parameters"]) == [parameter]
        assert body["parameters"][parameter]

    def test_pages(self, client, world):
        for n in range(3):
            factories.LicenseFactory(slug=f"extra-{n}")
        body = get(client, "/api/licenses/", {"page_size": 2})
        assert body["count"] == 4
        assert len(body["results"]) == 2
        assert body["next"].endswith("page=2&page_size=2")
        assert len(get(client, "/api/licenses/", {"page_size": 1000})["results"]) == 4  # capped, not refused
        assert get(client, "/api/licenses/", {"page": 99}, status=404)["error"] == "not found"

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_read_only(self, client, world, method):
        for path in ["/api/licenses/", "/api/licenses/okx-mica/"]:
            response = getattr(client, method)(path, data={}, content_type="application/json")
            assert response.status_code == 405
            assert response.json()["error"] == "method not allowed"
        assert get(client, "/api/licenses/okx-mica/")["slug"] == "okx-mica"


def _make_rows(n):
    area = factories.AreaFactory()
    for i in range(n):
        source = factories.SourceFactory()
        group = factories.GroupFactory()
        holder = factories.AffiliateFactory(parent=group, jurisdiction=factories.JurisdictionFactory())
        factories.EntityAliasFactory(entity=holder)
        licence = factories.LicenseFactory(
            holder=holder,
            regulator=factories.RegulatorFactory(),
            jurisdiction=holder.jurisdiction,
            citations=[source],
            ended_on=datetime.date(2026, 1, 1),
            ended_on_precision=DatePrecision.YEAR,
        )
        licence.passported_to.add(area)
        licence.activities.add(factories.ActivityFactory())
        factories.AuditFactory(subject=holder, auditor=factories.AuditorFactory(), citations=[source])
        factories.RegimeFactory().license_types.create(slug=f"type-{i}", name=f"Type {i}")


@pytest.mark.parametrize(
    "path",
    ["/api/licenses/", "/api/audits/", "/api/entities/", "/api/regulators/", "/api/regimes/", "/api/sources/"],
)
def test_list_query_count_does_not_grow_with_rows(client, path):
    _make_rows(3)
    with CaptureQueriesContext(connection) as few:
        small = get(client, path, {"page_size": 100})
    _make_rows(27)
    with CaptureQueriesContext(connection) as many:
        large = get(client, path, {"page_size": 100})
    assert large["count"] > small["count"] >= 3
    assert len(many) == len(few)


class TestSchemaAndDocs:
    def test_schema_declares_filters_and_errors(self, client):
        response = client.get("/api/schema/", {"format": "json"})
        assert response.status_code == 200
        schema = response.json()
        assert schema["openapi"].startswith("3.")
        operation = schema["paths"]["/api/licenses/"]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert {"regime", "usable_in", "granted_in", "status", "as_of", "sort", "page", "page_size", "q"} <= names
        # The former name of usable_in still works, and says it is deprecated.
        assert next(p for p in operation["parameters"] if p["name"] == "jurisdiction")["deprecated"] is True
        assert {"200", "400", "404"} <= set(operation["responses"])
        assert "404" in schema["paths"]["/api/licenses/{slug}/"]["get"]["responses"]

    def test_docs_are_served_from_our_static_files(self, client):
        response = client.get("/api/docs/")
        assert response.status_code == 200
        html = response.content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn" not in html.lower()
        # Every script, stylesheet and image comes from this site.
        addresses = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
        assert addresses
        assert all(not address.startswith(("http:", "https:", "//")) for address in addresses), addresses


def test_an_audit_says_its_status_and_links_the_report_it_superseded_or_was_superseded_by(client, seed_data):
    earlier = get(client, "/api/audits/okx-soc-2-type-ii-2023-09/")
    later = get(client, "/api/audits/okx-soc-2-type-ii-2024-07/")
    assert (earlier["status"], earlier["status_display"]) == ("superseded", "Superseded")
    assert earlier["superseded_by"]["url"] == "http://testserver/audits/okx-soc-2-type-ii-2024-07/"
    assert earlier["superseded_by"]["issued"]["display"] == "July 2024"
    assert (later["status"], later["superseded_by"]) == ("current", None)
    assert [audit["url"] for audit in later["supersedes"]] == ["http://testserver/audits/okx-soc-2-type-ii-2023-09/"]
    # The list says the same as each record's own address.
    rows = {row["slug"]: row for row in get(client, "/api/audits/", {"standard": "soc-2-type-ii"})["results"]}
    assert rows == {"okx-soc-2-type-ii-2023-09": earlier, "okx-soc-2-type-ii-2024-07": later}


@pytest.mark.parametrize(("pages", "says"), [(1, "there is 1 page"), (2, "there are 2 pages")])
def test_a_page_past_the_end_says_how_many_pages_there_are(client, pages, says):
    factories.RegulatorFactory.create_batch(pages)
    body = get(client, "/api/regulators/", {"page": 3, "page_size": 1}, status=404)
    assert body["detail"] == f"Page 3 does not exist: {says}."


def test_the_schema_links_to_the_api_guide_and_the_docs_lead_back_to_the_site(client):
    guide = reverse("public:api-guide")
    description = client.get("/api/schema/", {"format": "json"}).json()["info"]["description"]
    assert f"]({guide})" in description  # a Markdown link, which Swagger UI renders
    assert "docs/api.md" not in description
    assert client.get(guide).status_code == 200
    html = client.get("/api/docs/").content.decode()
    assert f'href="{reverse("public:home")}"' in html
    assert f'href="{guide}"' in html
    assert '<link rel="icon" href="/favicon.ico"' in html


@pytest.mark.parametrize("component", ["Entity", "Regulator", "Regime", "License", "Audit", "Source"])
def test_the_schema_describes_a_field_as_the_data_dictionary_does(client, component):
    """One serializer per record type: its field's help text is the API schema's and the dictionary's words."""
    from opendata import datasets

    schema = client.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"][component]
    (record_type,) = [rt for rt in datasets.RECORD_TYPES if rt.serializer.__name__ == f"{component}Serializer"]
    html = client.get("/data/dictionary/").content.decode()
    described = 0
    for column in record_type.columns:
        field = schema["properties"].get(column.name, {})
        if field.get("type") in {"string", "boolean"} and "description" in field:
            assert field["description"] == column.description, column.name
            assert f'<tr id="{record_type.name}-{column.name}">' in html
            described += 1
    # url, slug and the record's own text fields at least.
    assert described >= 3


# ---------------------------------------------------------------------------
# Certifications and proof of reserves (issue 17)
# ---------------------------------------------------------------------------


def make_assured_audits(n=1):
    """``n`` certificates, each suspended, vouched for by UKAS, with a scope and findings; and ``n`` proof-of-
    reserves verifications, each with a report at 105 % and a later one at 98 %. Returns the first of each."""
    iso = factories.StandardFactory(slug="iso-27001", name="ISO/IEC 27001")
    ukas = factories.AccreditationBodyFactory(
        slug="ukas", name="United Kingdom Accreditation Service", abbreviation="UKAS"
    )
    first = None
    for index in range(n):
        body = factories.AuditorFactory()
        factories.AccreditationFactory(holder=body, body=ukas, standard=iso)
        audit = factories.AuditFactory(slug=f"certificate-{index}", standard=iso, auditor=body)
        factories.AuditStatusChangeFactory(audit=audit)
        factories.AuditScopeItemFactory(audit=audit, name="wallet modules")
        factories.AuditFindingFactory(audit=audit)
        por = factories.ProofOfReservesAuditFactory(slug=f"reserves-{index}")
        factories.ReserveSnapshotFactory(audit=por, as_of=datetime.date(2025, 1, 1))
        factories.ReserveSnapshotFactory(
            audit=por, as_of=datetime.date(2025, 2, 1), assets=9_800, liabilities=10_000, reserve_ratio=None
        )
        first = first or (audit, por)
    return first


def test_an_audit_gives_its_status_changes_vouchers_scope_findings_each_with_its_source(client):
    audit, _ = make_assured_audits()
    record = get(client, f"/api/audits/{audit.slug}/")
    assert (record["status"], record["status_display"]) == ("suspended", "Suspended")
    (change,) = record["status_changes"]
    assert change["summary"] == "suspended 2025-06-01"
    assert change["effective"] == {"value": "2025-06-01", "precision": "day", "display": "1 June 2025"}
    assert change["source"]["url"].startswith("http://testserver/sources/") and change["quote"]
    (voucher,) = record["vouched_by"]
    assert (voucher["summary"], voucher["body"]["abbreviation"], voucher["standard"]) == (
        "UKAS (ISO/IEC 27001)",
        "UKAS",
        "iso-27001",
    )
    assert voucher["body"]["iaf_mla_signatory"] is None  # no source says
    assert record["scope_items"] == ["wallet modules"]
    assert [(f["summary"], f["count"], f["resolved"]) for f in record["findings"]] == [("high: 3 (2 fixed)", 3, 2)]
    assert (record["reserves_as_of"], record["reserve_ratio"], record["reserve_snapshots"]) == (None, None, [])


def test_a_proof_of_reserves_verification_gives_its_figures_and_flags_its_latest_ratio_under_100(client):
    _, por = make_assured_audits()
    record = get(client, f"/api/audits/{por.slug}/")
    assert (record["reserves_as_of"], record["reserve_ratio"], record["reserve_ratio_under_100"]) == (
        "2025-02-01",
        98.0,
        True,
    )
    rows = sorted(record["reserve_snapshots"], key=lambda row: row["as_of"])
    assert [(row["as_of"], row["ratio"], row["under_reserved"]) for row in rows] == [
        ("2025-01-01", 105.0, False),
        ("2025-02-01", 98.0, True),
    ]
    assert (rows[0]["assets"], rows[0]["reserve_ratio"], rows[1]["reserve_ratio"]) == ("10500", "105", None)
    listed = get(client, "/api/audits/", {"reserves": "under_100"})["results"]
    assert [row["slug"] for row in listed] == [por.slug]


def test_the_audit_list_query_count_does_not_grow_with_status_changes_vouchers_and_figures(client):
    make_assured_audits(2)
    with CaptureQueriesContext(connection) as few:
        small = get(client, "/api/audits/", {"page_size": 100})
    for index in range(2, 12):
        audit = factories.AuditFactory(slug=f"more-{index}", auditor=factories.AuditorFactory())
        factories.AccreditationFactory(holder=audit.auditor, standard=audit.standard)
        factories.AuditStatusChangeFactory(audit=audit)
        factories.ReserveSnapshotFactory()
    with CaptureQueriesContext(connection) as many:
        large = get(client, "/api/audits/", {"page_size": 100})
    assert large["count"] > small["count"]
    assert len(many) == len(few)


@pytest.mark.parametrize("path", ["/api/licenses/", "/api/regulators/", "/api/entities/"])
def test_a_list_shows_each_record_as_its_detail_does(client, world, path):
    """A list reads its records' columns (opendata.tables.ApiRows), a detail its instance: the same record."""
    factories.EntityAliasFactory(entity=world["holder"], name="Zeta Trading")
    factories.EntityAliasFactory(entity=world["holder"], name="Alpha Trading")
    factories.EntityFactory(slug="in-draft-group", parent=factories.DraftEntityFactory(slug="draft-group"))
    factories.LicenseFactory(
        slug="no-regulator", regulator=None, ended_on=datetime.date(2026, 1, 1), ended_on_precision=DatePrecision.YEAR
    )
    draft_regime = factories.DraftRegimeFactory(slug="draft-regime")
    regulator = factories.RegulatorFactory(slug="with-regimes")
    regulator.regimes.add(draft_regime, factories.RegimeFactory(slug="live-regime"))
    listed = get(client, path, {"page_size": 100})["results"]
    assert len(listed) >= 2
    for record in listed:
        assert record == get(client, f"{path}{record['slug']}/")


@pytest.mark.parametrize("path", ["/api/licenses/", "/licenses.json"])
def test_a_first_page_of_a_longer_list_is_counted_as_it_is_read(client, path):
    """On SQLite a first page's keys and the list's count are one query (opendata.paging.select_keys); elsewhere the
    count is a query of its own. Either way the count is the whole list's."""
    _make_rows(2)
    with CaptureQueriesContext(connection) as short:
        assert get(client, path, {"page_size": 5})["count"] < 5
    _make_rows(4)
    with CaptureQueriesContext(connection) as longer:
        body = get(client, path, {"page_size": 5})
    assert body["count"] == License.objects.published().count() > 5
    assert len(body["results"]) == 5
    assert len(longer) == len(short) + (0 if connection.vendor == "sqlite" else 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/licenses/", "/licenses.json"])
def test_a_page_asked_again_is_the_same_until_a_write_changes_it(client, world, path):
    """A page's keys and count are kept per data version (the FilterSet and the keys' query are not run again for
    the same query string); any write is seen at once, in the rows and in the count. Requests and writes each in
    their own transaction, as served (within one, PostgreSQL raises the version once: nothing is kept there)."""
    params = {"granted_in": "MT", "page_size": 100}
    with CaptureQueriesContext(connection) as first_queries:
        first = get(client, path, params)
    with CaptureQueriesContext(connection) as again_queries:
        again = get(client, path, params)
    assert again == first
    assert len(again_queries) < len(first_queries)
    assert [row["slug"] for row in first["results"]] == ["okx-mica"]
    licence = world["licence"]
    licence.reference_number = "MT-NEW-1"
    licence.save()
    factories.LicenseFactory(slug="okx-second", holder=world["holder"], jurisdiction=licence.jurisdiction)
    after = get(client, path, params)
    assert after["count"] == 2
    assert {row["slug"] for row in after["results"]} == {"okx-mica", "okx-second"}
    assert next(row for row in after["results"] if row["slug"] == "okx-mica")["reference_number"] == "MT-NEW-1"
