"""The admin's sign-in resists guessing (django-axes) and asks for a TOTP code (django-otp).

And the public site never writes.
"""

import datetime
import importlib
import re

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import URLPattern, URLResolver, clear_url_caches, get_resolver, resolve, reverse, set_urlconf
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def sign_in(client, username, password, **extra):
    return client.post(
        reverse("admin:login"), {"username": username, "password": password, "next": reverse("admin:index"), **extra}
    )


def can_open_admin(client):
    return client.get(reverse("admin:index")).status_code == 200


# --- Brute force: django-axes ---


def test_five_failures_lock_the_account_out_even_for_the_right_password(client):
    factories.UserFactory(username="target", is_superuser=True)
    for _ in range(4):
        response = sign_in(client, "target", "wrong password")
        assert response.status_code == 200  # the form again, with its error
    assert sign_in(client, "target", "wrong password").status_code == 429  # the fifth failure locks
    locked = sign_in(client, "target", PASSWORD)

    assert locked.status_code == 429
    assert "Sign-in locked" in locked.content.decode()
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert "60 minutes" in locked.content.decode()
    assert not can_open_admin(client)


def test_four_failures_do_not_lock_and_success_resets_the_count(client):
    factories.UserFactory(username="curator", is_superuser=True)
    for _ in range(4):
        sign_in(client, "curator", "wrong password")
    assert sign_in(client, "curator", PASSWORD).status_code == 302
    assert can_open_admin(client)
    client.logout()
    for _ in range(4):
        sign_in(client, "curator", "wrong password")
    assert sign_in(client, "curator", PASSWORD).status_code == 302


def test_lockout_is_per_account_and_address(client):
    """Failures against one account from one address lock neither another account nor another address."""
    factories.UserFactory(username="target", is_superuser=True)
    factories.UserFactory(username="colleague", is_superuser=True)
    for _ in range(5):
        sign_in(client, "target", "wrong password")
    assert sign_in(client, "colleague", PASSWORD).status_code == 302
    client.logout()
    elsewhere = client.post(
        reverse("admin:login"), {"username": "target", "password": PASSWORD}, REMOTE_ADDR="192.0.2.7"
    )
    assert elsewhere.status_code == 302


def test_reset_command_lifts_a_lockout(client):
    factories.UserFactory(username="target", is_superuser=True)
    for _ in range(5):
        sign_in(client, "target", "wrong password")
    assert sign_in(client, "target", PASSWORD).status_code == 429
    call_command("axes_reset_username", "target", verbosity=0)
    assert sign_in(client, "target", PASSWORD).status_code == 302


@override_settings(TRUSTED_PROXIES=1)
def test_behind_a_proxy_lockout_follows_the_address_the_proxy_saw(client):
    """A client cannot dodge the lockout by forging X-Forwarded-For: only the proxy's own entry counts."""
    factories.UserFactory(username="target", is_superuser=True)
    for n in range(5):
        client.post(
            reverse("admin:login"),
            {"username": "target", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.9",
        )
    locked = client.post(
        reverse("admin:login"),
        {"username": "target", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.99, 203.0.113.9",
    )
    assert locked.status_code == 429


# --- Second factor: django-otp TOTP ---


@pytest.fixture
def staff_with_totp():
    user = factories.UserFactory(username="curator-2fa", is_superuser=True)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    return user, device


@override_settings(ADMIN_REQUIRE_2FA=True)
def test_with_2fa_required_the_password_alone_is_not_enough(client, staff_with_totp):
    response = sign_in(client, "curator-2fa", PASSWORD)
    assert response.status_code == 200
    assert 'name="otp_token"' in response.content.decode()
    assert not can_open_admin(client)


@override_settings(ADMIN_REQUIRE_2FA=True)
def test_with_2fa_required_a_current_totp_code_signs_in(client, staff_with_totp):
    user, device = staff_with_totp
    response = sign_in(client, "curator-2fa", PASSWORD, otp_token=totp(device.bin_key))
    assert response.status_code == 302
    assert can_open_admin(client)


@override_settings(ADMIN_REQUIRE_2FA=True)
def test_with_2fa_required_a_wrong_code_or_no_device_is_refused(client, staff_with_totp):
    user, device = staff_with_totp
    wrong = f"{(int(totp(device.bin_key)) + 1) % 1000000:06d}"
    assert sign_in(client, "curator-2fa", PASSWORD, otp_token=wrong).status_code == 200
    assert not can_open_admin(client)
    factories.UserFactory(username="no-device", is_superuser=True)
    assert sign_in(client, "no-device", PASSWORD, otp_token="123456").status_code == 200
    assert not can_open_admin(client)


@override_settings(ADMIN_REQUIRE_2FA=True)
def test_with_2fa_required_a_session_without_a_verified_device_is_not_staff(client, staff_with_totp):
    user, _ = staff_with_totp
    client.force_login(user)  # a password-only session, e.g. from before 2FA was turned on
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@override_settings(ADMIN_REQUIRE_2FA=False)
def test_with_2fa_off_the_password_signs_in(client, staff_with_totp):
    response = client.get(reverse("admin:login"))
    assert 'name="otp_token"' not in response.content.decode()
    assert sign_in(client, "curator-2fa", PASSWORD).status_code == 302
    assert can_open_admin(client)


def test_enroll_totp_prints_a_uri_whose_codes_sign_in(client, capsys):
    factories.UserFactory(username="new-curator", is_superuser=True)
    call_command("enroll_totp", "new-curator")
    uri = capsys.readouterr().out
    assert "otpauth://totp/" in uri
    device = TOTPDevice.objects.get(user__username="new-curator")
    assert device.confirmed
    with override_settings(ADMIN_REQUIRE_2FA=True):
        assert sign_in(client, "new-curator", PASSWORD, otp_token=totp(device.bin_key)).status_code == 302


# --- The admin's address ---


@pytest.fixture
def admin_at_staff_only():
    with override_settings(ADMIN_URL="staff-only/"):
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()
        set_urlconf(None)
        yield
    importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
    clear_url_caches()
    set_urlconf(None)


def test_moved_admin_is_not_at_admin(client, admin_at_staff_only):
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/login/").status_code == 404
    response = client.get("/staff-only/")
    assert response.status_code == 302
    assert response["Location"].startswith("/staff-only/login/")
    robots = client.get("/robots.txt").content.decode()
    assert "Disallow: /staff-only/" in robots


# --- No public view writes ---

SAMPLE = {"slug": "sample", "str": "sample", "int": "1", "path": "sample/file.csv"}


def sample_paths(patterns, prefix=""):
    """A concrete path for every public URL pattern (admin excluded), parameters filled with samples."""
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            if getattr(entry, "app_name", None) == "admin":
                continue
            yield from sample_paths(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield "/" + fill(prefix + route)


def fill(route):
    def group(match):
        alternatives = match.group(1).split("|")
        return alternatives[0] if re.fullmatch(r"[\w-]+", alternatives[0]) else "sample"

    route = re.sub(r"\(\?P<\w+>([^)]*)\)", group, route)  # re_path groups
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "str", "sample"), route)  # path converters
    return route.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")


def asks_by_post(path):
    view = getattr(resolve(path).func, "view_class", None)
    return getattr(view, "accepts_public_post", False) is True


def test_every_public_url_refuses_writes(client):
    factories.EntityFactory(slug="sample")
    paths = sorted(set(sample_paths(get_resolver().url_patterns)))
    # The walk found the site: pages, exports, the API, feeds, robots and the sitemap.
    for expected in ("/", "/entities/sample/", "/entities.csv", "/api/", "/feeds/changes.atom", "/sitemap.xml"):
        assert expected in paths
    assert len(paths) > 25
    for path in paths:
        for method in ("post", "put", "patch", "delete"):
            with CaptureQueriesContext(connection) as queries:
                response = getattr(client, method)(path, data={"name": "defaced"}, content_type="application/json")
            if method == "post" and asks_by_post(path):
                # A question too long for an address (POST /api/verify/): answered or refused, never a write.
                assert response.status_code < 500, f"POST {path} answered {response.status_code}"
            else:
                assert response.status_code in (403, 405), f"{method.upper()} {path} answered {response.status_code}"
            writes = [q["sql"] for q in queries if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.I)]
            assert writes == [], f"{method.upper()} {path} wrote: {writes}"


@pytest.mark.parametrize(
    ("cooloff", "shown"),
    [(datetime.timedelta(minutes=1), "for 1 minute."), (datetime.timedelta(hours=1), "for 60 minutes.")],
)
def test_the_lockout_page_says_how_long_in_words_that_agree(client, settings, cooloff, shown):
    settings.AXES_COOLOFF_TIME = cooloff
    factories.UserFactory(username="target", is_superuser=True)
    for _ in range(5):
        sign_in(client, "target", "wrong password")
    page = " ".join(sign_in(client, "target", PASSWORD).content.decode().split())
    assert f"signing in is locked {shown}" in page
