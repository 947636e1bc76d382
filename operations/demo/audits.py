"""Planning the audits: about two per entity, by the audit firms, against the standards; some ongoing."""

from __future__ import annotations

import datetime

from operations.demo.values import Weighted, partial, partial_not_before, random_day
from operations.demo.vocabulary import AUDIT_KIND_WEIGHTS, EPOCH, PREFIX
from registry.dates import DatePrecision
from registry.models import AuditKind

SCOPES = (
    "Information security management system for the trading platform and custody operations.",
    "Hot and cold wallet infrastructure; smart contracts of the staking product.",
    "Controls relevant to security and availability of the exchange services.",
    "Customer liabilities and reserves of BTC, ETH and USDT at the snapshot date.",
)
DATE_FIELDS = ("issued_on", "period_start", "period_end", "valid_until")


def plan(plan):
    """The audits, then every entity's citation of the demo source."""
    AuditPlanner(plan).run()
    for row in plan.tables["entity"].rows:
        plan.cite_demo_source("entity_citation", entity_id=row["id"])


class AuditPlanner:
    def __init__(self, plan):
        self.plan = plan
        self.rng = plan.rng
        self.kind_pick = Weighted(*zip(*AUDIT_KIND_WEIGHTS, strict=True))

    def run(self):
        plan, rng = self.plan, self.rng
        holders, auditors = plan.holders, plan.auditors
        for number in range(1, (2 * plan.n if holders and auditors else 0) + 1):
            subject = holders[(number - 1) % len(holders)] if number <= len(holders) else rng.choice(holders)
            self.audit(number, subject)

    def audit(self, number, subject):
        """One audit of ``subject``, citing the demo source and the auditor's list of reports."""
        plan, rng = self.plan, self.rng
        auditor = rng.choice(plan.auditors) if rng.random() < 0.95 else None
        kind = self.kind_pick.pick(rng)
        standards = plan.standards_by_kind[kind]
        standard = rng.choice(standards) if standards else None
        ongoing, dates = self.dates(kind)
        reference = f"DEMO-R-{number:07d}" if rng.random() < 0.7 else ""
        row = plan.curated(
            "audit",
            slug=f"{PREFIX}a{number:07d}",
            subject_id=subject,
            auditor_id=auditor,
            standard_id=standard,
            kind=kind,
            scope=rng.choice(SCOPES),
            ongoing=ongoing,
            reference=reference,
            last_verified_on=plan.last_verified_on(),
            **dates,
        )
        plan.maybe_draft(row)
        plan.cite_demo_source("audit_citation", audit_id=row["id"])
        if auditor is not None:
            what = plan.standard_slugs[standard] if standard else kind
            quote = f"Report {reference or row['slug']} on {plan.entity_names[subject]}: {what}."
            source = plan.auditor_sources[auditor]
            plan.cite("audit_citation", source, quote, audit_id=row["id"], locator="Report list", supports="")

    def dates(self, kind):
        """``(ongoing, dates)``: what each kind of report states (a certificate's validity, an attestation's period)."""
        rng, precisions = self.rng, self.plan.precisions
        dates = dict.fromkeys(DATE_FIELDS)
        dates.update({f"{name}_precision": "" for name in DATE_FIELDS})
        ongoing = False
        issued = random_day(rng, datetime.date(2017, 1, 1), EPOCH.date())
        if kind == AuditKind.CERTIFICATION:
            dates["issued_on"], dates["issued_on_precision"] = partial(rng, issued, precisions)
            until = issued + datetime.timedelta(days=1095)
            dates["valid_until"], dates["valid_until_precision"] = partial_not_before(
                rng, until, dates["issued_on"], precisions
            )
        elif kind == AuditKind.ATTESTATION:
            end = issued - datetime.timedelta(days=rng.randrange(30, 90))
            start = end - datetime.timedelta(days=rng.choice((181, 364)))
            dates.update(period_start=start, period_start_precision=DatePrecision.DAY)
            dates.update(period_end=end, period_end_precision=DatePrecision.DAY)
            dates["issued_on"], dates["issued_on_precision"] = partial(rng, issued, precisions)
        elif kind == AuditKind.SECURITY_AUDIT and rng.random() < 0.3:
            ongoing = True
            dates["period_start"], dates["period_start_precision"] = partial(rng, issued, precisions)
        else:
            dates.update(issued_on=issued, issued_on_precision=DatePrecision.DAY)
        return ongoing, dates
