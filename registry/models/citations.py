"""Which source supports which fact of a licence, audit, entity or key person."""

from __future__ import annotations

from django.db import models

from registry.models.audits import Audit
from registry.models.base import HistoricalRecords, choice_constraint
from registry.models.entities import Entity, KeyPerson
from registry.models.licenses import License
from registry.models.sources import Citation


def supports_field(fact, whole: str):
    """The ``supports`` field of a citation: which of the record's facts (``fact`` choices) it supports."""
    return models.CharField(
        max_length=30,
        blank=True,
        default="",
        choices=fact.choices,
        help_text=f"The fact this citation supports; empty for {whole} as a whole.",
    )


def citation_model(name: str, target, field: str, fact, whole: str, target_options=None, **meta):
    """The model of the citations of ``target`` records (see :class:`Citation`): its foreign key ``field`` names
    the cited record, and ``supports`` one of its facts (``fact`` choices), or none for ``whole``.

    Every citation model has the same columns, history, order and constraints (``<field>_citation_*``) but for
    the record it cites; ``target_options`` and ``meta`` add options of its foreign key and of its Meta.
    """
    prefix = f"{field}_citation"
    options = {
        "ordering": [field, "supports", "source"],
        "constraints": [
            choice_constraint(f"{prefix}_supports_valid", "supports", fact, allow_blank=True),
            models.UniqueConstraint(fields=[field, "source", "supports"], name=f"{prefix}_unique"),
        ],
        **meta,
    }
    attributes = {
        "__module__": __name__,
        "__qualname__": name,
        "Fact": fact,
        "TARGET_FIELD": field,
        field: models.ForeignKey(target, on_delete=models.CASCADE, related_name="citations", **(target_options or {})),
        "supports": supports_field(fact, whole),
        "history": HistoricalRecords(),
        "Meta": type("Meta", (), options),
    }
    return type(name, (Citation,), attributes)


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


class AuditFact(models.TextChoices):
    AUDITOR = "auditor", "Auditor"
    STANDARD = "standard", "Standard"
    SCOPE = "scope", "Scope"
    ISSUED = "issued_on", "Date issued"
    PERIOD = "period", "Period covered"
    VALID_UNTIL = "valid_until", "Valid until"


class EntityFact(models.TextChoices):
    NAME = "name", "Name"
    PARENT = "parent", "Group"
    JURISDICTION = "jurisdiction", "Jurisdiction"
    LEI = "lei", "LEI"
    WEBSITE = "website", "Website"


class KeyPersonFact(models.TextChoices):
    ROLE = "role", "Role"
    STARTED = "started_on", "Date started"
    ENDED = "ended_on", "Date ended"


LicenseCitation = citation_model(
    "LicenseCitation",
    License,
    "license",
    LicenseFact,
    "the licence",
    target_options={"verbose_name": "licence"},
    verbose_name="licence citation",
)
AuditCitation = citation_model("AuditCitation", Audit, "audit", AuditFact, "the audit")
EntityCitation = citation_model("EntityCitation", Entity, "entity", EntityFact, "the entity")
KeyPersonCitation = citation_model(
    "KeyPersonCitation", KeyPerson, "key_person", KeyPersonFact, "the person's role", verbose_name="key person citation"
)
