"""Staff issue API keys in the admin: the key is shown once, and only its digest is stored."""

import pytest

from tests import factories
from tests.verification.conftest import post
from verification.models import APIKey

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once_and_works(client, seed_data):
    admin = factories.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/admin/verification/apikey/add/", {"name": "Example Bank", "rate": "1200/minute"})
    assert response.status_code == 200
    record = APIKey.objects.get(name="Example Bank")
    key = response.context["key"]
    assert key.startswith(record.prefix) and key in response.content.decode()
    assert record.created_by == admin and record.hashed_key != key
    # Never shown again.
    assert key not in client.get(f"/admin/verification/apikey/{record.pk}/change/").content.decode()
    assert key not in client.get("/admin/verification/apikey/").content.decode()
    client.logout()
    answer = post(client, [{"name": "OKX"}], HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 200


def test_a_bad_rate_is_refused_with_a_message(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    response = client.post("/admin/verification/apikey/add/", {"name": "Example Bank", "rate": "lots"})
    assert response.status_code == 200
    assert "Write a rate as requests per second" in response.content.decode()
    assert not APIKey.objects.exists()


def test_revoking_a_key_stops_it(client, seed_data):
    record, key = APIKey.issue("Former partner")
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    client.post("/admin/verification/apikey/", {"action": "revoke", "_selected_action": [record.pk]})
    record.refresh_from_db()
    assert record.revoked_at is not None
    client.logout()
    answer = post(client, [{"name": "OKX"}], HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 401
