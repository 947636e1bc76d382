"""Importing ESMA's list of non-compliant entities: a warning notice per decision, on the entity it names."""

from __future__ import annotations

import time

from registry.models import EntityCitation, WarningNotice

from .base import BaseImporter
from .parse import NCASP_TITLE, cite, clean_text, parse_ncasp_rows, split_list
from .write import Changes, unique_slug


class NcaspImporter(BaseImporter):
    title = NCASP_TITLE
    date_column = "ae_lastupdate"
    slug_prefix = "esma-mica-ncasps-"
    required = ("ae_competentAuthority", "ae_homeMemberState", "ae_lei_name", "ae_decision_date")

    def _run(self):
        self._setup()
        known = set(self.jurisdictions)
        parsed = parse_ncasp_rows(self.snapshot.rows, known)
        authorities = {(p["home"], p["authority"][2]): p["authority"][:2] for p in parsed if p["home"] in known}
        regulators = self._regulators(authorities)
        entities = self._write_entities(list({p["entity"]["key"]: p["entity"] for p in parsed}.values()))
        cited = {}
        for p in parsed:
            facts = {"name": cite(p["row"], "ae_lei_name")}
            if clean_text(p["row"].get("ae_lei")):
                facts["lei"] = cite(p["row"], "ae_lei")
            cited.setdefault(entities[p["entity"]["key"]].pk, facts)
        self._cite(EntityCitation, "entity", cited)
        self._write_notices(parsed, entities, regulators)

    def _write_notices(self, parsed, entities, regulators):
        """A notice per decision (entity, member state, date); the same decision listed twice is one notice."""
        existing = {
            (w.entity_id, w.jurisdiction_id, w.decided_on): w
            for w in WarningNotice.objects.filter(entity__in=[e.pk for e in entities.values()])
        }
        taken = set(WarningNotice.objects.values_list("slug", flat=True))
        new, changes, seen = [], Changes(self.writer, WarningNotice), {}
        started = time.monotonic()
        for done, p in enumerate(parsed, start=1):
            entity = entities[p["entity"]["key"]]
            jurisdiction = self.jurisdictions.get(p["home"])
            if jurisdiction is None:
                self.counts.add_row(p["row"], "unchanged", p["entity"]["name"], p["flags"])
                continue
            values = self._notice_values(p, regulators)
            key = (entity.pk, jurisdiction.pk, values["decided_on"])
            if key in seen:
                # The same decision listed twice: one notice, every website kept.
                notice = seen[key]
                websites = [*notice.websites.split("\n"), *values["websites"].split("\n")]
                notice.websites = "\n".join(dict.fromkeys(websites))
                state = "unchanged"
            elif (notice := existing.get(key)) is None:
                slug = unique_slug(f"{entity.slug}-warning-{jurisdiction.code}", taken, 150)
                notice = self.writer.prepare_new(
                    WarningNotice(slug=slug, entity=entity, jurisdiction=jurisdiction, **values)
                )
                new.append(notice)
                state = "created"
            else:
                fields = {k: v for k, v in values.items() if getattr(notice, k) != v}
                state = "updated" if changes.add(notice, fields) else "unchanged"
            seen[key] = notice
            self.counts.add_row(p["row"], state, p["entity"]["name"], p["flags"])
            self.progress(done, len(parsed), started)
        self.writer.create(WarningNotice, new)
        self.writer.write_changes(changes)
        self._propose(WarningNotice, changes.proposed)

    def _notice_values(self, p, regulators) -> dict:
        row = p["row"]
        regulator = regulators.get((p["home"], p["authority"][2]))
        reason = clean_text(row.get("ae_reason"))
        return {
            "regulator_id": regulator.pk if regulator else None,
            "decided_on": p["decided"].date if p["decided"] else None,
            "decided_on_precision": p["decided"].precision if p["decided"] else "",
            # ESMA's Article 17 procedure concerns the national authority, not the firm (README of the data).
            "esma_article_17_case": clean_text(row.get("ae_infrigment"))[:300],
            # ESMA writes "None" where the authority gave no reason.
            "reason": "" if reason.casefold() == "none" else reason,
            "websites": "\n".join(split_list(row.get("ae_website"))),
            "notes": clean_text(row.get("ae_comments")),
            "source_id": self.source.pk,
            "locator": f"row {row['_row']}",
            "quality_flags": p["flags"],
        }
