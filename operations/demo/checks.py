"""Refusing to mix: synthetic data is told apart by its citation of the demo source (or its ``demo-`` slug)."""

from __future__ import annotations

from django.db.models import Exists, OuterRef

from operations.demo.vocabulary import DEMO_SOURCE_SLUG, PREFIX
from registry.models import (
    Audit,
    AuditCitation,
    Entity,
    EntityCitation,
    License,
    LicenseCitation,
    Regime,
    Regulator,
    Source,
)


class MixedDataError(Exception):
    """The database holds records that are not synthetic demo data."""


def demo_citation(model):
    return Exists(model.objects.filter(**{model.TARGET_FIELD: OuterRef("pk")}, source__slug=DEMO_SOURCE_SLUG))


def real_records():
    """Counts of records that are not synthetic, per model (empty when the database holds none)."""
    checks = {
        "entities": Entity.objects.exclude(demo_citation(EntityCitation)),
        "licences": License.objects.exclude(demo_citation(LicenseCitation)),
        "audits": Audit.objects.exclude(demo_citation(AuditCitation)),
        "regulators": Regulator.objects.exclude(slug__startswith=PREFIX),
        "regimes": Regime.objects.exclude(slug__startswith=PREFIX),
        "sources": Source.objects.exclude(slug__startswith=PREFIX),
    }
    return {name: count for name, queryset in checks.items() if (count := queryset.count())}


def check_database(allow_mixed):
    """Raise :class:`MixedDataError` if the database holds demo data already, or real records (unless allowed)."""
    if Source.objects.filter(slug=DEMO_SOURCE_SLUG).exists():
        raise MixedDataError(
            "This database already holds synthetic demo data; generate into an empty database "
            "(a new DATABASE_URL, or delete the SQLite file) so the same seed gives the same register."
        )
    real = real_records()
    if real and not allow_mixed:
        found = ", ".join(f"{count:,} {name}" for name, count in real.items())
        raise MixedDataError(
            f"This database holds records that are not synthetic ({found}); demo data must not mix with "
            "real data. Use an empty database, or pass --allow-mixed if you really mean to."
        )
