"""Which subscriptions an event reaches (watch/matching.py)."""

import pytest

from curation import review
from registry import models
from tests import factories
from watch import delivery
from watch.models import Channel, Delivery, Subscription, SubscriptionStatus, Watch

pytestmark = pytest.mark.django_db


def subscribed(**watch):
    subscription = Subscription.objects.create(channel=Channel.EMAIL, email="watcher@bank.example")
    Watch.objects.create(subscription=subscription, **watch)
    return subscription


def publish(record):
    record = review.save_edit(record, user=factories.CuratorFactory(), reason="New", base_version=record.version)
    review.publish(record, reviewer=factories.ReviewerFactory())
    delivery.dispatch()
    return record


def reached(subscription):
    return list(Delivery.objects.filter(subscription=subscription).values_list("event__kind", "event__record_id"))


def test_an_entity_watch_covers_the_entity_and_its_affiliates_two_levels_down():
    group = factories.GroupFactory()
    affiliate = factories.AffiliateFactory(parent=group)
    grandchild = factories.AffiliateFactory(parent=affiliate)
    other = factories.EntityFactory()
    watching_group = subscribed(entity=group)
    watching_affiliate = subscribed(entity=affiliate)
    own = publish(factories.DraftLicenseFactory(holder=group))
    child = publish(factories.DraftLicenseFactory(holder=affiliate))
    deep = publish(factories.DraftLicenseFactory(holder=grandchild))
    publish(factories.DraftLicenseFactory(holder=other))
    assert sorted(reached(watching_group)) == sorted(
        [("license.new", own.pk), ("license.new", child.pk), ("license.new", deep.pk)]
    )
    # Watching an affiliate does not reach up to its group.
    assert sorted(reached(watching_affiliate)) == sorted([("license.new", child.pk), ("license.new", deep.pk)])
    # The page's rule and the watch's agree.
    page = set(
        models.License.objects.filter(holder__in=models.Entity.objects.with_affiliates(group)).values_list(
            "pk", flat=True
        )
    )
    assert {pk for _, pk in reached(watching_group)} == page


def test_a_jurisdiction_watch_covers_the_licences_usable_there():
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    france = factories.JurisdictionFactory(code="FR", name="France")
    eu = factories.AreaFactory(code="EU", name="European Union")
    eu.members.add(malta, france)
    watching_malta = subscribed(jurisdiction=malta)
    granted = publish(factories.DraftLicenseFactory(jurisdiction=malta))
    passported = factories.DraftLicenseFactory(jurisdiction=france)
    passported.passported_to.add(malta)
    passported = publish(passported)
    elsewhere = publish(factories.DraftLicenseFactory(jurisdiction=france))
    usable = set(models.License.objects.usable_in("MT").values_list("pk", flat=True))
    assert {pk for _, pk in reached(watching_malta)} == usable == {granted.pk, passported.pk}
    assert elsewhere.pk not in usable


def test_a_jurisdiction_watch_covers_warnings_from_there():
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    watching = subscribed(jurisdiction=malta)
    notice = models.WarningNotice.objects.create(
        slug="warning-x", entity=factories.EntityFactory(), jurisdiction=malta, source=factories.SourceFactory()
    )
    publish(notice)
    assert reached(watching) == [("warning.new", notice.pk)]


def test_a_record_type_watch_gets_every_event_of_that_type_and_no_other():
    licences = subscribed(record_type="license")
    warnings = subscribed(record_type="warning")
    licence = publish(factories.DraftLicenseFactory())
    assert reached(licences) == [("license.new", licence.pk)]
    assert reached(warnings) == []


def test_unsubscribed_subscriptions_and_later_ones_get_nothing_earlier():
    gone = subscribed(record_type="license")
    Subscription.objects.filter(pk=gone.pk).update(status=SubscriptionStatus.UNSUBSCRIBED)
    licence = review.save_edit(
        factories.DraftLicenseFactory(), user=factories.CuratorFactory(), reason="New", base_version=1
    )
    review.publish(licence, reviewer=factories.ReviewerFactory())
    later = subscribed(record_type="license")  # after the event was written, before it was dispatched
    delivery.dispatch()
    assert reached(gone) == [] and reached(later) == []
