"""Planning the entities: auditors, groups, standalone companies, then affiliates spread over the groups."""

from __future__ import annotations

import datetime
import itertools

from operations.demo.values import Weighted, make_lei
from operations.demo.vocabulary import (
    AFFILIATE_SUFFIX,
    AUDITOR_FIRST,
    AUDITOR_SECOND,
    AUDITOR_SUFFIX,
    DEMO_QUOTE,
    EPOCH,
    GROUP_SUFFIX,
    HUB_WEIGHTS,
    NAME_FIRST,
    NAME_SECOND,
    PREFIX,
)
from registry.dates import DatePrecision
from registry.models import EntityKind, SourceKind


def plan(plan):
    EntityPlanner(plan).run()


class EntityPlanner:
    """``plan.n`` entities with unique names; a few groups are very large (Zipf-like sizes).

    Leaves on the plan: ``country_pick``, ``entity_names`` (id to name), ``auditors`` (ids),
    ``auditor_sources`` (auditor id to the source listing its reports) and ``holders`` (every other entity).
    """

    def __init__(self, plan):
        self.plan = plan
        self.rng = plan.rng
        n = plan.n
        self.n_auditors = max(1, min(n // 100, 400)) if n >= 5 else 0
        self.n_groups = min(max(1, n // 12), n - self.n_auditors)
        self.n_companies = min(n // 20, n - self.n_auditors - self.n_groups)
        self.n_affiliates = n - self.n_auditors - self.n_groups - self.n_companies
        plan.country_pick = Weighted(plan.countries, [HUB_WEIGHTS.get(c.code, 1) for c in plan.countries])
        plan.entity_names = {}
        self.used_names = set()
        self.leis = itertools.count(1)

    def run(self):
        plan, rng = self.plan, self.rng
        pick_country = plan.country_pick.pick
        # Auditors stay published: a published audit must not name a draft auditor.
        plan.auditors = []
        for _ in range(self.n_auditors):
            name = self.unique(
                f"Demo {rng.choice(AUDITOR_FIRST)} {rng.choice(AUDITOR_SECOND)} {rng.choice(AUDITOR_SUFFIX)}"
            )
            plan.auditors.append(self.entity(EntityKind.AUDITOR, name, pick_country(rng), draft=False))
        groups, brands = [], []
        for _ in range(self.n_groups):
            brand = self.unique(f"Demo {rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)}")
            brands.append(brand)
            group_name = f"{brand} {rng.choice(GROUP_SUFFIX)}"
            groups.append(self.entity(EntityKind.GROUP, group_name, pick_country(rng)))
        for _ in range(self.n_companies):
            name = self.unique(
                f"Demo {rng.choice(NAME_FIRST)} {rng.choice(NAME_SECOND)} {rng.choice(AFFILIATE_SUFFIX)}"
            )
            self.entity(EntityKind.COMPANY, name, pick_country(rng))
        # The first groups are the big exchanges with hundreds of affiliates.
        group_pick = Weighted(range(len(groups)), [1 / (rank + 1) ** 0.9 for rank in range(len(groups))])
        for _ in range(self.n_affiliates):
            number = group_pick.pick(rng)
            country = pick_country(rng)
            name = self.unique(f"{brands[number]} {country.name} {rng.choice(AFFILIATE_SUFFIX)}")
            self.entity(EntityKind.AFFILIATE, name, country, parent=groups[number])
        plan.auditor_sources = {auditor: self.report_list(auditor) for auditor in plan.auditors}
        auditor_set = set(plan.auditors)
        plan.holders = [row["id"] for row in plan.tables["entity"].rows if row["id"] not in auditor_set]

    def unique(self, base):
        name, number = base, 2
        while name in self.used_names:
            name, number = f"{base} {number}", number + 1
        self.used_names.add(name)
        return name

    def entity(self, kind, name, country, parent=None, draft=True):
        plan, rng = self.plan, self.rng
        number = len(plan.tables["entity"]) + 1
        slug = f"{PREFIX}e{number:06d}"
        row = plan.curated(
            "entity",
            slug=slug,
            name=name,
            kind=kind,
            parent_id=parent,
            jurisdiction_id=country.pk,
            lei=make_lei(next(self.leis)) if rng.random() < 0.35 else "",
            website=f"https://{slug}.demo.example/",
            description="Synthetic entity for demo data.",
        )
        plan.entity_names[row["id"]] = name
        if draft:
            plan.maybe_draft(row)
        if rng.random() < 0.2:
            plan.tables["alias"].add(
                entity_id=row["id"],
                name=f"{rng.choice(NAME_FIRST)}{rng.choice(NAME_SECOND)}",
                kind=rng.choice(("trading", "former", "other")),
            )
        return row["id"]

    def report_list(self, auditor):
        """The auditor's list of the reports it issued (the source its audits cite); returns its id."""
        name = self.plan.entity_names[auditor]
        source = self.plan.add_source(
            [f"Demo list of reports issued by {name}.", DEMO_QUOTE],
            slug=f"{PREFIX}reports-{auditor}",
            title=f"Demo list of reports issued by {name}",
            kind=SourceKind.REPORT,
            publisher=name,
            retrieved_on=EPOCH.date(),
            published_on=datetime.date(EPOCH.year, 1, 1),
            published_on_precision=DatePrecision.YEAR,
        )
        return source["id"]
