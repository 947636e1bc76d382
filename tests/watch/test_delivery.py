"""Delivering events: signed webhooks to a local receiver, retries, leases, pausing; emails (watch/delivery.py)."""

import datetime
import hashlib
import hmac
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from curation import review
from tests import factories
from watch import delivery
from watch.models import Channel, Delivery, DeliveryStatus, Subscription, SubscriptionStatus, Watch

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers with the statuses it is given, in turn (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


def webhook(url, **watch):
    subscription = Subscription.objects.create(channel=Channel.WEBHOOK, name="Compliance team", url=url)
    Watch.objects.create(subscription=subscription, **(watch or {"record_type": "license"}))
    return subscription


def publish_licence(**kwargs):
    licence = review.save_edit(
        factories.DraftLicenseFactory(**kwargs), user=factories.CuratorFactory(), reason="New", base_version=1
    )
    review.publish(licence, reviewer=factories.ReviewerFactory())
    return licence


def run_due(**kwargs):
    """Run the command's work, as if each retry's back-off had already passed."""
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
    return delivery.run(**kwargs)


def test_the_webhook_is_signed_with_the_secret_shown_once(receiver):
    subscription = webhook(receiver.url)
    secret = subscription.secret  # what the admin shows on creation
    licence = publish_licence()
    summary = delivery.run()
    assert summary.delivered == 1
    ((headers, body),) = receiver.requests
    signed = headers["X-Registry-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Registry-Signature"], expected)
    assert abs(int(headers["X-Registry-Timestamp"]) - timezone.now().timestamp()) < 60
    payload = json.loads(body)
    assert (payload["kind"], payload["record_type"]) == ("license.new", "license")
    assert payload["url"].endswith(licence.get_absolute_url())
    assert payload["entity"]["name"] == licence.holder.name
    assert headers["Idempotency-Key"] == str(Delivery.objects.get().idempotency_key)


def test_a_tampered_body_does_not_verify(receiver):
    subscription = webhook(receiver.url)
    publish_licence()
    delivery.run()
    ((headers, body),) = receiver.requests
    forged = headers["X-Registry-Timestamp"].encode() + b"." + body.replace(b"license.new", b"license.old")
    assert headers["X-Registry-Signature"] != (
        "sha256=" + hmac.new(subscription.secret.encode(), forged, hashlib.sha256).hexdigest()
    )


def test_a_500_is_retried_with_exponential_back_off_and_the_same_idempotency_key(settings):
    settings.WATCH_RETRY_BASE_SECONDS = 60
    with Receiver(statuses=[500, 503]) as receiver:
        subscription = webhook(receiver.url)
        publish_licence()
        before = timezone.now()
        delivery.run()
        item = Delivery.objects.get()
        assert (item.status, item.attempts) == (DeliveryStatus.PENDING, 1)
        assert before + datetime.timedelta(seconds=59) < item.next_attempt_at < before + datetime.timedelta(seconds=70)
        assert delivery.run().delivered == 0  # not due yet: nothing sent
        assert len(receiver.requests) == 1
        item.next_attempt_at = timezone.now()
        item.save()
        delivery.run()
        item.refresh_from_db()
        assert item.attempts == 2
        wait = item.next_attempt_at - timezone.now()
        assert datetime.timedelta(seconds=110) < wait <= datetime.timedelta(seconds=120)  # doubled
        run_due()
        item.refresh_from_db()
        assert (item.status, item.attempts) == (DeliveryStatus.DELIVERED, 3)
        keys = {headers["Idempotency-Key"] for headers, _ in receiver.requests}
        assert keys == {str(item.idempotency_key)}
        log = list(subscription.log.order_by("number").values_list("number", "status_code", "succeeded"))
        assert log == [(1, 500, False), (2, 503, False), (3, 200, True)]
        subscription.refresh_from_db()
        assert subscription.consecutive_failures == 0


def test_a_delivered_event_is_never_sent_again(receiver):
    webhook(receiver.url)
    publish_licence()
    delivery.run()
    run_due()
    run_due()
    assert len(receiver.requests) == 1


def test_a_delivery_claimed_by_a_worker_that_died_is_delivered_by_the_next_run(receiver):
    webhook(receiver.url)
    publish_licence()
    delivery.dispatch()
    claimed, _ = delivery.claim(10)  # a worker takes it… and is killed before sending
    assert len(claimed) == 1
    assert delivery.run().delivered == 0  # its lease holds: no other run takes it meanwhile
    assert receiver.requests == []
    Delivery.objects.update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))  # the lease runs out
    assert delivery.run().delivered == 1
    assert len(receiver.requests) == 1


def test_a_late_answer_from_a_worker_whose_lease_was_taken_over_changes_nothing(receiver):
    webhook(receiver.url)
    publish_licence()
    delivery.dispatch()
    (stale,), stale_token = delivery.claim(10)
    Delivery.objects.update(claimed_until=timezone.now() - datetime.timedelta(seconds=1))
    (fresh,), fresh_token = delivery.claim(10)
    delivery.attempt(fresh, fresh_token)
    delivery.attempt(stale, stale_token)  # the first worker wakes up and sends too
    item = Delivery.objects.get()
    assert (item.status, item.attempts, item.log.count()) == (DeliveryStatus.DELIVERED, 1, 1)
    assert len({headers["Idempotency-Key"] for headers, _ in receiver.requests}) == 1  # the receiver can drop it


def test_a_subscription_is_paused_after_n_consecutive_failures_and_keeps_its_events(settings):
    settings.WATCH_PAUSE_AFTER_FAILURES = 3
    with Receiver(statuses=[500] * 10) as receiver:
        subscription = webhook(receiver.url)
        publish_licence()
        publish_licence()
        for _ in range(3):
            run_due()
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.PAUSED
        assert subscription.consecutive_failures == 3
        sent = len(receiver.requests)
        run_due()
        assert len(receiver.requests) == sent  # paused: nothing attempted
        assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 2


def test_an_unreachable_receiver_is_a_logged_failure():
    with Receiver() as receiver:
        url = receiver.url
    subscription = webhook(url)  # the receiver has stopped listening
    publish_licence()
    summary = delivery.run()
    assert (summary.delivered, summary.failed) == (0, 1)
    attempt = subscription.log.get()
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert attempt.error


def test_the_command_prints_one_summary_line_when_not_on_a_terminal(receiver):
    webhook(receiver.url)
    publish_licence()
    out = io.StringIO()
    call_command("deliver_notifications", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "1 new event(s) dispatched" in lines[0] and "1 delivered" in lines[0]


def test_an_email_subscriber_gets_the_event_with_a_one_click_unsubscribe_link():
    subscription = Subscription.objects.create(channel=Channel.EMAIL, email="analyst@bank.example")
    Watch.objects.create(subscription=subscription, record_type="license")
    licence = publish_licence()
    delivery.run()
    (message,) = mail.outbox
    assert message.to == ["analyst@bank.example"]
    assert licence.holder.name in message.subject
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
