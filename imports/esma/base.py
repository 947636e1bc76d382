"""What importing either ESMA file does: read it, cite it, and write its regulators and entities."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from official import record as official_record
from registry.dates import DatePrecision, PartialDate
from registry.models import Entity, EntityAlias, EntityKind, Jurisdiction, Regulator, Source, SourceKind
from watch import outbox

from .match import match_entities
from .parse import PUBLISHER, name_key, parse_authority, read_snapshot
from .write import Changes, Counts, Writer, importer_user, unique_slug


class DryRunRollback(Exception):
    pass


class BaseImporter:
    """One run of an import of one file (:meth:`run`); subclasses write what their file lists (``_run``)."""

    title = ""
    date_column = ""
    slug_prefix = ""
    required = ()

    def __init__(self, data: bytes, name: str, *, publish: bool = False, dry_run: bool = False, progress=None):
        self.snapshot = read_snapshot(data, name, self.date_column, self.required)
        self.publish, self.dry_run = publish, dry_run
        self.progress = progress or (lambda done, total, started: None)
        self.counts = Counts(publish=publish)
        day = self.snapshot.date.isoformat()
        self.reason = f"ESMA register snapshot {day}"
        if publish:
            self.reason += " (published directly: operator's --publish)"

    def run(self) -> Counts:
        try:
            # Watchers are told of what the file made public once it is all written: a record is public only with
            # its citation, written after it, so the events of publish_as_operator's own recording miss it.
            with transaction.atomic(), outbox.recording_load():
                self._run()
                # The register's own history (official/): what this file changed since the previous one.
                official_record.record_file(self.snapshot, self.source)
                if self.dry_run:
                    raise DryRunRollback
        except DryRunRollback:
            pass
        return self.counts

    def _run(self):
        raise NotImplementedError

    def _setup(self):
        self.now = timezone.now()
        self.user = importer_user()
        self.writer = Writer(user=self.user, reason=self.reason, publish=self.publish, now=self.now, counts=self.counts)
        self.jurisdictions = {j.code: j for j in Jurisdiction.objects.filter(parent__isnull=True)}
        self.source = self._source()

    def _source(self) -> Source:
        """The file's one :class:`Source` (the same file, by its SHA-256, is the same source)."""
        snap = self.snapshot
        source = Source.objects.filter(sha256=snap.sha256, kind=SourceKind.OFFICIAL_REGISTER).first()
        if source is None and not snap.exact_text:
            source = Source.objects.filter(notes__contains=f"SHA-256 of the file: {snap.sha256}").first()
        if source is not None:
            if self.publish and not source.is_published:
                self.writer.update(Source, [source], self.writer.apply_direct(source, {}))
            return source
        taken = set(Source.objects.filter(slug__startswith=self.slug_prefix).values_list("slug", flat=True))
        date_text = str(PartialDate(snap.date))
        notes = f"File {snap.name} as published by ESMA, imported {self.now:%Y-%m-%d}."
        if not snap.exact_text:
            notes += f" The file was not UTF-8; SHA-256 of the file: {snap.sha256}."
        source = self.writer.prepare_new(
            Source(
                slug=unique_slug(f"{self.slug_prefix}{snap.date:%Y-%m-%d}", taken, 120),
                title=f"{self.title} (snapshot {date_text})",
                kind=SourceKind.OFFICIAL_REGISTER,
                publisher=PUBLISHER,
                published_on=snap.date,
                published_on_precision=DatePrecision.DAY,
                retrieved_on=self.now.date(),
                # The exact decoded text: Source.save() digests it, which equals the file's SHA-256.
                archived_text=snap.text,
                notes=notes,
            )
        )
        self.writer.save(source)
        self.counts.created_by_type[Source] += 1
        return source

    def _cite(self, model, target_field: str, wanted: dict, deferred=()):
        """Citations of this snapshot (:meth:`Writer.cite`)."""
        return self.writer.cite(model, target_field, wanted, source=self.source, register=self.title, deferred=deferred)

    def _propose(self, model, proposals, m2m_of=None, citations_of=None):
        """Pending revisions of published records (:meth:`Writer.propose`)."""
        summary = f"Changes in {self.source.title}."
        self.writer.propose(model, proposals, summary, m2m_of=m2m_of, citations_of=citations_of)

    # -- regulators ---------------------------------------------------------

    def _regulators(self, authorities: dict[tuple[str, str], tuple[str, str]]):
        """{(home code, key): Regulator}, creating the missing ones (matched on normalised name or abbreviation)."""
        found = self._match_regulators(authorities)
        taken = set(Regulator.objects.values_list("slug", flat=True))
        new = []
        for (code, key), (name, abbreviation) in authorities.items():
            if (code, key) in found or code not in self.jurisdictions:
                continue
            regulator = self.writer.prepare_new(
                Regulator(
                    slug=unique_slug(f"{abbreviation or name}-{code}", taken, 100),
                    name=name,
                    abbreviation=abbreviation[:30],
                    jurisdiction=self.jurisdictions[code],
                )
            )
            found[(code, key)] = regulator
            new.append(regulator)
        self.writer.create(Regulator, new)
        if self.publish:
            changes = Changes(self.writer, Regulator)
            for regulator in {r.pk: r for r in found.values() if r.pk and r not in new}.values():
                changes.add(regulator, {})
            self.writer.write_changes(changes)
        return found

    @staticmethod
    def _match_regulators(authorities) -> dict:
        codes = {code for code, _ in authorities}
        found = {}
        existing = list(Regulator.objects.filter(jurisdiction__code__in=codes).select_related("jurisdiction"))
        for (code, key), (_name, abbreviation) in authorities.items():
            for regulator in existing:
                if regulator.jurisdiction.code != code:
                    continue
                same_name = parse_authority(regulator.name)[2] == key
                same_abbr = abbreviation and regulator.abbreviation.casefold() == abbreviation.casefold()
                if same_name or same_abbr:
                    found[(code, key)] = regulator
                    break
        return found

    # -- entities ----------------------------------------------------------

    def _write_entities(self, wanted: list[dict]) -> dict[str, Entity]:
        """Create or update entities (address, flags, and blanks such as the LEI); returns {key: entity}."""
        matches = match_entities(wanted)
        taken = set(Entity.objects.values_list("slug", flat=True))
        result, new = {}, []
        changes = Changes(self.writer, Entity)
        for w in wanted:
            entity = matches[w["key"]]
            if entity is None:
                entity = self.writer.prepare_new(
                    Entity(
                        slug=unique_slug(w["name"], taken, 120),
                        name=w["name"],
                        kind=EntityKind.COMPANY,
                        jurisdiction=self.jurisdictions.get(w["jurisdiction"]),
                        lei=w["lei"],
                        lei_as_published=w["lei_as_published"],
                        website=w["website"],
                        address=w["address"],
                        quality_flags=w["flags"],
                    )
                )
                new.append(entity)
            else:
                changes.add(entity, self._entity_changes(entity, w))
            result[w["key"]] = entity
        self.writer.create(Entity, new)
        self.writer.write_changes(changes)
        self._propose(Entity, changes.proposed)
        self.changed_entities = {e.pk for e in changes.direct} | {e.pk for e, _ in changes.proposed}
        self._write_aliases(wanted, result)
        return result

    def _entity_changes(self, entity, w) -> dict:
        """What the file changes in an existing entity: address and flags; the LEI, website, home only if blank."""
        changes = {}
        if w["address"] and entity.address != w["address"]:
            changes["address"] = w["address"]
        if entity.quality_flags != w["flags"]:
            changes["quality_flags"] = w["flags"]
        if w["lei"] and not entity.lei:
            changes["lei"] = w["lei"]
        if entity.lei_as_published != w["lei_as_published"] and not (entity.lei and not w["lei"]):
            changes["lei_as_published"] = w["lei_as_published"]
        if w["website"] and not entity.website:
            changes["website"] = w["website"]
        jurisdiction = self.jurisdictions.get(w["jurisdiction"])
        if jurisdiction and not entity.jurisdiction_id:
            changes["jurisdiction_id"] = jurisdiction.pk
        return changes

    def _write_aliases(self, wanted, entities):
        """Trading names as aliases (added, never removed: a former trading name stays true of the past)."""
        # A published entity's names change only through review (or an operator's --publish).
        pks = {e.pk for e in entities.values() if self.publish or not e.is_published}
        existing = {(a.entity_id, name_key(a.name)) for a in EntityAlias.objects.filter(entity_id__in=pks)}
        new = []
        for w in wanted:
            entity = entities[w["key"]]
            if entity.pk not in pks:
                continue
            for alias in w["aliases"]:
                key = (entity.pk, name_key(alias))
                if key in existing or name_key(alias) == name_key(entity.name):
                    continue
                existing.add(key)
                new.append(EntityAlias(entity=entity, name=alias[:300], kind=EntityAlias.Kind.TRADING))
        if new:
            bulk_create_with_history(new, EntityAlias, **self.writer.history)
