"""What makes a certificate or a report trustworthy beyond its own dates.

* :class:`AuditStatusChange`: a certificate suspended, withdrawn or restored on a date, as a source says
  (the other statuses follow from dates: :meth:`registry.models.AuditQuerySet.with_status`);
* :class:`AccreditationBody` and :class:`Accreditation`: who vouches for the auditor (UKAS or ANAB
  accrediting a certification body; a board of accountancy licensing a CPA firm);
* :class:`AuditScopeItem` and :class:`AuditFinding`: what a security audit covered and what it found;
* :class:`ReserveSnapshot`: the figures of a proof-of-reserves report as of one day.

Each row carries its own citation (:class:`SourcedRow`): a fact the public sees without a source is never
shown, so :meth:`SourcedRowQuerySet.published` keeps only rows whose source is published and whose record
is public. The rows of an audit (or of an entity, for accreditations) are edited with it, in the admin's
inlines, and so go through its four-eyes review.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import BooleanField, Case, ExpressionWrapper, F, FloatField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Abs, Cast, Coalesce
from django.db.models.lookups import GreaterThan, LessThanOrEqual

from registry.dates import PartialDateDescriptor, dates_in_order, partial_date_constraints, partial_date_fields
from registry.models.audits import Audit, Standard, StatusChange
from registry.models.base import (
    SLUG_HELP,
    HistoricalRecords,
    Publication,
    SlugKeyed,
    SlugQuerySet,
    choice_constraint,
    optional_reference,
)
from registry.models.entities import Entity
from registry.models.places import Jurisdiction
from registry.models.sources import Source


class SourcedRowQuerySet(models.QuerySet):
    def cited(self):
        """Rows whose source is published (whether their record is public is the caller's question)."""
        return self.filter(source__publication_status=Publication.PUBLISHED)

    def published(self):
        """Rows the public may see: their source is published and the record they belong to is public."""
        field = self.model.RECORD_FIELD
        record_model = self.model._meta.get_field(field).related_model
        return self.filter(
            source__publication_status=Publication.PUBLISHED,
            **{f"{field}__in": record_model._default_manager.published()},
        )


class SourcedRow(models.Model):
    """A fact that carries its own citation: the source that states it and the sentence that does."""

    # The record the row belongs to (an audit, an entity): it is edited and reviewed with it.
    RECORD_FIELD = "audit"

    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="%(class)ss", help_text="The source that states it."
    )
    quote = models.TextField(blank=True, help_text="The sentence in the source that states it, verbatim.")
    locator = models.CharField(max_length=200, blank=True, help_text="Where in the source: section, page, row.")

    class Meta:
        abstract = True


def _not_negative(prefix, field):
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0}),
        name=f"{prefix}_{field}_not_negative",
        violation_error_message=f"{field.replace('_', ' ').capitalize()} cannot be negative.",
    )


# ---------------------------------------------------------------------------
# Status changes
# ---------------------------------------------------------------------------


class AuditStatusChangeQuerySet(SourcedRowQuerySet):
    def get_by_natural_key(self, audit_slug, status, effective_on):
        return self.get(audit__slug=audit_slug, status=status, effective_on=effective_on)


class AuditStatusChange(SourcedRow):
    """A certificate suspended, withdrawn or restored, from a date a source gives.

    Suspension and withdrawal are decisions, not dates that pass, so they are recorded as events; the latest
    one in effect on a day decides the status that day (:meth:`registry.models.AuditQuerySet.with_status`).
    """

    Status = StatusChange

    audit = models.ForeignKey(
        Audit, on_delete=models.CASCADE, related_name="status_changes", help_text="The certificate or report."
    )
    status = models.CharField(max_length=9, choices=StatusChange.choices, help_text="What was decided.")
    effective_on, effective_on_precision = partial_date_fields(
        "effective on", "When it took effect; for a month or a year, the first day of it."
    )
    reason = models.TextField(blank=True, help_text="The reason the source gives, if any.")

    effective = PartialDateDescriptor("effective_on")

    history = HistoricalRecords()

    objects = AuditStatusChangeQuerySet.as_manager()

    class Meta:
        ordering = ["audit", "effective_on", "id"]
        constraints = [
            choice_constraint("audit_status_change_status_valid", "status", StatusChange),
            *partial_date_constraints("audit_status_change", "effective_on"),
            models.CheckConstraint(
                condition=Q(effective_on__isnull=False),
                name="audit_status_change_dated",
                violation_error_message="A status change needs the date it took effect.",
            ),
            models.UniqueConstraint(fields=["audit", "status", "effective_on"], name="audit_status_change_unique"),
        ]

    def __str__(self):
        return f"{self.audit}: {self.get_status_display().lower()} {self.effective or ''}".rstrip()

    def natural_key(self):
        return (*self.audit.natural_key(), self.status, self.effective_on.isoformat() if self.effective_on else "")

    natural_key.dependencies = ["registry.audit", "registry.source"]


# ---------------------------------------------------------------------------
# Who vouches for the auditor
# ---------------------------------------------------------------------------


class AccreditationBodyKind(models.TextChoices):
    ACCREDITATION = "accreditation", "Accreditation body (ISO/IEC 17011), such as UKAS or ANAB"
    CPA_LICENSING = "cpa_licensing", "Board that licenses CPA firms"


class AccreditationBody(SlugKeyed, models.Model):
    """A body that vouches for auditors: it accredits certification bodies, or licenses CPA firms."""

    Kind = AccreditationBodyKind

    slug = models.SlugField(max_length=100, unique=True, help_text=SLUG_HELP)
    name = models.CharField(max_length=200, unique=True, help_text="Its name: United Kingdom Accreditation Service.")
    abbreviation = models.CharField(max_length=30, blank=True, help_text="As commonly written: UKAS.")
    kind = models.CharField(max_length=13, choices=AccreditationBodyKind.choices, help_text="What it does.")
    jurisdiction = optional_reference(Jurisdiction, "accreditation_bodies", help_text="Where it operates, when known.")
    website = models.URLField(blank=True, help_text="Its website.")
    iaf_mla_signatory = models.BooleanField(
        "IAF MLA signatory",
        null=True,
        blank=True,
        help_text="Whether it signed the IAF Multilateral Recognition Arrangement; empty when no source says.",
    )
    iaf_mla_source = optional_reference(
        Source, "iaf_mla_statements", help_text="The source that says whether it signed the IAF MLA."
    )
    iaf_mla_quote = models.TextField(blank=True, help_text="The sentence in that source, verbatim.")

    objects = SlugQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "accreditation bodies"
        constraints = [
            choice_constraint("accreditation_body_kind_valid", "kind", AccreditationBodyKind),
            models.CheckConstraint(
                condition=Q(iaf_mla_signatory__isnull=True, iaf_mla_source__isnull=True)
                | Q(iaf_mla_signatory__isnull=False, iaf_mla_source__isnull=False),
                name="accreditation_body_iaf_mla_cited",
                violation_error_message="Say whether it signed the IAF MLA only with the source that says so.",
            ),
            models.CheckConstraint(
                condition=Q(kind=AccreditationBodyKind.ACCREDITATION) | Q(iaf_mla_signatory__isnull=True),
                name="accreditation_body_iaf_mla_for_accreditation",
                violation_error_message="Only an accreditation body can sign the IAF MLA.",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.abbreviation})" if self.abbreviation else self.name

    def clean(self):
        super().clean()
        if (self.iaf_mla_signatory is None) != (self.iaf_mla_source_id is None):
            raise ValidationError(
                {"iaf_mla_source": "Say whether it signed the IAF MLA only with the source that says so."}
            )
        if self.kind != AccreditationBodyKind.ACCREDITATION and self.iaf_mla_signatory is not None:
            raise ValidationError({"iaf_mla_signatory": "Only an accreditation body can sign the IAF MLA."})

    @property
    def is_cpa_board(self) -> bool:
        return self.kind == AccreditationBodyKind.CPA_LICENSING


class AccreditationQuerySet(SourcedRowQuerySet):
    def get_by_natural_key(self, holder_slug, body_slug, reference):
        return self.get(holder__slug=holder_slug, body__slug=body_slug, reference=reference)

    def bearing_on(self, audit=None):
        """The accreditations that vouch for ``audit``'s auditor: for the audit's standard, or tied to none.

        With no ``audit``, those of the outer query's audit (a subquery: the audit list's filter).
        """
        if audit is None:
            auditor, standard = OuterRef("auditor_id"), OuterRef("standard_id")
        else:
            auditor, standard = audit.auditor_id, audit.standard_id
        return self.filter(Q(standard__isnull=True) | Q(standard_id=standard), holder_id=auditor)


class Accreditation(SourcedRow):
    """A certification body accredited by an accreditation body, or an audit firm licensed as a CPA firm."""

    RECORD_FIELD = "holder"

    holder = models.ForeignKey(
        Entity,
        on_delete=models.CASCADE,
        related_name="accreditations",
        help_text="The certification body or audit firm vouched for.",
    )
    body = models.ForeignKey(
        AccreditationBody,
        on_delete=models.PROTECT,
        related_name="accreditations",
        help_text="Who vouches for it: the accreditation body, or the board that licenses it.",
    )
    standard = optional_reference(
        Standard,
        "accreditations",
        help_text="The standard it is accredited to certify against (ISO/IEC 27001); empty when none is named.",
    )
    scope = models.TextField(blank=True, help_text="The scope of the accreditation or licence, as the source says.")
    reference = models.CharField(
        max_length=100, blank=True, help_text="The accreditation or licence number, if the source gives it."
    )
    granted_on, granted_on_precision = partial_date_fields("granted on", "When it was granted, if stated.")
    valid_until, valid_until_precision = partial_date_fields("valid until", "When it expires, if stated.")

    granted = PartialDateDescriptor("granted_on")
    valid_until_date = PartialDateDescriptor("valid_until")

    history = HistoricalRecords()

    objects = AccreditationQuerySet.as_manager()

    class Meta:
        ordering = ["holder", "body", "reference"]
        constraints = [
            *partial_date_constraints("accreditation", "granted_on"),
            *partial_date_constraints("accreditation", "valid_until"),
            dates_in_order(
                "accreditation_valid_until_not_before_granted",
                "granted_on",
                "valid_until",
                "An accreditation cannot expire before it was granted.",
            ),
            models.UniqueConstraint(fields=["holder", "body", "reference"], name="accreditation_unique_reference"),
        ]

    def __str__(self):
        return f"{self.holder}: {self.body}" + (f" {self.reference}" if self.reference else "")

    def natural_key(self):
        return (*self.holder.natural_key(), *self.body.natural_key(), self.reference)

    natural_key.dependencies = ["registry.entity", "registry.accreditationbody", "registry.source"]

    def bears_on(self, audit) -> bool:
        """Whether it vouches for ``audit``'s auditor: :meth:`AccreditationQuerySet.bearing_on` for loaded rows."""
        return (
            bool(audit.auditor_id)
            and self.holder_id == audit.auditor_id
            and self.standard_id
            in (
                None,
                audit.standard_id,
            )
        )

    def clean(self):
        super().clean()
        if self.granted_on and self.valid_until and self.valid_until < self.granted_on:
            raise ValidationError({"valid_until": "An accreditation cannot expire before it was granted."})


# ---------------------------------------------------------------------------
# Security audits: scope and findings
# ---------------------------------------------------------------------------


class AuditScopeItemQuerySet(models.QuerySet):
    def get_by_natural_key(self, audit_slug, name):
        return self.get(audit__slug=audit_slug, name=name)


class AuditScopeItem(models.Model):
    """One area an audit covered, in its source's words; the audit's scope citations support it."""

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="scope_items", help_text="The audit.")
    name = models.CharField(max_length=200, help_text="The area, in the source's words: private key security.")
    position = models.PositiveSmallIntegerField(default=0, help_text="Its place in the list, as the source has it.")

    history = HistoricalRecords()

    objects = AuditScopeItemQuerySet.as_manager()

    class Meta:
        ordering = ["audit", "position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(name=""), name="audit_scope_item_named", violation_error_message="Name the area."
            ),
            models.UniqueConstraint(fields=["audit", "name"], name="audit_scope_item_unique"),
        ]

    def __str__(self):
        return self.name

    def natural_key(self):
        return (*self.audit.natural_key(), self.name)

    natural_key.dependencies = ["registry.audit"]


class Severity(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"
    INFORMATIONAL = "informational", "Informational"


SEVERITY_ORDER = Case(
    *(When(severity=value, then=Value(rank)) for rank, value in enumerate(Severity.values)),
    output_field=models.IntegerField(),
)


class AuditFindingQuerySet(SourcedRowQuerySet):
    def get_by_natural_key(self, audit_slug, severity):
        return self.get(audit__slug=audit_slug, severity=severity)


class AuditFinding(SourcedRow):
    """How many findings of one severity a published audit report gives, and how many it says were fixed."""

    Severity = Severity

    audit = models.ForeignKey(Audit, on_delete=models.CASCADE, related_name="findings", help_text="The audit.")
    severity = models.CharField(max_length=13, choices=Severity.choices, help_text="As the report grades them.")
    count = models.PositiveIntegerField(help_text="How many findings of this severity the report gives.")
    resolved = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many of them the report says were fixed; empty when it does not say."
    )

    history = HistoricalRecords()

    objects = AuditFindingQuerySet.as_manager()

    class Meta:
        ordering = ["audit", SEVERITY_ORDER]
        constraints = [
            choice_constraint("audit_finding_severity_valid", "severity", Severity),
            models.CheckConstraint(
                condition=Q(resolved__isnull=True) | Q(resolved__lte=F("count")),
                name="audit_finding_resolved_within_count",
                violation_error_message="More findings cannot be fixed than were found.",
            ),
            models.UniqueConstraint(fields=["audit", "severity"], name="audit_finding_unique_severity"),
        ]

    def __str__(self):
        return f"{self.audit}: {self.count} {self.get_severity_display().lower()}"

    def natural_key(self):
        return (*self.audit.natural_key(), self.severity)

    natural_key.dependencies = ["registry.audit", "registry.source"]

    def clean(self):
        super().clean()
        if self.resolved is not None and self.count is not None and self.resolved > self.count:
            raise ValidationError({"resolved": "More findings cannot be fixed than were found."})


# ---------------------------------------------------------------------------
# Proof of reserves
# ---------------------------------------------------------------------------

# Half a percentage point: a report rounds its ratio (105 %) while giving its totals to the unit.
RATIO_TOLERANCE = 0.5


def ratio_consistent(assets, liabilities, ratio) -> bool:
    """Whether a stated ``ratio`` (percent) agrees with ``assets`` and ``liabilities``, within rounding."""
    if None in (assets, liabilities, ratio) or liabilities == 0:
        return True
    assets, liabilities, ratio = (Decimal(str(value)) for value in (assets, liabilities, ratio))
    return abs(assets * 100 - ratio * liabilities) <= liabilities * Decimal(str(RATIO_TOLERANCE))


def _amount(help_text):
    """An amount as a report gives it: up to 22 digits before the point and 8 after (a satoshi), or empty."""
    return models.DecimalField(max_digits=30, decimal_places=8, null=True, blank=True, help_text=help_text)


class ReserveSnapshotQuerySet(SourcedRowQuerySet):
    def get_by_natural_key(self, audit_slug, as_of, asset):
        return self.get(audit__slug=audit_slug, as_of=as_of, asset=asset)

    def with_ratio(self):
        """Annotated with ``ratio`` (percent, a float) and ``under_reserved``: the one reserve-ratio rule.

        The ratio is the one the report states; when it states none, assets ÷ liabilities × 100 (none when
        liabilities are unknown or nil). Under-reserved means under 100 %: a stated ratio under 100, or, with no
        stated ratio, assets below liabilities, compared exactly rather than through the rounded quotient.
        """
        computed = Case(
            When(
                GreaterThan(F("liabilities"), 0),
                then=Cast("assets", FloatField()) * Value(100.0) / Cast("liabilities", FloatField()),
            ),
            output_field=FloatField(),
        )
        # Each branch tests for NULL first, so the flag is true or false, never unknown.
        under = Q(reserve_ratio__isnull=False, reserve_ratio__lt=100) | Q(
            reserve_ratio__isnull=True, assets__isnull=False, liabilities__isnull=False, assets__lt=F("liabilities")
        )
        return self.annotate(
            ratio=Coalesce(Cast("reserve_ratio", FloatField()), computed, output_field=FloatField()),
            under_reserved=ExpressionWrapper(under, output_field=BooleanField()),
        )

    def totals(self):
        """The rows of a report's totals across assets (in US dollars), not those of one asset."""
        return self.filter(asset="")

    def latest_totals(self):
        """Each audit's most recent totals row, of these rows."""
        newest = self.totals().filter(audit_id=OuterRef("audit_id")).order_by("-as_of").values("as_of")[:1]
        return self.totals().filter(as_of=Subquery(newest))


class ReserveSnapshot(SourcedRow):
    """The figures a proof-of-reserves report gives as of one day, for one asset or for all of them.

    One row per asset the report lists, and one with an empty ``asset`` for its totals in US dollars, so a
    curator types each figure once and every rule below is a rule of one row. The reserve ratio is read
    through :meth:`ReserveSnapshotQuerySet.with_ratio`.
    """

    audit = models.ForeignKey(
        Audit,
        on_delete=models.CASCADE,
        related_name="reserve_snapshots",
        help_text="The proof-of-reserves engagement the report belongs to; its auditor is the verifier.",
    )
    as_of = models.DateField(help_text="The day the report's figures stand for (its snapshot).")
    asset = models.CharField(
        max_length=20,
        blank=True,
        help_text="The asset's ticker (BTC, USDT); empty for the report's totals across assets, in US dollars.",
    )
    assets = _amount("Reserves held: in units of the asset, or in US dollars for the totals. Empty when not given.")
    liabilities = _amount("What customers are owed, in the same unit. Empty when not given.")
    reserve_ratio = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The reserve ratio the report states, in percent (105.20); empty when it states none.",
    )
    liabilities_merkle_tree = models.BooleanField(
        "Merkle tree of liabilities",
        default=False,
        help_text="Customers can check their balance is counted, through a Merkle tree of liabilities.",
    )
    wallets_attested = models.BooleanField(
        "attested wallets",
        default=False,
        help_text="The exchange proved it controls the wallets holding the reserves (signed messages, addresses).",
    )
    report_url = models.URLField("report", max_length=500, blank=True, help_text="The published report.")
    tool_url = models.URLField(
        "verification tool", max_length=500, blank=True, help_text="Where a customer checks their own balance."
    )

    history = HistoricalRecords()

    objects = ReserveSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["audit", "as_of", "asset"]
        constraints = [
            _not_negative("reserve_snapshot", "assets"),
            _not_negative("reserve_snapshot", "liabilities"),
            _not_negative("reserve_snapshot", "reserve_ratio"),
            models.CheckConstraint(
                condition=Q(asset__regex=r"^[A-Z0-9.]*$"),
                name="reserve_snapshot_asset_ticker",
                violation_error_message="An asset is its ticker in capitals (BTC), or empty for the totals.",
            ),
            models.CheckConstraint(
                condition=Q(reserve_ratio__isnull=True)
                | Q(assets__isnull=True)
                | Q(liabilities__isnull=True)
                | Q(liabilities=0)
                | Q(
                    LessThanOrEqual(
                        Abs(F("assets") * 100 - F("reserve_ratio") * F("liabilities")),
                        F("liabilities") * RATIO_TOLERANCE,
                    )
                ),
                name="reserve_snapshot_ratio_consistent",
                violation_error_message="The stated ratio does not match assets ÷ liabilities (within half a point).",
            ),
            models.UniqueConstraint(fields=["audit", "as_of", "asset"], name="reserve_snapshot_unique"),
        ]

    def __str__(self):
        return f"{self.audit.subject}: reserves {self.asset or 'in total'} as of {self.as_of.isoformat()}"

    def natural_key(self):
        return (*self.audit.natural_key(), self.as_of.isoformat(), self.asset)

    natural_key.dependencies = ["registry.audit", "registry.source"]

    def clean(self):
        super().clean()
        errors = {}
        for name in ("assets", "liabilities", "reserve_ratio"):
            value = getattr(self, name)
            if value is not None and value < 0:
                errors[name] = f"{self._meta.get_field(name).verbose_name.capitalize()} cannot be negative."
        if not errors and not ratio_consistent(self.assets, self.liabilities, self.reserve_ratio):
            errors["reserve_ratio"] = "The stated ratio does not match assets ÷ liabilities (within half a point)."
        if errors:
            raise ValidationError(errors)
        if self.audit_id and self.audit.kind != Audit.Kind.PROOF_OF_RESERVES:
            raise ValidationError({"audit": "Reserve figures belong to a proof-of-reserves verification."})
