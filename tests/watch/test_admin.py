"""Staff create webhook subscriptions in the admin: the signing secret is shown once (watch/admin.py)."""

import pytest
from django.urls import reverse

from tests import factories
from verification.models import APIKey
from watch.models import Channel, Subscription, SubscriptionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))
    return client


def test_a_new_webhooks_secret_is_shown_once(staff):
    key, _ = APIKey.issue("Bank A")
    response = staff.post(
        reverse("admin:watch_subscription_add"),
        {
            "name": "Bank A compliance",
            "url": "https://hooks.bank-a.example/registry",
            "api_key": key.pk,
            "watches-TOTAL_FORMS": "1",
            "watches-INITIAL_FORMS": "0",
            "watches-0-record_type": "license",
            "log-TOTAL_FORMS": "0",
            "log-INITIAL_FORMS": "0",
        },
    )
    subscription = Subscription.objects.get()
    assert (subscription.channel, subscription.api_key) == (Channel.WEBHOOK, key)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert subscription.secret in response.content.decode()
    page = staff.get(reverse("admin:watch_subscription_change", args=[subscription.pk])).content.decode()
    assert subscription.secret not in page


def test_resuming_a_paused_subscription_clears_its_failures(staff):
    subscription = Subscription.objects.create(
        channel=Channel.WEBHOOK,
        url="https://hooks.example/x",
        status=SubscriptionStatus.PAUSED,
        consecutive_failures=10,
    )
    staff.post(
        reverse("admin:watch_subscription_changelist"),
        {"action": "resume", "_selected_action": [subscription.pk]},
    )
    subscription.refresh_from_db()
    assert (subscription.status, subscription.consecutive_failures) == (SubscriptionStatus.ACTIVE, 0)
