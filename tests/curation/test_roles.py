"""What each staff role sees and may change in the admin beyond the register (curation/roles.py)."""

import datetime
import hashlib

import pytest
from django.urls import reverse
from django.utils import timezone

from imports.models import QuarantinedFile, RegisterFetch
from official.columns import Register
from official.models import RegisterChange, RegisterSnapshot
from tests import factories
from watch.models import Channel, Event, Subscription, SubscriptionStatus

pytestmark = pytest.mark.django_db

ROLES = {"curator": factories.CuratorFactory, "reviewer": factories.ReviewerFactory}
READ_ONLY = [
    ("imports", "registerfetch"),
    ("imports", "quarantinedfile"),
    ("official", "registersnapshot"),
    ("official", "registerchange"),
    ("watch", "event"),
    ("watch", "delivery"),
]


@pytest.fixture
def records():
    """One of each record the roles' admin pages show."""
    data = b"ae_lei\r\n"
    QuarantinedFile.objects.create(
        register="CASP",
        url="https://esma.example/CASPS.csv",
        fetched_at=timezone.now(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        reason="CASPS.csv is cut short.",
        content=data,
    )
    RegisterFetch.objects.create(register="CASP", last_error="refused")
    snapshot = RegisterSnapshot.objects.create(
        register=Register.CASP,
        date=datetime.date(2026, 1, 23),
        file_name="CASP20260123.csv",
        sha256="0" * 64,
        row_count=1,
        source=factories.SourceFactory(),
        imported_at=timezone.now(),
    )
    RegisterChange.objects.create(snapshot=snapshot, key="esma-casp:LEI1", kind="listed", label="Acme Exchange (LEI1)")
    subscription = Subscription.objects.create(
        channel=Channel.WEBHOOK, name="Bank A", url="https://hooks.example/a", status=SubscriptionStatus.PAUSED
    )
    entity = factories.EntityFactory()
    Event.objects.create(
        key="license.new:license:1:h1",
        kind="license.new",
        record_type="license",
        record_id=1,
        entity=entity,
        occurred_at=timezone.now(),
        payload={},
    )
    return {"subscription": subscription, "snapshot": snapshot}


@pytest.fixture(params=ROLES)
def staff(request, client):
    client.force_login(ROLES[request.param]())
    client.role = request.param
    return client


@pytest.mark.parametrize(("app", "model"), [*READ_ONLY, ("watch", "subscription")])
def test_both_roles_see_the_lists_of_what_the_apps_around_the_register_record(staff, records, app, model):
    assert staff.get(reverse(f"admin:{app}_{model}_changelist")).status_code == 200
    assert f'href="/admin/{app}/{model}/"' in staff.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize(("app", "model"), READ_ONLY)
def test_neither_role_can_add_or_change_what_the_importer_and_the_outbox_write(staff, records, app, model):
    assert staff.get(reverse(f"admin:{app}_{model}_changelist")).status_code == 200  # they see it
    assert staff.get(reverse(f"admin:{app}_{model}_add")).status_code == 403
    obj = records["snapshot"] if model == "registersnapshot" else None
    if obj is not None:
        page = staff.get(reverse(f"admin:{app}_{model}_change", args=[obj.pk]))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert staff.post(reverse(f"admin:{app}_{model}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403


def test_official_changes_are_filtered_by_register_date_and_kind_and_searched_by_label(staff, records):
    url = reverse("admin:official_registerchange_changelist")
    found = staff.get(url, {"snapshot__register": Register.CASP, "kind": "listed", "q": "Acme"}).content.decode()
    assert "Acme Exchange (LEI1)" in found
    assert "Acme Exchange" not in staff.get(url, {"kind": "removed"}).content.decode()
    assert "Acme Exchange" not in staff.get(url, {"q": "esma-casp:OTHER"}).content.decode()
    assert "Acme Exchange" in staff.get(url, {"snapshot__date": "2026-01-23"}).content.decode()


def test_reviewers_manage_webhook_subscriptions_curators_only_look(staff, records):
    subscription = records["subscription"]
    secret = subscription.secret
    reviewer = staff.role == "reviewer"
    assert staff.get(reverse("admin:watch_subscription_add")).status_code == (200 if reviewer else 403)
    page = staff.get(reverse("admin:watch_subscription_change", args=[subscription.pk]))
    assert page.status_code == 200
    assert ('name="_save"' in page.content.decode()) is reviewer
    # Actions change subscriptions (resume; a new secret, shown once): not offered to who may only look.
    for action in ("resume", "rotate_secret"):
        staff.post(
            reverse("admin:watch_subscription_changelist"), {"action": action, "_selected_action": [subscription.pk]}
        )
    subscription.refresh_from_db()
    assert (subscription.status == SubscriptionStatus.ACTIVE) is reviewer
    assert (subscription.secret != secret) is reviewer
