"""The plan: every row of the synthetic register, built in memory with its primary key, before anything is written.

One ``random.Random`` is drawn from in a fixed order: the countries, the demo
source, then one planner per record type (``catalogue``: regimes, licence types,
regulators, activities, standards; ``entities``; ``licenses``; ``audits``).
Changing that order, or a draw within a planner, changes every row after it.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from operations.demo import audits, catalogue, entities, licenses
from operations.demo.checks import MixedDataError
from operations.demo.values import Weighted, sha256
from operations.demo.vocabulary import (
    DEMO_QUOTE,
    DEMO_SOURCE_SLUG,
    DEMO_SOURCE_TEXT,
    DEMO_SOURCE_TITLE,
    DRAFT_SHARE,
    EPOCH,
    HUB_WEIGHTS,
    MAX_COUNTRIES,
    PRECISION_WEIGHTS,
)
from operations.demo.writing import Table
from registry.dates import DatePrecision
from registry.models import (
    Activity,
    Audit,
    AuditCitation,
    Entity,
    EntityAlias,
    EntityCitation,
    Jurisdiction,
    JurisdictionKind,
    License,
    LicenseCitation,
    LicenseType,
    Publication,
    Regime,
    Regulator,
    Source,
    SourceKind,
    Standard,
)


def new_tables(history):
    """One :class:`Table` per model written, in the order they are written (referenced tables first)."""
    return {
        "source": Table(Source, "sources", history),
        "regime": Table(Regime, "regimes", history),
        "regulator": Table(Regulator, "regulators", history),
        "regulator_regimes": Table(Regulator.regimes.through, "regulator regimes"),
        "license_type": Table(LicenseType, "licence types"),
        "activity": Table(Activity, "activities"),
        "standard": Table(Standard, "standards"),
        "entity": Table(Entity, "entities", history),
        "alias": Table(EntityAlias, "aliases"),
        "entity_citation": Table(EntityCitation, "entity citations"),
        "license": Table(License, "licences", history),
        "license_citation": Table(LicenseCitation, "licence citations", history),
        "license_activities": Table(License.activities.through, "licence activities"),
        "passports": Table(License.passported_to.through, "passports"),
        "audit": Table(Audit, "audits", history),
        "audit_citation": Table(AuditCitation, "audit citations", history),
    }


class Plan:
    """The rows of every table, and what the planners share: the countries, the catalogue, the entities.

    ``source_lines`` maps each source's id to the lines of its archived text (``None``: the text is set
    already); planners append the quotes they cite, so every quote is found in its source.
    """

    def __init__(self, entities, rng, history=True):
        self.n = entities
        self.rng = rng
        self.precisions = Weighted(*zip(*PRECISION_WEIGHTS, strict=True))
        self.tables = new_tables(history)
        self.source_lines = {}

    def build(self):
        """Plan every row, in the one fixed order of draws."""
        self.countries, self.areas, members = self.choose_countries()
        self.eu_members = members["EU"]
        self.eea = self.areas.get("EEA") or self.areas.get("EU")
        self.eea_members = [c for c in self.countries if c.code in (members["EEA"] or members["EU"])]
        self.demo_source = self.plan_demo_source()["id"]
        catalogue.plan(self)
        entities.plan(self)
        licenses.plan(self)
        audits.plan(self)
        self.date_after_what_they_name()
        self.finish_sources()
        return self.tables

    def choose_countries(self):
        """About 200 countries, EU/EEA members and the usual hubs always included."""
        countries = list(Jurisdiction.objects.filter(kind=JurisdictionKind.COUNTRY).order_by("code"))
        if not countries:
            raise MixedDataError("No country jurisdictions: load them with `manage.py load_fixtures jurisdictions`.")
        areas = {
            area.code: area
            for area in Jurisdiction.objects.filter(kind=JurisdictionKind.SUPRANATIONAL, code__in=["EU", "EEA"])
        }
        members = defaultdict(set)
        for code, area in areas.items():
            members[code] = set(area.members.values_list("code", flat=True))
        must = members["EU"] | members["EEA"] | set(HUB_WEIGHTS)
        chosen = [c for c in countries if c.code in must]
        others = [c for c in countries if c.code not in must]
        room = max(0, MAX_COUNTRIES - len(chosen))
        chosen += self.rng.sample(others, min(room, len(others)))
        chosen.sort(key=lambda c: c.code)
        return chosen, areas, members

    def curated(self, table, **values):
        """A published record with fixed timestamps (never "now": the same seed gives the same rows)."""
        updated = EPOCH - datetime.timedelta(minutes=self.rng.randrange(60 * 24 * 365))
        return self.tables[table].add(
            publication_status=Publication.PUBLISHED,
            created_at=updated,
            updated_at=updated,
            published_at=updated,
            **values,
        )

    def maybe_draft(self, row):
        if self.rng.random() < DRAFT_SHARE:
            row["publication_status"] = Publication.DRAFT
            row["published_at"] = None

    def last_verified_on(self):
        """Most records were checked against their sources within the last two years; some never were."""
        rng = self.rng
        return None if rng.random() < 0.15 else EPOCH.date() - datetime.timedelta(days=rng.randrange(700))

    def add_source(self, lines, **values):
        """A published source whose archived text will be ``lines`` plus the quotes cited from it."""
        source = self.curated("source", **values)
        self.source_lines[source["id"]] = lines
        return source

    def plan_demo_source(self):
        today = EPOCH.date()
        source = self.curated(
            "source",
            slug=DEMO_SOURCE_SLUG,
            title=DEMO_SOURCE_TITLE,
            kind=SourceKind.OTHER,
            publisher="Compliance Registry",
            archived_text=DEMO_SOURCE_TEXT,
            retrieved_on=today,
            published_on=today,
            published_on_precision=DatePrecision.DAY,
            notes="Cited by every synthetic record: this is how demo data is told apart from real data.",
        )
        self.source_lines[source["id"]] = None
        return source

    def cite(self, table, source, quote, **values):
        """A citation of ``source`` quoting ``quote``, which the source's archived text will contain."""
        self.source_lines[source].append(quote)
        self.tables[table].add(source_id=source, quote=quote, **values)

    def cite_demo_source(self, table, **values):
        self.tables[table].add(source_id=self.demo_source, quote=DEMO_QUOTE, supports="", **values)

    def date_after_what_they_name(self):
        """Date each licence and audit no earlier than the records it names, and its citations with it.

        Whether a record was public at a past instant (the as-of view, the
        change feed) is read from the history of the records its visibility
        depends on: a licence dated before its holder would not have been
        public when it was created.
        """
        t = self.tables
        stamp = {
            name: {row["id"]: row["updated_at"] for row in t[name].rows}
            for name in ("entity", "regime", "regulator", "source")
        }
        regime_of = {row["id"]: row["regime_id"] for row in t["license_type"].rows}
        cited = {"license": defaultdict(list), "audit": defaultdict(list)}
        for kind, column in (("license", "license_id"), ("audit", "audit_id")):
            for citation in t[f"{kind}_citation"].rows:
                cited[kind][citation[column]].append(citation)
        names = {
            "license": lambda row: [
                stamp["entity"][row["holder_id"]],
                stamp["regime"][regime_of[row["license_type_id"]]],
                stamp["regulator"].get(row["regulator_id"]),
            ],
            "audit": lambda row: [stamp["entity"][row["subject_id"]], stamp["entity"].get(row["auditor_id"])],
        }
        for kind, named in names.items():
            for row in t[kind].rows:
                citations = cited[kind][row["id"]]
                sources = [stamp["source"][citation["source_id"]] for citation in citations]
                when = max(value for value in [row["updated_at"], *named(row), *sources] if value is not None)
                row["created_at"] = row["updated_at"] = when
                if row["published_at"] is not None:
                    row["published_at"] = when
                for citation in citations:
                    citation["history_date"] = when

    def finish_sources(self):
        """Each source's archived text (its lines and the quotes cited from it) and that text's digest."""
        for source in self.tables["source"].rows:
            lines = self.source_lines[source["id"]]
            if lines is not None:
                source["archived_text"] = "\n".join(lines) + "\n"
            # Source.save() sets the digest; rows written here skip save(), so it is set now.
            source["sha256"] = sha256(source["archived_text"])
        for row in self.tables["regulator"].rows:
            del row["source_id"]
