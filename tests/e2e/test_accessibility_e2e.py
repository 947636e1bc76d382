"""Every page type: a title, one h1, a main landmark, and no serious or critical axe-core violations.

axe-core runs offline from ``tests/e2e/vendor/axe.min.js`` (npm package axe-core 4.14.1, MPL-2.0,
licence alongside), injected into the page under test.
"""

from pathlib import Path

import pytest

from tests.e2e.test_public_pages_e2e import load_seed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"

PAGES = {
    "home": "/",
    "search": "/search/?q=OKX",
    "search-empty": "/search/",
    "group": "/entities/okx/",
    "affiliate": "/entities/okx-sg/",
    "auditor": "/entities/slowmist/",
    "licence": "/licenses/okx-mica-casp/",
    "audit": "/audits/okx-slowmist-security-audits/",
    "certification": "/audits/okx-iso-iec-27001-2025-05/",
    "regulator": "/regulators/vara/",
    "regime": "/regimes/mica/",
    "source": "/sources/okx-compliance-overview-article/",
    "licences": "/licenses/",
    "changes": "/changes/?type=license",
    "api-guide": "/about/api/",
}


def serious_violations(page):
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        (violation["id"], violation["impact"], [node["target"] for node in violation["nodes"]][:5])
        for violation in result["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_accessible(page, live_server, name, width):
    load_seed()
    page.set_viewport_size({"width": width, "height": 900})
    response = page.goto(live_server.url + PAGES[name])
    assert response.status == 200
    assert page.title().strip().endswith("· Compliance Registry")
    assert len(page.title()) > len(" · Compliance Registry")
    assert page.locator("h1").count() == 1
    assert page.locator("main").count() == 1
    assert page.get_by_role("main").count() == 1
    assert serious_violations(page) == []


@pytest.fixture
def browser_context_args(browser_context_args):
    """axe-core is injected as an inline script, which the site's Content-Security-Policy rightly blocks."""
    return {**browser_context_args, "bypass_csp": True}
