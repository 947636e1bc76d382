"""Subscribing by email: double opt-in, one-time confirmation links, one-click unsubscribe (watch/views.py)."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from curation import review
from tests import factories
from watch import delivery
from watch.models import Subscription, SubscriptionStatus

pytestmark = pytest.mark.django_db

EMAIL = "analyst@bank.example"


@pytest.fixture
def entity():
    return factories.EntityFactory(slug="example-exchange", name="Example Exchange Ltd")


def subscribe(client, **data):
    return client.post(reverse("watch:subscribe"), {"email": EMAIL, **data})


def link_in(message):
    return (
        re.search(r"https?://\S+", message.body)
        .group(0)
        .split("testserver", 1)[-1]
        .replace("http://localhost:8000", "")
    )


def publish_licence(holder):
    licence = review.save_edit(
        factories.DraftLicenseFactory(holder=holder), user=factories.CuratorFactory(), reason="New", base_version=1
    )
    review.publish(licence, reviewer=factories.ReviewerFactory())
    return licence


def test_the_entity_page_links_to_the_form_with_the_entity_chosen(client, entity):
    page = client.get(entity.get_absolute_url()).content.decode()
    link = reverse("watch:subscribe") + "?entity=example-exchange"
    assert f'href="{link}"' in page
    form = client.get(link).content.decode()
    assert 'value="Example Exchange Ltd"' in form
    assert re.search(r'<input[^>]*value="entity"[^>]*checked', form)


def test_nothing_is_sent_before_the_link_is_confirmed(client, entity):
    response = subscribe(client, what="entity", entity="example-exchange")
    assert response.status_code == 200
    (confirmation,) = mail.outbox
    assert confirmation.to == [EMAIL]
    assert Subscription.objects.count() == 0  # stored only on confirmation
    publish_licence(entity)
    delivery.run()
    assert len(mail.outbox) == 1  # still only the confirmation


def test_the_confirmation_link_works_once_and_then_events_are_emailed(client, entity):
    subscribe(client, what="entity", entity="Example Exchange Ltd")
    link = link_in(mail.outbox[0])
    page = client.get(link)
    assert page.status_code == 200 and EMAIL in page.content.decode()
    assert Subscription.objects.count() == 0  # a GET (a mail scanner's) confirms nothing
    assert "Subscribed" in client.post(link).content.decode()
    subscription = Subscription.objects.get()
    assert (subscription.email, subscription.status) == (EMAIL, SubscriptionStatus.ACTIVE)
    assert str(subscription.watches.get()) == "Example Exchange Ltd and its affiliates"
    again = client.post(link)
    assert "This link was used already" in again.content.decode()
    assert Subscription.objects.count() == 1
    publish_licence(entity)
    delivery.run()
    assert mail.outbox[-1].to == [EMAIL]


def test_the_unsubscribe_link_in_each_email_stops_further_emails(client, entity):
    subscribe(client, what="entity", entity="example-exchange")
    client.post(link_in(mail.outbox[0]))
    publish_licence(entity)
    delivery.run()
    unsubscribe = mail.outbox[-1].extra_headers["List-Unsubscribe"].strip("<>").replace("http://localhost:8000", "")
    response = client.get(unsubscribe)
    assert response.status_code == 200 and "You are unsubscribed" in response.content.decode()
    assert Subscription.objects.get().status == SubscriptionStatus.UNSUBSCRIBED
    sent = len(mail.outbox)
    publish_licence(entity)
    delivery.run()
    assert len(mail.outbox) == sent


def test_a_mail_clients_one_click_post_unsubscribes_without_a_csrf_token(entity):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    subscribe(client, what="record_type", record_type="license")  # refused: no CSRF token
    assert mail.outbox == []
    subscription = Subscription.objects.create(channel="email", email=EMAIL)
    from watch.signing import unsubscribe_token

    url = reverse("watch:unsubscribe", kwargs={"token": unsubscribe_token(subscription)})
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.UNSUBSCRIBED


@pytest.mark.parametrize("view", ["watch:confirm", "watch:unsubscribe"])
def test_a_tampered_link_says_so_clearly(client, entity, view):
    subscribe(client, what="entity", entity="example-exchange")
    token = link_in(mail.outbox[0]).rstrip("/").rsplit("/", 1)[-1]
    tampered = reverse(view, kwargs={"token": token[:-3] + ("abc" if not token.endswith("abc") else "xyz")})
    for method in (client.get, client.post):
        response = method(tampered)
        assert response.status_code == 400
        assert "This link is not valid" in response.content.decode()
    assert Subscription.objects.count() == 0


def test_an_expired_confirmation_link_says_so(client, entity, settings):
    import datetime

    settings.WATCH_CONFIRM_MAX_AGE = datetime.timedelta(seconds=-1)
    subscribe(client, what="entity", entity="example-exchange")
    response = client.get(link_in(mail.outbox[0]))
    assert response.status_code == 400 and "expired" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"what": "entity", "entity": "no such firm"}, "No published entity has this name."),
        ({"what": "entity", "entity": ""}, "Name the entity to watch."),
        ({"what": "jurisdiction", "jurisdiction": "XX"}, "Select a valid choice"),
        ({"what": "record_type", "record_type": "rumours"}, "Select a valid choice"),
        ({"what": "everything"}, "Select a valid choice"),
        ({"what": "entity", "entity": "x" * 5000}, "Ensure this value has at most 300 characters"),
        ({"what": "entity", "entity": "okx\x00"}, "Null characters are not allowed"),
        ({"what": "jurisdiction", "jurisdiction": "M\x00"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_a_clear_message_never_a_500(client, entity, data, field_error):
    response = subscribe(client, **data)
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert mail.outbox == []


@pytest.mark.parametrize(
    "query", ["?entity=does-not-exist", "?entity=okx%00", "?jurisdiction=%00%ff", "?record_type=<script>", "?entity="]
)
def test_bad_preselections_show_the_form(client, query):
    assert client.get(reverse("watch:subscribe") + query).status_code == 200


def test_one_address_asking_for_too_many_confirmation_emails_gets_429_with_retry_after(client, entity, settings):
    settings.WATCH_SUBSCRIBE_THROTTLE = "2/hour"
    for _ in range(2):
        assert subscribe(client, what="entity", entity=entity.name).status_code == 200
    refused = subscribe(client, what="entity", entity=entity.name)
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert "too many confirmation emails" in refused.content.decode()
    assert len(mail.outbox) == 2  # the refused request sent nothing
