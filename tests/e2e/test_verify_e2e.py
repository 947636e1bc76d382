"""The paste-and-verify page in a browser: paste, verify, read the table (on a phone too), download the CSV."""

import csv
import io

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASTED = "OKX SG Pte. Ltd.\nOKX Middle East,,,FR\n,5299005V5GBSN2A4C304\nNobody Trading Ltd"


def test_paste_verify_and_download(page, live_server, live_seed_data):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server.url + "/verify/")
    page.get_by_label("Counterparties, one a line").fill(PASTED)
    page.get_by_role("button", name="Verify", exact=True).click()
    rows = page.locator(".verify-table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0).locator(".verdict")).to_have_text("Authorised")
    expect(rows.nth(0).get_by_role("link", name="OKX SG")).to_be_visible()
    expect(rows.nth(1).locator(".verdict")).to_have_text("Authorised, but not where or for what was asked")
    expect(rows.nth(2)).to_contain_text("is not a valid LEI")
    expect(rows.nth(3).locator(".verdict")).to_have_text("Not listed as authorised")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The pasted rows stay in the form: the same check downloads as CSV.
    expect(page.get_by_label("Counterparties, one a line")).to_have_value(PASTED)
    with page.expect_download() as download:
        page.get_by_role("button", name="Verify and download CSV").click()
    text = open(download.value.path(), encoding="utf-8").read()
    verdicts = [row["verdict"] for row in csv.DictReader(io.StringIO(text))]
    assert verdicts == ["authorised", "authorised_elsewhere", "", "not_listed"]
