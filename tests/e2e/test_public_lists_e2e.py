"""A new visitor finds OKX's MiCA licence on /licenses/ and takes the filtered data away as CSV."""

import csv
import datetime

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seed(live_seed_data):
    """The seed with country-level jurisdictions: the full ISO 3166-2 list is not needed here."""


def results(page: Page):
    return page.locator("table.list-table tbody tr")


def test_find_the_mica_licence_by_search_and_by_filters(page: Page, live_server, seed):
    page.goto(f"{live_server.url}/licenses/")
    expect(page.locator("h1")).to_have_text("Licences")
    expect(results(page)).to_have_count(4)

    page.get_by_label("Search").fill("MiCA")
    page.get_by_role("button", name="Apply").click()
    expect(results(page)).to_have_count(1)
    expect(results(page).first).to_contain_text("OKX")
    expect(results(page).first).to_contain_text("February 2025")
    assert "q=MiCA" in page.url

    page.goto(f"{live_server.url}/licenses/")
    page.get_by_label("Usable in").fill("MT")
    page.get_by_label("Regime").select_option("mica")
    page.get_by_role("button", name="Apply").click()
    expect(results(page)).to_have_count(1)
    expect(results(page).first).to_contain_text("MiCA")

    # The state is in the URL: a reload shows the same single row, and the facet shows it selected.
    page.reload()
    expect(results(page)).to_have_count(1)
    expect(page.locator(".facets a[aria-current=true]", has_text="MiCA")).to_be_visible()

    # The row leads to the licence's own page.
    results(page).first.get_by_role("link", name="CASP", exact=False).click()
    expect(page).to_have_url(f"{live_server.url}/licenses/okx-mica-casp/")


def test_a_bad_date_is_explained_beside_its_field(page: Page, live_server, seed):
    page.goto(f"{live_server.url}/licenses/?granted_after=2025-13-45&regime=mica")
    expect(page.locator("#id_granted_after_errors")).to_contain_text("Enter a valid date")
    expect(results(page)).to_have_count(1)


def test_download_the_csv_of_a_filtered_list(page: Page, live_server, seed):
    page.goto(f"{live_server.url}/licenses/?usable_in=MT")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    download = download_info.value
    assert download.suggested_filename == f"licenses-MT-{datetime.datetime.now(datetime.UTC).date().isoformat()}.csv"
    with open(download.path(), encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Malta: the MiCA licence granted there and the MiFID II licence passported in through the EEA.
    assert sorted(row["slug"] for row in rows) == ["okx-mica-casp", "okx-mifid-ii-investment-firm"]
    mica = next(row for row in rows if row["slug"] == "okx-mica-casp")
    assert mica["holder_slug"] == "okx"
    assert mica["regime_slug"] == "mica"
    assert mica["granted_display"] == "February 2025"
