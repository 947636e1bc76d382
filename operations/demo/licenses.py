"""Planning the licences: about three per entity, in the holder's country or another; EU ones often passported."""

from __future__ import annotations

import datetime

from operations.demo.values import Weighted, partial, partial_not_before, random_day
from operations.demo.vocabulary import EPOCH, LICENSE_STATUS_WEIGHTS, PREFIX
from registry.models import LicenseCitation, LicenseStatus

ENDED = (LicenseStatus.REVOKED, LicenseStatus.EXPIRED, LicenseStatus.SURRENDERED)
CONDITION = "Synthetic condition: no services to residents outside the licence's scope."


def plan(plan):
    LicensePlanner(plan).run()


class LicensePlanner:
    def __init__(self, plan):
        self.plan = plan
        self.rng = plan.rng
        tables = plan.tables
        self.entity_country = {row["id"]: row["jurisdiction_id"] for row in tables["entity"].rows}
        self.country_by_pk = {c.pk: c for c in plan.countries}
        self.regulator_source = {row["id"]: row["source_id"] for row in tables["regulator"].rows}
        self.status_pick = Weighted(*zip(*LICENSE_STATUS_WEIGHTS, strict=True))

    def run(self):
        holders = self.plan.holders
        for number in range(1, (3 * self.plan.n if holders else 0) + 1):
            holder = holders[number - 1] if number <= len(holders) else self.rng.choice(holders)
            self.licence(number, holder)

    def licence(self, number, holder):
        """One licence of ``holder``, with its activities, passports and citations."""
        plan, rng = self.plan, self.rng
        home = self.country_by_pk[self.entity_country[holder]]
        if rng.random() < 0.3:
            home = plan.country_pick.pick(rng)
        if home.code in plan.eu_members and plan.eu_regimes and rng.random() < 0.7:
            regime = rng.choice(plan.eu_regimes)
        else:
            regime = rng.choice(plan.country_regimes[home.code])
        license_type = rng.choice(plan.types_of[regime])
        regulator = plan.country_regulators[home.code][0] if rng.random() < 0.93 else None
        status = self.status_pick.pick(rng)
        dates = self.dates(status)
        reference = f"DEMO-{home.code}-{number:07d}" if rng.random() < 0.9 else ""
        row = plan.curated(
            "license",
            slug=f"{PREFIX}l{number:07d}",
            holder_id=holder,
            license_type_id=license_type,
            regulator_id=regulator,
            jurisdiction_id=home.pk,
            status=status,
            serves_retail=rng.random() < 0.6,
            serves_professional=rng.random() < 0.8,
            serves_institutional=rng.random() < 0.5,
            reference_number=reference,
            conditions=CONDITION if rng.random() < 0.1 else "",
            last_verified_on=plan.last_verified_on(),
            **dates,
        )
        plan.maybe_draft(row)
        for activity in rng.sample(plan.activities, rng.randrange(1, 5)):
            plan.tables["license_activities"].add(license_id=row["id"], activity_id=activity)
        if regime in plan.eu_regimes and plan.eea is not None and rng.random() < 0.6:
            self.passports(row["id"], home)
        self.cite(row, holder, license_type, regulator, reference)

    def dates(self, status):
        """Granted unless applied for; ended when revoked, expired or surrendered (never before it was granted)."""
        rng, precisions = self.rng, self.plan.precisions
        dates = {"granted_on": None, "granted_on_precision": "", "ended_on": None, "ended_on_precision": ""}
        if status != LicenseStatus.APPLIED:
            granted = random_day(rng, datetime.date(2014, 1, 1), EPOCH.date() - datetime.timedelta(days=30))
            dates["granted_on"], dates["granted_on_precision"] = partial(rng, granted, precisions)
            if status in ENDED:
                ended = random_day(rng, granted + datetime.timedelta(days=1), EPOCH.date())
                dates["ended_on"], dates["ended_on_precision"] = partial_not_before(
                    rng, ended, dates["granted_on"], precisions
                )
        return dates

    def passports(self, license_id, home):
        """Mostly the whole EEA at once; otherwise up to six member states (the home country excepted)."""
        plan, rng = self.plan, self.rng
        if rng.random() < 0.7:
            plan.tables["passports"].add(license_id=license_id, jurisdiction_id=plan.eea.pk)
            return
        for country in rng.sample(plan.eea_members, min(6, len(plan.eea_members))):
            if country.pk != home.pk:
                plan.tables["passports"].add(license_id=license_id, jurisdiction_id=country.pk)

    def cite(self, row, holder, license_type, regulator, reference):
        """The demo source, and the regulator's register (when a regulator is named) for the status."""
        plan = self.plan
        plan.cite_demo_source("license_citation", license_id=row["id"])
        if regulator is None:
            return
        quote = (
            f"{plan.entity_names[holder]} holds licence {reference or row['slug']} "
            f"({plan.type_names[license_type]}), status {row['status']}."
        )
        plan.cite(
            "license_citation",
            self.regulator_source[regulator],
            quote,
            license_id=row["id"],
            supports=LicenseCitation.Fact.STATUS,
            locator="Register entry",
        )
