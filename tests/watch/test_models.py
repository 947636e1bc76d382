import pytest
from django.db import IntegrityError, transaction

from tests import factories
from watch.models import Channel, Subscription, Watch


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target",
    [
        pytest.param(lambda: {"entity": factories.EntityFactory()}, id="entity"),
        pytest.param(lambda: {"jurisdiction": factories.JurisdictionFactory()}, id="jurisdiction"),
        pytest.param(lambda: {"record_type": "license"}, id="record-type"),
    ],
)
def test_the_database_refuses_a_subscription_watching_the_same_thing_twice(target):
    subscription = Subscription.objects.create(channel=Channel.EMAIL, email="analyst@bank.example")
    other = Subscription.objects.create(channel=Channel.EMAIL, email="other@bank.example")
    watched = target()
    Watch.objects.create(subscription=subscription, **watched)
    Watch.objects.create(subscription=other, **watched)  # another subscriber may watch it too
    with pytest.raises(IntegrityError), transaction.atomic():
        Watch.objects.create(subscription=subscription, **watched)
    # A different target of another kind is still welcome beside it.
    Watch.objects.create(subscription=subscription, record_type="audit")
    assert Watch.objects.filter(subscription=subscription).count() == 2
