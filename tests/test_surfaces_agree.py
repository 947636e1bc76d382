"""Every public surface returns the same records for the same filters (issue 14).

One register, built once for the module: licences granted in Dubai (a subdivision of AE) and in the UAE, in
Malta with passports to other EEA states, an EU-wide MiFID II licence with no stated home jurisdiction, two
whose holder is a draft (public nowhere), a withdrawn and an expired licence; two SOC 2 reports of one
subject where the later supersedes the earlier, an expired certificate, a suspended and a withdrawn one. For
each case (a jurisdiction, where granted, a holder, the whole register with its draft holder, licences in force,
current audits, audits of a status) each
surface is read to the end (every page, every ``next``) and its set of records compared with the QuerySet
rule the case names: the HTML list, the API, the CSV and JSON exports, the same four as of today, the Atom
feed, the change history (HTML and JSON), the entity page and the sitemap, where the case has them.
"""

import csv
import datetime
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.db import transaction
from django.db.models import QuerySet

from history.feeds import FEED_LENGTH
from public import views
from registry.dates import DatePrecision
from registry.models import (
    Audit,
    AuditKind,
    CryptoAsset,
    Entity,
    License,
    LicenseStatus,
    Publication,
    WhitePaper,
)
from tests import factories

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
# Small pages, so that every surface is read across several of them.
PAGE = 2
CHANGES_PAGE = 10
RECORD_URL = re.compile(r"(?:https?://testserver)?/(licenses|audits|entities|white-papers|crypto-assets)/([-\w]+)/")


def today():
    # History rows are dated in UTC, and the as-of day ends at 23:59:59 UTC.
    return datetime.datetime.now(datetime.UTC).date()


# ---------------------------------------------------------------------------
# The register
# ---------------------------------------------------------------------------


def ended_licence(slug, license_type, jurisdiction, status, month):
    """A licence that ended in ``month`` (a month, as its source gives it)."""
    return factories.LicenseFactory(
        slug=slug,
        license_type=license_type,
        jurisdiction=jurisdiction,
        status=status,
        ended_on=month,
        ended_on_precision=DatePrecision.MONTH,
    )


def build_register():
    """The module's records; returns, by kind, the slugs of those that must be public nowhere."""
    ae = factories.JurisdictionFactory(code="AE", name="United Arab Emirates")
    dubai = factories.SubdivisionFactory(code="AE-DU", name="Dubai", parent=ae)
    mt = factories.JurisdictionFactory(code="MT", name="Malta")
    de = factories.JurisdictionFactory(code="DE", name="Germany")
    fr = factories.JurisdictionFactory(code="FR", name="France")
    norway = factories.JurisdictionFactory(code="NO", name="Norway")
    eu = factories.AreaFactory(code="EU", name="European Union", members=[mt, de, fr])
    eea = factories.AreaFactory(code="EEA", name="European Economic Area", members=[mt, de, fr, norway])

    vara = factories.LicenseTypeFactory(regime__slug="vara", regime__jurisdiction=dubai)
    sca = factories.LicenseTypeFactory(regime__slug="sca", regime__jurisdiction=ae)
    mica = factories.LicenseTypeFactory(regime__slug="mica", regime__jurisdiction=eu)
    mifid = factories.LicenseTypeFactory(regime__slug="mifid-ii", regime__jurisdiction=eu)
    vfa = factories.LicenseTypeFactory(regime__slug="vfa", regime__jurisdiction=mt)
    kwg = factories.LicenseTypeFactory(regime__slug="kwg", regime__jurisdiction=de)

    okx = factories.EntityFactory(slug="okx", name="OKX")
    hidden = factories.DraftEntityFactory(slug="hidden-holder", name="Hidden Holdings")
    licence = factories.LicenseFactory
    licence(slug="du-vara", holder=okx, license_type=vara, jurisdiction=dubai)
    licence(slug="ae-federal", license_type=sca, jurisdiction=ae)
    ended_licence("du-expired", vara, dubai, LicenseStatus.EXPIRED, datetime.date(2025, 9, 1))
    licence(slug="mt-mica", holder=okx, license_type=mica, jurisdiction=mt).passported_to.set([eea])
    licence(slug="mt-vfa", license_type=vfa, jurisdiction=mt).passported_to.set([de, norway])
    ended_licence("mt-withdrawn", vfa, mt, LicenseStatus.REVOKED, datetime.date(2025, 6, 1)).passported_to.set([eea])
    # MiFID II: the source names no member state, so it is granted in the EU (its regime's jurisdiction).
    licence(slug="eu-mifid", holder=okx, license_type=mifid, jurisdiction=None).passported_to.set([eea])
    licence(slug="de-kwg", license_type=kwg, jurisdiction=de)
    # Published licences of a draft holder, where every case would find them if visibility leaked.
    licence(slug="hidden-mt", holder=hidden, license_type=mica, jurisdiction=mt).passported_to.set([eea])
    licence(slug="hidden-du", holder=hidden, license_type=vara, jurisdiction=dubai)
    factories.DraftLicenseFactory(slug="draft-mt", license_type=vfa, jurisdiction=mt).passported_to.set([eea])
    factories.UncitedLicenseFactory(slug="uncited-du", license_type=vara, jurisdiction=dubai)

    soc2 = factories.StandardFactory(slug="soc-2-type-ii", name="SOC 2 Type II")
    iso = factories.StandardFactory(slug="iso-27001", name="ISO/IEC 27001")
    audit = factories.AuditFactory
    audit(slug="okx-soc2-2024", subject=okx, standard=soc2, kind=AuditKind.ATTESTATION, **issued(2024, 7))
    audit(slug="okx-soc2-2025", subject=okx, standard=soc2, kind=AuditKind.ATTESTATION, **issued(2025, 7))
    audit(
        slug="okx-iso-expired",
        subject=okx,
        standard=iso,
        **issued(2022, 1),
        valid_until=datetime.date(2025, 1, 1),
        valid_until_precision=DatePrecision.MONTH,
    )
    factories.OngoingAuditFactory(slug="okx-security", subject=okx)
    # Issue 17: a certificate suspended and one withdrawn, each by a dated, cited decision.
    pci = factories.StandardFactory(slug="pci-dss", name="PCI DSS")
    suspended = audit(slug="okx-pci-suspended", subject=okx, standard=pci, **issued(2024, 3))
    factories.AuditStatusChangeFactory(audit=suspended, status="suspended", effective_on=datetime.date(2025, 6, 1))
    withdrawn = audit(slug="okx-csa-withdrawn", subject=okx, standard=factories.StandardFactory(), **issued(2024, 3))
    factories.AuditStatusChangeFactory(audit=withdrawn, status="withdrawn", effective_on=datetime.date(2025, 6, 1))
    audit(slug="hidden-soc2", subject=hidden, standard=soc2, **issued(2025, 7))
    factories.DraftAuditFactory(slug="draft-iso", subject=okx, standard=iso, **issued(2025, 2))
    assert not License.objects.filter(publication_status=Publication.DRAFT).exclude(slug="draft-mt").exists()
    build_white_papers(okx, hidden, mt, de, fr)
    return {
        "licenses": {"hidden-mt", "hidden-du", "draft-mt", "uncited-du"},
        "audits": {"hidden-soc2", "draft-iso"},
        "entities": {"hidden-holder"},
        "white-papers": {"hidden-paper", "draft-paper"},
        "crypto-assets": {"hidden-token", "draft-paper-token"},
    }


def build_white_papers(okx, hidden, mt, de, fr):
    """Issue 15: white papers and their crypto-assets. A token is public while one of its papers is: the draft
    holder's paper and a draft paper hide theirs (their only papers); okx's token has two papers."""
    paper, token = factories.WhitePaperFactory, factories.CryptoAssetFactory
    shared = token(slug="okx-token")
    paper(slug="okx-paper-mt", offeror=okx, jurisdiction=mt, crypto_asset=shared).host_states.set([de, fr])
    paper(slug="okx-paper-de", offeror=okx, jurisdiction=de, crypto_asset=shared)
    paper(slug="emt-paper", kind="emt", jurisdiction=fr, crypto_asset=token(slug="euro-coin", kind="emt"))
    paper(slug="unnamed-paper", offeror=None, jurisdiction=mt, crypto_asset=token(slug="unnamed-token"))
    paper(slug="hidden-paper", offeror=hidden, jurisdiction=mt, crypto_asset=token(slug="hidden-token"))
    factories.DraftWhitePaperFactory(slug="draft-paper", jurisdiction=mt, crypto_asset=token(slug="draft-paper-token"))


def issued(year, number):
    return {"issued_on": datetime.date(year, number, 1), "issued_on_precision": DatePrecision.MONTH}


@pytest.fixture(scope="module")
def register(django_db_setup, django_db_blocker):
    """The register, written once in a transaction every test of the module runs inside, rolled back after."""
    with django_db_blocker.unblock(), transaction.atomic():
        hidden = build_register()
        yield hidden
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    """Lists of two rows a page: each surface is read across pages, as a register of thousands is."""
    for view in (views.LicenseListView, views.AuditListView, views.WhitePaperListView, views.CryptoAssetListView):
        monkeypatch.setattr(view, "paginate_by", PAGE)
    # The change history has a few rows per record: bigger pages, still several of them.
    monkeypatch.setattr(views.ChangeListView, "paginate_by", CHANGES_PAGE)


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A query of one list (``licenses`` or ``audits``), its QuerySet rule and the records it must select."""

    records: str
    params: dict
    rule: Callable[[], QuerySet]
    expected: set
    # The Atom feed of the same records, the change history's filters for them, and the entity page listing
    # them; None where there is none.
    feed: str | None = None
    changes: dict | None = None
    entity: str | None = None
    # Surfaces expected to disagree today: {surface: reason} (pytest.mark.xfail(strict=True)).
    known: dict = field(default_factory=dict)


def usable_in(code, expected):
    """Licences usable in ``code``, as a visitor may type it (the rule takes the code as stored)."""
    return Case(
        "licenses",
        {"usable_in": code},
        lambda: License.objects.published().usable_in(code),
        expected,
        feed=f"/jurisdictions/{code}/changes.atom",
        changes={"type": "license", "usable_in": code},
    )


ALL_LICENCES = {
    "du-vara",
    "ae-federal",
    "du-expired",
    "mt-mica",
    "mt-vfa",
    "mt-withdrawn",
    "eu-mifid",
    "de-kwg",
}
ALL_AUDITS = {
    "okx-soc2-2024",
    "okx-soc2-2025",
    "okx-iso-expired",
    "okx-security",
    "okx-pci-suspended",
    "okx-csa-withdrawn",
}

CASES = {
    # Dubai's licences (granted in a subdivision of AE) and the federal one; not the draft holder's.
    "AE": usable_in("AE", {"du-vara", "ae-federal", "du-expired"}),
    "AE-DU": usable_in("AE-DU", {"du-vara", "ae-federal", "du-expired"}),
    # Granted in Malta, under an EU regime (MiFID II with no member state), or passported to Malta's EEA.
    "MT": usable_in("MT", {"mt-mica", "mt-vfa", "mt-withdrawn", "eu-mifid"}),
    # A code as a visitor may type it.
    "mt-lowercase": usable_in("mt", {"mt-mica", "mt-vfa", "mt-withdrawn", "eu-mifid"}),
    # Passported to the EEA itself: not mt-vfa (passported to Germany and Norway only) nor de-kwg.
    "EEA": usable_in("EEA", {"mt-mica", "mt-withdrawn", "eu-mifid"}),
    # The whole register: every public licence, none of the draft holder's.
    "draft-holder": Case(
        "licenses",
        {},
        lambda: License.objects.published(),
        ALL_LICENCES,
        changes={"type": "license"},
    ),
    # Where granted: MiFID II's source states no member state, so the EU (its regime's); passports do not count.
    "granted-in-EU": Case(
        "licenses", {"granted_in": "EU"}, lambda: License.objects.published().granted_in("EU"), {"eu-mifid"}
    ),
    # A subdivision's licences count under its country.
    "granted-in-AE": Case(
        "licenses",
        {"granted_in": "AE"},
        lambda: License.objects.published().granted_in("AE"),
        {"du-vara", "ae-federal", "du-expired"},
    ),
    # One holder's licences, and the Atom feed of that holder.
    "holder": Case(
        "licenses",
        {"holder": "okx"},
        lambda: License.objects.published().filter(holder__slug="okx"),
        {"du-vara", "mt-mica", "eu-mifid"},
        feed="/entities/okx/changes.atom",
        entity="okx",
    ),
    # The withdrawn and expired licences are listed, but not in force.
    "in-force": Case(
        "licenses",
        {"in_force_on": "{today}"},
        lambda: License.objects.published().in_force(at=today()),
        ALL_LICENCES - {"du-expired", "mt-withdrawn"},
    ),
    # Current reports: not the superseded SOC 2 report, nor the expired certificate.
    "superseded-audit": Case(
        "audits",
        {"valid_on": "{today}"},
        lambda: Audit.objects.published().valid(at=today()),
        {"okx-soc2-2025", "okx-security"},
    ),
    # The status IAF CertSearch would show (issue 17): suspended by a cited decision, on every surface alike.
    "suspended-audit": Case(
        "audits",
        {"status": "suspended"},
        lambda: Audit.objects.published().with_status(at=today()).filter(status="suspended"),
        {"okx-pci-suspended"},
    ),
    "superseded-status": Case(
        "audits",
        {"status": "superseded"},
        lambda: Audit.objects.published().with_status(at=today()).filter(status="superseded"),
        {"okx-soc2-2024"},
    ),
    # One subject's audits, and the Atom feed of that subject.
    "subject": Case(
        "audits",
        {"subject": "okx"},
        lambda: Audit.objects.published().filter(subject__slug="okx"),
        ALL_AUDITS,
        feed="/entities/okx/changes.atom",
        entity="okx",
    ),
    # Every public audit, the superseded and expired ones too (their pages say so); not the draft holder's.
    "all-audits": Case(
        "audits",
        {},
        lambda: Audit.objects.published(),
        ALL_AUDITS,
        changes={"type": "audit"},
    ),
}


def tokens_of_papers(**lookups):
    """The crypto-assets the rule of their ``published()`` shows, of the public papers ``lookups`` select."""
    papers = WhitePaper.objects.published().filter(**lookups)
    return CryptoAsset.objects.published().filter(pk__in=papers.values("crypto_asset"))


CASES.update(
    {
        # Issue 15: every public white paper, in the change history too; one offered in France (a host state).
        "white-papers": Case(
            "white-papers",
            {},
            lambda: WhitePaper.objects.published(),
            {"okx-paper-mt", "okx-paper-de", "emt-paper", "unnamed-paper"},
            changes={"type": "whitepaper"},
        ),
        "white-papers-offered-in-FR": Case(
            "white-papers",
            {"host_state": "FR"},
            lambda: WhitePaper.objects.published().filter(host_states__code="FR"),
            {"okx-paper-mt"},
        ),
        # Crypto-assets, filtered by what their public papers say: never through a hidden paper (MT's hidden-token).
        "crypto-assets": Case(
            "crypto-assets", {}, lambda: CryptoAsset.objects.published(), {"okx-token", "euro-coin", "unnamed-token"}
        ),
        "crypto-assets-of-okx": Case(
            "crypto-assets", {"offeror": "okx"}, lambda: tokens_of_papers(offeror__slug="okx"), {"okx-token"}
        ),
        "crypto-assets-notified-in-MT": Case(
            "crypto-assets",
            {"home_state": "MT"},
            lambda: tokens_of_papers(jurisdiction__code="MT"),
            {"okx-token", "unnamed-token"},
        ),
        "crypto-assets-offered-in-DE": Case(
            "crypto-assets", {"host_state": "de"}, lambda: tokens_of_papers(host_states__code="DE"), {"okx-token"}
        ),
        "crypto-assets-emt": Case(
            "crypto-assets", {"kind": "emt"}, lambda: CryptoAsset.objects.published().filter(kind="emt"), {"euro-coin"}
        ),
    }
)


def query(case, **more):
    params = {name: value.format(today=today().isoformat()) for name, value in case.params.items()}
    return {**params, **more}


# ---------------------------------------------------------------------------
# Reading each surface to the end
# ---------------------------------------------------------------------------


def html_rows(client, path, params):
    """The rows of every page of an HTML list (the response context's object_list), in order."""
    rows, number = [], 1
    while True:
        response = client.get(path, {**params, "page": number})
        assert response.status_code == 200
        assert not response.context["page_error"]
        assert not response.context["filter"].errors, response.context["filter"].errors
        paginator = response.context["paginator"]
        rows += response.context["object_list"]
        if number >= paginator.num_pages:
            break
        number += 1
    assert len(rows) == paginator.count
    return rows


def html_list(client, case, **more):
    slugs = [row.slug for row in html_rows(client, f"/{case.records}/", query(case, **more))]
    assert len(slugs) == len(set(slugs))
    return set(slugs)


def json_pages(client, url, params, key="slug"):
    """``key`` of every record of every page of a JSON list (the API's paging: the API, the JSON exports),
    following ``next``."""
    values = []
    while url:
        response = client.get(url, params)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        values += [row[key] for row in body["results"]]
        url, params = body["next"], None
    assert len(values) == body["count"]
    return values


def distinct(slugs):
    assert len(slugs) == len(set(slugs))
    return set(slugs)


def api(client, case, **more):
    """The slugs of every page of the API."""
    return distinct(json_pages(client, f"/api/{case.records}/", {**query(case, **more), "page_size": PAGE}))


def export_csv(client, case, **more):
    response = client.get(f"/{case.records}.csv", query(case, **more))
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    slugs = [row["slug"] for row in csv.DictReader(io.StringIO(body))]
    assert len(slugs) == len(set(slugs))
    return set(slugs)


def export_json(client, case, **more):
    """The slugs of every page of the JSON export."""
    return distinct(json_pages(client, f"/{case.records}.json", {**query(case, **more), "page_size": PAGE}))


def as_of(read):
    def read_as_of(client, case):
        return read(client, case, as_of=today().isoformat())

    return read_as_of


def records_of(records, urls):
    """The slugs of the ``records`` (licenses, audits, entities) among ``urls``; other URLs are left out."""
    slugs = set()
    for url in urls:
        found = RECORD_URL.fullmatch(url)
        if found and found[1] == records:
            slugs.add(found[2])
    return slugs


def atom_links(client, path):
    """The links of the Atom feed's entries, and whether it holds them all (fewer than its length)."""
    response = client.get(path)
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 - our own response
    entries = root.findall(f"{ATOM}entry")
    return [entry.find(f"{ATOM}link").get("href") for entry in entries], len(entries) < FEED_LENGTH


def atom(client, case):
    """The records the case's Atom feed has entries about."""
    links, whole = atom_links(client, case.feed)
    assert whole, "the feed holds every change, so every record it is about"
    return records_of(case.records, links)


def change_list(client, case):
    """The records of every page of the HTML change history, filtered as the case's feed."""
    urls, number = [], 1
    while True:
        response = client.get("/changes/", {**case.changes, "page": number})
        assert response.status_code == 200
        paginator = response.context["paginator"]
        urls += [change.url for change in response.context["object_list"]]
        if number >= paginator.num_pages:
            break
        number += 1
    assert len(urls) == paginator.count
    return records_of(case.records, urls)


def change_json(client, case):
    """The records of every page of /changes.json."""
    urls = json_pages(client, "/changes.json", {**case.changes, "page_size": CHANGES_PAGE}, key="url")
    return records_of(case.records, urls)


def entity_page(client, case):
    """The records the entity's page lists (it states their total)."""
    response = client.get(f"/entities/{case.entity}/")
    assert response.status_code == 200
    slugs = [record.slug for record in response.context[case.records]]
    assert len(slugs) == response.context[f"{case.records[:-1]}_total"]
    return set(slugs)


def sitemap_of(client, records):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 - our own response
    return records_of(records, [loc.text for loc in root.findall(f"{SITEMAP}url/{SITEMAP}loc")])


def sitemap(client, case):
    return sitemap_of(client, case.records)


SURFACES = {
    "html": html_list,
    "api": api,
    "csv": export_csv,
    "json": export_json,
    "as-of-html": as_of(html_list),
    "as-of-api": as_of(api),
    "as-of-csv": as_of(export_csv),
    "as-of-json": as_of(export_json),
    "feed": atom,
    "changes": change_list,
    "changes-json": change_json,
    "entity-page": entity_page,
    "sitemap": sitemap,
}


def applies(case, surface):
    """Feeds and the change history where the case has them; the sitemap (unfiltered) for whole lists."""
    if surface == "feed":
        return case.feed is not None
    if surface in ("changes", "changes-json"):
        return case.changes is not None
    if surface == "entity-page":
        return case.entity is not None
    if surface == "sitemap":
        return not case.params
    return True


def matrix():
    params = []
    for name, case in CASES.items():
        for surface in SURFACES:
            if not applies(case, surface):
                continue
            marks = []
            if surface in case.known:
                marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.known[surface]))
            params.append(pytest.param(name, surface, marks=marks, id=f"{name}-{surface}"))
    return params


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_the_rule_selects_the_cases_records_and_nothing_hidden(register, name):
    case = CASES[name]
    selected = set(case.rule().values_list("slug", flat=True))
    assert selected == case.expected
    assert not selected & register[case.records]


@pytest.mark.parametrize(("name", "surface"), matrix())
def test_every_surface_returns_the_rules_records(client, register, name, surface):
    case = CASES[name]
    assert SURFACES[surface](client, case) == set(case.rule().values_list("slug", flat=True))


MODELS = {"licenses": License, "audits": Audit, "entities": Entity}


@pytest.mark.parametrize("records", MODELS)
def test_the_sitemap_lists_every_public_record_and_no_other(client, register, records):
    listed = sitemap_of(client, records)
    assert listed == set(MODELS[records].objects.published().values_list("slug", flat=True))
    assert not listed & register[records]


@pytest.mark.parametrize("records", MODELS)
def test_the_register_feed_is_about_public_records_only(client, register, records):
    """The register's feed holds its latest changes only (a subset), and never one of a hidden record."""
    links, _ = atom_links(client, "/feeds/changes.atom")
    shown = records_of(records, links)
    assert shown
    assert shown <= set(MODELS[records].objects.published().values_list("slug", flat=True))


@pytest.mark.parametrize("records", MODELS)
def test_a_listed_record_has_a_page_and_a_hidden_one_has_none(client, register, records):
    for slug in MODELS[records].objects.published().values_list("slug", flat=True):
        assert client.get(f"/{records}/{slug}/").status_code == 200, slug
        assert client.get(f"/api/{records}/{slug}/").status_code == 200, slug
    for slug in register[records]:
        assert client.get(f"/{records}/{slug}/").status_code == 404, slug
        assert client.get(f"/api/{records}/{slug}/").status_code == 404, slug


def test_the_draft_holder_and_its_records_are_nowhere_public(client, register):
    assert client.get("/entities/hidden-holder/").status_code == 404
    assert client.get("/entities/hidden-holder/changes.atom").status_code == 404
    for path in ("/feeds/changes.atom", "/changes.json", "/licenses.csv", "/audits.csv", "/sitemap.xml"):
        response = client.get(path, {"page_size": 1000} if path.endswith(".json") else {})
        body = response.getvalue() if response.streaming else response.content
        assert b"Hidden Holdings" not in body, path
        assert b"hidden-mt" not in body and b"hidden-du" not in body and b"hidden-soc2" not in body, path


def audit_statuses(rows):
    return {row["slug"]: row["status"] for row in rows}


@pytest.mark.parametrize("day", ["", "{today}"], ids=["today", "as-of-today"])
def test_every_surface_gives_each_audit_the_same_status(client, register, day):
    """Current, superseded or expired: one answer per audit on the API, its detail, the exports and the list."""
    rule = dict(Audit.objects.published().with_status(at=today()).values_list("slug", "status"))
    assert rule == {
        "okx-soc2-2024": "superseded",
        "okx-soc2-2025": "current",
        "okx-iso-expired": "expired",
        "okx-security": "current",
        "okx-pci-suspended": "suspended",
        "okx-csa-withdrawn": "withdrawn",
    }
    params = {"as_of": day.format(today=today().isoformat())} if day else {}
    listed = client.get("/api/audits/", {**params, "page_size": 100}).json()["results"]
    assert audit_statuses(listed) == rule
    details = [client.get(f"/api/audits/{slug}/").json() for slug in rule]
    assert audit_statuses(details) == rule
    response = client.get("/audits.csv", params)
    body = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    assert audit_statuses(csv.DictReader(io.StringIO(body))) == rule
    assert audit_statuses(client.get("/audits.json", {**params, "page_size": 100}).json()["results"]) == rule
    assert {audit.slug: audit.status for audit in html_rows(client, "/audits/", params)} == rule
    pages = {slug: client.get(f"/audits/{slug}/").context["audit"].status for slug in rule}
    assert pages == rule
    superseded = client.get("/api/audits/okx-soc2-2024/").json()["superseded_by"]
    assert superseded["slug"] == "okx-soc2-2025"


def test_a_licence_page_says_in_force_exactly_when_the_in_force_filter_lists_it(client, register):
    in_force = set(License.objects.published().in_force(at=today()).values_list("slug", flat=True))
    for slug in License.objects.published().values_list("slug", flat=True):
        assert client.get(f"/licenses/{slug}/").context["in_force"] == (slug in in_force), slug


TOKEN_MODELS = {"white-papers": WhitePaper, "crypto-assets": CryptoAsset}


@pytest.mark.parametrize("records", TOKEN_MODELS)
def test_a_public_white_paper_or_token_has_its_pages_and_a_hidden_one_none(client, register, records):
    """The sitemap, the HTML page and the API's, today and as of today: the records published() lists, no other."""
    public = set(TOKEN_MODELS[records].objects.published().values_list("slug", flat=True))
    assert sitemap_of(client, records) == public
    as_of_today = {"as_of": today().isoformat()}
    for slug in public:
        assert client.get(f"/{records}/{slug}/").status_code == 200, slug
        assert client.get(f"/{records}/{slug}/", as_of_today).status_code == 200, slug
        assert client.get(f"/api/{records}/{slug}/").status_code == 200, slug
    for slug in register[records]:
        assert client.get(f"/{records}/{slug}/").status_code == 404, slug
        assert client.get(f"/{records}/{slug}/", as_of_today).status_code == 404, slug
        assert client.get(f"/api/{records}/{slug}/").status_code == 404, slug
