"""Delivering the outbox: `manage.py deliver_notifications` runs :func:`run`.

1. time-based events: certificates whose validity ended (watch/outbox.py ``emit_expired``);
2. dispatch: each new event gets a :class:`~watch.models.Delivery` per subscription that watches it
   (watch/matching.py), in one transaction per batch;
3. delivery: a run claims due deliveries with a lease (``claimed_until``, a column, not a lock held in memory),
   attempts each outside any transaction, and records the outcome only while it still holds the lease. A worker
   killed mid-run leaves its leases to run out; the next run takes those deliveries again.

Semantics: at least once. Every attempt of a delivery carries the same ``Idempotency-Key``, so a receiver that
answered but whose answer was never recorded (the worker died in between) can drop the repeat; once a success is
recorded the delivery is never attempted again. A failure (an error, a timeout, any status but 2xx, a redirect)
is retried after ``WATCH_RETRY_BASE_SECONDS`` doubled per attempt (capped at ``WATCH_RETRY_MAX_SECONDS``), and
given up after ``WATCH_MAX_ATTEMPTS``. ``WATCH_PAUSE_AFTER_FAILURES`` failures in a row pause the subscription:
its deliveries wait, none lost, until staff resume it in the admin.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from watch import matching, outbox
from watch.events import kind
from watch.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    Subscription,
    SubscriptionStatus,
)
from watch.signing import signature, unsubscribe_token

BATCH_SIZE = 200
USER_AGENT = "ComplianceRegistry-Watch/1"


@dataclass
class Outcome:
    """How one attempt went: a success, or the status code and error of a failure."""

    succeeded: bool
    status_code: int | None = None
    error: str = ""


@dataclass
class Summary:
    """What a run did, for its one line of output."""

    expired: int = 0
    dispatched: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0
    paused: list[str] = field(default_factory=list)
    paused_ids: set[int] = field(default_factory=set)

    def __str__(self):
        return (
            f"{self.dispatched} new event(s) dispatched ({self.expired} certificate expiry), "
            f"{self.delivered} delivered, {self.failed} failed (will retry: {self.failed - self.given_up}), "
            f"{len(self.paused)} subscription(s) paused"
        )


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}" if path else ""


def backoff(attempts: int) -> datetime.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: exponential, capped."""
    seconds = settings.WATCH_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return datetime.timedelta(seconds=min(seconds, settings.WATCH_RETRY_MAX_SECONDS))


def run(progress: Callable[[Delivery, Outcome], None] | None = None, limit: int | None = None) -> Summary:
    """One run of the timer's job: announce expiries, dispatch new events, attempt what is due (at most ``limit``)."""
    summary = Summary()
    with transaction.atomic():
        summary.expired = len(outbox.emit_expired())
    summary.dispatched = dispatch()
    done = 0
    while limit is None or done < limit:
        claimed, token = claim(BATCH_SIZE if limit is None else min(BATCH_SIZE, limit - done))
        if not claimed:
            break
        for delivery in claimed:
            if delivery.subscription_id in summary.paused_ids:
                # Paused earlier in this run: its deliveries wait, unleased, for staff to resume it.
                Delivery.objects.filter(pk=delivery.pk, claim=token).update(claim=None, claimed_until=None)
                continue
            outcome = attempt(delivery, token, summary)
            done += 1
            if progress:
                progress(delivery, outcome)
    return summary


def dispatch() -> int:
    """Give each undispatched event its deliveries (one per subscription watching it); returns how many events."""
    count = 0
    while True:
        batch = list(Event.objects.undispatched().select_related("entity").order_by("pk")[:BATCH_SIZE])
        if not batch:
            return count
        with transaction.atomic():
            matches = matching.subscriptions_for(batch)
            Delivery.objects.bulk_create(
                [Delivery(event=event, subscription_id=pk) for event in batch for pk in sorted(matches[event.pk])],
                ignore_conflicts=True,
            )
            Event.objects.filter(pk__in=[event.pk for event in batch]).update(dispatched_at=timezone.now())
        count += len(batch)


def claim(limit: int) -> tuple[list[Delivery], uuid.UUID]:
    """Take up to ``limit`` due deliveries for this run: a lease of ``WATCH_LEASE_SECONDS`` on each.

    The lease is set by one UPDATE whose conditions are the row's own columns, so of two workers racing for a
    delivery the database lets one have it (PostgreSQL re-checks them on the row it locked; SQLite runs one
    writer at a time).
    """
    now = timezone.now()
    token = uuid.uuid4()
    ids = list(Delivery.objects.claimable(now).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return [], token
    Delivery.objects.unleased(now).filter(pk__in=ids).update(
        claim=token, claimed_until=now + datetime.timedelta(seconds=settings.WATCH_LEASE_SECONDS)
    )
    claimed = Delivery.objects.filter(claim=token).select_related("event__entity", "subscription").order_by("pk")
    return list(claimed), token


def attempt(delivery: Delivery, token: uuid.UUID, summary: Summary | None = None) -> Outcome:
    """Send ``delivery`` once and record the outcome (if this run still holds its lease)."""
    summary = summary or Summary()
    outcome = send(delivery)
    finished = timezone.now()
    number = delivery.attempts + 1
    with transaction.atomic():
        held = Delivery.objects.filter(pk=delivery.pk, claim=token)
        if outcome.succeeded:
            updated = held.update(
                status=DeliveryStatus.DELIVERED, delivered_at=finished, attempts=number, claim=None, claimed_until=None
            )
        else:
            gave_up = number >= settings.WATCH_MAX_ATTEMPTS
            updated = held.update(
                status=DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING,
                attempts=number,
                next_attempt_at=finished + backoff(number),
                claim=None,
                claimed_until=None,
            )
        if not updated:
            return outcome  # the lease ran out and another run took the delivery: its record stands
        DeliveryAttempt.objects.create(
            delivery=delivery,
            subscription=delivery.subscription,
            number=number,
            at=finished,
            status_code=outcome.status_code,
            error=outcome.error[:2000],
            succeeded=outcome.succeeded,
        )
        _count(delivery.subscription, outcome, finished, summary)
    if outcome.succeeded:
        summary.delivered += 1
    else:
        summary.failed += 1
        summary.given_up += number >= settings.WATCH_MAX_ATTEMPTS
    return outcome


def _count(subscription, outcome, at, summary):
    """Keep the subscription's run of failures, and pause it after ``WATCH_PAUSE_AFTER_FAILURES`` in a row."""
    rows = Subscription.objects.filter(pk=subscription.pk)
    if outcome.succeeded:
        rows.update(consecutive_failures=0)
        return
    rows.update(consecutive_failures=F("consecutive_failures") + 1)
    paused = rows.filter(
        status=SubscriptionStatus.ACTIVE, consecutive_failures__gte=settings.WATCH_PAUSE_AFTER_FAILURES
    ).update(status=SubscriptionStatus.PAUSED, paused_at=at)
    if paused:
        summary.paused.append(str(subscription))
        summary.paused_ids.add(subscription.pk)


def send(delivery: Delivery) -> Outcome:
    if delivery.subscription.channel == Channel.WEBHOOK:
        return send_webhook(delivery)
    return send_email(delivery)


def body_of(event: Event) -> dict:
    """What a subscriber receives about ``event`` (the webhook's JSON body; the email's text is made from it)."""
    payload = event.payload
    return {
        "id": event.key,
        "kind": event.kind,
        "title": kind(event.kind).label,
        "occurred_at": event.occurred_at.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "record_type": event.record_type,
        "label": payload.get("label", ""),
        "url": absolute(payload.get("url", "")) or None,
        # None for a white paper whose source names no offeror.
        "entity": {"name": event.entity.name, "url": absolute(event.entity.get_absolute_url())}
        if event.entity_id
        else None,
        "changes": payload.get("changes", []),
        "reason": payload.get("reason", ""),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: following it would send the signed body somewhere its owner did not name."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def send_webhook(delivery: Delivery) -> Outcome:
    subscription = delivery.subscription
    body = json.dumps(body_of(delivery.event), sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    if not subscription.url.lower().startswith(("https://", "http://")):
        return Outcome(False, None, "The webhook URL must start with https:// or http://.")
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": str(delivery.idempotency_key),
            "X-Registry-Event": delivery.event.kind,
            "X-Registry-Timestamp": timestamp,
            "X-Registry-Signature": signature(subscription.secret, timestamp, body),
        },
    )
    try:
        with _OPENER.open(request, timeout=settings.WATCH_WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return Outcome(False, exc.code, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Outcome(False, None, str(getattr(exc, "reason", None) or exc) or type(exc).__name__)
    if 200 <= status < 300:
        return Outcome(True, status)
    return Outcome(False, status, f"HTTP {status}")


def unsubscribe_url(subscription) -> str:
    return absolute(reverse("watch:unsubscribe", kwargs={"token": unsubscribe_token(subscription)}))


def send_email(delivery: Delivery) -> Outcome:
    subscription = delivery.subscription
    body = body_of(delivery.event)
    unsubscribe = unsubscribe_url(subscription)
    context = {"event": body, "watching": list(subscription.watches.all()), "unsubscribe_url": unsubscribe}
    message = EmailMessage(
        subject=f"{body['title']}: {body['label']}"[:200],
        body=render_to_string("watch/email/event.txt", context),
        to=[subscription.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Registry-Event": delivery.event.kind,
        },
    )
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - any failure of the mail backend is a failed attempt, retried
        return Outcome(False, None, f"{type(exc).__name__}: {exc}")
    return Outcome(True)
