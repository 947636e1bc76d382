"""Audits and certifications: which report is current, which superseded."""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, DateField, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, TruncMonth, TruncYear
from django.db.models.lookups import Exact, GreaterThan

from registry import prepared
from registry.dates import (
    DatePrecision,
    PartialDate,
    PartialDateDescriptor,
    dates_in_order,
    partial_date_constraints,
    partial_date_fields,
)
from registry.links import detail_path
from registry.models.base import (
    SLUG_HELP,
    Curated,
    HistoricalRecords,
    SlugKeyed,
    SlugQuerySet,
    StoredVisibilityQuerySet,
    Verifiable,
    choice_constraint,
    curated_constraints,
    last_verified_field,
    optional_reference,
    public_flag_field,
    today,
)
from registry.models.entities import Entity


class AuditQuerySet(StoredVisibilityQuerySet):
    """Audits; ``published()`` ones are published themselves, their subject published, their auditor (if named)
    published, and cite at least one published source (``VISIBILITY_RULES["audit"]``)."""

    def valid(self, at=None, candidates=None, changes=None):
        """Audits current on ``at`` (default today): :meth:`with_status` would say ``current``.

        ``candidates`` are the audits that may supersede one (default: the published ones) and ``changes``
        the status changes in the record (default: those citing a published source); the as-of view passes
        the register's snapshot of that day for both.
        """
        return self.filter(_status_conditions(today(at), candidates, changes)[AuditStatus.CURRENT])

    def with_status(self, at=None, candidates=None, changes=None):
        """Annotated with ``status`` on ``at`` (an :class:`AuditStatus`) and ``superseded_by_slug``.

        The one rule for a report's or certificate's status (see :func:`_status_conditions`); :meth:`valid`
        keeps the rows whose status is ``current``. ``candidates`` and ``changes`` as for :meth:`valid`.
        """
        day = today(at)
        parts = _status_parts(day, candidates, changes)
        later = _superseding(day, candidates).order_by("issued_on", "slug").values("slug")[:1]
        # The conditions of _status_conditions() in the order they exclude each other: each branch may then
        # leave out what an earlier one ruled out, and each subquery appears once (a third of the SQL to compile
        # and to run, for the same statuses).
        return self.annotate(
            status=Case(
                When(~parts.started, then=Value(AuditStatus.NOT_YET_ISSUED.value)),
                When(parts.withdrawn, then=Value(AuditStatus.WITHDRAWN.value)),
                When(parts.superseded, then=Value(AuditStatus.SUPERSEDED.value)),
                When(parts.expired, then=Value(AuditStatus.EXPIRED.value)),
                When(parts.suspended, then=Value(AuditStatus.SUSPENDED.value)),
                default=Value(AuditStatus.CURRENT.value),
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


def _latest_decision(day, changes=None):
    """The status (suspended, withdrawn, restored) the latest of ``changes`` in effect on ``day`` gave the
    outer query's audit; ``changes`` default to the status changes citing a published source."""
    if changes is None:
        changes = Audit._meta.get_field("status_changes").related_model.objects.cited()
    latest = changes.filter(audit_id=OuterRef("id"), effective_on__lte=day).order_by("-effective_on", "-id")
    return Coalesce(Subquery(latest.values("status")[:1]), Value(""), output_field=models.CharField())


def _status_conditions(day, candidates=None, changes=None) -> dict:
    """Each :class:`AuditStatus` as a condition on an audit (mutually exclusive, together covering every audit).

    * not yet issued: an ongoing engagement that has not started, or a report issued after ``day``;
    * withdrawn: the latest status change in effect on ``day`` withdrew it. A withdrawal ends a certificate
      for good, so it outranks what its dates would say later (superseded, expired);
    * superseded: see :func:`_superseding`;
    * expired: past its valid-until date, compared at the precision stored ("valid until March 2027"
      holds to the end of March); an ongoing engagement does not expire;
    * suspended: the latest status change in effect on ``day`` suspended it (a restoration ends a
      suspension), and it is neither superseded nor expired: a suspension pauses a certificate that would
      otherwise be current;
    * current (IAF CertSearch's "valid"): everything else. A report with no valid-until date counts as
      current until superseded: the source gave no expiry.

    A status change dated to a month or a year takes effect on the first day of it, as an issue date does.
    """
    parts = _status_parts(day, candidates, changes)
    live = parts.started & ~parts.withdrawn
    return {
        AuditStatus.CURRENT: live & ~parts.superseded & ~parts.expired & ~parts.suspended,
        AuditStatus.SUSPENDED: live & ~parts.superseded & ~parts.expired & parts.suspended,
        AuditStatus.WITHDRAWN: parts.started & parts.withdrawn,
        AuditStatus.SUPERSEDED: live & parts.superseded,
        AuditStatus.EXPIRED: live & ~parts.superseded & parts.expired,
        AuditStatus.NOT_YET_ISSUED: ~parts.started,
    }


class _StatusParts(NamedTuple):
    started: Q
    withdrawn: Q
    superseded: Q
    expired: Q
    suspended: Q


def _status_parts(day, candidates=None, changes=None) -> _StatusParts:
    """The conditions :func:`_status_conditions` combines; none is ever NULL (unknown), so a negation is exact."""
    started = (Q(ongoing=True) & (Q(period_start__isnull=True) | Q(period_start__lte=day))) | (
        Q(ongoing=False) & (Q(issued_on__isnull=True) | Q(issued_on__lte=day))
    )
    not_expired = (
        Q(valid_until__isnull=True)
        | Q(valid_until_precision=DatePrecision.DAY, valid_until__gte=day)
        | Q(valid_until_precision=DatePrecision.MONTH, valid_until__gte=day.replace(day=1))
        | Q(valid_until_precision=DatePrecision.YEAR, valid_until__gte=day.replace(month=1, day=1))
    )
    decision = _latest_decision(day, changes)
    return _StatusParts(
        started=started,
        withdrawn=Q(Exact(decision, StatusChange.WITHDRAWN)),
        superseded=Q(Exists(_superseding(day, candidates))),
        expired=Q(ongoing=False) & ~not_expired,
        suspended=Q(Exact(decision, StatusChange.SUSPENDED)),
    )


def link_supersession(audits, at=None, candidates=None, changes=None):
    """Give each of ``audits`` its status on ``at`` and its links both ways, in one query.

    Sets ``status`` and ``superseded_by_slug`` (as :meth:`AuditQuerySet.with_status` annotates them),
    ``superseded_by_audit`` (the later report, or None) and ``supersedes_audits`` (the reports it
    superseded). ``candidates`` and ``changes`` as for :meth:`AuditQuerySet.valid`: the as-of view passes
    history rows. Returns ``audits`` as a list.
    """
    audits = list(audits)
    if not audits:
        return audits
    day = today(at)
    if at is None and candidates is None and changes is None:
        rows = {row.id: row for row in _related_with_status(audits)}
    else:
        candidates = Audit.objects.published() if candidates is None else candidates
        related = Q(id__in=[audit.pk for audit in audits]) | _same_standard_and_subject(audits)
        rows = {row.id: row for row in AuditQuerySet.with_status(candidates.filter(related), day, candidates, changes)}
    # History rows (the as-of view's candidates) become the records they stood for.
    records = {pk: _record_of(row) for pk, row in rows.items()}
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


def _same_standard_and_subject(audits):
    """The audits of the same standard and subject as one of ``audits``: one condition per standard, not one per
    audit (a page's fifty pairs were a hundred lookups to build and compile)."""
    subjects_by_standard = defaultdict(set)
    for audit in audits:
        if audit.standard_id and not audit.ongoing:
            subjects_by_standard[audit.standard_id].add(audit.subject_id)
    related = Q(pk__in=[])
    for standard_id, subjects in sorted(subjects_by_standard.items()):
        related |= Q(standard_id=standard_id, subject_id__in=sorted(subjects))
    return related


def _related_with_status(audits):
    """Today's published audits of :func:`link_supersession`'s query (``audits`` and those of the same standard
    and subject) with their status, its SQL compiled once (registry.prepared): building and compiling the status
    cost three times what running it does. Every subject's audits of every standard of the pairs: a few more rows
    than the pairs' own, whose links are those of the pairs' audits alone (a superseding audit shares its pair).
    The subjects first, which an index finds: asked as an OR of two lists, PostgreSQL read every audit (15 ms)."""

    def build(ids, subjects, standards):
        related = Q(id__in=prepared.IdList(ids)) | Q(standard_id__in=prepared.IdList(standards))
        rows = Audit.objects.published().filter(related, subject_id__in=prepared.IdList(subjects))
        return rows.with_status().order_by()

    standards = {audit.standard_id for audit in audits if audit.standard_id and not audit.ongoing}
    lists = ([audit.pk for audit in audits], sorted({audit.subject_id for audit in audits}), sorted(standards))
    values = [prepared.encoded(ids, Audit) for ids in lists]
    return prepared.run(("audit-supersession",), build, values, Audit)


def _record_of(row):
    """The audit a history row stood for, built from the row's own columns (no query), or ``row`` itself.

    simple-history's ``row.instance`` reads the columns history does not keep (``public``) one query a row.
    """
    model = getattr(type(row), "instance_type", None)
    if model is None:
        return row
    kept = {
        field.attname: getattr(row, field.attname)
        for field in model._meta.concrete_fields
        if hasattr(row, field.attname)
    }
    return model(**kept)


ENGAGEMENT_KINDS = ("security_audit", "proof_of_reserves")


def period_text(start, end, ongoing, kind="", date=str) -> str:
    """A report's period covered, or an engagement's span, as the pages and exports write it.

    A SOC 2 Type II report covers a period that ends before its report date: "covers 1 October 2023 –
    31 March 2024"; a security audit or proof-of-reserves engagement runs from a start to an end, or is
    ongoing: "engagement since 2023, ongoing". Each date as precise as its source, and a date no source
    gives is said to be missing, never guessed. ``date`` writes a date (the pages put it in a ``<time>``).
    """
    what = "engagement" if kind in ENGAGEMENT_KINDS or ongoing else "covers"
    start, end = (date(day) if day else None for day in (start, end))
    if ongoing:
        return f"{what} since {start}, ongoing" if start else f"{what} ongoing; start not stated by the source"
    if start and end:
        return f"{what} {start} – {end}"
    if start:
        return f"{what} from {start}; end not stated by the source"
    if end:
        return f"{what} until {end}; start not stated by the source"
    return "period not stated by the source"


class Standard(SlugKeyed, models.Model):
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


class AuditKind(models.TextChoices):
    CERTIFICATION = "certification", "Certification"
    ATTESTATION = "attestation", "Attestation report"
    SECURITY_AUDIT = "security_audit", "Security audit"
    PROOF_OF_RESERVES = "proof_of_reserves", "Proof-of-reserves verification"


class AuditStatus(models.TextChoices):
    """A report's or certificate's status on a given day (:meth:`AuditQuerySet.with_status`).

    IAF CertSearch's statuses (valid, suspended, withdrawn, expired) and a later report's superseding; its
    "valid" is ``current`` here, a word that fits an attestation report too. ``not_yet_issued`` answers for
    a day before the report existed (the as-of view).
    """

    CURRENT = "current", "Current"
    SUSPENDED = "suspended", "Suspended"
    WITHDRAWN = "withdrawn", "Withdrawn"
    SUPERSEDED = "superseded", "Superseded"
    EXPIRED = "expired", "Expired"
    NOT_YET_ISSUED = "not_yet_issued", "Not yet issued"


class StatusChange(models.TextChoices):
    """What a certification body may decide about a certificate, as IAF CertSearch records it."""

    SUSPENDED = "suspended", "Suspended"
    WITHDRAWN = "withdrawn", "Withdrawn"
    RESTORED = "restored", "Restored after a suspension"


class Audit(SlugKeyed, Verifiable, Curated):
    """A certification, attestation report, security audit or proof-of-reserves verification."""

    Kind = AuditKind

    slug = models.SlugField(max_length=150, unique=True, help_text=SLUG_HELP)
    subject = models.ForeignKey(
        Entity, on_delete=models.PROTECT, related_name="audits", help_text="The entity audited or certified."
    )
    kind = models.CharField(max_length=17, choices=Kind.choices, db_index=True)
    standard = optional_reference(Standard, "audits", help_text="Leave empty for a bespoke security audit.")
    auditor = optional_reference(
        Entity,
        "audits_performed",
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
    last_verified_on = last_verified_field()
    public = public_flag_field()

    issued = PartialDateDescriptor("issued_on")
    period_started = PartialDateDescriptor("period_start")
    period_ended = PartialDateDescriptor("period_end")
    valid_until_date = PartialDateDescriptor("valid_until")

    history = HistoricalRecords(excluded_fields=["public"])

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["subject__name", "-issued_on", "slug"]
        constraints = [
            *curated_constraints("audit"),
            choice_constraint("audit_kind_valid", "kind", AuditKind),
            *partial_date_constraints("audit", "issued_on"),
            *partial_date_constraints("audit", "period_start"),
            *partial_date_constraints("audit", "period_end"),
            *partial_date_constraints("audit", "valid_until"),
            dates_in_order(
                "audit_period_end_not_before_start",
                "period_start",
                "period_end",
                "The period covered cannot end before it starts.",
            ),
            dates_in_order(
                "audit_valid_until_not_before_issued",
                "issued_on",
                "valid_until",
                "A certificate cannot expire before it was issued.",
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
            # A group's page: its members' audits, counted and the most recent picked (by the columns of
            # views.audit_timeline_start) from the index alone; ``kind`` for their proof-of-reserves reports.
            models.Index(
                fields=["subject", "kind", "ongoing", "period_start", "period_end", "issued_on", "public"],
                condition=Q(public=True),
                name="audit_public_subject_idx",
            ),
        ]

    def __str__(self):
        what = self.standard.name if self.standard_id else self.get_kind_display()
        when = f" ({self.issued})" if self.issued else (f" (since {self.period_started})" if self.ongoing else "")
        return f"{self.subject}: {what}{when}"

    def get_absolute_url(self):
        return detail_path("public:audit-detail", self.slug)

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
    def period_covered(self) -> str:
        """The period a report covers, or an engagement's span, in words (:func:`period_text`).

        Read from the columns themselves, so an export computes it from a row of ``values()`` too.
        """
        return period_text(
            PartialDate.from_columns(self.period_start, self.period_start_precision),
            PartialDate.from_columns(self.period_end, self.period_end_precision),
            self.ongoing,
            self.kind,
        )

    @property
    def status_label(self) -> str:
        """The status (as loaded by ``with_status`` or ``link_supersession``) in words."""
        status = getattr(self, "status", None)
        return AuditStatus(status).label if status else ""
