"""Importing ESMA's register of authorised CASPs: a MiCA licence per row, with its services and passports.

A licence is recognised by ``official_register_key`` (``esma-casp:<LEI>``, or
the home state and name when the LEI is unusable; a firm listed twice gets the
authorisation date appended). Licences of earlier snapshots missing from a
later one are marked "no longer listed as of" its date, never deleted; those it
lists again are verified on its date (``last_verified_on``).
"""

from __future__ import annotations

import time

from registry.models import (
    Activity,
    EntityCitation,
    License,
    LicenseCitation,
    LicenseStatus,
    LicenseType,
    Regime,
    Source,
    SourceKind,
)

from .base import BaseImporter
from .facts import REGISTER_FACT_FIELDS, curator_flags, esma_casp_citations, held_facts
from .match import propose_matches
from .parse import CASP_TITLE, KEY_PREFIX, MICA_SERVICES, PUBLISHER, cite, clean_text, parse_casp_rows
from .write import Changes, set_m2m, unique_slug

LICENCE_SETS = ("activities", "passported_to")


class CaspImporter(BaseImporter):
    title = CASP_TITLE
    date_column = "ac_lastupdate"
    slug_prefix = "esma-mica-casps-"
    required = ("ae_competentAuthority", "ae_homeMemberState", "ae_lei_name", "ae_lei", "ac_serviceCode")

    def _run(self):
        self.counts.lists_licences = True
        self._setup()
        self._reference_data()
        parsed = parse_casp_rows(self.snapshot.rows, set(self.jurisdictions))
        regulators = self._regulators({(p["home"], p["authority"][2]): p["authority"][:2] for p in parsed})
        entities = self._write_entities(list({p["entity"]["key"]: p["entity"] for p in parsed}.values()))
        self._write_entity_citations(parsed, entities)
        outcome, proposals, m2m_proposed = self._write_licences(parsed, entities, regulators)
        inline = self._write_licence_citations(parsed, deferred={lic.pk for lic, _ in proposals})
        self._propose(License, proposals, m2m_of=m2m_proposed, citations_of=inline)
        self._mark_not_listed({p["key"] for p in parsed})
        self.counts.matches += propose_matches(
            parsed,
            entities,
            license_type=self.license_type,
            jurisdictions=self.jurisdictions,
            source=self.source,
            author=self.user,
        )
        for p in parsed:
            state = outcome[p["key"]]
            if state == "unchanged" and entities[p["entity"]["key"]].pk in self.changed_entities:
                state = "updated"
            self.counts.add_row(p["row"], state, p["entity"]["name"], p["flags"])

    def _reference_data(self):
        """MiCA, its CASP licence type and its services (a) to (j), created when missing."""
        regime = Regime.objects.filter(slug="mica").first()
        if regime is None:
            regime = self.writer.prepare_new(
                Regime(
                    slug="mica",
                    short_name="MiCA",
                    name="Markets in Crypto-Assets Regulation",
                    legal_reference="Regulation (EU) 2023/1114",
                    jurisdiction=self.jurisdictions.get("EU"),
                )
            )
            self.writer.save(regime)
            self.counts.created_by_type[Regime] += 1
        elif self.publish and not regime.is_published:
            self.writer.update(Regime, [regime], self.writer.apply_direct(regime, {}))
        self.license_type, created = LicenseType.objects.get_or_create(
            regime=regime,
            slug="casp-authorisation",
            defaults={"name": "Crypto-asset service provider (CASP) authorisation"},
        )
        self.counts.created_by_type[LicenseType] += created
        activities = {a.code: a for a in Activity.objects.filter(regime=regime, code__in=list(MICA_SERVICES))}
        missing = [
            Activity(slug=f"mica-service-{code}", name=name, regime=regime, code=code)
            for code, name in MICA_SERVICES.items()
            if code not in activities
        ]
        if missing:
            taken = set(Activity.objects.filter(slug__startswith="mica-service-").values_list("slug", flat=True))
            for activity in missing:
                activity.slug = unique_slug(activity.slug, taken, 100)
            Activity.objects.bulk_create(missing)
            self.counts.created_by_type[Activity] += len(missing)
            activities = {a.code: a for a in Activity.objects.filter(regime=regime, code__in=list(MICA_SERVICES))}
        self.activities = activities

    # -- licences -------------------------------------------------------------

    def _write_licences(self, parsed, entities, regulators):
        """Create or update each row's licence (``p["license"]``); returns ({key: outcome}, the proposed changes
        to published licences, and their many-to-many changes by pk)."""
        existing = {
            lic.official_register_key: lic
            for lic in License.objects.filter(official_register_key__in=[p["key"] for p in parsed]).prefetch_related(
                *LICENCE_SETS
            )
        }
        # A fact another official register supports keeps its value; one resting on a less authoritative source
        # (an article) takes the register's, and that source's statement stays cited beside it.
        held = held_facts(list(existing.values()), SourceKind.OFFICIAL_REGISTER.authority, esma_casp_citations())
        taken = set(License.objects.values_list("slug", flat=True))
        new, m2m_new, outcome = [], {}, {}
        changes, m2m_direct, m2m_proposed, confirmed = Changes(self.writer, License), {}, {}, []
        started = time.monotonic()
        for done, p in enumerate(parsed, start=1):
            values, sets = self._licence_values(p, entities[p["entity"]["key"]], regulators)
            license = existing.get(p["key"])
            if license is None:
                slug = unique_slug(f"{entities[p['entity']['key']].slug}-mica-casp", taken, 150)
                license = self._new_licence(slug, p["key"], values)
                new.append(license)
                m2m_new[p["key"]] = sets
                outcome[p["key"]] = "created"
            else:
                route, m2m_changes = self._change_licence(license, values, sets, held.get(license.pk, set()), changes)
                if route == "direct":
                    m2m_direct[license.pk] = m2m_changes
                elif route == "propose":
                    m2m_proposed[license.pk] = m2m_changes
                elif self._verification(license):
                    confirmed.append(license)
                outcome[p["key"]] = "updated" if route else "unchanged"
            p["license"] = license
            self.progress(done, len(parsed), started)
        self.writer.create(License, new, m2m_of=lambda lic: m2m_new[lic.official_register_key])
        for name in LICENCE_SETS:
            set_m2m(License, name, {pk: changed[name] for pk, changed in m2m_direct.items() if name in changed})
        self.writer.write_changes(changes, m2m_fields=LICENCE_SETS)
        self.writer.confirm_verified(License, confirmed, self.snapshot.date)
        return outcome, changes.proposed, m2m_proposed

    def _licence_values(self, p, entity, regulators) -> tuple[dict, dict]:
        """The licence row ``p`` states: its fields, and its many-to-many sets (primary keys)."""
        regulator = regulators.get((p["home"], p["authority"][2]))
        jurisdiction = self.jurisdictions.get(p["home"])
        values = {
            "holder_id": entity.pk,
            "regulator_id": regulator.pk if regulator else None,
            "jurisdiction_id": jurisdiction.pk if jurisdiction else None,
            "granted_on": p["granted"].date if p["granted"] else None,
            "granted_on_precision": p["granted"].precision if p["granted"] else "",
            "ended_on": p["ended"].date if p["ended"] else None,
            "ended_on_precision": p["ended"].precision if p["ended"] else "",
            "quality_flags": p["flags"],
            "not_listed_since": None,
        }
        sets = {
            "activities": sorted(self.activities[c].pk for c in p["services"] if c in self.activities),
            "passported_to": sorted(self.jurisdictions[c].pk for c in p["passports"] if c in self.jurisdictions),
        }
        return values, sets

    def _new_licence(self, slug, key, values) -> License:
        """A new licence, listed (so verified) on the snapshot's date."""
        return self.writer.prepare_new(
            License(
                slug=slug,
                license_type=self.license_type,
                status=LicenseStatus.ACTIVE,
                official_register_key=key,
                last_verified_on=self.snapshot.date,
                **values,
            )
        )

    def _change_licence(self, license, values, sets, guarded, changes: Changes):
        """Route what the row changes in an existing licence (:meth:`Changes.add`), leaving the facts ``guarded``
        (held by an authoritative source) alone; returns the route and the many-to-many changes."""
        for fact, attnames in REGISTER_FACT_FIELDS.items():
            if fact in guarded:
                for attname in attnames:
                    values.pop(attname)
        if values.get("regulator_id") is None:
            values.pop("regulator_id", None)
        values["quality_flags"] = [*values["quality_flags"], *curator_flags(license.quality_flags)]
        fields = {k: v for k, v in values.items() if getattr(license, k) != v}
        current = {name: sorted(obj.pk for obj in getattr(license, name).all()) for name in LICENCE_SETS}
        m2m_changes = {name: ids for name, ids in sets.items() if name not in guarded and current[name] != ids}
        route = changes.add(license, fields, also=bool(m2m_changes), along=self._verification(license))
        return route, m2m_changes

    def _verification(self, license) -> dict:
        """The snapshot lists ``license``: verified on its date, unless a later verification is recorded."""
        day = self.snapshot.date
        if license.last_verified_on is not None and license.last_verified_on >= day:
            return {}
        return {"last_verified_on": day}

    # -- citations --------------------------------------------------------------

    def _write_licence_citations(self, parsed, deferred):
        """Each licence's facts cite this snapshot's row; licences in ``deferred`` through their revision."""
        wanted = {}
        for p in parsed:
            row = p["row"]
            facts = {
                "": cite(row, "ae_lei_name", states=""),
                "holder": cite(row, "ae_lei_name"),
                "regulator": cite(row, "ae_competentAuthority"),
                "granted_on": cite(row, "ac_authorisationNotificationDate"),
                "activities": cite(row, "ac_serviceCode"),
                "passported_to": cite(row, "ac_serviceCode_cou"),
            }
            if clean_text(row.get("ac_authorisationEndDate")):
                facts["ended_on"] = cite(row, "ac_authorisationEndDate")
            facts[""]["quote"] = f"Listed in {self.snapshot.name}, row {row['_row']}."
            wanted[p["license"].pk] = facts
        return self._cite(LicenseCitation, "license", wanted, deferred)

    def _write_entity_citations(self, parsed, entities):
        wanted = {}
        for p in parsed:
            entity = entities[p["entity"]["key"]]
            if entity.pk in wanted:
                continue
            row = p["row"]
            facts = {"name": cite(row, "ae_lei_name"), "jurisdiction": cite(row, "ae_lei_cou_code")}
            if clean_text(row.get("ae_lei")):
                facts["lei"] = cite(row, "ae_lei")
            if not facts["jurisdiction"]["states"]:
                facts["jurisdiction"] = cite(row, "ae_homeMemberState")
            wanted[entity.pk] = facts
        # Entity citations are bookkeeping of where the facts came from; written directly.
        self._cite(EntityCitation, "entity", wanted)

    # -- licences no longer listed ------------------------------------------------

    def _is_latest_snapshot(self) -> bool:
        later = Source.objects.filter(
            publisher=PUBLISHER, title__startswith=CASP_TITLE, published_on__gt=self.snapshot.date
        )
        return not later.exists()

    def _mark_not_listed(self, keys):
        """Licences of earlier snapshots missing from this one: "no longer listed as of" its date, never deleted."""
        if not self._is_latest_snapshot():
            return
        gone = list(
            License.objects.filter(official_register_key__startswith=KEY_PREFIX, not_listed_since__isnull=True).exclude(
                official_register_key__in=keys
            )
        )
        changes = Changes(self.writer, License)
        for license in gone:
            changes.add(license, {"not_listed_since": self.snapshot.date})
        self.writer.write_changes(changes)
        self._propose(License, changes.proposed)
        self.counts.not_listed = len(gone)
