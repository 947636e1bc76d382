"""Firms and groups, their other names and key people."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import In

from registry.dates import PartialDateDescriptor, dates_in_order, partial_date_constraints, partial_date_fields
from registry.links import detail_path
from registry.models.base import (
    LEI_REGEX,
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    PublishableQuerySet,
    SlugKeyed,
    by_visibility_rule,
    choice_constraint,
    curated_constraints,
    optional_reference,
    quality_flags_field,
    validate_lei,
)
from registry.models.places import Jurisdiction


class InOnce(In):
    """``column IN (subquery)``; on PostgreSQL ``column = ANY(ARRAY(subquery))``, which runs the subquery once
    before the scan (an InitPlan): the column's index then answers the condition inside an OR too, where PostgreSQL
    tests an IN subquery against every row (a hashed SubPlan). The largest group's members (EXPLAIN ANALYZE): every
    one of 20,000 entities read, 7.1 ms, against 0.3 ms through the parent index."""

    def as_postgresql(self, compiler, connection):
        column, column_params = self.process_lhs(compiler, connection)
        subquery, subquery_params = self.process_rhs(compiler, connection)
        return f"{column} = ANY(ARRAY{subquery})", (*column_params, *subquery_params)


class EntityQuerySet(PublishableQuerySet):
    def with_affiliates(self, entity):
        """``entity`` and the members of its group two levels down (its affiliates and theirs), among these.

        The one rule for "X and its affiliates": the licences, audits, key people and sources of an entity's
        page, and the lists' ``?holder=`` and ``?subject=`` (so a page's totals are those of the lists it links
        to). Two levels cover a group of groups; an entity deeper down does not count. Publication is the
        caller's (``published().with_affiliates(x)``) or that of the records queried: an affiliate of a draft
        affiliate still counts, though the draft itself is never shown.

        The second level is ``IN`` over the parent index rather than an OR across a join to the parent, which
        SQLite answers only by reading every licence (about 120 ms a query on 60,000 licences, against 1 to 7).
        The members are picked in a subquery of their own: beside another condition (``published()``), SQLite
        reads every row that condition's index gives and tests the OR on each (50 ms on 20,000 entities), where
        alone it answers each branch by its index (1 ms). On PostgreSQL the second level is :class:`InOnce`.
        """
        base = self.model._base_manager.using(self._db)
        children = base.filter(parent=entity.pk).order_by().values("pk")
        members = base.filter(Q(pk=entity.pk) | Q(parent=entity.pk) | InOnce(F("parent"), children)).order_by()
        return self.filter(pk__in=members.values("pk"))


class EntityAliasQuerySet(models.QuerySet):
    def get_by_natural_key(self, entity_slug, name):
        return self.get(entity__slug=entity_slug, name=name)


class KeyPersonQuerySet(models.QuerySet):
    def get_by_natural_key(self, entity_slug, name, role):
        return self.get(entity__slug=entity_slug, name=name, role=role)

    def published(self):
        """Key people the public may see: published, at a published entity (``VISIBILITY_RULES["keyperson"]``)."""
        return by_visibility_rule(self)


class EntityKind(models.TextChoices):
    GROUP = "group", "Group"
    AFFILIATE = "affiliate", "Affiliate of a group"
    COMPANY = "company", "Company"
    AUDITOR = "auditor", "Audit firm or certification body"


class Entity(SlugKeyed, Curated):
    """Any organisation the register speaks of: a group, an affiliate, an audit firm."""

    Kind = EntityKind

    slug = models.SlugField(max_length=120, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=300, db_index=True, help_text="Legal name, or the name sources use.")
    kind = models.CharField(max_length=9, choices=Kind.choices, db_index=True)
    parent = optional_reference("self", "affiliates", help_text="The group it belongs to.")
    jurisdiction = optional_reference(
        Jurisdiction, "entities", help_text="Where it is established, when a source says so."
    )
    lei = models.CharField(
        "LEI",
        max_length=20,
        blank=True,
        validators=[validate_lei],
        help_text="ISO 17442 Legal Entity Identifier (20 characters), if it has one.",
    )
    website = models.URLField(blank=True)
    description = models.TextField(blank=True)
    address = models.TextField(blank=True, help_text="Registered address, as an official register gives it.")
    lei_as_published = models.CharField(
        "LEI as published",
        max_length=100,
        blank=True,
        help_text="The LEI text exactly as a source gave it, kept when it is not a valid LEI (9.60E+19).",
    )
    quality_flags = quality_flags_field()

    history = HistoricalRecords()

    objects = EntityQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "entities"
        constraints = [
            *curated_constraints("entity"),
            choice_constraint("entity_kind_valid", "kind", EntityKind),
            models.CheckConstraint(
                condition=~Q(parent=F("pk")),
                name="entity_not_own_parent",
                violation_error_message="An entity cannot be its own parent.",
            ),
            models.CheckConstraint(
                condition=~Q(kind="affiliate") | Q(parent__isnull=False),
                name="entity_affiliate_has_parent",
                violation_error_message="An affiliate must name its group.",
            ),
            models.CheckConstraint(
                condition=Q(lei="") | Q(lei__regex=LEI_REGEX),
                name="entity_lei_format",
                violation_error_message="An LEI is 18 upper-case letters or digits and two check digits.",
            ),
            models.UniqueConstraint(
                fields=["lei"],
                condition=~Q(lei=""),
                name="entity_unique_lei",
                violation_error_message="Another entity already has this LEI.",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return detail_path("public:entity-detail", self.slug)

    def clean(self):
        super().clean()
        if self.lei:
            self.lei = self.lei.strip().upper()
        if self.kind == self.Kind.AFFILIATE and not self.parent_id:
            raise ValidationError({"parent": "An affiliate must name its group."})
        # A loop (A in B in A) is not expressible as a CHECK; walk the chain.
        seen, node = set(), self.parent
        while node is not None:
            if node.pk == self.pk or node.pk in seen:
                raise ValidationError({"parent": "This would make the entity its own ancestor."})
            seen.add(node.pk)
            node = node.parent

    def group(self):
        """The top of its group (itself when it has no parent)."""
        node = self
        while node.parent_id:
            node = node.parent
        return node


class AliasKind(models.TextChoices):
    TRADING = "trading", "Trading name"
    FORMER = "former", "Former name"
    OTHER = "other", "Other name"


class EntityAlias(models.Model):
    """Another name an entity is known by: a trading name, a former name."""

    Kind = AliasKind

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=300, db_index=True)
    kind = models.CharField(max_length=7, choices=Kind.choices, default=AliasKind.TRADING)

    history = HistoricalRecords()

    objects = EntityAliasQuerySet.as_manager()

    class Meta:
        ordering = ["entity__name", "name"]
        verbose_name_plural = "entity aliases"
        constraints = [
            choice_constraint("entity_alias_kind_valid", "kind", AliasKind),
            models.UniqueConstraint(fields=["entity", "name"], name="entity_alias_unique_name"),
        ]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (*self.entity.natural_key(), self.name)

    natural_key.dependencies = ["registry.entity"]


class KeyPerson(Curated):
    """A person in a named role at an entity (Gracie Lin, CEO of OKX SG)."""

    entity = models.ForeignKey(Entity, on_delete=models.PROTECT, related_name="key_people")
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=200, help_text="As the source gives it: Chief Executive Officer.")
    started_on, started_on_precision = partial_date_fields("started on", "When they took the role, if stated.")
    ended_on, ended_on_precision = partial_date_fields("ended on", "When they left it, if they have.")
    notes = models.TextField(blank=True)

    started = PartialDateDescriptor("started_on")
    ended = PartialDateDescriptor("ended_on")

    history = HistoricalRecords()

    objects = KeyPersonQuerySet.as_manager()

    class Meta:
        ordering = ["entity__name", "name"]
        verbose_name_plural = "key people"
        constraints = [
            *curated_constraints("key_person"),
            *partial_date_constraints("key_person", "started_on"),
            *partial_date_constraints("key_person", "ended_on"),
            dates_in_order(
                "key_person_ended_not_before_started", "started_on", "ended_on", "A role cannot end before it started."
            ),
            models.UniqueConstraint(fields=["entity", "name", "role"], name="key_person_unique_role"),
        ]

    def __str__(self):
        return f"{self.name}, {self.role} ({self.entity})"

    def natural_key(self):
        return (*self.entity.natural_key(), self.name, self.role)

    def clean(self):
        super().clean()
        if self.started_on and self.ended_on and self.ended_on < self.started_on:
            raise ValidationError({"ended_on": "A role cannot end before it started."})

    natural_key.dependencies = ["registry.entity"]
