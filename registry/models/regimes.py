"""Regulators, regimes and the licence types they grant."""

from __future__ import annotations

from django.db import models

from registry.links import detail_path
from registry.models.base import (
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    PublishableQuerySet,
    SlugKeyed,
    SlugQuerySet,
    curated_constraints,
    optional_reference,
)
from registry.models.places import Jurisdiction


class LicenseTypeQuerySet(models.QuerySet):
    def get_by_natural_key(self, regime_slug, slug):
        return self.get(regime__slug=regime_slug, slug=slug)


class Regulator(SlugKeyed, Curated):
    """An authority that grants licences (VARA, MAS, MFSA)."""

    slug = models.SlugField(max_length=100, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=200, help_text="Full official name.")
    abbreviation = models.CharField(max_length=30, blank=True, help_text="Short name: VARA, MAS.")
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.PROTECT,
        related_name="regulators",
        help_text="Where it regulates: a country, a subdivision (Dubai is AE-DU) or an area.",
    )
    website = models.URLField(blank=True)
    regimes = models.ManyToManyField(
        "Regime", blank=True, related_name="regulators", help_text="The regimes it supervises."
    )

    history = HistoricalRecords(m2m_fields=["regimes"])

    objects = PublishableQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            *curated_constraints("regulator"),
            models.UniqueConstraint(fields=["jurisdiction", "name"], name="regulator_unique_name_per_jurisdiction"),
        ]

    def __str__(self):
        return f"{self.name} ({self.abbreviation})" if self.abbreviation else self.name

    def get_absolute_url(self):
        return detail_path("public:regulator-detail", self.slug)


class Regime(SlugKeyed, Curated):
    """A legal framework licences are granted under (MiCA, MiFID II, Payment Services Act 2019)."""

    slug = models.SlugField(max_length=100, unique=True, help_text=SLUG_HELP)
    short_name = models.CharField(max_length=60, help_text="As commonly written: MiCA.")
    name = models.CharField(max_length=300, help_text="Full name: Markets in Crypto-Assets Regulation.")
    legal_reference = models.CharField(
        max_length=300, blank=True, help_text="The instrument: Regulation (EU) 2023/1114."
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.PROTECT,
        related_name="regimes",
        help_text="Where the regime applies (EU for MiCA, AE-DU for Dubai's).",
    )
    url = models.URLField(blank=True, help_text="Official text.")
    description = models.TextField(blank=True)

    history = HistoricalRecords()

    objects = PublishableQuerySet.as_manager()

    class Meta:
        ordering = ["short_name"]
        constraints = curated_constraints("regime")

    def __str__(self):
        return self.short_name

    def get_absolute_url(self):
        return detail_path("public:regime-detail", self.slug)


class LicenseType(models.Model):
    """A kind of licence a regime defines (MiCA: CASP authorisation)."""

    regime = models.ForeignKey(Regime, on_delete=models.PROTECT, related_name="license_types")
    slug = models.SlugField(max_length=100, help_text="Unique within the regime.")
    name = models.CharField(max_length=200, help_text="As the regime names it: Major Payment Institution licence.")
    description = models.TextField(blank=True)

    objects = LicenseTypeQuerySet.as_manager()

    class Meta:
        ordering = ["regime__short_name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["regime", "slug"], name="license_type_unique_slug_per_regime"),
            models.UniqueConstraint(fields=["regime", "name"], name="license_type_unique_name_per_regime"),
        ]

    def __str__(self):
        return f"{self.regime.short_name}: {self.name}"

    def natural_key(self):
        return (*self.regime.natural_key(), self.slug)

    natural_key.dependencies = ["registry.regime"]


class Activity(SlugKeyed, models.Model):
    """A service a licence permits (custody, spot trading, transfer services)."""

    slug = models.SlugField(max_length=100, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=300)
    regime = optional_reference(
        Regime, "activities", help_text="The regime that defines it, if any (MiCA Article 3(1)(16))."
    )
    code = models.CharField(max_length=20, blank=True, help_text="The regime's own code: MiCA service (a).")
    description = models.TextField(blank=True)

    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "activities"

    def __str__(self):
        return self.name
