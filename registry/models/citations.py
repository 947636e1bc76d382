"""Which source supports which fact of a licence, audit, entity or key person."""

from __future__ import annotations

from django.db import models

from registry.models.audits import Audit
from registry.models.base import HistoricalRecords
from registry.models.entities import Entity, KeyPerson
from registry.models.licenses import License
from registry.models.sources import Citation, _citation_constraints


def supports_field(fact, whole: str):
    """The ``supports`` field of a citation: which of the record's facts (``fact`` choices) it supports."""
    return models.CharField(
        max_length=30,
        blank=True,
        default="",
        choices=fact.choices,
        help_text=f"The fact this citation supports; empty for {whole} as a whole.",
    )


class LicenseFact(models.TextChoices):
    HOLDER = "holder", "Holder"
    STATUS = "status", "Status"
    GRANTED = "granted_on", "Date granted"
    ENDED = "ended_on", "Date ended"
    REGULATOR = "regulator", "Regulator"
    ACTIVITIES = "activities", "Activities"
    CLIENTS = "clients", "Client scope"
    PASSPORT = "passported_to", "Passported to"
    REFERENCE = "reference_number", "Reference number"


class LicenseCitation(Citation):
    Fact = LicenseFact

    TARGET_FIELD = "license"
    license = models.ForeignKey(License, on_delete=models.CASCADE, related_name="citations", verbose_name="licence")
    supports = supports_field(Fact, "the licence")

    history = HistoricalRecords()

    class Meta:
        ordering = ["license", "supports", "source"]
        verbose_name = "licence citation"
        constraints = _citation_constraints("license_citation", "license", LicenseFact)


class AuditFact(models.TextChoices):
    AUDITOR = "auditor", "Auditor"
    STANDARD = "standard", "Standard"
    SCOPE = "scope", "Scope"
    ISSUED = "issued_on", "Date issued"
    PERIOD = "period", "Period covered"
    VALID_UNTIL = "valid_until", "Valid until"


class AuditCitation(Citation):
    Fact = AuditFact

    TARGET_FIELD = "audit"
    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="citations")
    supports = supports_field(Fact, "the audit")

    history = HistoricalRecords()

    class Meta:
        ordering = ["audit", "supports", "source"]
        constraints = _citation_constraints("audit_citation", "audit", AuditFact)


class EntityFact(models.TextChoices):
    NAME = "name", "Name"
    PARENT = "parent", "Group"
    JURISDICTION = "jurisdiction", "Jurisdiction"
    LEI = "lei", "LEI"
    WEBSITE = "website", "Website"


class EntityCitation(Citation):
    Fact = EntityFact

    TARGET_FIELD = "entity"
    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="citations")
    supports = supports_field(Fact, "the entity")

    history = HistoricalRecords()

    class Meta:
        ordering = ["entity", "supports", "source"]
        constraints = _citation_constraints("entity_citation", "entity", EntityFact)


class KeyPersonFact(models.TextChoices):
    ROLE = "role", "Role"
    STARTED = "started_on", "Date started"
    ENDED = "ended_on", "Date ended"


class KeyPersonCitation(Citation):
    Fact = KeyPersonFact

    TARGET_FIELD = "key_person"
    key_person = models.ForeignKey(KeyPerson, on_delete=models.CASCADE, related_name="citations")
    supports = supports_field(Fact, "the person's role")

    history = HistoricalRecords()

    class Meta:
        ordering = ["key_person", "supports", "source"]
        verbose_name = "key person citation"
        constraints = _citation_constraints("key_person_citation", "key_person", KeyPersonFact)
