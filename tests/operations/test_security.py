"""Security headers on every kind of response, and a Content-Security-Policy the pages actually live with."""

import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def csp_directives(response):
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


def assert_security_headers(response):
    directives = csp_directives(response)
    assert directives["default-src"] == ["'self'"]
    for directive in ("script-src", "style-src"):
        assert directives[directive] == ["'self'"], f"{directive} must allow no inline code"
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment"):
        assert f"{feature}=()" in permissions


def test_headers_on_a_public_html_page(client):
    entity = factories.EntityFactory()
    response = client.get(entity.get_absolute_url())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert_security_headers(response)


def test_headers_on_a_json_export(client):
    factories.EntityFactory()
    response = client.get(reverse("public:entity-export", kwargs={"format": "json"}))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert_security_headers(response)


def test_headers_on_an_admin_page(client):
    client.force_login(factories.UserFactory(is_superuser=True))
    response = client.get(reverse("admin:registry_entity_changelist"))
    assert response.status_code == 200
    assert_security_headers(response)


def test_headers_on_the_admin_login_and_on_errors(client):
    assert_security_headers(client.get(reverse("admin:login")))
    missing = client.get("/entities/no-such-entity/")
    assert missing.status_code == 404
    assert_security_headers(missing)


def test_headers_on_the_health_check(client):
    assert_security_headers(client.get("/healthz"))


@pytest.mark.e2e
def test_admin_and_api_docs_run_under_the_policy_without_violations(page, live_server, transactional_db):
    """Chromium enforces the policy: the admin's pages and the API docs render and report no blocked script or style."""
    factories.UserFactory(username="csp-admin", is_superuser=True)
    violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", "csp-admin")
    page.fill("#id_password", "correct-horse-battery-staple")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    page.goto(f"{live_server.url}{reverse('admin:registry_entity_add')}")
    # The admin's own JavaScript ran (it builds the date shortcuts and the "add another" links).
    page.wait_for_selector("#entity_form")
    page.goto(f"{live_server.url}{reverse('admin:registry_entity_changelist')}")
    page.wait_for_selector("#changelist")

    page.goto(f"{live_server.url}{reverse('public:api-docs')}")
    # Swagger UI builds the operation list from the schema with its (external) scripts.
    page.wait_for_selector(".opblock", timeout=20000)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(250, 250, 250)", "the page's base styles load from a file, not an inline <style>"

    assert violations == []
