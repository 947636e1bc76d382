"""Subscriptions, what they watch, and the outbox of events with their deliveries and delivery log.

* :class:`Subscription`: where to tell (a signed webhook, or an email address confirmed by double opt-in);
* :class:`Watch`: what it watches: an entity (and its affiliates), a jurisdiction, or a whole record type;
* :class:`Event`: a public change, written in the transaction that made it (watch/outbox.py);
* :class:`Delivery`: one event for one subscription, with its lease, retries and idempotency key;
* :class:`DeliveryAttempt`: the delivery log (each attempt, its status code or error, and when).

A webhook's secret is stored as it is: an HMAC signature needs the secret itself (a digest of it could not sign),
and this project ships no encryption library whose key would live anywhere but beside the database. It is shown
once, on the page that answers its creation (or its rotation), never in a form, list or export afterwards.
"""

from __future__ import annotations

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from registry.models.base import optional_link
from watch.events import EVENT_KINDS, RECORD_TYPES

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix that makes a leaked secret recognisable, not a secret


class Channel(models.TextChoices):
    WEBHOOK = "webhook", "Signed webhook"
    EMAIL = "email", "Email"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused after repeated failures"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class SubscriptionQuerySet(models.QuerySet):
    def get_by_natural_key(self, token):
        return self.get(token=token)

    def deliverable(self):
        """Subscriptions whose deliveries are attempted: active (a paused one waits for staff to resume it)."""
        return self.filter(status=SubscriptionStatus.ACTIVE)

    def receiving(self):
        """Subscriptions new events are addressed to: active or paused (a paused one keeps its events)."""
        return self.exclude(status=SubscriptionStatus.UNSUBSCRIBED)


class Subscription(models.Model):
    """Where events about what it watches are sent: a webhook URL (staff create it) or a confirmed email address."""

    token = models.UUIDField(
        unique=True, default=uuid.uuid4, editable=False, help_text="The subscription's public identity (links)."
    )
    channel = models.CharField(max_length=7, choices=Channel.choices, help_text="Webhook or email.")
    name = models.CharField(max_length=200, blank=True, help_text="Whom it is for (webhooks); shown to staff only.")
    url = models.URLField(
        "webhook URL",
        max_length=500,
        blank=True,
        help_text="Where events are POSTed (webhooks only).",
    )
    email = models.EmailField(blank=True, help_text="Where events are emailed (email subscriptions only).")
    secret = models.CharField(
        max_length=100,
        blank=True,
        editable=False,
        help_text="Signs each webhook body (HMAC-SHA256); shown once. Stored as is: signing needs the secret itself.",
    )
    api_key = optional_link(
        "verification.APIKey", models.SET_NULL, "subscriptions", "The API-key holder this webhook belongs to, if any."
    )
    status = models.CharField(
        max_length=12,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
        help_text="Paused after too many consecutive failed deliveries (DJANGO_WATCH_PAUSE_AFTER); resume it here.",
    )
    consecutive_failures = models.PositiveIntegerField(
        default=0, editable=False, help_text="Failed attempts since the last success."
    )
    confirm_nonce = models.CharField(
        max_length=32,
        null=True,
        blank=True,
        unique=True,
        editable=False,
        help_text="The confirmation link that created it (an email subscription): a link works once.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="watch_subscription_channel_valid"),
            models.CheckConstraint(
                condition=Q(status__in=SubscriptionStatus.values), name="watch_subscription_status_valid"
            ),
            models.CheckConstraint(
                condition=(Q(channel=Channel.WEBHOOK) & ~Q(url="") & ~Q(secret=""))
                | (Q(channel=Channel.EMAIL) & ~Q(email="")),
                name="watch_subscription_has_address",
                violation_error_message="A webhook needs a URL and a secret; an email subscription an address.",
            ),
        ]

    def __str__(self):
        where = self.url if self.channel == Channel.WEBHOOK else self.email
        return f"{self.name or self.get_channel_display()}: {where}"

    def save(self, *args, **kwargs):
        if self.channel == Channel.WEBHOOK and not self.secret:
            self.new_secret()
        super().save(*args, **kwargs)

    def natural_key(self):
        return (str(self.token),)

    def clean(self):
        super().clean()
        if self.channel == Channel.WEBHOOK and not self.url:
            raise ValidationError({"url": "A webhook subscription needs the URL to POST events to."})
        if self.channel == Channel.EMAIL and not self.email:
            raise ValidationError({"email": "An email subscription needs an address."})

    def new_secret(self) -> str:
        """Give the subscription a new signing secret (not saved); returns it, to show once."""
        self.secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        return self.secret


class WatchQuerySet(models.QuerySet):
    def get_by_natural_key(self, token, entity_slug, jurisdiction_code, record_type):
        return self.get(
            subscription__token=token,
            entity__slug=entity_slug or None,
            jurisdiction__code=jurisdiction_code or None,
            record_type=record_type,
        )


class Watch(models.Model):
    """One item of a subscription's watchlist: an entity, a jurisdiction, or a whole record type.

    An entity's watch covers its affiliates too (``EntityQuerySet.with_affiliates``: what its page shows); a
    jurisdiction's covers the licences usable there, warnings from there, and certificates of entities
    established there (watch/matching.py).
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="watches")
    entity = optional_link("registry.Entity", models.CASCADE, "+", "An entity and its affiliates.")
    jurisdiction = optional_link("registry.Jurisdiction", models.CASCADE, "+", "A jurisdiction.")
    # The help text names where the types are listed rather than listing them: a new type needs no migration.
    record_type = models.CharField(
        max_length=20, blank=True, help_text="A whole record type, one of watch.events.RECORD_TYPES (e.g. license)."
    )

    objects = WatchQuerySet.as_manager()

    class Meta:
        ordering = ["subscription", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(entity__isnull=False) & Q(jurisdiction__isnull=True) & Q(record_type=""))
                | (Q(entity__isnull=True) & Q(jurisdiction__isnull=False) & Q(record_type=""))
                | (Q(entity__isnull=True) & Q(jurisdiction__isnull=True) & ~Q(record_type="")),
                name="watch_watch_one_target",
                violation_error_message="Watch one thing: an entity, a jurisdiction or a record type.",
            ),
            # One partial constraint per kind of target, not one with NULLS NOT DISTINCT: SQLite has no such
            # constraint, and each target's one non-empty column is the whole of what must be unique.
            models.UniqueConstraint(
                fields=["subscription", "entity"],
                condition=Q(entity__isnull=False),
                name="watch_watch_unique_entity",
                violation_error_message="The subscription already watches this entity.",
            ),
            models.UniqueConstraint(
                fields=["subscription", "jurisdiction"],
                condition=Q(jurisdiction__isnull=False),
                name="watch_watch_unique_jurisdiction",
                violation_error_message="The subscription already watches this jurisdiction.",
            ),
            models.UniqueConstraint(
                fields=["subscription", "record_type"],
                condition=~Q(record_type=""),
                name="watch_watch_unique_record_type",
                violation_error_message="The subscription already watches this record type.",
            ),
        ]

    def __str__(self):
        if self.entity_id:
            return f"{self.entity} and its affiliates"
        if self.jurisdiction_id:
            return str(self.jurisdiction)
        return RECORD_TYPES.get(self.record_type, self.record_type)

    def natural_key(self):
        return (
            str(self.subscription.token),
            self.entity.slug if self.entity_id else "",
            self.jurisdiction.code if self.jurisdiction_id else "",
            self.record_type,
        )

    natural_key.dependencies = ["watch.subscription", "registry.entity", "registry.jurisdiction"]

    def clean(self):
        super().clean()
        if self.record_type and self.record_type not in RECORD_TYPES:
            raise ValidationError({"record_type": "Choose one of: " + ", ".join(RECORD_TYPES) + "."})


class EventQuerySet(models.QuerySet):
    def get_by_natural_key(self, key):
        return self.get(key=key)

    def undispatched(self):
        """Events not yet addressed to the subscriptions that watch them (watch/delivery.py)."""
        return self.filter(dispatched_at__isnull=True)


class Event(models.Model):
    """A public change someone may be watching: the outbox row, written with the change (watch/outbox.py)."""

    key = models.CharField(
        max_length=200,
        unique=True,
        help_text="What makes it one event: its kind and the history row (or audit and day) it comes from.",
    )
    kind = models.CharField(max_length=40, db_index=True, help_text="One of watch/events.py's EVENT_KINDS.")
    record_type = models.CharField(
        max_length=20, help_text="The record type it is about, one of watch.events.RECORD_TYPES."
    )
    record_id = models.BigIntegerField(help_text="The record it is about.")
    entity = optional_link(
        "registry.Entity",
        models.CASCADE,
        "+",
        "The entity it is about (a licence's holder, a certificate's subject, a white paper's offeror); "
        "empty only for a white paper whose source names no offeror.",
    )
    occurred_at = models.DateTimeField(help_text="When the change became public.")
    payload = models.JSONField(help_text="What subscribers receive: label, link, changes.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When its deliveries were created (empty: not yet)."
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(kind=""), name="watch_event_kind_set"),
            # Licences, audits and warnings are always about an entity; only a white paper may name none.
            models.CheckConstraint(
                condition=Q(entity__isnull=False) | Q(record_type="whitepaper"),
                name="watch_event_entity_unless_white_paper",
                violation_error_message="Only a white paper's event may be about no entity.",
            ),
        ]

    def __str__(self):
        label = EVENT_KINDS[self.kind].label if self.kind in EVENT_KINDS else self.kind
        return f"{label}: {self.payload.get('label', '')}"

    def natural_key(self):
        return (self.key,)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Given up"


class DeliveryQuerySet(models.QuerySet):
    def get_by_natural_key(self, idempotency_key):
        return self.get(idempotency_key=idempotency_key)

    def claimable(self, now):
        """Deliveries a worker may take now: :meth:`unleased`, due, and of a deliverable subscription."""
        return self.unleased(now).filter(next_attempt_at__lte=now, subscription__status=SubscriptionStatus.ACTIVE)

    def unleased(self, now):
        """Pending deliveries no worker holds a lease on (a lease that ran out is one whose worker died).

        Conditions on the row's own columns only, so an UPDATE filtered by them is re-checked on the row it
        locks (watch/delivery.py ``claim``).
        """
        return self.filter(status=DeliveryStatus.PENDING).filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        )


class Delivery(models.Model):
    """One event for one subscription: attempted until delivered, given up, or its subscription resumes."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    idempotency_key = models.UUIDField(
        unique=True,
        default=uuid.uuid4,
        editable=False,
        help_text="Sent with every attempt (Idempotency-Key), so a receiver can drop a duplicate.",
    )
    status = models.CharField(max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts made so far.")
    next_attempt_at = models.DateTimeField(default=timezone.now, help_text="Not attempted before then (back-off).")
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker's lease: no other worker takes it before then."
    )
    claim = models.UUIDField(null=True, blank=True, editable=False, help_text="The worker run holding the lease.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="watch_delivery_once_per_subscription"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="watch_delivery_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=DeliveryStatus.DELIVERED) | Q(delivered_at__isnull=False),
                name="watch_delivery_delivered_has_time",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="watch_delivery_due_idx")]

    def __str__(self):
        return f"{self.event} → {self.subscription} ({self.get_status_display().lower()})"

    def natural_key(self):
        return (str(self.idempotency_key),)


class DeliveryAttemptQuerySet(models.QuerySet):
    def get_by_natural_key(self, idempotency_key, number):
        return self.get(delivery__idempotency_key=idempotency_key, number=number)


class DeliveryAttempt(models.Model):
    """The delivery log: one row per attempt, with the receiver's status code or the error."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="log", help_text="Its delivery's (a log per subscription)."
    )
    number = models.PositiveIntegerField(help_text="1 for the first attempt.")
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True, help_text="The receiver's HTTP status, if any.")
    error = models.TextField(blank=True, help_text="Why it failed; empty on success.")
    succeeded = models.BooleanField(default=False)

    objects = DeliveryAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="watch_attempt_unique_number"),
        ]

    def __str__(self):
        outcome = "ok" if self.succeeded else (self.error or f"HTTP {self.status_code}")
        return f"Attempt {self.number} of {self.delivery_id}: {outcome}"

    def natural_key(self):
        return (*self.delivery.natural_key(), self.number)

    natural_key.dependencies = ["watch.delivery"]
