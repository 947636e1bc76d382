"""Every page on a 390 px phone, with the seed and ESMA's real register files loaded (long names, licences
passported to 29 countries): nothing wider than the screen, the results before the filters, and the filters'
disclosure working without script. The home charts pass axe, label-content-name-mismatch included.
"""

from pathlib import Path

import pytest
from django.db.models import Count
from django.db.models.functions import Length
from playwright.sync_api import expect

from imports import esma
from registry import models
from tests import factories
from tests.e2e.test_accessibility_e2e import AXE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# ESMA's files live in the shared data folder beside the checkout (a git worktree sits one level deeper).
ESMA = next(
    folder / "shared" / "data" / "esma"
    for folder in Path(__file__).resolve().parents
    if (folder / "shared" / "data" / "esma").is_dir()
)
LISTS = {
    "entities": "/entities/",
    "regulators": "/regulators/",
    "licences": "/licenses/",
    "audits": "/audits/",
    "changes": "/changes/",
}
# A filter each list understands.
ONE_FILTER = {"/changes/": "type=entity"}


@pytest.fixture
def register(live_seed_data):
    """The seed, then ESMA's January CASP register and its non-compliant entities, published."""
    esma.import_file("casps", ESMA / "CASP20260123.csv", publish=True)
    esma.import_file("ncasps", ESMA / "NCASP20260129.csv", publish=True)


def detail_pages():
    """One detail page of each type, the longest or fullest the register has."""
    licences = models.License.objects.published()
    most_passported = licences.annotate(n=Count("passported_to")).order_by("-n").first()
    assert most_passported.n >= 25  # ESMA's licences passport to up to 29 countries
    longest_name = models.Entity.objects.published().annotate(n=Length("name")).order_by("-n").first()
    busiest_regulator = models.Regulator.objects.published().annotate(n=Count("licenses")).order_by("-n").first()
    busiest_regime = models.Regime.objects.published().annotate(n=Count("license_types__licenses")).order_by("-n")
    longest_source = models.Source.objects.published().annotate(n=Length("title")).order_by("-n").first()
    return {
        "entity": longest_name.get_absolute_url(),
        "group": "/entities/okx/",
        "licence": most_passported.get_absolute_url(),
        "audit": models.Audit.objects.published().first().get_absolute_url(),
        "regulator": busiest_regulator.get_absolute_url(),
        "regime": busiest_regime.first().get_absolute_url(),
        "source": longest_source.get_absolute_url(),
    }


def test_no_page_is_wider_than_a_phone(page, live_server, register):
    pages = {
        "home": "/",
        **LISTS,
        "search": "/search/?q=bank",
        "data": "/data/",
        "data dictionary": "/data/dictionary/",
        "API guide": "/about/api/",
        "verify": "/verify/?rows=OKX%0AOKX+Europe+Ltd%2C%2C%2CFR%0ADobibo%0A%2C5299005V5GBSN2A4C304",
        **detail_pages(),
    }
    page.set_viewport_size(PHONE)
    widths = {}
    for name, path in pages.items():
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        widths[f"{name} ({path})"] = page.evaluate("document.documentElement.scrollWidth")
    assert {name: width for name, width in widths.items() if width > PHONE["width"]} == {}
    # The search found something: its results were measured, not an empty page.
    page.goto(live_server.url + "/search/?q=bank")
    assert page.locator(".results li").count() > 0


@pytest.mark.parametrize("path", list(LISTS.values()))
def test_results_come_first_on_a_phone_and_the_filters_open_without_script(browser, live_server, register, path):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + path)
    filters = page.locator("form.list-filters")
    first_result = page.locator(".list-table tbody tr").first
    expect(first_result).to_be_in_viewport()
    expect(filters).to_be_hidden()
    assert first_result.bounding_box()["y"] < PHONE["height"] - 100  # on the first screen, not behind the filters
    toggle = page.locator(".list-side > summary")
    expect(toggle).to_have_text("Filters")
    toggle.click()
    expect(filters).to_be_visible()
    expect(filters.locator("input, select").first).to_be_visible()
    # A filter applies, and the control says so.
    page.goto(f"{live_server.url}{path}?{ONE_FILTER.get(path, 'q=bank')}")
    expect(page.locator(".list-side > summary")).to_have_text("Filters (1 active)")

    # On a wide screen the filters stand open beside the results, with no control to open them.
    page.set_viewport_size(DESKTOP)
    page.goto(live_server.url + path)
    expect(filters).to_be_visible()
    expect(page.locator(".list-side > summary")).to_be_hidden()
    beside, results = filters.bounding_box(), page.locator(".list-main").bounding_box()
    assert beside["x"] + beside["width"] <= results["x"]
    assert results["y"] < PHONE["height"] / 2
    context.close()


def test_a_licence_row_folds_its_passports_behind_their_count(page, live_server, register):
    page.set_viewport_size(PHONE)
    page.goto(live_server.url + "/licenses/")
    folded = page.locator("details.passport").first
    expect(folded.locator("summary")).to_have_text("passported to 29 countries")
    expect(folded.locator("abbr").first).to_be_hidden()
    folded.locator("summary").click()
    expect(folded.locator("abbr")).to_have_count(29)
    expect(folded.locator("abbr").first).to_be_visible()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_home_charts_draw_each_count_once_and_pass_axe(page, live_server, register, viewport):
    # A long jurisdiction name, which a drawing with no room for it used to cut short.
    factories.LicenseFactory.create_batch(5, jurisdiction=models.Jurisdiction.objects.get(code="SH"))
    page.set_viewport_size(viewport)
    page.goto(live_server.url + "/")
    bars = page.locator("#chart-jurisdiction-title ~ .bar-chart a")
    expect(bars.first).to_be_visible()
    assert bars.count() <= 15
    long_name = "Saint Helena, Ascension and Tristan da Cunha (SH) 5 licences"
    expect(bars.filter(has_text="Saint Helena")).to_have_accessible_name(long_name)
    # The table is there for screen readers and copying, folded: the figures are not shown twice.
    expect(page.locator("#chart-jurisdiction-table")).to_be_hidden()
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'],"
        " rules: {'label-content-name-mismatch': {enabled: true}}})"
    )
    assert [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]] == []


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe-core is injected as an inline script, which the site's Content-Security-Policy rightly blocks."""
    return {**browser_context_args, "bypass_csp": True}
