"""Jurisdictions: countries, their subdivisions and unions (ISO 3166)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from registry.models.base import choice_constraint, optional_reference


class JurisdictionQuerySet(models.QuerySet):
    def get_by_natural_key(self, code):
        return self.get(code=code)

    def covering(self, code):
        """The jurisdictions whose licences may be used in ``code`` (see :meth:`LicenseQuerySet.usable_in`).

        ``code`` itself, every area that contains it or its country, its country (for a subdivision) and its
        subdivisions: ``MT`` gives Malta, the EU and the EEA; ``AE-DU`` gives Dubai and the United Arab
        Emirates; ``AE`` gives the United Arab Emirates and each emirate. Codes are ISO's, upper case; ``mt`` is
        read as ``MT``, as the public filters read it.
        """
        code = code.upper()
        return self.filter(
            Q(code=code)
            | Q(members__code=code)
            | Q(subdivisions__code=code)
            | Q(members__subdivisions__code=code)
            | Q(parent__code=code)
        ).distinct()


class JurisdictionKind(models.TextChoices):
    COUNTRY = "country", "Country"
    SUBDIVISION = "subdivision", "Subdivision"
    SUPRANATIONAL = "supranational", "Supranational area"


class Jurisdiction(models.Model):
    """A country (ISO 3166-1), a subdivision (ISO 3166-2) or a supranational area (EU, EEA).

    Generated from pycountry by ``manage.py generate_jurisdictions``; never typed by hand.
    """

    Kind = JurisdictionKind

    code = models.CharField(
        max_length=10,
        unique=True,
        help_text="ISO 3166-1 alpha-2 (MT), ISO 3166-2 (AE-DU), or the area's code (EU, EEA).",
    )
    name = models.CharField(max_length=200, db_index=True, help_text="Common English name.")
    official_name = models.CharField(max_length=300, blank=True, help_text="Official name, where it differs.")
    kind = models.CharField(max_length=13, choices=Kind.choices, help_text="Country, subdivision or area.")
    subdivision_type = models.CharField(
        max_length=100, blank=True, help_text="For a subdivision: Emirate, State, Province…"
    )
    parent = optional_reference("self", "subdivisions", help_text="For a subdivision: its country.")
    members = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="areas",
        help_text="For a supranational area: its member countries.",
    )

    objects = JurisdictionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            choice_constraint("jurisdiction_kind_valid", "kind", JurisdictionKind),
            models.CheckConstraint(
                condition=Q(code=Upper("code")),
                name="jurisdiction_code_upper",
                violation_error_message="Jurisdiction codes are upper case.",
            ),
            models.CheckConstraint(
                condition=(Q(kind="subdivision") & Q(parent__isnull=False))
                | (~Q(kind="subdivision") & Q(parent__isnull=True)),
                name="jurisdiction_parent_iff_subdivision",
                violation_error_message="A subdivision has a parent country; nothing else has one.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    def natural_key(self):
        return (self.code,)
