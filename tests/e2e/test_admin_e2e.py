"""A curator enters a licence from the seed article through the admin, in a real browser."""

import datetime
import secrets

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from registry import models
from registry.dates import DatePrecision
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The suite shares two cores with the server thread and chromium: allow more than expect()'s 5 s default.
WAIT = 15_000


def log_in(page: Page, live_server, next_path: str):
    password = secrets.token_urlsafe(24)
    get_user_model().objects.create_superuser("curator", "curator@example.org", password)
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", "curator")
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def pick(page: Page, select_id: str, term: str, choice: str):
    """Choose ``choice`` in the admin's autocomplete (select2) widget for ``select_id`` by typing ``term``."""
    page.locator(f"#{select_id} + .select2 .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(term)
    page.locator(".select2-container--open .select2-results__option", has_text=choice).click()
    expect(page.locator(f"#{select_id} + .select2 .select2-selection__rendered")).to_contain_text(choice, timeout=WAIT)


def test_curator_adds_a_month_precision_licence_with_a_citation(page: Page, live_server):
    holder = factories.EntityFactory(name="OKX Europe Ltd", slug="okx-europe")
    factories.EntityFactory(name="Other Exchange Ltd")
    regime = factories.RegimeFactory(slug="mifid-ii", short_name="MiFID II")
    factories.LicenseTypeFactory(regime=regime, slug="investment-firm", name="Investment firm authorisation")
    source = factories.SourceFactory(title="OKX global compliance licences and security certifications")

    log_in(page, live_server, "/admin/registry/license/add/")
    expect(page.locator("h1")).to_have_text("Add licence", timeout=WAIT)

    pick(page, "id_holder", "OKX", "OKX Europe Ltd")
    pick(page, "id_license_type", "MiFID", "MiFID II: Investment firm authorisation")
    page.select_option("#id_status", "active")
    page.get_by_label("Granted on: year").fill("2025")
    page.get_by_label("Granted on: month").select_option(label="March")
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
