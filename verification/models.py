"""API keys for the verification API: issued by staff in the admin, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from registry.models.base import recorded_account, sha256_constraint

KEY_PREFIX = "crk_"


def digest(key: str) -> str:
    """The SHA-256 of a key: keys are 256 random bits, so a slow password hash would add nothing but time."""
    return hashlib.sha256(key.encode()).hexdigest()


def validate_rate(value: str) -> None:
    """A rate as Django REST framework reads it: ``600/minute`` (second, minute, hour or day)."""
    if not value:
        return
    try:
        SimpleRateThrottle.parse_rate(None, value)
    except (ValueError, KeyError, IndexError) as exc:
        raise ValidationError("Write a rate as requests per second, minute, hour or day: 600/minute.") from exc


class APIKeyQuerySet(models.QuerySet):
    def get_by_natural_key(self, prefix):
        return self.get(prefix=prefix)

    def active(self):
        """Keys that raise the limit: not revoked."""
        return self.filter(revoked_at__isnull=True)

    def for_key(self, key: str):
        """The active key whose digest is that of ``key``, or None."""
        return self.active().filter(hashed_key=digest(key)).first()


class APIKey(models.Model):
    """A key a client sends (``Authorization: Bearer crk_...``) for a higher rate limit on the verification API.

    Only the key's first characters (to recognise it) and its SHA-256 digest are stored: the key itself is shown
    once, to the staff member who creates it.
    """

    name = models.CharField(max_length=200, unique=True, help_text="Whom it was issued to, and why.")
    prefix = models.CharField(
        max_length=16, unique=True, editable=False, help_text="The key's first characters, to recognise it."
    )
    hashed_key = models.CharField(
        "SHA-256 of the key", max_length=64, unique=True, editable=False, help_text="The key is never stored."
    )
    rate = models.CharField(
        max_length=30,
        blank=True,
        help_text="Its own limit, e.g. 1200/minute; empty: the default for keys (DJANGO_VERIFY_KEY_THROTTLE).",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = recorded_account("The staff member who issued it.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Set to revoke the key: it stops working.")

    objects = APIKeyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"
        constraints = [
            sha256_constraint(
                "api_key_hashed_key_format", "The key's digest is 64 lower-case hexadecimal digits.", "hashed_key"
            ),
            models.CheckConstraint(
                condition=Q(prefix__startswith=KEY_PREFIX),
                name="api_key_prefix_format",
                violation_error_message=f"A key's prefix starts with {KEY_PREFIX}.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def natural_key(self):
        return (self.prefix,)

    def clean(self):
        super().clean()
        # Here rather than as a field validator, which the migration would have to import.
        try:
            validate_rate(self.rate)
        except ValidationError as error:
            raise ValidationError({"rate": error.messages}) from error

    @classmethod
    def issue(cls, name: str, rate: str = "", created_by=None) -> tuple[APIKey, str]:
        """A new key, saved: the record and the key itself, which nothing keeps (show it once)."""
        record = cls(name=name, rate=rate, created_by=created_by)
        key = record.assign_new_key()
        record.save()
        return record, key

    def assign_new_key(self) -> str:
        """Give this record a new key (256 random bits); returns it: the record keeps only its digest."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.prefix, self.hashed_key = key[:12], digest(key)
        return key
