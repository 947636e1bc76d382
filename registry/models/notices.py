"""Regulators' warnings and ESMA's list of non-compliant entities."""

from __future__ import annotations

from django.db import models

from registry.dates import PartialDateDescriptor, partial_date_constraints, partial_date_fields
from registry.models.base import (
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    SlugKeyed,
    SlugQuerySet,
    by_visibility_rule,
    curated_constraints,
    optional_reference,
    quality_flags_field,
)
from registry.models.entities import Entity
from registry.models.places import Jurisdiction
from registry.models.regimes import Regulator
from registry.models.sources import Source


class WarningNoticeQuerySet(SlugQuerySet):
    def published(self):
        """Warnings the public may see: published, about a published entity, from a published source, by a
        published regulator when one is named (``VISIBILITY_RULES["warningnotice"]``)."""
        return by_visibility_rule(self)


class WarningNotice(SlugKeyed, Curated):
    """An authority naming an entity on a warning list (ESMA's list of non-compliant entities)."""

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="warnings", help_text="The entity named on the list."
    )
    regulator = optional_reference(
        Regulator, "warnings", help_text="The authority that named it, when the source says."
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.PROTECT,
        related_name="warnings",
        help_text="The authority's member state.",
    )
    decided_on, decided_on_precision = partial_date_fields("decided on", "When the authority took its decision.")
    esma_article_17_case = models.CharField(
        "ESMA Article 17 case",
        max_length=300,
        blank=True,
        help_text=(
            "ESMA's column ae_infrigment, as published. ESMA defines it as “Case of infringement identified by ESMA "
            "in accordance with Article 17 of Regulation (EU) No 1095/2010”: ESMA's breach-of-Union-law procedure "
            "against a national authority, not a finding about the listed firm."
        ),
    )
    reason = models.TextField(blank=True, help_text="The authority's reason, verbatim; empty when it gives none.")
    websites = models.TextField(blank=True, help_text="Websites the authority names, one a line.")
    notes = models.TextField(blank=True, help_text="The source's comments, verbatim.")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="warnings")
    locator = models.CharField(max_length=200, blank=True, help_text="Where in the source: row 12.")
    quality_flags = quality_flags_field('Problems found in the source data: [{"code", "message"}].')

    decided = PartialDateDescriptor("decided_on")

    history = HistoricalRecords()

    objects = WarningNoticeQuerySet.as_manager()

    class Meta:
        ordering = ["entity__name", "-decided_on"]
        verbose_name = "warning notice"
        constraints = [
            *curated_constraints("warning_notice"),
            *partial_date_constraints("warning_notice", "decided_on"),
            models.UniqueConstraint(
                fields=["entity", "jurisdiction", "decided_on"],
                name="warning_notice_unique_decision",
                violation_error_message="This entity already has a warning from this member state on this date.",
            ),
        ]

    def __str__(self):
        when = f" ({self.decided})" if self.decided else ""
        return f"{self.entity}: named on a warning list by {self.regulator or self.jurisdiction}{when}"

    def get_absolute_url(self):
        return self.entity.get_absolute_url()
