"""A curator enters a licence from the seed article through the admin, in a real browser."""

import datetime
import secrets

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from registry import models
from registry.dates import DatePrecision
from tests import factories
from tests.e2e.admin_ui import WAIT, enter_okx_mifid_licence, log_in, pick

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def superuser() -> tuple[str, str]:
    password = secrets.token_urlsafe(24)
    get_user_model().objects.create_superuser("curator", "curator@example.org", password)
    return "curator", password


def test_curator_adds_a_month_precision_licence_with_a_citation(page: Page, live_server):
    holder = factories.EntityFactory(name="OKX Europe Ltd", slug="okx-europe")
    factories.EntityFactory(name="Other Exchange Ltd")
    regime = factories.RegimeFactory(slug="mifid-ii", short_name="MiFID II")
    factories.LicenseTypeFactory(regime=regime, slug="investment-firm", name="Investment firm authorisation")
    source = factories.SourceFactory(title="OKX global compliance licences and security certifications")

    log_in(page, live_server, superuser(), "/admin/registry/license/add/")
    enter_okx_mifid_licence(page)
    page.check("#id_serves_institutional")

    pick(page, "id_citations-0-source", "compliance", source.title)
    page.select_option("#id_citations-0-supports", "granted_on")
    page.fill(
        "#id_citations-0-quote",
        "In March 2025, cryptocurrency exchange OKX successfully obtained the European Markets in Financial "
        "Instruments Directive II (MiFID II) license.",
    )
    page.fill("#id_citations-0-states", "March 2025")
    page.fill("#id_change_reason", "Entered from the OKX compliance overview")
    page.click("input[name=_save]")

    expect(page.locator(".messagelist")).to_contain_text("was added successfully", timeout=WAIT)
    expect(page.locator(".messagelist")).to_contain_text("saved as a draft", timeout=WAIT)
    licence = models.License.objects.get()
    assert licence.publication_status == models.Publication.DRAFT
    assert licence.holder == holder
    assert licence.granted_on == datetime.date(2025, 3, 1)
    assert licence.granted_on_precision == DatePrecision.MONTH
    assert licence.serves_institutional
    assert licence.slug == "okx-europe-mifid-ii-investment-firm"
    citation = licence.citations.get()
    assert citation.source == source
    assert citation.supports == models.LicenseFact.GRANTED
    assert citation.quote.startswith("In March 2025")

    row = page.locator("#result_list tbody tr", has_text="OKX Europe Ltd")
    expect(row.locator("td.field-granted_display")).to_have_text("March 2025", timeout=WAIT)


def fits_the_screen(page: Page) -> dict:
    """How wide the page and the change list's table are, against the space they have."""
    return page.evaluate(
        """() => {
            const results = document.querySelector("#changelist-form .results");
            return {
                page: document.documentElement.scrollWidth,
                results: results ? results.scrollWidth - results.clientWidth : 0,
            };
        }"""
    )


@pytest.mark.slow
@pytest.mark.parametrize("sort", ["", "?o=5.3.2"], ids=["default-order", "sorted-on-three-columns"])
def test_licence_list_fits_1366_px_with_status_publication_and_citations(page: Page, live_server, live_esma_data, sort):
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, superuser(), f"/admin/registry/license/{sort}")
    expect(page.locator("#result_list")).to_be_visible(timeout=WAIT)
    # ESMA's long firm names are on the page.
    expect(page.locator("#result_list")).to_contain_text("Hidden Road Partners CIV NL B.V.")

    assert fits_the_screen(page) == {"page": 1366, "results": 0}
    results = page.locator("#changelist-form .results").bounding_box()
    for column in ["status", "publication_status", "citations_display"]:
        header = page.locator(f"#result_list thead th.column-{column}")
        expect(header).to_be_visible()
        box = header.bounding_box()
        assert box["x"] + box["width"] <= results["x"] + results["width"] + 1, column
    row = page.locator("#result_list tbody tr", has_text="Hidden Road Partners CIV NL B.V.")
    expect(row.locator("td.field-status")).to_have_text("Active")
    expect(row.locator("td.field-publication_status")).to_have_text("Published")
    expect(row.locator("td.field-citations_display")).to_have_text("6")


@pytest.mark.slow
def test_licence_form_with_citations_fits_1366_px(page: Page, live_server, live_esma_data):
    licence = models.License.objects.get(holder__name="Hidden Road Partners CIV NL B.V.")
    assert licence.citations.count() == 6
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, superuser(), f"/admin/registry/license/{licence.pk}/change/")
    expect(page.locator("#citations-group")).to_be_visible(timeout=WAIT)
    expect(page.locator("#citations-group tbody tr.has_original")).to_have_count(6)

    assert fits_the_screen(page)["page"] == 1366
    group = page.locator("#citations-group").bounding_box()
    assert group["x"] + group["width"] <= 1366
    for field in ["source", "supports", "quote", "locator", "states"]:
        cell = page.locator(f"#citations-group tbody tr.has_original td.field-{field}").first
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= group["x"] + group["width"], field
