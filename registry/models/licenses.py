"""Licences: who holds what, granted where, usable where, in force when."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce

from registry import prepared
from registry.dates import PartialDateDescriptor, dates_in_order, partial_date_constraints, partial_date_fields
from registry.links import detail_path
from registry.models.base import (
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    SlugKeyed,
    StoredVisibilityQuerySet,
    Verifiable,
    choice_constraint,
    curated_constraints,
    last_verified_field,
    not_listed_field,
    official_register_key_field,
    optional_reference,
    public_flag_field,
    quality_flags_field,
    today,
)
from registry.models.entities import Entity
from registry.models.places import Jurisdiction
from registry.models.regimes import Activity, LicenseType, Regulator


class LicenseQuerySet(StoredVisibilityQuerySet):
    """Licences; a ``published()`` one is published itself, its holder and regime are published, its regulator
    (if named) is published, and it cites at least one published source: an uncited claim never goes live
    (``VISIBILITY_RULES["license"]``)."""

    def in_force(self, at=None):
        """Licences active on ``at`` (default today): granted by then and not ended."""
        day = today(at)
        return self.filter(status=License.Status.ACTIVE).filter(
            Q(granted_on__isnull=True) | Q(granted_on__lte=day),
            Q(ended_on__isnull=True) | Q(ended_on__gt=day),
        )

    def usable_in(self, code):
        """Licences usable in the jurisdiction ``code``: "Usable in" on every page, export, the API and the feeds.

        Its home jurisdiction (:meth:`granted_in`: the one its source states, else its regime's) or one of its
        passports is ``code``, an area containing it (MT: the EU, the EEA), its country, or one of its
        subdivisions (AE: Dubai); see :meth:`JurisdictionQuerySet.covering`. A MiCA licence granted in Austria
        is not usable in Malta unless ESMA lists Malta among its host member states: the regime being the EU's
        does not make every licence under it usable everywhere in the EU.

        Also answers for the change history's licence rows (history/as_of.py calls it on them, as
        ``LicenseQuerySet.usable_in(rows, code)``): then the passports are those the row recorded.

        Written as subqueries of ids (licence types, passports), so no OR spans joined tables: that would
        read every licence. The places are read first, as a list (:func:`_covering_ids`).
        """
        places = _covering_ids(code.upper())
        regime_types = LicenseType.objects.filter(regime__jurisdiction__in=places).values("pk")
        passports, owner = _passport_rows(self.model)
        passported = passports.objects.filter(jurisdiction__in=places).values(owner)
        return self.filter(
            Q(jurisdiction__in=places)
            | Q(jurisdiction__isnull=True, license_type__in=regime_types)
            | Q(pk__in=passported)
        )

    def granted_in(self, code):
        """Licences whose home jurisdiction (:attr:`License.granted_in`) is ``code`` or one of its subdivisions.

        "Granted in" on every page, export and the API; the list's facet and the home chart count the same
        values, a subdivision under its country. Like :meth:`usable_in`, it also answers for history rows.
        """
        places, regime_types = _granted_in_ids(self.model, code.upper())
        return self.filter(Q(jurisdiction__in=places) | Q(jurisdiction__isnull=True, license_type__in=regime_types))


# Where a licence's home jurisdiction is read from, first found first: the one its source states, else its
# regime's (a MiFID II licence whose source names no member state is the EU's). License.granted_in in Python.
GRANTED_IN_PATHS = ("jurisdiction", "license_type__regime__jurisdiction")


def granted_in_field(*fields):
    """A licence's home jurisdiction's ``fields`` as one expression: the first of them set, read from
    :data:`GRANTED_IN_PATHS` in turn.

    ``granted_in_field("code")`` is the home jurisdiction's code (to sort by);
    ``granted_in_field("parent__code", "code")`` its country's (a subdivision's parent, else itself).
    """
    return Coalesce(*(F(f"{path}__{field}") for path in GRANTED_IN_PATHS for field in fields))


def _covering_ids(code):
    """The ids of :meth:`JurisdictionQuerySet.covering` ``code``: the places :meth:`LicenseQuerySet.usable_in`
    filters on, read first and given as a list.

    As a subquery, its ORs over four joins of the jurisdiction tree sat inside every query that asks "usable
    in" (the verification API's asks once per jurisdiction, for each licence it reads). On PostgreSQL, with the
    statistics a test database had reached by the middle of a full run, that query ran for over a minute (CI
    timed out on it); alone, it takes milliseconds. Kept per data version, as :func:`_granted_in_ids`.
    """
    from registry.derived.version import kept  # imported late: it reads the models' tables

    def covering(code):
        return Jurisdiction.objects.covering(code).order_by().values_list("pk", flat=True)

    return kept(License, f"covering:{code}", lambda: prepared.run(("covering",), covering, [code], Jurisdiction))


def _granted_in_ids(model, code):
    """The ids of ``code`` and its subdivisions, and of the licence types of their regimes that some row of
    ``model`` with no stated jurisdiction has: what :meth:`LicenseQuerySet.granted_in` filters on.

    Read first and given as lists: PostgreSQL filters every licence against subqueries under an OR (5 ms a query
    at N = 20,000), but answers a list of places from an index (0.3 ms for a country of 2,000 licences). The types
    are usually none, and then the condition is the jurisdiction's alone (the ORM drops an arm whose list is
    empty), which an index answers without the table. Kept per data version, so a list page whose rows are
    cached reads nothing for them.
    """
    from registry.derived.version import kept  # imported late: it reads the models' tables

    def places_of(code):
        own = Jurisdiction.objects.filter(code=code).order_by().values_list("pk", flat=True)
        subdivisions = Jurisdiction.objects.filter(parent__code=code).order_by().values_list("pk", flat=True)
        return own.union(subdivisions, all=True)

    def types_of(places):
        unstated = model._default_manager.filter(jurisdiction__isnull=True, license_type=OuterRef("pk"))
        types = LicenseType.objects.filter(Exists(unstated), regime__jurisdiction__in=prepared.IdList(places))
        return types.order_by().values_list("pk", flat=True)

    # Both compiled once (registry.prepared): building them through the ORM cost more than running them.
    def read():
        places = prepared.run(("granted-in-places",), places_of, [code], Jurisdiction)
        if not places:
            return [], []
        ids = prepared.encoded(places, model)
        return places, prepared.run(("granted-in-types", model._meta.label), types_of, [ids], model)

    return kept(model, f"granted-in:{model._meta.label}:{code}", read)


def _passport_rows(model):
    """The model holding ``model``'s passports, and its field naming the licence (or history row) they belong to.

    A licence's own many-to-many rows; for a history row of a licence, the snapshot of them it recorded.
    """
    through = License.passported_to.through
    if model is License:
        return through, License.passported_to.field.m2m_field_name()
    for relation in model._meta.related_objects:
        if getattr(relation.related_model, "instance_type", None) is through:
            return relation.related_model, relation.field.name
    raise LookupError(f"{model.__name__} has no passports")


class LicenseStatus(models.TextChoices):
    APPLIED = "applied", "Applied for"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"
    SURRENDERED = "surrendered", "Surrendered"


# A licence's free text (its conditions) was written from weaker sources before an official register was cited.
TEXT_PREDATES_OFFICIAL_SOURCE = "text_predates_official_source"


def predates_official_source(flag, fields=None) -> bool:
    """Whether the data-quality ``flag`` puts free text under review (text of one of ``fields``, if given)."""
    return (
        isinstance(flag, dict)
        and flag.get("code") == TEXT_PREDATES_OFFICIAL_SOURCE
        and (fields is None or flag.get("field") in fields)
    )


class License(SlugKeyed, Verifiable, Curated):
    """A licence, authorisation or registration held by an entity under a regime."""

    Status = LicenseStatus
    # Free text curators write from the sources they have: a more authoritative source arriving puts it under review.
    CURATED_TEXT_FIELDS = ("conditions",)

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    holder = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="licenses", help_text="The entity the licence is granted to."
    )
    license_type = models.ForeignKey(
        LicenseType,
        on_delete=models.PROTECT,
        related_name="licenses",
        verbose_name="licence type",
        help_text="The regime and the kind of licence it defines.",
    )
    regulator = optional_reference(
        Regulator, "licenses", help_text="The issuing authority; leave empty when no source names it."
    )
    jurisdiction = optional_reference(
        Jurisdiction,
        "licenses",
        help_text="Where it was granted (the home state: MT for a MiCA licence from Malta), when known.",
    )
    status = models.CharField(max_length=11, choices=Status.choices, db_index=True)
    granted_on, granted_on_precision = partial_date_fields("granted on")
    ended_on, ended_on_precision = partial_date_fields(
        "ended on", "When it was revoked, expired or surrendered, if it has ended."
    )
    activities = models.ManyToManyField(
        Activity, blank=True, related_name="licenses", help_text="Services the licence permits."
    )
    serves_retail = models.BooleanField("retail clients", default=False, help_text="Retail clients may be served.")
    serves_professional = models.BooleanField(
        "professional clients", default=False, help_text="Professional clients may be served."
    )
    serves_institutional = models.BooleanField(
        "institutional clients", default=False, help_text="Institutional clients may be served."
    )
    passported_to = models.ManyToManyField(
        Jurisdiction,
        blank=True,
        related_name="passported_licenses",
        help_text="Other jurisdictions where it may be used (the EEA for MiCA and MiFID II).",
    )
    reference_number = models.CharField(
        max_length=100, blank=True, db_index=True, help_text="The regulator's reference, when known."
    )
    conditions = models.TextField(blank=True, help_text="Restrictions or conditions, as the source states them.")
    last_verified_on = last_verified_field()
    not_listed_since = not_listed_field()
    official_register_key = official_register_key_field("esma-casp:LEI", "this licence")
    superseded_by = optional_reference(
        "self", "superseded", help_text="The licence this duplicate was folded into after a curator matched them."
    )
    quality_flags = quality_flags_field()

    public = public_flag_field()
    holder_name = models.CharField(
        max_length=300,
        default="",
        editable=False,
        help_text="The holder's name, kept by the database (registry/derived/visibility.py): the list's default order.",
    )
    regime_name = models.CharField(
        max_length=60,
        default="",
        editable=False,
        help_text="The regime's short name, kept by the database (registry/derived/visibility.py): "
        "the list's default order.",
    )

    granted = PartialDateDescriptor("granted_on")
    ended = PartialDateDescriptor("ended_on")

    # ``public`` is derived, not curated: a change history of it would only echo other changes.
    history = HistoricalRecords(
        m2m_fields=["activities", "passported_to"], excluded_fields=["public", "holder_name", "regime_name"]
    )

    objects = LicenseQuerySet.as_manager()

    class Meta:
        # Copies of holder__name and license_type__regime__short_name, which an index can serve.
        ordering = ["holder_name", "regime_name", "slug"]
        verbose_name = "licence"
        constraints = [
            *curated_constraints("license"),
            choice_constraint("license_status_valid", "status", LicenseStatus),
            *partial_date_constraints("license", "granted_on"),
            *partial_date_constraints("license", "ended_on"),
            dates_in_order(
                "license_ended_not_before_granted",
                "granted_on",
                "ended_on",
                "A licence cannot end before it was granted.",
            ),
            models.UniqueConstraint(
                fields=["regulator", "reference_number"],
                condition=~Q(reference_number=""),
                name="license_unique_reference_per_regulator",
                violation_error_message="This regulator already has a licence with this reference number.",
            ),
            models.UniqueConstraint(
                fields=["official_register_key"],
                condition=~Q(official_register_key=""),
                name="license_unique_official_register_key",
                violation_error_message="Another licence already stands for this official-register entry.",
            ),
            models.CheckConstraint(
                condition=~Q(superseded_by=F("pk")),
                name="license_not_superseded_by_itself",
                violation_error_message="A licence cannot be superseded by itself.",
            ),
        ]
        indexes = [
            models.Index(fields=["granted_on"], name="license_granted_idx"),
            # Partial covering indexes for the list's count and facets, which all start from ``published()``.
            # ``public`` is a column of each too: SQLite only counts from an index holding every column read.
            models.Index(fields=["status", "public"], condition=Q(public=True), name="license_public_status_idx"),
            models.Index(
                fields=["license_type", "jurisdiction", "public"],
                condition=Q(public=True),
                name="license_public_type_idx",
            ),
            models.Index(
                fields=["holder_name", "regime_name", "slug"], condition=Q(public=True), name="license_public_order_idx"
            ),
            # A group's page: its members' licences, counted and the most recently granted picked from the index
            # alone (a quarter of the time of reading 4,000 rows of the largest group).
            models.Index(
                fields=["holder", "granted_on", "public"], condition=Q(public=True), name="license_public_holder_idx"
            ),
        ]

    def __str__(self):
        return f"{self.holder} – {self.license_type}"

    def save(self, *args, **kwargs):
        # Editing text flagged as predating the official source settles the flag: the curator has revisited it.
        loaded = getattr(self, "_loaded_text", {})
        edited = {name for name, value in loaded.items() if getattr(self, name) != value}
        kept = [flag for flag in self.quality_flags if not predates_official_source(flag, edited)]
        if len(kept) != len(self.quality_flags):
            self.quality_flags = kept
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "quality_flags"}
        super().save(*args, **kwargs)
        self._loaded_text = {name: getattr(self, name) for name in self.CURATED_TEXT_FIELDS}

    def get_absolute_url(self):
        return detail_path("public:license-detail", self.slug)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # The stored text, to tell an edit of it on save (deferred fields are left out).
        instance._loaded_text = {
            name: instance.__dict__[name] for name in cls.CURATED_TEXT_FIELDS if name in instance.__dict__
        }
        return instance

    def clean(self):
        super().clean()
        # Raw columns, not the PartialDate descriptors: those refuse an inconsistent
        # precision, which the constraint check reports more helpfully.
        if self.granted_on and self.ended_on and self.ended_on < self.granted_on:
            raise ValidationError({"ended_on": "A licence cannot end before it was granted."})

    @property
    def regime(self):
        return self.license_type.regime

    @property
    def granted_in(self):
        """The home jurisdiction: the one the source states, else its regime's (:func:`granted_in_field` in SQL)."""
        return self.jurisdiction if self.jurisdiction_id is not None else self.license_type.regime.jurisdiction

    @property
    def granted_in_stated(self):
        """Whether a source states the home jurisdiction (False: the regime's stands in, say the EU for MiFID II)."""
        return self.jurisdiction_id is not None

    def text_under_review(self) -> set[str]:
        """Free-text fields flagged as written before the official register was cited: not shown to the public."""
        return {flag.get("field", "") for flag in self.quality_flags if predates_official_source(flag)}

    @property
    def client_scope(self):
        """The client types served, as a list of labels (empty when no source says)."""
        names = ("retail", "professional", "institutional")
        return [name for name in names if getattr(self, f"serves_{name}")]

    def is_in_force(self, at=None):
        day = today(at)
        return (
            self.status == self.Status.ACTIVE
            and (self.granted_on is None or self.granted_on <= day)
            and (self.ended_on is None or self.ended_on > day)
        )
