"""Steps a member of staff takes in the admin, shared by the browser tests that drive it."""

from playwright.sync_api import Page, expect

# The suite shares two cores with the server thread and chromium: allow more than expect()'s 5 s default.
WAIT = 15_000


def log_in(page: Page, live_server, credentials: tuple[str, str], next_path: str):
    """Sign in on the admin's login page as ``credentials`` (username, password), then go on to ``next_path``."""
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", credentials[0])
    page.fill("#id_password", credentials[1])
    page.click("input[type=submit]")


def pick(page: Page, select_id: str, term: str, choice: str):
    """Choose ``choice`` in the admin's autocomplete (select2) widget for ``select_id`` by typing ``term``."""
    page.locator(f"#{select_id} + .select2 .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill(term)
    page.locator(".select2-container--open .select2-results__option", has_text=choice).click()
    expect(page.locator(f"#{select_id} + .select2 .select2-selection__rendered")).to_contain_text(choice, timeout=WAIT)


def enter_okx_mifid_licence(page: Page):
    """On the "Add licence" form, the seed article's licence: OKX Europe Ltd's MiFID II investment firm
    authorisation, active, granted in March 2025 (a date known to the month)."""
    expect(page.locator("h1")).to_have_text("Add licence", timeout=WAIT)
    pick(page, "id_holder", "OKX", "OKX Europe Ltd")
    pick(page, "id_license_type", "MiFID", "MiFID II: Investment firm authorisation")
    page.select_option("#id_status", "active")
    page.get_by_label("Granted on: year").fill("2025")
    page.get_by_label("Granted on: month").select_option(label="March")
