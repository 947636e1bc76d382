"""What the audit and entity pages say about how far a certificate or report can be trusted (issue 17).

* :func:`assurance_chain`: standard → certification body (or audit firm) → who vouches for it;
* :func:`status_history`: each dated change of an audit's status, with what supports it;
* :func:`audit_assurance`: those two, a security audit's scope and findings, a proof-of-reserves report's
  figures, for the audit page;
* :func:`entity_reserves`: proof-of-reserves ratios and totals over time, for the entity page.

Every fact comes with the source that states it. Where no cited source says something, the page says so
(``missing``) instead of leaving a gap a reader might fill with a guess.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace

from public import charts
from registry.dates import PartialDate
from registry.models import (
    Accreditation,
    Audit,
    AuditFinding,
    AuditKind,
    AuditStatusChange,
    Publication,
    ReserveSnapshot,
)
from registry.models.audits import ENGAGEMENT_KINDS
from registry.prepared import IdList, run

# What the chain calls the audit's auditor, by kind of audit.
AUDITOR_ROLES = {
    AuditKind.CERTIFICATION: "Certification body",
    AuditKind.ATTESTATION: "Audit firm",
    AuditKind.SECURITY_AUDIT: "Audit firm",
    AuditKind.PROOF_OF_RESERVES: "Verifier",
}
# The entity page draws at most this many proof-of-reserves reports (ten years of monthly ones).
RESERVE_LIMIT = 120
# And names at most this many verifications without figures: the largest group has hundreds, which the audit
# list's ?reserves=none lists in full.
WITHOUT_FIGURES_LIMIT = 10


@dataclass
class ChainLink:
    """One step of the chain: who or what, where to read more, and the citations that say so."""

    role: str
    name: str = ""
    url: str = ""
    external: bool = False
    details: list[str] = field(default_factory=list)
    citations: list = field(default_factory=list)
    missing: str = ""


def _citation(source, quote):
    """A citation-like object (source, quote) for the citations partial, from a row's own fields."""
    return SimpleNamespace(source=source, quote=quote, locator="", states="")


def _vouching(accreditation) -> ChainLink:
    body = accreditation.body
    details = []
    if accreditation.standard_id:
        details.append(f"Accredited to certify against {accreditation.standard.name}")
    if accreditation.scope:
        details.append(f"Scope: {accreditation.scope}")
    if accreditation.reference:
        details.append(f"{'Licence' if body.is_cpa_board else 'Accreditation'} number {accreditation.reference}")
    if accreditation.granted:
        details.append(f"Granted {accreditation.granted}")
    if accreditation.valid_until_date:
        details.append(f"Valid until {accreditation.valid_until_date}")
    citations = [accreditation]
    if not body.is_cpa_board:
        mla_source = body.iaf_mla_source
        if body.iaf_mla_signatory is not None and mla_source.publication_status == Publication.PUBLISHED:
            signed = "a signatory" if body.iaf_mla_signatory else "not a signatory"
            details.append(f"{body.abbreviation or body.name} is {signed} of the IAF MLA")
            citations.append(_citation(mla_source, body.iaf_mla_quote))
        else:
            details.append("IAF MLA membership: not stated by the sources")
    return ChainLink(
        role="Licensed as a CPA firm by" if body.is_cpa_board else "Accreditation body",
        name=str(body),
        url=body.website,
        external=True,
        details=details,
        citations=citations,
    )


def assurance_chain(audit, facts, general) -> list[ChainLink]:
    """Standard → certification body (or audit firm) → the bodies that vouch for it, each with its citations.

    The standard and the auditor are supported by the audit's citations of those facts, or of the audit as a
    whole (``general``); an accreditation or a CPA licence by its own source.
    """
    role = AUDITOR_ROLES.get(audit.kind, "Auditor")
    chain = []
    if audit.standard_id:
        standard = audit.standard
        details = [f"Set by {standard.issuer}"] if standard.issuer else []
        citations = facts["standard"].citations or general
        chain.append(ChainLink("Standard", standard.name, standard.url, True, details, citations))
    else:
        chain.append(ChainLink("Standard", missing="None: a bespoke engagement, made against no published standard"))
    if not audit.auditor_id:
        chain.append(ChainLink(role, missing="Not named by the sources"))
        chain.append(
            ChainLink(
                "Vouched for by",
                missing=f"Not known: no cited source names the {role.lower()}, so none says "
                "who accredits or licenses it",
            )
        )
        return chain
    auditor = audit.auditor
    chain.append(
        ChainLink(role, auditor.name, auditor.get_absolute_url(), citations=facts["auditor"].citations or general)
    )
    accreditations = (
        Accreditation.objects.cited()
        .bearing_on(audit)
        .select_related("body__iaf_mla_source", "standard", "source")
        .order_by("body__name", "reference")
    )
    vouching = [_vouching(accreditation) for accreditation in accreditations]
    if vouching:
        return chain + vouching
    if audit.kind == AuditKind.ATTESTATION:
        missing = f"No cited source says {auditor.name} is a licensed CPA firm"
    else:
        missing = f"No cited source names an accreditation of {auditor.name}"
    return [*chain, ChainLink("Vouched for by", missing=missing)]


@dataclass
class StatusEvent:
    """A dated change of an audit's status, with what supports it."""

    when: PartialDate | None
    label: str
    note: str = ""
    link: object = None  # another audit the event names (the report that superseded this one)
    citations: list = field(default_factory=list)


def status_history(audit, facts, general, changes) -> list[StatusEvent]:
    """The audit's dated status changes, oldest first: issued (or started), suspended, restored, withdrawn,
    superseded, valid until. ``audit`` was linked by ``link_supersession``; ``changes`` are its status changes
    citing a published source."""
    events = []
    if audit.ongoing or audit.kind in ENGAGEMENT_KINDS:
        period = facts["period"].citations
        if audit.period_started:
            events.append(StatusEvent(audit.period_started, "Engagement started", citations=period))
        if audit.period_ended:
            events.append(StatusEvent(audit.period_ended, "Engagement ended", citations=period))
    if audit.issued:
        events.append(StatusEvent(audit.issued, "Issued", citations=facts["issued_on"].citations or general))
    for change in changes:
        events.append(StatusEvent(change.effective, change.get_status_display(), change.reason, citations=[change]))
    later = getattr(audit, "superseded_by_audit", None)
    if later is not None:
        events.append(StatusEvent(later.issued, "Superseded by a later report", link=later))
    if audit.valid_until_date:
        events.append(StatusEvent(audit.valid_until_date, "Valid until", citations=facts["valid_until"].citations))
    # Undated events last; sorted() is stable, so events of one date keep the order above.
    return sorted(events, key=lambda event: (event.when is None, event.when.first_day if event.when else None))


@dataclass
class ReserveReport:
    """One proof-of-reserves report: its totals row (if given) and the rows of the assets it lists."""

    as_of: datetime.date
    totals: ReserveSnapshot | None = None
    assets: list = field(default_factory=list)

    @property
    def rows(self) -> list:
        return [row for row in (self.totals, *self.assets) if row is not None]

    @property
    def methods(self) -> list[str]:
        methods = []
        if any(row.liabilities_merkle_tree for row in self.rows):
            methods.append("Merkle tree of liabilities")
        if any(row.wallets_attested for row in self.rows):
            methods.append("attested wallets")
        return methods

    @property
    def report_url(self) -> str:
        return next((row.report_url for row in self.rows if row.report_url), "")

    @property
    def tool_url(self) -> str:
        """Where a customer checks their own balance, as any of the report's rows links it."""
        return next((row.tool_url for row in self.rows if row.tool_url), "")


def reserve_reports(snapshots) -> list[ReserveReport]:
    """``snapshots`` (annotated ``with_ratio``) grouped into reports by day, most recent first."""
    reports: dict[datetime.date, ReserveReport] = {}
    for row in snapshots:
        report = reports.setdefault(row.as_of, ReserveReport(row.as_of))
        if row.asset:
            report.assets.append(row)
        else:
            report.totals = row
    return sorted(reports.values(), key=lambda report: report.as_of, reverse=True)


def audit_assurance(audit, facts, general) -> dict:
    """The audit page's trust parts: its chain, status history, scope items, findings and reserve reports."""
    changes = list(
        AuditStatusChange.objects.cited().filter(audit=audit).select_related("source").order_by("effective_on", "id")
    )
    findings = list(AuditFinding.objects.cited().filter(audit=audit).select_related("source"))
    snapshots = []
    if audit.kind == AuditKind.PROOF_OF_RESERVES:
        snapshots = list(ReserveSnapshot.objects.cited().filter(audit=audit).with_ratio().select_related("source"))
    chain = assurance_chain(audit, facts, general)
    return {
        "chain": chain,
        "status_history": status_history(audit, facts, general, changes),
        "scope_items": list(audit.scope_items.all()),
        "findings": findings,
        "reserve_reports": reserve_reports(snapshots),
        # Everything above cites its source: the page lists them all.
        "row_citations": [*changes, *findings, *snapshots, *(c for link in chain for c in link.citations)],
    }


def percent(value) -> str:
    """A ratio as the pages write it: 105.2 %."""
    return f"{value:.1f} %"


def amount(value) -> str:
    """An amount of an asset, in its units: 1,234.5 (no trailing zeros of the stored eight decimals)."""
    text = f"{Decimal(value):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def usd(value) -> str:
    """US dollars, shortened: US$10.5 bn, US$850.0 m, US$12,345."""
    value = Decimal(value)
    for size, unit in ((10**9, "bn"), (10**6, "m")):
        if abs(value) >= size:
            return f"US${value / size:,.1f} {unit}"
    return f"US${value:,.0f}"


@dataclass
class EntityReserves:
    """An entity's proof-of-reserves reports over time (their totals), drawn twice, and those with none."""

    reports: list  # totals rows, oldest first, annotated with_ratio
    total: int  # how many totals rows there are in all (the page draws the latest RESERVE_LIMIT)
    ratio_chart: charts.LineChart | None
    assets_chart: charts.LineChart | None
    without_figures: list  # proof-of-reserves audits with no figures in their cited sources, the first ones
    without_figures_total: int = 0  # how many there are in all

    @property
    def under_reserved(self) -> list:
        return [row for row in self.reports if row.under_reserved]


def entity_reserves(members) -> EntityReserves | None:
    """Proof-of-reserves figures of the audits of ``members`` (a ``registry.prepared.IdList`` of entity ids); None
    when they have no proof-of-reserves audit. Three queries at most, whatever the number of reports, their SQL
    compiled once (registry.prepared).

    Of the audits with no figures (``?reserves=none`` of the audit list), the ``WITHOUT_FIGURES_LIMIT`` most recent
    and their total, as the page's other sections pick theirs (``most_recent``).
    """
    from public.views.common import audit_timeline_start, most_recent  # the views import this module

    def audits(ids):
        return Audit.objects.published().filter(subject__in=IdList(ids), kind=AuditKind.PROOF_OF_RESERVES)

    def totals(ids):
        snapshots = ReserveSnapshot.objects.cited().filter(audit__in=audits(ids))
        return snapshots.totals().with_ratio().select_related("audit__auditor", "audit__subject", "source")

    ids = [members.value]
    latest = run(
        ("reserves-latest",), lambda m: totals(m).order_by("-as_of", "-id")[:RESERVE_LIMIT], ids, ReserveSnapshot
    )
    without, without_total = most_recent(
        "reserves-without",
        Audit,
        lambda m: audits(m).exclude(id__in=ReserveSnapshot.objects.cited().values("audit_id")),
        audit_timeline_start,
        WITHOUT_FIGURES_LIMIT,
        ids,
        lambda: Audit.objects.select_related("auditor", "subject"),
    )
    if not latest and not without:
        return None
    latest.reverse()
    return EntityReserves(
        reports=latest,
        total=len(latest) if len(latest) < RESERVE_LIMIT else totals(members.value).count(),
        ratio_chart=charts.line_chart(
            [(row.as_of, row.ratio, row.under_reserved) for row in latest], value_label=percent, reference=100
        ),
        assets_chart=charts.line_chart([(row.as_of, row.assets, False) for row in latest], value_label=usd, floor=0),
        without_figures=without,
        without_figures_total=without_total,
    )


def sourced_rows_citing(source) -> list[tuple]:
    """``(row, record, kind)`` of each published row that cites ``source`` itself: status changes, findings,
    reserve figures of public audits, accreditations of published entities (for the source's page)."""
    rows = []
    kinds = (
        (AuditStatusChange, "audit", "Status change"),
        (AuditFinding, "audit", "Findings"),
        (ReserveSnapshot, "audit", "Reserve figures"),
        (Accreditation, "holder", "Accreditation"),
    )
    for model, record, kind in kinds:
        for row in model.objects.published().filter(source=source).select_related(record):
            rows.append((row, getattr(row, record), kind))
    return rows
