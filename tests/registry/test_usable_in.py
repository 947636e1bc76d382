"""What the public sees must be true (issue 13): one rule for "Usable in", one for "Granted in", and every
surface that shows or filters by them (HTML list, as-of view, API, CSV/JSON exports, Atom feed, home charts,
detail page) agreeing with them; exports named after what they hold, without repeated columns."""

import csv
import datetime
import io
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from django.http import QueryDict

from registry.models import Audit, Jurisdiction, License, LicenseType
from tests import factories

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
MIFID = "okx-mifid-ii-investment-firm"


def today():
    # History rows are dated in UTC, and the as-of day ends at 23:59:59 UTC.
    return datetime.datetime.now(datetime.UTC).date()


@pytest.fixture
def register(seed_data):
    """The seed (OKX's MiCA licence in Malta, MiFID II with no member state, Dubai's VARA, Singapore's MPI)
    and licences passported into EEA countries, a subdivision and a country."""
    place = {code: Jurisdiction.objects.get(code=code) for code in ("AE", "AE-DU", "CY", "DE", "EEA", "MT", "SG")}
    casp = LicenseType.objects.get(regime__slug="mica", slug="casp-authorisation")
    germany = factories.LicenseFactory(slug="de-mica-casp", license_type=casp, jurisdiction=place["DE"])
    germany.passported_to.set([place["EEA"]])
    cyprus = factories.LicenseFactory(
        slug="cy-national",
        jurisdiction=place["CY"],
        license_type__regime__jurisdiction=place["CY"],
        regulator=factories.RegulatorFactory(
            slug="cysec", name="Cyprus Securities Commission", jurisdiction=place["CY"]
        ),
    )
    cyprus.passported_to.set([place["MT"]])
    # A federal UAE licence whose source names no emirate: granted in the UAE (its regime's), usable in Dubai.
    factories.LicenseFactory(slug="uae-federal", jurisdiction=None, license_type__regime__jurisdiction=place["AE"])
    singapore = factories.LicenseFactory(
        slug="sg-to-dubai", jurisdiction=place["SG"], license_type__regime__jurisdiction=place["SG"]
    )
    singapore.passported_to.set([place["AE-DU"]])
    factories.DraftLicenseFactory(slug="draft-mt", jurisdiction=place["MT"], license_type=casp)
    return place


def rule(code):
    return set(License.objects.published().usable_in(code).values_list("slug", flat=True))


def list_page(client, **params):
    """(count, slugs) of the licence list page."""
    response = client.get("/licenses/", params)
    assert response.status_code == 200
    paginator = response.context["paginator"]
    assert paginator.num_pages == 1
    return paginator.count, {row.slug for row in response.context["object_list"]}


def api_slugs(client, path="/api/licenses/", **params):
    response = client.get(path, {**params, "page_size": 100})
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["count"] == len(body["results"])
    return {row["slug"] for row in body["results"]}


def csv_rows(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


def json_slugs(client, **params):
    response = client.get("/licenses.json", {**params, "page_size": 1000})
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert body["count"] == len(body["results"])
    return {row["slug"] for row in body["results"]}


def feed(client, code):
    """(the feed's own link, the slugs of the licences its entries are about, the number of entries)."""
    response = client.get(f"/jurisdictions/{code}/changes.atom")
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 - our own response
    own = next(link.get("href") for link in root.findall(f"{ATOM}link") if link.get("rel") == "alternate")
    entries = root.findall(f"{ATOM}entry")
    slugs = set()
    for entry in entries:
        found = re.fullmatch(r"http://testserver/licenses/([-\w]+)/", entry.find(f"{ATOM}link").get("href"))
        assert found, "a jurisdiction feed only has licence entries"
        slugs.add(found[1])
    return own, slugs, len(entries)


USABLE_IN = [
    # Dubai's VARA licence (home state Dubai), the federal one, and one passported into Dubai.
    ("AE", {"okx-middle-east-vara-vasp", "uae-federal", "sg-to-dubai"}),
    # The same three: a UAE licence covers its emirates.
    ("AE-DU", {"okx-middle-east-vara-vasp", "uae-federal", "sg-to-dubai"}),
    # Granted there, under an EU regime, passported to the EEA, or to Malta itself.
    ("MT", {"okx-mica-casp", MIFID, "de-mica-casp", "cy-national"}),
    ("EEA", {"okx-mica-casp", MIFID, "de-mica-casp"}),
]


@pytest.mark.parametrize(("code", "expected"), USABLE_IN)
def test_usable_in_is_home_regime_or_passport_through_areas_and_subdivisions(register, code, expected):
    assert rule(code) == expected


@pytest.mark.parametrize("code", [code for code, _ in USABLE_IN])
def test_every_surface_lists_the_licences_usable_in_a_jurisdiction(client, register, code):
    expected = rule(code)
    count, html = list_page(client, usable_in=code)
    assert (count, html) == (len(expected), expected)
    assert api_slugs(client, usable_in=code) == expected
    assert {row["slug"] for row in csv_rows(client, "/licenses.csv", usable_in=code)} == expected
    assert json_slugs(client, usable_in=code) == expected
    as_of = today().isoformat()
    assert list_page(client, usable_in=code, as_of=as_of) == (len(expected), expected)
    assert api_slugs(client, usable_in=code, as_of=as_of) == expected
    assert {row["slug"] for row in csv_rows(client, "/licenses.csv", usable_in=code, as_of=as_of)} == expected


@pytest.mark.parametrize("code", [code for code, _ in USABLE_IN])
def test_the_jurisdiction_feed_covers_the_licences_its_own_link_lists(client, register, code):
    link, slugs, entries = feed(client, code)
    assert entries < 50, "every change fits in the feed, so its licences are all of them"
    assert slugs == rule(code)
    path = urlsplit(link)
    assert path.path == "/licenses/"
    assert list_page(client, **QueryDict(path.query).dict())[1] == slugs


@pytest.mark.parametrize("chart", ["by_jurisdiction", "by_regime"])
def test_every_home_chart_bar_counts_the_licences_of_the_page_it_opens(client, register, chart):
    bars = client.get("/").context[chart].bars
    assert len(bars) >= 3
    for bar in bars:
        response = client.get(bar.href)
        assert response.status_code == 200, bar.href
        assert response.context["paginator"].count == bar.count, bar.label


def test_the_where_granted_chart_links_granted_in_and_counts_dubai_under_the_uae(client, register):
    bars = {bar.href: bar.count for bar in client.get("/").context["by_jurisdiction"].bars}
    assert bars["/licenses/?granted_in=AE"] == 2  # Dubai's VARA licence and the federal one
    assert bars["/licenses/?granted_in=MT"] == 1  # passports do not count where a licence was granted
    assert bars["/licenses/?granted_in=EU"] == 1  # MiFID II: the source names no member state


def test_the_mifid_ii_licence_is_granted_in_the_eu_on_every_surface(client, register):
    detail = client.get(f"/api/licenses/{MIFID}/").json()
    assert detail["granted_in"] == {"code": "EU", "name": "European Union"}
    assert detail["granted_in_stated"] is False
    assert "jurisdiction" not in detail
    listed = client.get("/api/licenses/", {"granted_in": "EU"}).json()["results"]
    assert [row["slug"] for row in listed] == [MIFID]
    assert listed[0]["granted_in"]["code"] == "EU"
    _, html = list_page(client, granted_in="EU")
    assert html == {MIFID}
    response = client.get("/licenses/", {"q": "MiFID"})
    (row,) = [row for row in response.context["object_list"] if row.slug == MIFID]
    assert row.granted_in == {"code": "EU", "name": "European Union"}
    (exported,) = [row for row in csv_rows(client, "/licenses.csv") if row["slug"] == MIFID]
    assert (exported["granted_in"], exported["granted_in_name"]) == ("EU", "European Union")
    assert exported["granted_in_stated"] == "false"
    page = client.get(f"/licenses/{MIFID}/").content.decode()
    assert 'href="/licenses/?granted_in=EU"' in page
    assert "European Union (member state not stated by the source)" in re.sub(r"<[^>]+>", "", page)


def test_every_licence_is_granted_in_one_place_on_every_surface(client, register):
    """The API, the CSV, the list's rows and its granted_in filter and facet agree for every licence."""
    api = {row["slug"]: row["granted_in"]["code"] for row in client.get("/api/licenses/").json()["results"]}
    exported = {row["slug"]: row["granted_in"] for row in csv_rows(client, "/licenses.csv")}
    response = client.get("/licenses/")
    shown = {row.slug: row.granted_in["code"] for row in response.context["object_list"]}
    model = {licence.slug: licence.granted_in.code for licence in License.objects.published()}
    assert api == exported == shown == model
    assert model[MIFID] == "EU" and model["okx-middle-east-vara-vasp"] == "AE-DU"
    for code in set(model.values()):
        assert list_page(client, granted_in=code)[1] >= {slug for slug, home in model.items() if home == code}
    facet = next(facet for facet in response.context["facets"] if facet["param"] == "granted_in")
    for value in facet["values"]:
        assert list_page(client, granted_in=value["value"])[0] == value["count"], value["label"]


def test_sorting_by_granted_in_puts_the_eu_licence_with_the_eu(client, register):
    response = client.get("/licenses/", {"sort": "granted_in"})
    assert response.context["sort_links"]["granted_in"]["label"] == "Granted in"
    homes = [row.granted_in["code"] for row in response.context["object_list"]]
    assert homes == sorted(homes)


def test_the_list_names_both_notions(client, register):
    html = client.get("/licenses/").content.decode()
    assert '<label for="id_usable_in">Usable in' in html
    assert '<label for="id_granted_in">Granted in' in html
    assert 'name="jurisdiction"' not in html


def test_the_old_jurisdiction_parameter_redirects_the_list_and_still_filters_elsewhere(client, register):
    response = client.get("/licenses/", {"jurisdiction": "mt", "status": "active"})
    assert response.status_code == 301
    location = urlsplit(response["Location"])
    assert location.path == "/licenses/"
    assert QueryDict(location.query).dict() == {"usable_in": "mt", "status": "active"}
    expected = rule("MT")
    assert api_slugs(client, jurisdiction="MT") == expected
    assert {row["slug"] for row in csv_rows(client, "/licenses.csv", jurisdiction="MT")} == expected
    assert json_slugs(client, jurisdiction="MT") == expected
    # A bad value is reported under the name it was sent as.
    for path in ("/api/licenses/", "/licenses.csv"):
        response = client.get(path, {"jurisdiction": "ZZZ"})
        assert response.status_code == 400
        assert list(response.json()["parameters"]) == ["jurisdiction"]
    # Entities keep their own jurisdiction filter (where established): no redirect.
    assert client.get("/entities/", {"jurisdiction": "SG"}).status_code == 200


# ---------------------------------------------------------------------------
# Point 13: exports named after what they hold, with no repeated columns
# ---------------------------------------------------------------------------


def disposition(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:300]
    found = re.fullmatch(r'(attachment|inline); filename="([^"]+)"', response["Content-Disposition"])
    assert found, response["Content-Disposition"]
    return found[2]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/licenses.csv", {"usable_in": "mt"}, "licenses-MT-{day}.csv"),
        ("/licenses.json", {"usable_in": "MT"}, "licenses-MT-{day}.json"),
        ("/licenses.csv", {"jurisdiction": "MT"}, "licenses-MT-{day}.csv"),
        ("/licenses.csv", {}, "licenses-{day}.csv"),
        ("/licenses.csv", {"sort": "-granted_on", "usable_in": ""}, "licenses-{day}.csv"),
        (
            "/licenses.csv",
            {"status": "active", "regime": "mica", "usable_in": "MT"},
            "licenses-MT-regime-mica-status-active-{day}.csv",
        ),
        (
            "/licenses.csv",
            {"granted_in": "AE", "granted_after": "2024-01"},
            "licenses-granted-in-AE-granted-after-2024-01-{day}.csv",
        ),
        ("/licenses.csv", {"q": 'OKX "Europe"/../x'}, "licenses-search-OKX-Europe-x-{day}.csv"),
        ("/licenses.csv", {"usable_in": "MT", "as_of": "2025-04-02"}, "licenses-MT-2025-04-02.csv"),
        ("/audits.json", {"as_of": "2025-04-02"}, "audits-2025-04-02.json"),
        ("/audits.csv", {"kind": "certification"}, "audits-kind-certification-{day}.csv"),
        ("/entities.csv", {"jurisdiction": "SG"}, "entities-SG-{day}.csv"),
        ("/entities.json", {"kind": "group"}, "entities-kind-group-{day}.json"),
        ("/regulators.csv", {}, "regulators-{day}.csv"),
        ("/changes.csv", {"type": "license"}, "changes-type-license-{day}.csv"),
        ("/changes.json", {}, "changes-{day}.json"),
    ],
)
def test_exports_are_named_after_what_they_hold(client, register, path, params, name):
    assert disposition(client, path, **params) == name.format(day=today().isoformat())


@pytest.mark.parametrize("path", ["/licenses.csv", "/audits.csv", "/entities.csv", "/regulators.csv", "/changes.csv"])
def test_no_export_repeats_a_column(client, register, path):
    # Dates at every precision, so a date and its display form differ somewhere.
    for audit in Audit.objects.all():
        audit.issued_on, audit.issued_on_precision = datetime.date(2025, 5, 14), "day"
        audit.save()
    rows = csv_rows(client, path)
    assert len(rows) >= 3
    columns = list(rows[0])
    assert len(columns) == len(set(columns))
    for index, first in enumerate(columns):
        for second in columns[index + 1 :]:
            values = [(row[first], row[second]) for row in rows]
            if all(a == "" for a, _ in values):
                continue  # a column no record fills here (an end date) says nothing
            assert any(a != b for a, b in values), f"{first} and {second} hold the same values"


@pytest.mark.parametrize("method", ["usable_in", "granted_in"])
def test_a_lower_case_code_is_read_as_the_iso_code_as_the_public_filters_read_it(method):
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    licence = factories.LicenseFactory(jurisdiction=malta)
    rule = getattr(License.objects, method)
    assert list(rule("mt")) == list(rule("MT")) == [licence]


def test_a_mica_licence_is_usable_only_at_home_and_where_it_is_passported(register):
    """ESMA's ac_serviceCode_cou lists the host member states a CASP's authorisation is passported to: an
    Austrian CASP passported to Germany may not be offered as usable in Malta because MiCA is the EU's regime."""
    austria = Jurisdiction.objects.get_or_create(code="AT", defaults={"name": "Austria"})[0]
    casp = LicenseType.objects.get(regime__slug="mica", slug="casp-authorisation")
    factories.LicenseFactory(slug="at-mica-casp", license_type=casp, jurisdiction=austria).passported_to.set(
        [register["DE"]]
    )
    assert "at-mica-casp" in rule("AT")
    assert "at-mica-casp" in rule("DE")
    assert "at-mica-casp" not in rule("MT")
    assert "at-mica-casp" not in rule("CY")
