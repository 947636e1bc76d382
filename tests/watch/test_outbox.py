"""Events written by curation.review, in the transaction of the change (watch/outbox.py)."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from curation import review
from registry import models
from registry.dates import DatePrecision
from tests import factories
from watch import outbox
from watch.models import Event

pytestmark = pytest.mark.django_db


def drafted(record, user):
    return review.save_edit(record, user=user, reason="From the source", base_version=record.version)


def approved_edit(record, curator, reviewer, reason, **changes):
    """``record`` changed by a revision proposed at its current version, then approved; ``changes`` as
    ``review.propose`` takes them (``fields``, ``inlines``)."""
    revision = review.propose(record, author=curator, reason=reason, base_version=record.version, **changes)
    review.approve(revision, reviewer=reviewer)


def kinds(**filters):
    return sorted(Event.objects.filter(**filters).values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("draft_factory", "kind", "record_type", "about", "label_start"),
    [
        pytest.param(
            factories.DraftLicenseFactory, "license.new", "license", "holder", lambda licence: licence.holder.name
        ),
        pytest.param(factories.DraftWhitePaperFactory, "white_paper.new", "whitepaper", "offeror", str),
    ],
    ids=["licence-about-its-holder", "white-paper-about-its-offeror"],
)
def test_publishing_a_record_writes_its_new_event_about_its_entity(
    curator, reviewer, draft_factory, kind, record_type, about, label_start
):
    record = drafted(draft_factory(), curator)
    assert kinds() == []
    review.publish(record, reviewer=reviewer)
    event = Event.objects.get()
    assert (event.kind, event.record_type, event.record_id, event.entity) == (
        kind,
        record_type,
        record.pk,
        getattr(record, about),
    )
    assert event.payload["url"] == record.get_absolute_url()
    assert event.payload["label"].startswith(label_start(record))


def test_a_publish_rolled_back_leaves_no_event(curator, reviewer):
    licence = drafted(factories.DraftLicenseFactory(), curator)
    with pytest.raises(RuntimeError), transaction.atomic():
        review.publish(licence, reviewer=reviewer)
        assert kinds() == ["license.new"]  # written inside the transaction…
        raise RuntimeError("the request failed after publishing")
    assert kinds() == []  # …and gone with it
    assert not models.License.objects.published().filter(pk=licence.pk).exists()


def test_a_licence_that_waits_for_its_holder_is_new_when_the_holder_is_published(curator, reviewer):
    holder = drafted(factories.DraftEntityFactory(), curator)
    licence = factories.LicenseFactory(holder=holder)  # published, but hidden while its holder is a draft
    assert kinds() == []
    review.publish(holder, reviewer=reviewer)
    assert list(Event.objects.values_list("kind", "record_id")) == [("license.new", licence.pk)]


def test_unpublishing_a_licence_writes_a_withdrawn_event(reviewer):
    licence = factories.LicenseFactory()
    review.unpublish(licence, reviewer=reviewer, reason="The regulator revoked it")
    event = Event.objects.get()
    assert (event.kind, event.record_id, event.payload["url"]) == ("license.withdrawn", licence.pk, "")


def test_an_approved_status_change_writes_a_status_event_with_old_and_new(curator, reviewer):
    licence = factories.LicenseFactory()
    approved_edit(
        licence, curator, reviewer, "The regulator revoked it", fields={"status": models.LicenseStatus.REVOKED}
    )
    event = Event.objects.get()
    assert event.kind == "license.status_changed"
    assert {"field": "Status", "old": "Active", "new": "Revoked"} in event.payload["changes"]
    assert event.payload["reason"] == "The regulator revoked it"


def test_an_approved_edit_of_another_field_writes_no_event(curator, reviewer):
    licence = factories.LicenseFactory()
    approved_edit(licence, curator, reviewer, "Typo", fields={"reference_number": "X-1"})
    assert kinds() == []


def warning_about(entity, source):
    return models.WarningNotice.objects.create(
        slug=f"warning-{entity.slug}",
        entity=entity,
        jurisdiction=factories.JurisdictionFactory(code="MT", name="Malta"),
        source=source,
    )


def test_publishing_a_warning_notice_writes_a_new_warning_event(curator, reviewer):
    notice = drafted(warning_about(factories.EntityFactory(), factories.SourceFactory()), curator)
    review.publish(notice, reviewer=reviewer)
    event = Event.objects.get()
    assert (event.kind, event.record_id, event.entity) == ("warning.new", notice.pk, notice.entity)


def test_a_warning_published_again_is_not_new(reviewer):
    notice = warning_about(factories.EntityFactory(), factories.SourceFactory())
    models.WarningNotice.objects.filter(pk=notice.pk).update(publication_status=models.Publication.PUBLISHED)
    notice.refresh_from_db()
    notice.save()  # a history row while public: it was public before any event could be written
    review.unpublish(notice, reviewer=reviewer, reason="Checked the wrong list")
    notice.refresh_from_db()
    review.publish(notice, reviewer=factories.ReviewerFactory())
    assert kinds() == []


def report_after(earlier, issued_on):
    return factories.DraftAuditFactory(subject=earlier.subject, standard=earlier.standard, issued_on=issued_on)


def test_publishing_a_later_certificate_supersedes_the_earlier_one(curator, reviewer):
    earlier = factories.AuditFactory(issued_on=datetime.date(2024, 5, 1))
    later = drafted(report_after(earlier, datetime.date(2025, 6, 1)), curator)
    review.publish(later, reviewer=reviewer)
    event = Event.objects.get(kind="certificate.superseded")
    assert (event.record_id, event.entity) == (earlier.pk, earlier.subject)
    assert event.payload["changes"][0]["field"] == "Superseded by"
    # Publishing yet another report later does not announce the first one twice.
    third = drafted(report_after(earlier, datetime.date(2026, 1, 1)), curator)
    review.publish(third, reviewer=reviewer)
    superseded = Event.objects.filter(kind="certificate.superseded")
    assert sorted(superseded.values_list("record_id", flat=True)) == [earlier.pk, later.pk]


def test_an_approved_suspension_writes_a_certificate_status_event(curator, reviewer):
    audit = factories.AuditFactory()
    source = factories.SourceFactory()
    approved_edit(
        audit,
        curator,
        reviewer,
        "The certification body suspended it",
        inlines={
            "registry.AuditStatusChange": {
                "create": [
                    {
                        "status": "suspended",
                        "effective_on": "2025-06-01",
                        "effective_on_precision": DatePrecision.DAY,
                        "source_id": source.pk,
                        "quote": "suspended",
                    }
                ]
            }
        },
    )
    assert kinds() == ["certificate.status_changed"]
    assert Event.objects.get().record_id == audit.pk


def test_the_operators_publish_writes_events(curator):
    licence = drafted(factories.DraftLicenseFactory(), curator)
    review.publish_as_operator([licence], reason="ESMA register import, published by the operator", user=curator)
    assert kinds() == ["license.new"]


def test_an_expired_certificate_is_announced_once():
    today = timezone.localdate()
    audit = factories.AuditFactory(
        issued_on=today - datetime.timedelta(days=400),
        issued_on_precision=DatePrecision.DAY,
        valid_until=today - datetime.timedelta(days=1),
        valid_until_precision=DatePrecision.DAY,
    )
    long_gone = factories.AuditFactory(  # expired long before: the register never saw it go
        issued_on=datetime.date(2019, 1, 1),
        issued_on_precision=DatePrecision.DAY,
        valid_until=datetime.date(2020, 1, 1),
        valid_until_precision=DatePrecision.DAY,
    )
    outbox.emit_expired()
    outbox.emit_expired()
    assert list(Event.objects.values_list("kind", "record_id")) == [("certificate.expired", audit.pk)]
    assert long_gone.pk not in Event.objects.values_list("record_id", flat=True)


def test_a_white_paper_reaches_watches_of_its_offerors_group_its_states_and_its_record_type(curator, reviewer):
    from watch import delivery
    from watch.models import Channel, Delivery, Subscription, Watch

    def subscribed(**watch):
        subscription = Subscription.objects.create(channel=Channel.EMAIL, email="watcher@bank.example")
        Watch.objects.create(subscription=subscription, **watch)
        return subscription

    group = factories.GroupFactory()
    ireland = factories.JurisdictionFactory(code="IE", name="Ireland")
    france = factories.JurisdictionFactory(code="FR", name="France")
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    watches = {
        "group": subscribed(entity=group),
        "home": subscribed(jurisdiction=ireland),
        "host": subscribed(jurisdiction=france),
        "type": subscribed(record_type="whitepaper"),
        "elsewhere": subscribed(jurisdiction=malta),
        "licences": subscribed(record_type="license"),
    }
    paper = factories.DraftWhitePaperFactory(offeror=factories.AffiliateFactory(parent=group), jurisdiction=ireland)
    paper.host_states.add(france)
    review.publish(drafted(paper, curator), reviewer=reviewer)
    delivery.dispatch()

    reached = {
        name: list(Delivery.objects.filter(subscription=s).values_list("event__kind", "event__record_id"))
        for name, s in watches.items()
    }
    for name in ("group", "home", "host", "type"):
        assert reached[name] == [("white_paper.new", paper.pk)], name
    assert reached["elsewhere"] == reached["licences"] == []


def test_a_white_paper_naming_no_offeror_still_reaches_the_record_type_and_its_state(curator, reviewer):
    """ESMA lists white papers with no offeror (no ae_lei_name): the event is about no entity, and reaches those
    who watch every white paper or its member state; the email and webhook say so instead of naming an entity."""
    from django.core import mail

    from watch import delivery
    from watch.models import Channel, Delivery, Subscription, Watch

    def subscribed(**watch):
        subscription = Subscription.objects.create(channel=Channel.EMAIL, email="watcher@bank.example")
        Watch.objects.create(subscription=subscription, **watch)
        return subscription

    ireland = factories.JurisdictionFactory(code="IE", name="Ireland")
    watches = {
        "type": subscribed(record_type="whitepaper"),
        "home": subscribed(jurisdiction=ireland),
        "entity": subscribed(entity=factories.EntityFactory()),
    }
    paper = factories.DraftWhitePaperFactory(offeror=None, jurisdiction=ireland)
    review.publish(drafted(paper, curator), reviewer=reviewer)

    event = Event.objects.get()
    assert (event.kind, event.record_id, event.entity) == ("white_paper.new", paper.pk, None)
    delivery.dispatch()
    reached = {
        name: list(Delivery.objects.filter(subscription=s).values_list("event", flat=True))
        for name, s in watches.items()
    }
    assert reached == {"type": [event.pk], "home": [event.pk], "entity": []}
    assert delivery.body_of(event)["entity"] is None
    delivery.run()
    assert len(mail.outbox) == 2 and all("Entity:" not in message.body for message in mail.outbox)


def test_only_a_white_papers_event_may_be_about_no_entity():
    from django.db import IntegrityError

    common = {"occurred_at": timezone.now(), "payload": {}, "record_id": 1}
    Event.objects.create(key="paper", kind="white_paper.new", record_type="whitepaper", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Event.objects.create(key="licence", kind="license.new", record_type="license", **common)
