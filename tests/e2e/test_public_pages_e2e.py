"""A new visitor finds OKX's MiCA licence from the home page and checks it against the archived source."""

import json
import re
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

from registry import models
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MICA_QUOTE = "In February 2025, OKX became one of the first cryptocurrency exchanges authorized under MiCA"
DETAIL_PATH = re.compile(r"^/(entities|regulators|regimes|licenses|audits|sources)/[-a-z0-9]+/$")


def _codes_in(value, known):
    """Jurisdiction natural keys (["MT"]) anywhere in a fixture object."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str) and value[0] in known:
        yield value[0]
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _codes_in(item, known)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _codes_in(item, known)


def load_seed():
    """Load the seed fixture with just the jurisdictions it refers to (and their parents and members).

    The full ISO 3166 fixture takes ~20 s to load; the pages only ever show the
    jurisdictions the seed records point at, so the tests load those.
    """
    fixtures = Path(settings.FIXTURE_DIRS[0])
    jurisdictions = json.loads((fixtures / "jurisdictions.json").read_text())
    by_code = {obj["fields"]["code"]: obj for obj in jurisdictions}
    wanted = set(_codes_in(json.loads((fixtures / "seed.json").read_text()), by_code))
    pending = list(wanted)
    while pending:
        fields = by_code[pending.pop()]["fields"]
        for code in _codes_in([fields["parent"], fields["members"]], by_code):
            if code not in wanted:
                wanted.add(code)
                pending.append(code)
    order = {"country": 0, "subdivision": 1, "supranational": 2}
    subset = sorted((by_code[code] for code in wanted), key=lambda obj: order[obj["fields"]["kind"]])
    # A short path: load_fixtures records the fixture names in each history row's change reason (100 characters).
    with tempfile.TemporaryDirectory(prefix="j") as directory:
        path = Path(directory) / "j.json"
        path.write_text(json.dumps(subset))
        call_command("load_fixtures", str(path), "seed", verbosity=0)


@pytest.fixture
def seed(live_server):
    load_seed()
    return live_server


def check_mica_licence_and_its_source(page):
    expect(page.locator("h1")).to_contain_text("MiCA")
    expect(page.locator("h1")).to_contain_text("OKX")
    granted = page.locator(".facts > div", has=page.locator("dt", has_text=re.compile(r"^Granted$")))
    expect(granted.locator("dd time").first).to_have_text("February 2025")
    # Follow the citation of the grant date to the quoted sentence in the archived article.
    granted.locator(".cite-source a[href*='#quote-']").first.click()
    expect(page).to_have_url(re.compile(r"/sources/okx-compliance-overview-article/#quote-"))
    expect(page.locator("h1")).to_be_visible()
    target = page.locator("mark:target")
    expect(target).to_have_count(1)
    expect(target).to_contain_text(MICA_QUOTE)
    expect(target).to_be_in_viewport()
    expect(page.locator(".archived-text")).to_contain_text("This article will systematically review")


def test_find_okx_mica_licence_by_search_and_see_the_quote_in_the_source(page, seed):
    page.goto(seed.url + "/")
    page.get_by_label("Search the register").fill("OKX MiCA")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search/\?q=OKX\+MiCA"))
    page.get_by_role("link", name=re.compile(r"OKX .*MiCA")).click()
    expect(page).to_have_url(seed.url + "/licenses/okx-mica-casp/")
    check_mica_licence_and_its_source(page)


def test_find_okx_mica_licence_through_the_group_page(page, seed):
    page.goto(seed.url + "/")
    page.locator(".recent").get_by_role("link", name="OKX", exact=True).click()
    expect(page.locator("h1")).to_have_text("OKX")
    # The timeline is drawn without JavaScript and its table lists the same licences.
    expect(page.locator("svg.timeline-chart")).to_be_visible()
    page.locator("#licences-heading ~ .table-wrap").get_by_role("link", name=re.compile("Crypto-asset service")).click()
    expect(page).to_have_url(seed.url + "/licenses/okx-mica-casp/")
    check_mica_licence_and_its_source(page)


def test_home_chart_bar_links_to_the_filtered_licence_list(page, seed):
    page.goto(seed.url + "/")
    bar = page.locator(".bar-chart a[href='/licenses/?regime=mica']")
    expect(bar).to_have_count(1)
    expect(page.locator("#chart-regime-table")).to_contain_text("MiCA")


def test_every_seed_fact_is_reachable_from_home_by_following_links(page, seed):
    """Walk every link from ``/`` to the detail pages; every published record and its facts must turn up."""
    origin = seed.url
    to_visit, seen, texts = ["/"], set(), {}
    while to_visit:
        path = to_visit.pop()
        if path in seen:
            continue
        seen.add(path)
        page.goto(origin + path)
        texts[path] = page.locator("main").inner_text()
        for href in page.locator("main a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))"):
            url = urlparse(urljoin(origin + path, href))
            if url.netloc == urlparse(origin).netloc and DETAIL_PATH.match(url.path) and url.path not in seen:
                to_visit.append(url.path)

    all_text = "\n".join(texts.values())
    records = [
        *models.Entity.objects.published(),
        *models.Regulator.objects.published(),
        *models.Regime.objects.published(),
        *models.License.objects.published(),
        *models.Audit.objects.published(),
        *models.Source.objects.published(),
    ]
    assert len(records) >= 20
    for record in records:
        assert record.get_absolute_url() in seen, record
    for licence in models.License.objects.published():
        text = texts[licence.get_absolute_url()]
        assert licence.holder.name in text and str(licence.granted) in text
        assert licence.get_status_display() in text
        for place in licence.passported_to.all():
            assert place.name in text
        for activity in licence.activities.all():
            assert activity.name in text
        if licence.regulator:
            assert licence.regulator.name in text
    for audit in models.Audit.objects.published():
        text = texts[audit.get_absolute_url()]
        for date in (audit.issued, audit.period_started, audit.period_ended, audit.valid_until_date):
            if date:
                assert str(date) in text, (audit, date)
        if audit.auditor:
            assert audit.auditor.name in text
    for person in models.KeyPerson.objects.published():
        assert person.name in all_text and person.role in all_text
    for model in (models.LicenseCitation, models.AuditCitation, models.EntityCitation, models.KeyPersonCitation):
        for citation in model.objects.published():
            assert " ".join(citation.quote.split()) in " ".join(all_text.split()), citation


def test_an_audit_page_shows_who_vouches_and_the_entity_charts_its_reserves(page, seed):
    """Issue 17: standard → certification body → accreditation body, each cited; the subject's reserve ratio over
    time drawn without script, a ratio under 100 % flagged in words and in the table."""
    subject = factories.EntityFactory(slug="example-exchange", name="Example Exchange")
    body = factories.AuditorFactory(slug="cert-body", name="Cert Body Ltd")
    iso = models.Standard.objects.get(slug="iso-iec-27001")
    ukas = factories.AccreditationBodyFactory(name="United Kingdom Accreditation Service", abbreviation="UKAS")
    factories.AccreditationFactory(holder=body, body=ukas, standard=iso, reference="1234")
    audit = factories.AuditFactory(slug="example-iso", subject=subject, standard=iso, auditor=body)
    verification = factories.ProofOfReservesAuditFactory(subject=subject, auditor__name="Verifier Ltd")
    for month, assets in [(1, 10_300), (2, 9_800), (3, 10_500)]:
        factories.ReserveSnapshotFactory(
            audit=verification, as_of=f"2025-0{month}-01", assets=assets, liabilities=10_000, reserve_ratio=None
        )

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(seed.url + audit.get_absolute_url())
    steps = page.locator(".chain > li")
    expect(steps).to_have_count(3)
    expect(steps.nth(0)).to_contain_text("ISO/IEC 27001")
    expect(steps.nth(1)).to_contain_text("Cert Body Ltd")
    expect(steps.nth(2)).to_contain_text("United Kingdom Accreditation Service (UKAS)")
    for index in range(3):
        expect(steps.nth(index).locator(".cite-source a").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

    steps.nth(1).get_by_role("link", name="Cert Body Ltd").click()
    expect(page.locator("h1")).to_have_text("Cert Body Ltd")
    page.goto(seed.url + subject.get_absolute_url())
    reserves = page.locator("section", has=page.locator("#entity-reserves-heading"))
    expect(reserves.locator("svg.line-chart")).to_have_count(2)
    expect(reserves.locator("svg.line-chart").first).to_be_visible()
    expect(reserves.locator(".point-flagged")).to_have_count(1)
    expect(reserves).to_contain_text("Reserve ratio under 100 % in 1 of 3 reports: 1 February 2025 (98.0 %).")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    reserves.locator("summary").click()
    flagged_row = reserves.locator("#reserves-table tbody tr", has_text="1 February 2025")
    expect(flagged_row).to_contain_text("under 100 %")
    expect(flagged_row).to_contain_text("Verifier Ltd")
    # The seed's verification published no figures, and OKX's page says so.
    page.goto(seed.url + "/entities/okx/")
    expect(page.locator("section", has=page.locator("#entity-reserves-heading"))).to_contain_text(
        "no figures published in the cited source"
    )
