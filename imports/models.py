"""What ``manage.py sync_esma`` remembers between runs: each register's fetch state, and the files it refused.

Neither is part of the register: the facts an import writes cite the file's :class:`~registry.models.Source`
(its text, SHA-256 and retrieval date). These record how the fetcher got there, for operators.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from registry.models.base import sha256_constraint

# ESMA's five register files (imports/esma/registers.py describes each); repeated here as choices because a
# migration never imports live code.
REGISTER_CHOICES = [
    ("CASP", "Authorised crypto-asset service providers (CASP)"),
    ("NCASP", "Non-compliant entities (NCASP)"),
    ("OTHER", "White papers for other crypto-assets (OTHER)"),
    ("EMT", "E-money token issuers (EMT)"),
    ("ART", "Asset-referenced token issuers (ART)"),
]
SHA256_MESSAGE = "A SHA-256 is 64 lower-case hexadecimal digits."


def register_known(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(register__in=[code for code, _ in REGISTER_CHOICES]),
        name=name,
        violation_error_message="One of ESMA's five registers.",
    )


class RegisterFetchQuerySet(models.QuerySet):
    def get_by_natural_key(self, register):
        return self.get(register=register)


class RegisterFetch(models.Model):
    """The last fetch of one of ESMA's register files: its validators (for conditional requests) and outcome.

    The validators and digest are those of the last file imported (or found unchanged), never of a refused one:
    a refused file is fetched again on the next run, not answered "304 Not Modified".
    """

    register = models.CharField(max_length=10, choices=REGISTER_CHOICES, unique=True, help_text="Which file.")
    url = models.URLField(max_length=500, blank=True, help_text="Where it was last fetched from.")
    etag = models.CharField(max_length=300, blank=True, help_text="The ETag of the last file imported.")
    last_modified = models.CharField(
        max_length=100, blank=True, help_text="The Last-Modified header of the last file imported, as sent."
    )
    sha256 = models.CharField(
        "SHA-256", max_length=64, blank=True, help_text="Digest of the last file imported: the same bytes are skipped."
    )
    row_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rows of the last file imported: a new file with far fewer is refused."
    )
    last_success = models.DateTimeField(
        null=True, blank=True, help_text="When a run last found the register current (imported, or unchanged)."
    )
    last_import = models.DateTimeField(null=True, blank=True, help_text="When a new file was last imported.")
    last_attempt = models.DateTimeField(null=True, blank=True, help_text="When a run last tried to fetch it.")
    last_error = models.TextField(blank=True, help_text="Why the last attempt failed; empty when it succeeded.")

    objects = RegisterFetchQuerySet.as_manager()

    class Meta:
        ordering = ["register"]
        verbose_name = "ESMA register fetch state"
        constraints = [
            register_known("register_fetch_register_known"),
            sha256_constraint("register_fetch_sha256_format", SHA256_MESSAGE, allow_blank=True),
        ]

    def __str__(self):
        return f"ESMA {self.register} file"

    def natural_key(self):
        return (self.register,)


class QuarantinedFileQuerySet(models.QuerySet):
    def get_by_natural_key(self, register, sha256):
        return self.get(register=register, sha256=sha256)


class QuarantinedFile(models.Model):
    """A fetched file refused before anything was written (cut short, columns changed…), kept as it came."""

    register = models.CharField(max_length=10, choices=REGISTER_CHOICES, help_text="Which file it was fetched as.")
    url = models.URLField(max_length=500, help_text="Where it was fetched from.")
    fetched_at = models.DateTimeField(help_text="When it was first fetched.")
    sha256 = models.CharField("SHA-256", max_length=64, help_text="Digest of the bytes kept.")
    size = models.PositiveBigIntegerField(help_text="Bytes received.")
    reason = models.TextField(help_text="Why it was refused.")
    content = models.BinaryField(editable=False, help_text="The bytes as received.")

    objects = QuarantinedFileQuerySet.as_manager()

    class Meta:
        ordering = ["-fetched_at", "register"]
        verbose_name = "quarantined ESMA file"
        constraints = [
            # The same refused bytes fetched again are kept once.
            models.UniqueConstraint(fields=["register", "sha256"], name="quarantined_file_unique_bytes"),
            register_known("quarantined_file_register_known"),
            sha256_constraint("quarantined_file_sha256_format", SHA256_MESSAGE),
        ]

    def __str__(self):
        return f"ESMA {self.register} file fetched {self.fetched_at:%Y-%m-%d %H:%M} UTC"

    def natural_key(self):
        return (self.register, self.sha256)
