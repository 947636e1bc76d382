"""``?as_of=YYYY-MM-DD``: the licences and audits lists, exports and API as the register stood on a past day."""

import csv
import datetime
import io
from contextlib import contextmanager

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext

from registry import models
from tests import factories

pytestmark = pytest.mark.django_db


def history_models():
    models_ = apps.get_app_config("registry").get_models()
    return [model for model in models_ if hasattr(model._meta, "simple_history_manager_attribute")]


@contextmanager
def on(day):
    """Date every history row written inside the block at noon UTC on ``day``."""
    before = {model: model.history.aggregate(m=Max("history_id"))["m"] or 0 for model in history_models()}
    yield
    when = datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)
    for model, last in before.items():
        model.history.filter(history_id__gt=last).update(history_date=when)


JAN_10 = datetime.date(2025, 1, 10)
FEB_01 = datetime.date(2025, 2, 1)
FEB_20 = datetime.date(2025, 2, 20)
MAR_15 = datetime.date(2025, 3, 15)


@pytest.fixture
def story():
    """Licence "kept" active from 10 January, revoked 15 March; "gone" deleted 20 February.

    "late" is a draft until 1 February; audit "cert" gains a scope on 20 February.
    """
    with on(JAN_10):
        regime = factories.RegimeFactory(slug="mica")
        holder = factories.EntityFactory(slug="holder", name="Holder Ltd")
        license_type = factories.LicenseTypeFactory(regime=regime)
        source = factories.SourceFactory(slug="article")
        kept = factories.LicenseFactory(slug="kept", holder=holder, license_type=license_type, citations=[source])
        gone = factories.LicenseFactory(slug="gone", holder=holder, license_type=license_type, citations=[source])
        late = factories.DraftLicenseFactory(slug="late", holder=holder, license_type=license_type, citations=[source])
        audit = factories.AuditFactory(slug="cert", subject=holder, citations=[source])
    with on(FEB_01):
        late.publication_status = models.Publication.PUBLISHED
        late.save()
    with on(FEB_20):
        gone.citations.all().delete()
        gone.delete()
        audit.scope = "Exchange platform"
        audit.save()
    with on(MAR_15):
        kept.status = models.LicenseStatus.REVOKED
        kept.save()
    return {"kept": kept, "late": late, "audit": audit}


def api_rows(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:300]
    return {row["slug"]: row for row in response.json()["results"]}


def html_slugs(client, **params):
    response = client.get("/licenses/", params)
    assert response.status_code == 200
    return {licence.slug for licence in response.context["object_list"]}, response


class TestLicences:
    def test_before_anything_was_published_nothing_is_listed(self, client, story):
        assert api_rows(client, "/api/licenses/", as_of="2025-01-09") == {}

    def test_each_day_shows_the_state_of_that_day(self, client, story):
        january = api_rows(client, "/api/licenses/", as_of="2025-01-20")
        assert set(january) == {"kept", "gone"}  # "late" was still a draft
        assert january["kept"]["status"] == "active"
        assert january["kept"]["granted"]["display"] == "March 2025"
        assert january["kept"]["citations"][0]["source"]["slug"] == "article"

        february = api_rows(client, "/api/licenses/", as_of="2025-02-25")
        assert set(february) == {"kept", "late"}  # "gone" was deleted on 20 February

        march = api_rows(client, "/api/licenses/", as_of="2025-03-20")
        assert march["kept"]["status"] == "revoked"

    def test_end_of_day_is_inclusive(self, client, story):
        assert set(api_rows(client, "/api/licenses/", as_of="2025-02-01")) == {"kept", "gone", "late"}
        assert "gone" not in api_rows(client, "/api/licenses/", as_of="2025-02-20")

    def test_filters_apply_to_the_snapshot(self, client, story):
        assert set(api_rows(client, "/api/licenses/", as_of="2025-03-01", status="active")) == {"kept", "late"}
        assert set(api_rows(client, "/api/licenses/", as_of="2025-03-01", status="revoked")) == set()
        assert set(api_rows(client, "/api/licenses/", status="revoked")) == {"kept"}
        assert set(api_rows(client, "/api/licenses/", as_of="2025-03-01", in_force_on="2025-03-01")) == {"kept", "late"}

    def test_passports_as_they_were(self, client, story):
        area = factories.AreaFactory(code="EEA")
        malta = factories.JurisdictionFactory(code="MT")
        area.members.add(malta)
        with on(datetime.date(2025, 4, 1)):
            story["kept"].passported_to.add(area)
        assert set(api_rows(client, "/api/licenses/", as_of="2025-04-02", usable_in="MT")) == {"kept"}
        assert set(api_rows(client, "/api/licenses/", as_of="2025-03-20", usable_in="MT")) == set()
        row = api_rows(client, "/api/licenses/", as_of="2025-04-02")["kept"]
        assert [j["code"] for j in row["passported_to"]] == ["EEA"]

    def test_a_holder_that_was_a_draft_then_hides_its_licences(self, client, story):
        holder = story["kept"].holder
        with on(datetime.date(2025, 5, 1)):
            holder.publication_status = models.Publication.DRAFT
            holder.save()
        with on(datetime.date(2025, 5, 10)):
            holder.publication_status = models.Publication.PUBLISHED
            holder.save()
        assert api_rows(client, "/api/licenses/", as_of="2025-05-05") == {}
        assert set(api_rows(client, "/api/licenses/", as_of="2025-05-11")) == {"kept", "late"}

    def test_html_list_shows_a_banner_and_the_snapshot(self, client, story):
        slugs, response = html_slugs(client, as_of="2025-01-20")
        assert slugs == {"kept", "gone"}
        html = response.content.decode()
        assert "The register as it stood on 20 January 2025" in html
        assert 'value="2025-01-20"' in html  # the form keeps the day
        today, response = html_slugs(client)
        assert today == {"kept", "late"}
        assert "as it stood on" not in response.content.decode()

    def test_html_list_reports_a_bad_day_and_shows_today(self, client, story):
        slugs, response = html_slugs(client, as_of="2025-02-30")
        assert slugs == {"kept", "late"}
        assert "as_of" in response.context["filter"].errors
        assert "as it stood on" not in response.content.decode()

    def test_exports(self, client, story):
        response = client.get("/licenses.csv", {"as_of": "2025-01-20"})
        body = b"".join(response.streaming_content).decode("utf-8")[1:]
        rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(body))}
        assert set(rows) == {"kept", "gone"}
        assert rows["kept"]["status"] == "active"
        assert rows["kept"]["sources"] == "http://testserver/sources/article/"
        data = client.get("/licenses.json", {"as_of": "2025-03-20"}).json()
        assert {row["slug"]: row["status"] for row in data["results"]} == {"kept": "revoked", "late": "active"}

    @pytest.mark.parametrize("value", ["2025-02-30", "yesterday", "2025-1", "\x00"])
    def test_bad_day_is_a_400_naming_as_of(self, client, story, value):
        for path in ["/licenses.json", "/licenses.csv", "/api/licenses/"]:
            response = client.get(path, {"as_of": value})
            assert response.status_code == 400
            assert list(response.json()["parameters"]) == ["as_of"]

    def test_extreme_days_do_not_fail(self, client, story):
        assert set(api_rows(client, "/api/licenses/", as_of="9999-12-31")) == {"kept", "late"}
        assert api_rows(client, "/api/licenses/", as_of="0001-01-01") == {}

    @pytest.mark.parametrize("sort", ["holder", "-holder", "regime", "-regime"])
    def test_every_sort_applies_to_the_snapshot(self, client, story, sort):
        # The live list sorts by stored copies of the holder's and regime's names, which history rows lack.
        rows = api_rows(client, "/licenses.json", as_of=FEB_01.isoformat(), sort=sort)
        assert set(rows) == {"kept", "gone", "late"}
        descending = sort.startswith("-")
        assert list(rows) == sorted(rows, reverse=descending)  # one holder and one regime: then by slug


class TestAudits:
    def test_audit_snapshot(self, client, story):
        before = api_rows(client, "/api/audits/", as_of="2025-01-20")
        after = api_rows(client, "/api/audits/", as_of="2025-02-21")
        assert before["cert"]["scope"] == ""
        assert after["cert"]["scope"] == "Exchange platform"
        assert api_rows(client, "/api/audits/", as_of="2025-01-01") == {}

    def test_audit_html_and_export(self, client, story):
        response = client.get("/audits/", {"as_of": "2025-01-20"})
        assert "The register as it stood on 20 January 2025" in response.content.decode()
        assert [audit.slug for audit in response.context["object_list"]] == ["cert"]
        data = client.get("/audits.json", {"as_of": "2025-01-09"}).json()
        assert data["results"] == []


def grow_the_register(count):
    """``count`` licences passported to a jurisdiction of their own, each holder audited, all on 10 January."""
    with on(JAN_10):
        for _ in range(count):
            licence = factories.LicenseFactory()
            licence.passported_to.add(factories.JurisdictionFactory())
            factories.AuditFactory(subject=licence.holder)


def listed(response):
    """How many records a list page, API page or export shows."""
    assert response.status_code == 200
    if response.streaming:
        return len(b"".join(response.streaming_content).decode("utf-8").splitlines()) - 1
    if response["Content-Type"].startswith("application/json"):
        return len(response.json()["results"])
    return len(response.context["object_list"])


# Committed writes: on PostgreSQL the data version that keys the lists' cached counts rises once per transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/licenses/", "/api/licenses/", "/licenses.json", "/licenses.csv"])
def test_query_count_does_not_grow_with_the_snapshot(client, django_assert_max_num_queries, path):
    params = {"as_of": FEB_01.isoformat()}
    grow_the_register(2)
    with CaptureQueriesContext(connection) as few:
        assert listed(client.get(path, params)) == 2
    grow_the_register(20)
    with django_assert_max_num_queries(len(few)):
        assert listed(client.get(path, params)) == 22


def test_a_past_day_shows_a_certificates_status_as_the_register_recorded_it_then(client):
    """Issue 17: a suspension recorded on 20 February (effective 1 February) is unknown to the register as of 10
    February, and known as of 20 February; the status filter and every surface read the same snapshot."""
    with on(JAN_10):
        audit = factories.AuditFactory(slug="cert", issued_on=datetime.date(2025, 1, 1), issued_on_precision="month")
    with on(FEB_20):
        factories.AuditStatusChangeFactory(audit=audit, effective_on=FEB_01)
    for day, status in ((datetime.date(2025, 2, 10), "current"), (FEB_20, "suspended")):
        as_of = day.isoformat()
        assert api_rows(client, "/api/audits/", as_of=as_of)["cert"]["status"] == status
        assert set(api_rows(client, "/api/audits/", as_of=as_of, status=status)) == {"cert"}
        response = client.get("/audits/", {"as_of": as_of, "status": status})
        assert [row.status for row in response.context["object_list"]] == [status]
        facet = next(facet for facet in response.context["facets"] if facet["param"] == "status")
        assert [(value["value"], value["count"]) for value in facet["values"]] == [(status, 1)]
    # Today the register knows it, as of the day it took effect.
    assert api_rows(client, "/api/audits/")["cert"]["status"] == "suspended"


@pytest.fixture
def papers_story():
    """White paper "early" (its token, offered in France) public from 10 January; "late" (its own token) public
    only today; early's address changed today."""
    ireland = factories.JurisdictionFactory(code="IE", name="Ireland")
    france = factories.JurisdictionFactory(code="FR", name="France")
    with on(JAN_10):
        early = factories.WhitePaperFactory(
            slug="early", jurisdiction=ireland, url="https://early.example/v1.pdf", crypto_asset__slug="early-token"
        )
        early.host_states.add(france)
    late = factories.WhitePaperFactory(slug="late", jurisdiction=ireland, crypto_asset__slug="late-token")
    early.url = "https://early.example/v2.pdf"
    early.save()
    return {"early": early, "late": late}


def export_slugs(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200
    if path.endswith(".csv"):
        text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
        return {row["slug"] for row in csv.DictReader(io.StringIO(text))}
    return {row["slug"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("records", "early", "late"),
    [("white-papers", "early", "late"), ("crypto-assets", "early-token", "late-token")],
)
def test_a_white_paper_and_its_token_public_after_a_day_are_absent_as_of_that_day(
    client, papers_story, records, early, late
):
    day = {"as_of": FEB_01.isoformat()}
    response = client.get(f"/{records}/", day)
    assert response.status_code == 200
    assert {row.slug for row in response.context["object_list"]} == {early}
    assert {row.slug for row in client.get(f"/{records}/").context["object_list"]} == {early, late}
    for path in (f"/{records}.csv", f"/{records}.json", f"/api/{records}/"):
        assert export_slugs(client, path, **day) == {early}, path
        assert export_slugs(client, path) == {early, late}, path
    assert client.get(f"/{records}/{late}/", day).status_code == 404
    assert client.get(f"/{records}/{late}/").status_code == 200
    assert client.get(f"/{records}/{early}/", day).status_code == 200
    assert client.get(f"/{records}/{early}/", {"as_of": "2025-01-09"}).status_code == 404


def test_a_white_paper_as_of_a_day_shows_its_values_and_filters_then(client, papers_story):
    day = FEB_01.isoformat()
    page = client.get("/white-papers/early/", {"as_of": day})
    assert page.context["paper"].url == "https://early.example/v1.pdf"
    assert "As it stood on 1 February 2025" in page.content.decode()
    assert client.get("/white-papers/early/").context["paper"].url == "https://early.example/v2.pdf"
    rows = export_slugs(client, "/white-papers.csv", as_of=day, host_state="FR")
    assert rows == {"early"}
    assert export_slugs(client, "/crypto-assets.csv", as_of=day, host_state="FR") == {"early-token"}
    assert export_slugs(client, "/crypto-assets.csv", as_of=day, home_state="IE") == {"early-token"}
    listed = client.get("/crypto-assets/", {"as_of": day})
    home = next(f for f in listed.context["facets"] if f["param"] == "home_state")
    assert [(v["value"], v["count"]) for v in home["values"]] == [("IE", 1)]
    facets = client.get("/white-papers/", {"as_of": day}).context["facets"]
    hosts = next(f for f in facets if f["param"] == "host_state")
    assert [(v["value"], v["count"]) for v in hosts["values"]] == [("FR", 1)]


def test_a_malformed_as_of_day_on_a_white_papers_page_is_named_not_a_500(client, papers_story):
    page = client.get("/white-papers/early/", {"as_of": "yesterday"})
    assert page.status_code == 200
    assert "The as-of date must be YYYY-MM-DD" in page.content.decode()
    assert client.get("/white-papers.csv", {"as_of": "yesterday"}).status_code == 400
    assert client.get("/api/crypto-assets/", {"as_of": "2025-13-01"}).status_code == 400
