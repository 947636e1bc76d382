"""The register's data model.

Every fact a curator records about a firm (a licence, an audit, a key person)
cites at least one :class:`Source`. What the public may see is decided in one
place per model: the ``published()`` method of its QuerySet. Every public page,
export and API starts from it.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import (
    BooleanField,
    Case,
    DateField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncYear, Upper
from django.db.models.lookups import Exact, GreaterThan
from django.utils import timezone
from simple_history import models as simple_history
from stdnum import lei as stdnum_lei
from stdnum.exceptions import ValidationError as StdnumValidationError

from .dates import (
    DatePrecision,
    PartialDateDescriptor,
    partial_date_constraints,
    partial_date_fields,
)
from .links import detail_path

LEI_REGEX = r"^[0-9A-Z]{18}[0-9]{2}$"
SLUG_HELP = "Lower-case letters, digits and hyphens; the record's address on the site. Never reuse one."


def choice_constraint(name: str, field: str, choices: type[models.TextChoices], allow_blank: bool = False):
    """A named CheckConstraint that keeps ``field`` within ``choices`` (even through ``loaddata``)."""
    values = list(choices.values) + ([""] if allow_blank else [])
    allowed = ", ".join(value for value in values if value)
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": values}),
        name=name,
        violation_error_message=f"{field.replace('_', ' ').capitalize()} must be one of: {allowed}.",
    )


def validate_lei(value: str) -> None:
    """ISO 17442: 20 characters, ending in two MOD 97-10 check digits (python-stdnum checks both)."""
    if not value:
        return
    try:
        stdnum_lei.validate(value)
    except StdnumValidationError as exc:
        raise ValidationError(
            "%(value)s is not a valid LEI (ISO 17442): %(reason)s",
            code="invalid_lei",
            params={"value": value, "reason": str(exc).rstrip(".").lower()},
        ) from exc


class HistoricalRecords(simple_history.HistoricalRecords):
    """django-simple-history's change history, each table with an index for "the record's row at an instant".

    Whether a record was public at a past instant (registry/history.py: the
    as-of view, the change feed) looks up, for each row it reads, the latest
    history row of several other records by that instant and reads its status.
    The index ``(id, history_date, history_id, publication_status,
    history_type)`` answers each lookup alone: one seek, no sort, no read of
    the (wide) history row. It made counting the change feed 2 to 3 times faster.
    """

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        covered = ["publication_status"] if any(f.name == "publication_status" for f in model._meta.fields) else []
        fields = ["id", "history_date", "history_id", *covered, "history_type"]
        index = models.Index(fields=fields, name=f"hist_{model._meta.model_name[:19]}_at")
        options["indexes"] = (*options.get("indexes", ()), index)
        return options


def today(at: datetime.date | None = None) -> datetime.date:
    return at or timezone.localdate()


class Publication(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


# ---------------------------------------------------------------------------
# Query sets
# ---------------------------------------------------------------------------


class SlugQuerySet(models.QuerySet):
    def get_by_natural_key(self, slug):
        return self.get(slug=slug)


class PublishableQuerySet(SlugQuerySet):
    def published(self):
        """Records the public may see: those a curator has published."""
        return self.filter(publication_status=Publication.PUBLISHED)


class JurisdictionQuerySet(models.QuerySet):
    def get_by_natural_key(self, code):
        return self.get(code=code)

    def covering(self, code):
        """The jurisdictions whose licences may be used in ``code`` (see :meth:`LicenseQuerySet.usable_in`).

        ``code`` itself, every area that contains it or its country, its country (for a subdivision) and its
        subdivisions: ``MT`` gives Malta, the EU and the EEA; ``AE-DU`` gives Dubai and the United Arab
        Emirates; ``AE`` gives the United Arab Emirates and each emirate.
        """
        return self.filter(
            Q(code=code)
            | Q(members__code=code)
            | Q(subdivisions__code=code)
            | Q(members__subdivisions__code=code)
            | Q(parent__code=code)
        ).distinct()


class EntityQuerySet(PublishableQuerySet):
    pass


class LicenseTypeQuerySet(models.QuerySet):
    def get_by_natural_key(self, regime_slug, slug):
        return self.get(regime__slug=regime_slug, slug=slug)


class EntityAliasQuerySet(models.QuerySet):
    def get_by_natural_key(self, entity_slug, name):
        return self.get(entity__slug=entity_slug, name=name)


def _cited_by_published_source(citation_model):
    return Exists(
        citation_model.objects.filter(
            **{citation_model.TARGET_FIELD: OuterRef("pk")},
            source__publication_status=Publication.PUBLISHED,
        )
    )


VERIFICATION_INTERVAL = datetime.timedelta(days=365)


def _verified_on():
    """The day a record was last checked against its sources: ``last_verified_on``, or, when no check has
    been recorded since, the day it was created (creating a record from its sources, or importing it from
    an official register, is checking it). Days are in the site's time zone, as ``today()``'s are."""
    return Coalesce("last_verified_on", TruncDate("created_at"))


def needs_verification(record, at=None) -> bool:
    """Whether :meth:`VerifiableQuerySet.stale` lists ``record`` on ``at``: read from ``with_verification()``
    when the record was loaded through it for that day, else asked of the database (never a second rule)."""
    day = today(at)
    if getattr(record, "verification_day", None) != day:
        loaded = type(record)._default_manager.with_verification(day).filter(pk=record.pk)
        record.verified_on, record.is_stale = loaded.values_list("verified_on", "is_stale").get()
        record.verification_day = day
    return record.is_stale


class VerifiableQuerySet(SlugQuerySet):
    def stale(self, at=None):
        """Records not verified against their sources in the 12 months before ``at`` (default today).

        The one verification rule: a record is checked on ``last_verified_on``, or on the day it was created
        when no later check is recorded, so a record created or checked today is never stale.
        """
        return self.with_verification(at).filter(is_stale=True)

    def with_verification(self, at=None):
        """Annotated with ``verified_on`` (see :func:`_verified_on`) and ``is_stale`` (listed by :meth:`stale`)."""
        day = today(at)
        return self.annotate(
            verified_on=_verified_on(),
            is_stale=ExpressionWrapper(Q(verified_on__lt=day - VERIFICATION_INTERVAL), output_field=BooleanField()),
            verification_day=Value(day, output_field=DateField()),
        )


class LicenseQuerySet(VerifiableQuerySet):
    def published(self):
        """Licences the public may see.

        A licence is public only when it is published itself, its holder and
        regime are published, its regulator (if named) is published, and it
        cites at least one published source: an uncited claim never goes live.

        The database evaluates that rule on every write and stores the answer
        in ``public`` (registry/visibility.py), so this is one indexed lookup
        rather than five joins per row; :meth:`by_rule` states the same rule
        as a query, and the tests hold the two equal.
        """
        return self.filter(public=True)

    def by_rule(self):
        """The visibility rule of :meth:`published` evaluated as a query (the specification of ``public``)."""
        return self.filter(
            _cited_by_published_source(LicenseCitation),
            publication_status=Publication.PUBLISHED,
            holder__publication_status=Publication.PUBLISHED,
            license_type__regime__publication_status=Publication.PUBLISHED,
        ).filter(Q(regulator__isnull=True) | Q(regulator__publication_status=Publication.PUBLISHED))

    def in_force(self, at=None):
        """Licences active on ``at`` (default today): granted by then and not ended."""
        day = today(at)
        return self.filter(status=License.Status.ACTIVE).filter(
            Q(granted_on__isnull=True) | Q(granted_on__lte=day),
            Q(ended_on__isnull=True) | Q(ended_on__gt=day),
        )

    def usable_in(self, code):
        """Licences usable in the jurisdiction ``code``: "Usable in" on every page, export, the API and the feeds.

        Its home jurisdiction, its regime's jurisdiction or one of its passports is ``code``, an area containing
        it (MT: the EU, the EEA), its country, or one of its subdivisions (AE: Dubai); see
        :meth:`JurisdictionQuerySet.covering`.

        Also answers for the change history's licence rows (registry/history.py calls it on them, as
        ``LicenseQuerySet.usable_in(rows, code)``): then the passports are those the row recorded.

        Written as subqueries of ids (licence types, passports), so no OR spans joined tables: that would
        read every licence.
        """
        places = Jurisdiction.objects.covering(code).values("pk")
        regime_types = LicenseType.objects.filter(regime__jurisdiction__in=places).values("pk")
        passports, owner = _passport_rows(self.model)
        passported = passports.objects.filter(jurisdiction__in=places).values(owner)
        return self.filter(Q(jurisdiction__in=places) | Q(license_type__in=regime_types) | Q(pk__in=passported))

    def granted_in(self, code):
        """Licences whose home jurisdiction (:attr:`License.granted_in`) is ``code`` or one of its subdivisions.

        "Granted in" on every page, export and the API; the list's facet and the home chart count the same
        values, a subdivision under its country. Like :meth:`usable_in`, it also answers for history rows.
        """
        places = Jurisdiction.objects.filter(Q(code=code) | Q(parent__code=code)).values("pk")
        regime_types = LicenseType.objects.filter(regime__jurisdiction__in=places).values("pk")
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


class AuditQuerySet(VerifiableQuerySet):
    def published(self):
        """Audits the public may see.

        Published itself, its subject published, its auditor (if named)
        published, and citing at least one published source. Stored in
        ``public`` by the database, as for licences (registry/visibility.py).
        """
        return self.filter(public=True)

    def by_rule(self):
        """The visibility rule of :meth:`published` evaluated as a query (the specification of ``public``)."""
        return self.filter(
            _cited_by_published_source(AuditCitation),
            publication_status=Publication.PUBLISHED,
            subject__publication_status=Publication.PUBLISHED,
        ).filter(Q(auditor__isnull=True) | Q(auditor__publication_status=Publication.PUBLISHED))

    def valid(self, at=None, candidates=None):
        """Audits current on ``at`` (default today): :meth:`with_status` would say ``current``.

        ``candidates`` are the audits that may supersede one (default: the published ones); the as-of
        view passes the register's snapshot of that day.
        """
        return self.filter(_status_conditions(today(at), candidates)[AuditStatus.CURRENT])

    def with_status(self, at=None, candidates=None):
        """Annotated with ``status`` on ``at`` (an :class:`AuditStatus`) and ``superseded_by_slug``.

        The one rule for whether a report or certificate is current (see :func:`_status_conditions`);
        :meth:`valid` keeps the rows whose status is ``current``.
        """
        day = today(at)
        conditions = _status_conditions(day, candidates)
        later = _superseding(day, candidates).order_by("issued_on", "slug").values("slug")[:1]
        return self.annotate(
            status=Case(
                *(When(conditions[status], then=Value(status.value)) for status in AuditStatus),
                output_field=models.CharField(),
            ),
            superseded_by_slug=Subquery(later),
            status_day=Value(day, output_field=DateField()),
        )


def _superseding(day, candidates=None):
    """The audits of ``candidates`` that supersede the outer query's audit on ``day``.

    A report or certificate is superseded by a later one of the same standard for the same subject,
    issued by ``day``. "Later" means after every day its own issue date may stand for: a report of
    "July 2024" is not superseded by one of 15 July 2024. An audit with no standard (a bespoke security
    audit) or an ongoing engagement is never superseded, nor is one whose issue date is unknown.
    """
    if candidates is None:
        candidates = Audit.objects.published()
    precision = OuterRef("issued_on_precision")
    issued = OuterRef("issued_on")
    after_it = (
        Q(Exact(precision, DatePrecision.DAY), issued_on__gt=issued)
        | Q(Exact(precision, DatePrecision.MONTH), GreaterThan(TruncMonth("issued_on"), issued))
        | Q(Exact(precision, DatePrecision.YEAR), GreaterThan(TruncYear("issued_on"), issued))
    )
    return candidates.filter(
        after_it,
        Exact(OuterRef("ongoing"), False),
        subject_id=OuterRef("subject_id"),
        standard_id=OuterRef("standard_id"),
        ongoing=False,
        issued_on__lte=day,
    )


def _status_conditions(day, candidates=None) -> dict:
    """Each :class:`AuditStatus` as a condition on an audit (mutually exclusive, together covering every audit).

    * not yet issued: an ongoing engagement that has not started, or a report issued after ``day``;
    * superseded: see :func:`_superseding`;
    * expired: past its valid-until date, compared at the precision stored ("valid until March 2027"
      holds to the end of March); an ongoing engagement does not expire;
    * current: everything else. A report with no valid-until date counts as current until superseded:
      the source gave no expiry.
    """
    started = (Q(ongoing=True) & (Q(period_start__isnull=True) | Q(period_start__lte=day))) | (
        Q(ongoing=False) & (Q(issued_on__isnull=True) | Q(issued_on__lte=day))
    )
    not_expired = (
        Q(valid_until__isnull=True)
        | Q(valid_until_precision=DatePrecision.DAY, valid_until__gte=day)
        | Q(valid_until_precision=DatePrecision.MONTH, valid_until__gte=day.replace(day=1))
        | Q(valid_until_precision=DatePrecision.YEAR, valid_until__gte=day.replace(month=1, day=1))
    )
    expired = Q(ongoing=False) & ~not_expired
    superseded = Exists(_superseding(day, candidates))
    return {
        AuditStatus.CURRENT: started & ~Q(superseded) & ~expired,
        AuditStatus.SUPERSEDED: started & Q(superseded),
        AuditStatus.EXPIRED: started & ~Q(superseded) & expired,
        AuditStatus.NOT_YET_ISSUED: ~started,
    }


def link_supersession(audits, at=None, candidates=None):
    """Give each of ``audits`` its status on ``at`` and its links both ways, in one query.

    Sets ``status`` and ``superseded_by_slug`` (as :meth:`AuditQuerySet.with_status` annotates them),
    ``superseded_by_audit`` (the later report, or None) and ``supersedes_audits`` (the reports it
    superseded). ``candidates`` as for :meth:`AuditQuerySet.valid`: the as-of view passes history rows.
    Returns ``audits`` as a list.
    """
    audits = list(audits)
    if not audits:
        return audits
    day = today(at)
    if candidates is None:
        candidates = Audit.objects.published()
    related = Q(id__in=[audit.pk for audit in audits])
    for audit in audits:
        if audit.standard_id and not audit.ongoing:
            related |= Q(subject_id=audit.subject_id, standard_id=audit.standard_id)
    rows = {row.id: row for row in AuditQuerySet.with_status(candidates.filter(related), day, candidates).order_by()}
    # History rows (the as-of view's candidates) become the records they stood for.
    records = {pk: (row.instance if hasattr(row, "instance") else row) for pk, row in rows.items()}
    by_slug = {row.slug: records[pk] for pk, row in rows.items()}
    for audit in audits:
        row = rows.get(audit.pk)
        audit.status = row.status if row else None
        audit.superseded_by_slug = row.superseded_by_slug if row else None
        audit.status_day = day
        audit.superseded_by_audit = by_slug.get(audit.superseded_by_slug)
        supersedes = [records[pk] for pk, other in rows.items() if other.superseded_by_slug == audit.slug]
        audit.supersedes_audits = sorted(supersedes, key=lambda other: (other.issued_on, other.slug))
    return audits


class KeyPersonQuerySet(models.QuerySet):
    def get_by_natural_key(self, entity_slug, name, role):
        return self.get(entity__slug=entity_slug, name=name, role=role)

    def published(self):
        """Key people the public may see: published, at a published entity."""
        return self.filter(
            publication_status=Publication.PUBLISHED,
            entity__publication_status=Publication.PUBLISHED,
        )


class CitationQuerySet(models.QuerySet):
    def get_by_natural_key(self, *key):
        """The cited record's natural key, then the source's slug, then the fact supported."""
        *target_key, source_slug, supports = key
        target_field = self.model.TARGET_FIELD
        target_model = self.model._meta.get_field(target_field).related_model
        target = target_model._default_manager.get_by_natural_key(*target_key)
        return self.get(**{target_field: target}, source__slug=source_slug, supports=supports)

    def published(self):
        """Citations of published sources (the cited record decides its own visibility)."""
        return self.filter(source__publication_status=Publication.PUBLISHED)


@dataclass(frozen=True)
class VisibilityRule:
    """What a record's public visibility depends on besides its own publication: the rule of ``published()``
    (``by_rule()`` for licences and audits) above, written as data so that code can follow it.

    :func:`registry.review.draft_dependencies` reads it to list the drafts a record waits for, and
    :func:`registry.history.public_then` to decide whether a record was public at a past instant (the as-of
    view, the change feed). ``tests/test_review.py`` holds it equal to the query sets' rules, model by model.

    * ``requires``: relations (query paths) to curated records that must be published;
    * ``optional``: relations that must be published when they name a record;
    * ``cited_by``: the reverse relation of the record's citations, one of which must cite a published source.
    """

    requires: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    cited_by: str = ""


# By model name. A curated model not listed here is public when it is published itself.
VISIBILITY_RULES = {
    "license": VisibilityRule(
        requires=("holder", "license_type__regime"), optional=("regulator",), cited_by="citations"
    ),
    "audit": VisibilityRule(requires=("subject",), optional=("auditor",), cited_by="citations"),
    "keyperson": VisibilityRule(requires=("entity",)),
    "warningnotice": VisibilityRule(requires=("entity", "source"), optional=("regulator",)),
}


def visibility_rule(model) -> VisibilityRule:
    """The :class:`VisibilityRule` of ``model`` (a model class or a history model of one)."""
    model = getattr(model, "instance_type", model)
    return VISIBILITY_RULES.get(model._meta.model_name, VisibilityRule())


def path_model(model, path: str):
    """The model a rule's relation path leads to from ``model``: ``license_type__regime`` from a licence, Regime."""
    for name in path.split("__"):
        model = model._meta.get_field(name).related_model
    return model


# ---------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------


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
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subdivisions",
        help_text="For a subdivision: its country.",
    )
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


class Standard(models.Model):
    """A standard an audit or certification is made against (SOC 2 Type II, ISO/IEC 27001)."""

    slug = models.SlugField(max_length=100, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=200, unique=True, help_text="As commonly written: SOC 2 Type II.")
    issuer = models.CharField(max_length=200, blank=True, help_text="The body that sets the standard: AICPA, ISO/IEC.")
    url = models.URLField(blank=True, help_text="The standard's official page.")
    description = models.TextField(blank=True)

    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.slug,)


# ---------------------------------------------------------------------------
# Curated records
# ---------------------------------------------------------------------------


# Every Curated model lists this in its constraints (a child's Meta replaces its parent's list).
FOUR_EYES = models.CheckConstraint(
    condition=Q(publication_status=Publication.DRAFT)
    | Q(published_by__isnull=True)
    | Q(last_edited_by__isnull=True)
    | ~Q(published_by=F("last_edited_by")),
    name="%(class)s_four_eyes",
    violation_error_message="A record cannot be published by the account that last edited it.",
)


class Curated(models.Model):
    """Fields every curated, publishable record has.

    Four-eyes publishing: ``published_by`` may never be the ``last_edited_by``
    account (a database rule, so no code path can skip it). Records loaded by an
    operator through ``loaddata`` carry neither.
    """

    publication_status = models.CharField(
        "publication",
        max_length=9,
        choices=Publication.choices,
        default=Publication.DRAFT,
        db_index=True,
        help_text="Only published records are visible to the public.",
    )
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Raised on every save; an edit made from an older version is refused."
    )
    last_edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The account whose edit this version is.",
    )
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The reviewer who put this version live.",
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Defaults rather than auto_now: fixtures may carry their own timestamps, so
    # loading the same fixture twice leaves the database unchanged.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
        if not self._state.adding:
            self.version = (self.version or 0) + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at", "version"}
        super().save(*args, **kwargs)

    @property
    def is_published(self):
        return self.publication_status == Publication.PUBLISHED


class Regulator(Curated):
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
            FOUR_EYES,
            choice_constraint("regulator_publication_valid", "publication_status", Publication),
            models.UniqueConstraint(fields=["jurisdiction", "name"], name="regulator_unique_name_per_jurisdiction"),
        ]

    def __str__(self):
        return f"{self.name} ({self.abbreviation})" if self.abbreviation else self.name

    def get_absolute_url(self):
        return detail_path("registry:regulator-detail", self.slug)

    def natural_key(self):
        return (self.slug,)


class Regime(Curated):
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
        constraints = [
            FOUR_EYES,
            choice_constraint("regime_publication_valid", "publication_status", Publication),
        ]

    def __str__(self):
        return self.short_name

    def get_absolute_url(self):
        return detail_path("registry:regime-detail", self.slug)

    def natural_key(self):
        return (self.slug,)


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


class Activity(models.Model):
    """A service a licence permits (custody, spot trading, transfer services)."""

    slug = models.SlugField(max_length=100, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=300)
    regime = models.ForeignKey(
        Regime,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="activities",
        help_text="The regime that defines it, if any (MiCA Article 3(1)(16)).",
    )
    code = models.CharField(max_length=20, blank=True, help_text="The regime's own code: MiCA service (a).")
    description = models.TextField(blank=True)

    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "activities"

    def __str__(self):
        return self.name

    def natural_key(self):
        return (self.slug,)


class EntityKind(models.TextChoices):
    GROUP = "group", "Group"
    AFFILIATE = "affiliate", "Affiliate of a group"
    COMPANY = "company", "Company"
    AUDITOR = "auditor", "Audit firm or certification body"


class Entity(Curated):
    """Any organisation the register speaks of: a group, an affiliate, an audit firm."""

    Kind = EntityKind

    slug = models.SlugField(max_length=120, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=300, db_index=True, help_text="Legal name, or the name sources use.")
    kind = models.CharField(max_length=9, choices=Kind.choices, db_index=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="affiliates",
        help_text="The group it belongs to.",
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entities",
        help_text="Where it is established, when a source says so.",
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
    quality_flags = models.JSONField(
        "data-quality flags",
        default=list,
        blank=True,
        help_text='Problems found in the source data, shown to curators and the public: [{"code", "message"}].',
    )

    history = HistoricalRecords()

    objects = EntityQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "entities"
        constraints = [
            FOUR_EYES,
            choice_constraint("entity_kind_valid", "kind", EntityKind),
            choice_constraint("entity_publication_valid", "publication_status", Publication),
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
        return detail_path("registry:entity-detail", self.slug)

    def natural_key(self):
        return (self.slug,)

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


# How far each kind of source is trusted, most authoritative first: where sources disagree, the first leads.
SOURCE_AUTHORITY = ("register", "notice", "company", "report", "article", "other")


class SourceKind(models.TextChoices):
    ARTICLE = "article", "Article"
    OFFICIAL_REGISTER = "register", "Official register"
    REGULATOR_NOTICE = "notice", "Regulator notice"
    COMPANY_STATEMENT = "company", "Company statement"
    REPORT = "report", "Report or certificate"
    OTHER = "other", "Other"

    @property
    def authority(self) -> int:
        """This kind's rank, 0 the most authoritative (official register > regulator > company > press)."""
        return SOURCE_AUTHORITY.index(self.value)


class Source(Curated):
    """A document facts are taken from, with an archived copy of its text."""

    Kind = SourceKind

    slug = models.SlugField(max_length=120, unique=True, help_text=SLUG_HELP)
    title = models.CharField(max_length=500, help_text="As published; a title in [square brackets] was supplied by us.")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=SourceKind.ARTICLE)
    publisher = models.CharField(max_length=300, blank=True)
    url = models.URLField("address", max_length=1000, blank=True, help_text="Where it was published, if online.")
    published_on, published_on_precision = partial_date_fields("published on")
    retrieved_on = models.DateField(null=True, blank=True, help_text="When we took our copy.")
    archived_text = models.TextField(blank=True, help_text="Our archived copy of the text, shown on the site.")
    sha256 = models.CharField(
        "SHA-256",
        max_length=64,
        blank=True,
        editable=False,
        help_text="Digest of the archived text (UTF-8), set on save.",
    )
    notes = models.TextField(blank=True)

    publication_date = PartialDateDescriptor("published_on")

    history = HistoricalRecords()

    objects = PublishableQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        constraints = [
            FOUR_EYES,
            choice_constraint("source_kind_valid", "kind", SourceKind),
            choice_constraint("source_publication_valid", "publication_status", Publication),
            *partial_date_constraints("source", "published_on"),
            models.CheckConstraint(
                condition=Q(sha256="") | Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="source_sha256_format",
                violation_error_message="SHA-256 is 64 lower-case hexadecimal digits.",
            ),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        self.sha256 = hashlib.sha256(self.archived_text.encode()).hexdigest() if self.archived_text else ""
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return detail_path("registry:source-detail", self.slug)

    def natural_key(self):
        return (self.slug,)

    @property
    def authority(self) -> int:
        """The rank of this source's kind (:attr:`SourceKind.authority`): lower leads where sources disagree."""
        return SourceKind(self.kind).authority


class LicenseStatus(models.TextChoices):
    APPLIED = "applied", "Applied for"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"
    SURRENDERED = "surrendered", "Surrendered"


# A licence's free text (its conditions) was written from weaker sources before an official register was cited.
TEXT_PREDATES_OFFICIAL_SOURCE = "text_predates_official_source"


class License(Curated):
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
    regulator = models.ForeignKey(
        Regulator,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
        help_text="The issuing authority; leave empty when no source names it.",
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="licenses",
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
    last_verified_on = models.DateField(
        "last verified on",
        null=True,
        blank=True,
        db_index=True,
        help_text="When a curator last checked this against its sources.",
    )
    not_listed_since = models.DateField(
        "no longer listed since",
        null=True,
        blank=True,
        help_text="The first official-register snapshot that no longer lists it (it is kept, not deleted).",
    )
    official_register_key = models.CharField(
        max_length=200,
        blank=True,
        db_index=True,
        help_text="How an official-register importer recognises this licence in later snapshots (esma-casp:LEI).",
    )
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded",
        help_text="The licence this duplicate was folded into after a curator matched them.",
    )
    quality_flags = models.JSONField(
        "data-quality flags",
        default=list,
        blank=True,
        help_text='Problems found in the source data, shown to curators and the public: [{"code", "message"}].',
    )

    public = models.BooleanField(
        default=False,
        editable=False,
        help_text="Kept by the database on every write (registry/visibility.py): whether the public sees this record.",
    )
    holder_name = models.CharField(
        max_length=300,
        default="",
        editable=False,
        help_text="The holder's name, kept by the database (registry/visibility.py): the list's default order.",
    )
    regime_name = models.CharField(
        max_length=60,
        default="",
        editable=False,
        help_text="The regime's short name, kept by the database (registry/visibility.py): the list's default order.",
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
            FOUR_EYES,
            choice_constraint("license_status_valid", "status", LicenseStatus),
            choice_constraint("license_publication_valid", "publication_status", Publication),
            *partial_date_constraints("license", "granted_on"),
            *partial_date_constraints("license", "ended_on"),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(granted_on__isnull=True) | Q(ended_on__gte=F("granted_on")),
                name="license_ended_not_before_granted",
                violation_error_message="A licence cannot end before it was granted.",
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
        ]

    def __str__(self):
        return f"{self.holder} – {self.license_type}"

    def save(self, *args, **kwargs):
        # Editing text flagged as predating the official source settles the flag: the curator has revisited it.
        loaded = getattr(self, "_loaded_text", {})
        edited = {name for name, value in loaded.items() if getattr(self, name) != value}
        kept = [
            flag
            for flag in self.quality_flags
            if not (
                isinstance(flag, dict)
                and flag.get("code") == TEXT_PREDATES_OFFICIAL_SOURCE
                and flag.get("field") in edited
            )
        ]
        if len(kept) != len(self.quality_flags):
            self.quality_flags = kept
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "quality_flags"}
        super().save(*args, **kwargs)
        self._loaded_text = {name: getattr(self, name) for name in self.CURATED_TEXT_FIELDS}

    def get_absolute_url(self):
        return detail_path("registry:license-detail", self.slug)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # The stored text, to tell an edit of it on save (deferred fields are left out).
        instance._loaded_text = {
            name: instance.__dict__[name] for name in cls.CURATED_TEXT_FIELDS if name in instance.__dict__
        }
        return instance

    def natural_key(self):
        return (self.slug,)

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
        return {
            flag.get("field", "")
            for flag in self.quality_flags
            if isinstance(flag, dict) and flag.get("code") == TEXT_PREDATES_OFFICIAL_SOURCE
        }

    @property
    def client_scope(self):
        """The client types served, as a list of labels (empty when no source says)."""
        names = ("retail", "professional", "institutional")
        return [name for name in names if getattr(self, f"serves_{name}")]

    def needs_verification(self, at=None):
        return needs_verification(self, at)

    def is_in_force(self, at=None):
        day = today(at)
        return (
            self.status == self.Status.ACTIVE
            and (self.granted_on is None or self.granted_on <= day)
            and (self.ended_on is None or self.ended_on > day)
        )


class AuditKind(models.TextChoices):
    CERTIFICATION = "certification", "Certification"
    ATTESTATION = "attestation", "Attestation report"
    SECURITY_AUDIT = "security_audit", "Security audit"
    PROOF_OF_RESERVES = "proof_of_reserves", "Proof-of-reserves verification"


class AuditStatus(models.TextChoices):
    """Whether a report or certificate is current on a given day (:meth:`AuditQuerySet.with_status`)."""

    CURRENT = "current", "Current"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired"
    NOT_YET_ISSUED = "not_yet_issued", "Not yet issued"


class Audit(Curated):
    """A certification, attestation report, security audit or proof-of-reserves verification."""

    Kind = AuditKind

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    subject = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="audits", help_text="The entity audited or certified."
    )
    kind = models.CharField(max_length=17, choices=Kind.choices, db_index=True)
    standard = models.ForeignKey(
        Standard,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audits",
        help_text="Leave empty for a bespoke security audit.",
    )
    auditor = models.ForeignKey(
        Entity,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="audits_performed",
        help_text="The audit firm or certification body; leave empty when no source names it.",
    )
    scope = models.TextField(blank=True, help_text="What was audited, as the source states it.")
    issued_on, issued_on_precision = partial_date_fields("issued on", "When the report or certificate was issued.")
    period_start, period_start_precision = partial_date_fields(
        "period start", "Start of the period covered, or of an ongoing engagement."
    )
    period_end, period_end_precision = partial_date_fields("period end", "End of the period covered.")
    valid_until, valid_until_precision = partial_date_fields("valid until", "Expiry of a certificate, if stated.")
    ongoing = models.BooleanField(
        default=False, help_text="An open-ended engagement (SlowMist since 2023): it has a start and no end."
    )
    reference = models.CharField(max_length=200, blank=True, help_text="Certificate or report number, if known.")
    last_verified_on = models.DateField(
        "last verified on",
        null=True,
        blank=True,
        db_index=True,
        help_text="When a curator last checked this against its sources.",
    )
    public = models.BooleanField(
        default=False,
        editable=False,
        help_text="Kept by the database on every write (registry/visibility.py): whether the public sees this record.",
    )

    issued = PartialDateDescriptor("issued_on")
    period_started = PartialDateDescriptor("period_start")
    period_ended = PartialDateDescriptor("period_end")
    valid_until_date = PartialDateDescriptor("valid_until")

    history = HistoricalRecords(excluded_fields=["public"])

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["subject__name", "-issued_on", "slug"]
        constraints = [
            FOUR_EYES,
            choice_constraint("audit_kind_valid", "kind", AuditKind),
            choice_constraint("audit_publication_valid", "publication_status", Publication),
            *partial_date_constraints("audit", "issued_on"),
            *partial_date_constraints("audit", "period_start"),
            *partial_date_constraints("audit", "period_end"),
            *partial_date_constraints("audit", "valid_until"),
            models.CheckConstraint(
                condition=Q(period_end__isnull=True)
                | Q(period_start__isnull=True)
                | Q(period_end__gte=F("period_start")),
                name="audit_period_end_not_before_start",
                violation_error_message="The period covered cannot end before it starts.",
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(issued_on__isnull=True) | Q(valid_until__gte=F("issued_on")),
                name="audit_valid_until_not_before_issued",
                violation_error_message="A certificate cannot expire before it was issued.",
            ),
            models.CheckConstraint(
                condition=Q(ongoing=False) | Q(period_end__isnull=True),
                name="audit_ongoing_has_no_end",
                violation_error_message="An ongoing engagement has no end date.",
            ),
            models.CheckConstraint(
                condition=Q(auditor__isnull=True) | ~Q(auditor=F("subject")),
                name="audit_auditor_not_subject",
                violation_error_message="An entity cannot audit itself.",
            ),
        ]
        indexes = [
            models.Index(fields=["issued_on"], name="audit_issued_idx"),
            models.Index(fields=["valid_until"], name="audit_valid_until_idx"),
            # The later reports of the same standard for the same subject (AuditQuerySet.with_status): without it
            # SQLite looks them up by standard alone, among thousands of audits per standard.
            models.Index(fields=["subject", "standard", "issued_on"], name="audit_subject_standard_idx"),
            # Each facet's column first, then the other facets' columns: a facet counted under another facet's
            # filter reads the index alone.
            models.Index(
                fields=["kind", "standard", "auditor", "public"], condition=Q(public=True), name="audit_public_kind_idx"
            ),
            models.Index(
                fields=["standard", "kind", "auditor", "public"],
                condition=Q(public=True),
                name="audit_public_standard_idx",
            ),
            models.Index(
                fields=["auditor", "kind", "standard", "public"],
                condition=Q(public=True),
                name="audit_public_auditor_idx",
            ),
        ]

    def __str__(self):
        what = self.standard.name if self.standard_id else self.get_kind_display()
        when = f" ({self.issued})" if self.issued else (f" (since {self.period_started})" if self.ongoing else "")
        return f"{self.subject}: {what}{when}"

    def get_absolute_url(self):
        return detail_path("registry:audit-detail", self.slug)

    def natural_key(self):
        return (self.slug,)

    def clean(self):
        super().clean()
        if self.ongoing and self.period_end:
            raise ValidationError({"period_end": "An ongoing engagement has no end date: clear it or untick ongoing."})
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValidationError({"period_end": "The period covered cannot end before it starts."})
        if self.issued_on and self.valid_until and self.valid_until < self.issued_on:
            raise ValidationError({"valid_until": "A certificate cannot expire before it was issued."})
        if self.auditor_id and self.auditor_id == self.subject_id:
            raise ValidationError({"auditor": "An entity cannot audit itself."})

    def needs_verification(self, at=None):
        return needs_verification(self, at)

    def status_on(self, at=None) -> str:
        """The audit's :class:`AuditStatus` on ``at`` (default today), by :meth:`AuditQuerySet.with_status`.

        Read from the annotation when the audit was loaded with it for that day, else asked of the database.
        """
        day = today(at)
        if getattr(self, "status_day", None) == day and getattr(self, "status", None):
            return self.status
        return Audit.objects.with_status(day).filter(pk=self.pk).values_list("status", flat=True).first()

    def is_valid(self, at=None) -> bool:
        """Whether the audit is current on ``at``: :meth:`AuditQuerySet.valid` would list it."""
        return self.status_on(at) == AuditStatus.CURRENT

    @property
    def status_label(self) -> str:
        """The status (as loaded by ``with_status`` or ``link_supersession``) in words."""
        status = getattr(self, "status", None)
        return AuditStatus(status).label if status else ""


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
            FOUR_EYES,
            choice_constraint("key_person_publication_valid", "publication_status", Publication),
            *partial_date_constraints("key_person", "started_on"),
            *partial_date_constraints("key_person", "ended_on"),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(started_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="key_person_ended_not_before_started",
                violation_error_message="A role cannot end before it started.",
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


# ---------------------------------------------------------------------------
# Citations
# ---------------------------------------------------------------------------


class Citation(models.Model):
    """A source cited for a record, optionally for one of its fields, with the supporting quote."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="%(class)ss")
    quote = models.TextField(blank=True, help_text="The sentence in the source that supports the fact, verbatim.")
    locator = models.CharField(max_length=200, blank=True, help_text="Where in the source: section, page, row.")
    states = models.CharField(
        max_length=300,
        blank=True,
        help_text="What the source says for that fact, as written (27/01/2025), so disagreements can be shown.",
    )

    objects = CitationQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self.source} for {getattr(self, self.TARGET_FIELD)}"

    def natural_key(self):
        target = getattr(self, self.TARGET_FIELD)
        return (*target.natural_key(), self.source.slug, self.supports)


def _citation_constraints(prefix, target, supports_choices):
    return [
        choice_constraint(f"{prefix}_supports_valid", "supports", supports_choices, allow_blank=True),
        models.UniqueConstraint(fields=[target, "source", "supports"], name=f"{prefix}_unique"),
    ]


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
    supports = models.CharField(
        max_length=30,
        blank=True,
        default="",
        choices=Fact.choices,
        help_text="The fact this citation supports; empty for the licence as a whole.",
    )

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
    supports = models.CharField(
        max_length=30,
        blank=True,
        default="",
        choices=Fact.choices,
        help_text="The fact this citation supports; empty for the audit as a whole.",
    )

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
    supports = models.CharField(
        max_length=30,
        blank=True,
        default="",
        choices=Fact.choices,
        help_text="The fact this citation supports; empty for the entity as a whole.",
    )

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
    supports = models.CharField(
        max_length=30,
        blank=True,
        default="",
        choices=Fact.choices,
        help_text="The fact this citation supports; empty for the person's role as a whole.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["key_person", "supports", "source"]
        verbose_name = "key person citation"
        constraints = _citation_constraints("key_person_citation", "key_person", KeyPersonFact)


# ---------------------------------------------------------------------------
# Four-eyes review of edits to published records
# ---------------------------------------------------------------------------


class RevisionStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class RevisionQuerySet(models.QuerySet):
    def pending(self):
        """Revisions waiting for a reviewer."""
        return self.filter(status=RevisionStatus.PENDING)

    def for_object(self, obj):
        return self.filter(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)


class Revision(models.Model):
    """An edit to a published record, kept aside until a second reviewer approves it.

    The public keeps seeing the record as last approved. ``changes`` holds the
    proposed values (see ``registry.review``), ``base_version`` the version the
    edit was made from, so an approval over a newer version is refused.
    """

    Status = RevisionStatus

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    target = GenericForeignKey("content_type", "object_id")
    base_version = models.PositiveIntegerField(help_text="The record's version when the edit was made.")
    changes = models.JSONField(help_text="The proposed values: fields, many-to-many sets and inline rows.")
    summary = models.TextField(blank=True, help_text="What changes, field by field, for the reviewer.")
    reason = models.TextField(help_text="Why the editor made the change.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="revisions")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=8, choices=RevisionStatus.choices, default=RevisionStatus.PENDING)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reviewed_revisions",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    objects = RevisionQuerySet.as_manager()

    # No natural key: a revision is workflow state about one database row, not register data.
    class Meta:
        ordering = ["-created_at"]
        permissions = [("review", "Can publish, unpublish, and approve or reject others' edits")]
        indexes = [models.Index(fields=["content_type", "object_id", "status"], name="revision_target_idx")]
        constraints = [
            choice_constraint("revision_status_valid", "status", RevisionStatus),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True) | ~Q(reviewer=F("author")),
                name="revision_four_eyes",
                violation_error_message="An edit cannot be approved or rejected by its own author.",
            ),
            models.CheckConstraint(
                condition=(Q(status=RevisionStatus.PENDING) & Q(reviewer__isnull=True) & Q(reviewed_at__isnull=True))
                | (~Q(status=RevisionStatus.PENDING) & Q(reviewer__isnull=False) & Q(reviewed_at__isnull=False)),
                name="revision_reviewed_iff_decided",
                violation_error_message="A decided revision names its reviewer and date; a pending one has neither.",
            ),
        ]

    def __str__(self):
        return f"Revision of {self.content_type.name} #{self.object_id} by {self.author} ({self.get_status_display()})"


# ---------------------------------------------------------------------------
# Official registers: warning lists and match proposals
# ---------------------------------------------------------------------------


class WarningNoticeQuerySet(SlugQuerySet):
    def published(self):
        """Warnings the public may see: published, about a published entity, from a published source."""
        return self.filter(
            publication_status=Publication.PUBLISHED,
            entity__publication_status=Publication.PUBLISHED,
            source__publication_status=Publication.PUBLISHED,
        ).filter(Q(regulator__isnull=True) | Q(regulator__publication_status=Publication.PUBLISHED))


class WarningNotice(Curated):
    """An authority naming an entity on a warning list (ESMA's list of non-compliant entities)."""

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    entity = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="warnings", help_text="The entity named on the list."
    )
    regulator = models.ForeignKey(
        Regulator,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="warnings",
        help_text="The authority that named it, when the source says.",
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
    quality_flags = models.JSONField(
        "data-quality flags",
        default=list,
        blank=True,
        help_text='Problems found in the source data: [{"code", "message"}].',
    )

    decided = PartialDateDescriptor("decided_on")

    history = HistoricalRecords()

    objects = WarningNoticeQuerySet.as_manager()

    class Meta:
        ordering = ["entity__name", "-decided_on"]
        verbose_name = "warning notice"
        constraints = [
            FOUR_EYES,
            choice_constraint("warning_notice_publication_valid", "publication_status", Publication),
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

    def natural_key(self):
        return (self.slug,)


class MatchStatus(models.TextChoices):
    PENDING = "pending", "Pending review"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class MatchProposalQuerySet(models.QuerySet):
    def pending(self):
        """Proposals waiting for a curator's decision."""
        return self.filter(status=MatchStatus.PENDING)


class MatchProposal(models.Model):
    """An imported record that may be the same as one curators already have; a reviewer decides.

    The importer never merges on a name alone: it creates its own records and
    proposes the match here. Accepting links them (``registry.importers.esma``).
    """

    Status = MatchStatus

    imported_entity = models.ForeignKey(
        Entity, on_delete=models.CASCADE, related_name="match_proposals", help_text="The entity the import created."
    )
    existing_entity = models.ForeignKey(
        Entity,
        on_delete=models.CASCADE,
        related_name="matched_by_proposals",
        help_text="The entity (or group) already in the register it may belong to.",
    )
    imported_license = models.ForeignKey(
        License,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="match_proposals",
        help_text="The licence the import created, if any.",
    )
    existing_license = models.ForeignKey(
        License,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="matched_by_proposals",
        help_text="The licence already in the register it may duplicate, if any.",
    )
    score = models.DecimalField(
        max_digits=4, decimal_places=3, help_text="How alike they are, from 0 to 1 (1 only for the same LEI)."
    )
    reason = models.TextField(help_text="Why the importer thinks they match.")
    source = models.ForeignKey(Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="Who proposed the match."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=8, choices=MatchStatus.choices, default=MatchStatus.PENDING)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    objects = MatchProposalQuerySet.as_manager()

    # No natural key: like a Revision, a proposal is workflow state about database rows, not register data.
    class Meta:
        ordering = ["-created_at"]
        constraints = [
            choice_constraint("match_proposal_status_valid", "status", MatchStatus),
            models.CheckConstraint(
                condition=~Q(imported_entity=F("existing_entity")),
                name="match_proposal_distinct_entities",
                violation_error_message="An entity cannot be matched with itself.",
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0) & Q(score__lte=1),
                name="match_proposal_score_range",
                violation_error_message="The score is between 0 and 1.",
            ),
            models.CheckConstraint(
                condition=Q(reviewer__isnull=True) | ~Q(reviewer=F("author")),
                name="match_proposal_four_eyes",
                violation_error_message="A match cannot be decided by the account that proposed it.",
            ),
            models.CheckConstraint(
                condition=(Q(status=MatchStatus.PENDING) & Q(reviewer__isnull=True) & Q(decided_at__isnull=True))
                | (~Q(status=MatchStatus.PENDING) & Q(reviewer__isnull=False) & Q(decided_at__isnull=False)),
                name="match_proposal_decided_iff_reviewed",
                violation_error_message="A decided proposal names its reviewer and date; a pending one has neither.",
            ),
            models.UniqueConstraint(
                fields=["imported_entity", "existing_entity"],
                name="match_proposal_unique_pair",
                violation_error_message="This match has already been proposed.",
            ),
        ]

    def __str__(self):
        return f"{self.imported_entity} = {self.existing_entity}? ({self.get_status_display()})"


__all__ = [
    "Activity",
    "Audit",
    "AuditCitation",
    "AuditStatus",
    "DatePrecision",
    "Entity",
    "EntityAlias",
    "EntityCitation",
    "Jurisdiction",
    "KeyPerson",
    "KeyPersonCitation",
    "License",
    "LicenseCitation",
    "LicenseType",
    "MatchProposal",
    "Publication",
    "Regime",
    "Regulator",
    "Revision",
    "Source",
    "Standard",
    "WarningNotice",
]
