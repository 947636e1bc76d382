"""Planning the catalogue the licences and audits name: regimes, licence types, regulators, activities, standards."""

from __future__ import annotations

from collections import defaultdict

from operations.demo.vocabulary import ACTIVITIES, DEMO_QUOTE, EPOCH, LICENSE_TYPE_NAMES, PREFIX, STANDARDS
from registry.dates import DatePrecision
from registry.models import SourceKind

EU_REGIMES = (
    ("eu-casp", "Demo MiCA", "Demo Markets in Crypto-Assets Regulation", "Regulation (EU) 2023/1114"),
    ("eu-psd", "Demo PSD2", "Demo Payment Services Directive", "Directive (EU) 2015/2366"),
)


def plan(plan):
    """Regimes, their licence types, regulators, activities and standards, in that order of draws."""
    plan_regimes(plan)
    plan_license_types(plan)
    plan_regulators(plan)
    plan_activities_and_standards(plan)


def plan_regimes(plan):
    """An EU-wide pair when the EU exists, one or two national regimes elsewhere."""
    rng = plan.rng
    plan.country_regimes = defaultdict(list)
    plan.eu_regimes = []
    if "EU" in plan.areas:
        for slug, short, name, ref in EU_REGIMES:
            row = plan.curated(
                "regime",
                slug=f"{PREFIX}{slug}",
                short_name=short,
                name=name,
                legal_reference=ref,
                jurisdiction_id=plan.areas["EU"].pk,
                description="Synthetic regime for demo data.",
            )
            plan.eu_regimes.append(row["id"])
    for country in plan.countries:
        for number in range(1, (1 if country.code in plan.eu_members else rng.choice((1, 1, 2))) + 1):
            row = plan.curated(
                "regime",
                slug=f"{PREFIX}{country.code.lower()}-regime-{number}",
                short_name=f"Demo {country.code} VA {number}",
                name=f"Demo {country.name} Virtual Assets Act {2015 + rng.randrange(11)}",
                legal_reference=f"Demo Act No. {rng.randrange(1, 99)} of {2015 + rng.randrange(11)}",
                jurisdiction_id=country.pk,
                description="Synthetic regime for demo data.",
            )
            plan.country_regimes[country.code].append(row["id"])


def plan_license_types(plan):
    """One to three licence types per regime."""
    plan.types_of = defaultdict(list)
    plan.type_names = {}
    for regime in plan.tables["regime"].rows:
        for slug, name in plan.rng.sample(LICENSE_TYPE_NAMES, plan.rng.choice((1, 2, 2, 3))):
            row = plan.tables["license_type"].add(regime_id=regime["id"], slug=f"{PREFIX}{slug}", name=name)
            plan.types_of[regime["id"]].append(row["id"])
            plan.type_names[row["id"]] = name


def plan_regulators(plan):
    """One or two regulators per country, each with its public register as a source."""
    plan.country_regulators = defaultdict(list)
    for country in plan.countries:
        for number in range(1, plan.rng.choice((1, 1, 1, 2)) + 1):
            kind = "fsa" if number == 1 else "cb"
            abbreviation = f"D{country.code}{kind.upper()}"
            name = f"Demo {country.name} {'Financial Services Authority' if number == 1 else 'Central Bank'}"
            regulator = plan.curated(
                "regulator",
                slug=f"{PREFIX}{country.code.lower()}-{kind}",
                name=name,
                abbreviation=abbreviation,
                jurisdiction_id=country.pk,
                website=f"https://{abbreviation.lower()}.demo.example/",
            )
            plan.country_regulators[country.code].append(regulator["id"])
            supervised = plan.country_regimes[country.code]
            supervised = supervised if number == 1 else supervised[-1:]
            if country.code in plan.eu_members:
                supervised = supervised + plan.eu_regimes
            for regime_id in supervised:
                plan.tables["regulator_regimes"].add(regulator_id=regulator["id"], regime_id=regime_id)
            # Not a column: the licences' citations read it; Plan.finish_sources() removes it.
            regulator["source_id"] = plan_register(plan, country, kind, name, regulator["website"])


def plan_register(plan, country, kind, name, website):
    """The regulator's public register (the source its licences cite); returns its id."""
    today = EPOCH.date()
    source = plan.add_source(
        [f"Demo public register of {name}.", DEMO_QUOTE],
        slug=f"{PREFIX}register-{country.code.lower()}-{kind}",
        title=f"Demo public register of {name}",
        kind=SourceKind.OFFICIAL_REGISTER,
        publisher=name,
        url=f"{website}register",
        retrieved_on=today,
        published_on=today.replace(day=1),
        published_on_precision=DatePrecision.MONTH,
    )
    return source["id"]


def plan_activities_and_standards(plan):
    """The activities (MiCA's lettered services belong to the EU regime) and the audit standards."""
    plan.activities = [
        plan.tables["activity"].add(
            slug=f"{PREFIX}{slug}",
            name=f"{name} (demo)",
            code=code,
            regime_id=plan.eu_regimes[0] if code and plan.eu_regimes else None,
        )["id"]
        for slug, name, code in ACTIVITIES
    ]
    plan.standards_by_kind = defaultdict(list)
    plan.standard_slugs = {}
    for slug, name, issuer, kind in STANDARDS:
        row = plan.tables["standard"].add(slug=f"{PREFIX}{slug}", name=f"{name} (demo)", issuer=issuer)
        plan.standards_by_kind[kind].append(row["id"])
        plan.standard_slugs[row["id"]] = slug
