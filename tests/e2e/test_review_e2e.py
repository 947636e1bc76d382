"""Four-eyes publishing in a real browser: a curator enters a licence, a second account reviews and publishes it."""

import secrets

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from playwright.sync_api import Browser, Page, expect

from registry import models
from tests import factories
from tests.e2e.admin_ui import WAIT, enter_okx_mifid_licence, log_in, pick

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def staff(username: str, role: str) -> tuple[str, str]:
    password = secrets.token_urlsafe(24)
    user = get_user_model().objects.create_user(username, f"{username}@registry.example", password, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return username, password


def public_page(browser: Browser, url: str) -> Page:
    """A member of the public's visit, in a browser of their own.

    Public pages may be kept by a browser for a minute (Cache-Control
    max-age): each visit starts with an empty cache, as a new visitor's would.
    """
    visitor = browser.new_context().new_page()
    visitor.goto(url)
    return visitor


def test_curator_submits_a_licence_and_a_reviewer_publishes_it_and_approves_an_edit(
    page: Page, browser: Browser, live_server
):
    factories.EntityFactory(name="OKX Europe Ltd", slug="okx-europe")
    regime = factories.RegimeFactory(slug="mifid-ii", short_name="MiFID II")
    factories.LicenseTypeFactory(regime=regime, slug="investment-firm", name="Investment firm authorisation")
    source = factories.SourceFactory(title="OKX global compliance licences and security certifications")
    curator = staff("carla", "curators")
    reviewer = staff("rafael", "reviewers")

    # The curator adds the licence with its citation: it is saved as a draft.
    log_in(page, live_server, curator, "/admin/registry/license/add/")
    enter_okx_mifid_licence(page)
    pick(page, "id_citations-0-source", "compliance", source.title)
    page.select_option("#id_citations-0-supports", "granted_on")
    page.fill("#id_citations-0-quote", "In March 2025, cryptocurrency exchange OKX obtained the MiFID II license.")
    page.fill("#id_change_reason", "Entered from the OKX compliance overview")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("saved as a draft", timeout=WAIT)
    licence = models.License.objects.get()
    assert licence.publication_status == models.Publication.DRAFT
    public_url = f"{live_server.url}/licenses/{licence.slug}/"

    # The reviewer, in a browser of their own, finds it in the queue and publishes it.
    reviewer_page = browser.new_context().new_page()
    log_in(reviewer_page, live_server, reviewer, "/admin/")
    reviewer_page.get_by_role("link", name="Review queue").click()
    drafts = reviewer_page.locator("section.draft-section", has_text="Draft licences")
    drafts.get_by_role("link", name=str(licence)).click()
    expect(reviewer_page.locator(".review-panel")).to_contain_text("Draft", timeout=WAIT)
    reviewer_page.get_by_role("link", name="Publish…").click()
    reviewer_page.fill("#id_reason", "Checked against the article")
    reviewer_page.click("input[name=_publish]")
    expect(reviewer_page.locator(".messagelist")).to_contain_text("was published", timeout=WAIT)
    licence.refresh_from_db()
    assert licence.is_published and licence.published_by.username == "rafael"

    # The curator corrects the reference number: the change waits for review, the public sees the old page.
    page.goto(f"{live_server.url}/admin/registry/license/{licence.pk}/change/")
    page.fill("#id_reference_number", "FRN-123456")
    page.fill("#id_change_reason", "Reference from the FCA register")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("Your change is waiting for review", timeout=WAIT)
    visitor = public_page(browser, public_url)
    expect(visitor.locator("main")).to_contain_text("MiFID II", timeout=WAIT)
    expect(visitor.locator("main")).not_to_contain_text("FRN-123456")

    # The reviewer sees the pending revision with its differences and approves it.
    reviewer_page.goto(f"{live_server.url}/admin/registry/revision/queue/")
    reviewer_page.get_by_role("link", name="Review the differences").click()
    row = reviewer_page.locator("#revision-differences tr", has_text="reference number")
    expect(row.locator("td.diff-new")).to_have_text("FRN-123456", timeout=WAIT)
    expect(reviewer_page.locator(".revision-reason")).to_contain_text("Reference from the FCA register")
    reviewer_page.get_by_role("button", name="Approve and publish").click()
    expect(reviewer_page.locator(".messagelist")).to_contain_text("The change was approved", timeout=WAIT)
    revision = models.Revision.objects.get()
    assert revision.status == models.RevisionStatus.APPROVED
    assert revision.changes["fields"] == {"reference_number": "FRN-123456"}

    # The public page shows the new value and the change entry, with its reason and no staff names.
    visitor = public_page(browser, public_url)
    expect(visitor.locator("main")).to_contain_text("FRN-123456", timeout=WAIT)
    changes = visitor.locator("section.changes")
    expect(changes).to_contain_text("FRN-123456", timeout=WAIT)
    expect(changes).to_contain_text("Reference from the FCA register")
    expect(changes).not_to_contain_text("carla")
    expect(changes).not_to_contain_text("rafael")


def test_a_reviewer_publishes_a_licence_with_the_draft_holder_it_waits_for(browser: Browser, live_server):
    from tests.e2e.test_accessibility_e2e import serious_violations

    holder = factories.DraftEntityFactory(name="Waiting Holder Ltd")
    licence = factories.DraftLicenseFactory(holder=holder)
    reviewer = staff("rosa", "reviewers")
    publish_path = f"/admin/registry/license/{licence.pk}/publish/"

    # A context that lets axe-core's inline script run (the admin's Content-Security-Policy would block it).
    reviewer_page = browser.new_context(bypass_csp=True).new_page()
    log_in(reviewer_page, live_server, reviewer, publish_path)
    expect(reviewer_page.locator("#publication-dependencies")).to_contain_text("Waiting Holder Ltd", timeout=WAIT)
    expect(reviewer_page.get_by_label("Holder: Waiting Holder Ltd")).to_be_checked()
    expect(reviewer_page.locator("#publication-content")).to_contain_text("March 2025")
    assert serious_violations(reviewer_page) == []

    reviewer_page.click("input[name=_publish]")
    expect(reviewer_page.locator(".messagelist")).to_contain_text("was published and is now public", timeout=WAIT)
    expect(reviewer_page.get_by_role("link", name="View on site")).to_be_visible()
    visitor = public_page(browser, f"{live_server.url}/licenses/{licence.slug}/")
    expect(visitor.locator("main")).to_contain_text("Waiting Holder Ltd", timeout=WAIT)
