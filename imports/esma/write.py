"""Writing an import: in bulk, with its history, and every change of publication through the review service.

All writes are bulk (a fixed number of queries whatever the row count), except
for revisions of published records, proposed one by one through
``review.propose`` because each locks and checks its record's version.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router
from django.utils.text import slugify
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history

from curation import review
from registry.models import (
    Activity,
    CryptoAsset,
    Entity,
    License,
    LicenseType,
    Regime,
    Regulator,
    Revision,
    Source,
    WarningNotice,
    WhitePaper,
)

from .parse import PUBLISHER

IMPORTER_USERNAME = "esma-importer"


def _number(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


@dataclass
class Counts:
    """What an import did: rows by outcome, and records written by type (for the summary line)."""

    created: int = 0  # rows whose licence (or warning notice) was created
    updated: int = 0
    unchanged: int = 0
    not_listed: int = 0
    flagged: int = 0
    proposed: int = 0  # changes to published records waiting for a reviewer (pending revisions)
    matches: int = 0  # match proposals waiting for a reviewer's decision
    publish: bool = False
    lists_licences: bool = False  # a CASP file: licences missing from it are "no longer listed"
    created_by_type: Counter = field(default_factory=Counter)  # model -> records created
    updated_by_type: Counter = field(default_factory=Counter)  # model -> records changed directly
    rows: list = field(default_factory=list)  # (row, outcome, label, flags) for previews

    # The order the summary names record types in; citations and aliases are bookkeeping, not counted.
    TYPE_ORDER = (
        Entity,
        License,
        WarningNotice,
        WhitePaper,
        CryptoAsset,
        Regulator,
        Source,
        Regime,
        LicenseType,
        Activity,
    )

    def by_type(self, counter: Counter) -> str:
        """``145 entities, 146 licences, 1 source``, or ``nothing``."""
        parts = []
        for model in self.TYPE_ORDER:
            if counter[model]:
                names = str(model._meta.verbose_name), str(model._meta.verbose_name_plural)
                # The register writes "licence"; LicenseType's verbose name predates that.
                names = tuple(name.replace("license", "licence") for name in names)
                parts.append(_number(counter[model], *names))
        return ", ".join(parts) or "nothing"

    def summary(self) -> str:
        """One line: ``created 145 entities, 146 licences, 18 regulators, 1 source; …; all drafts``."""
        parts = [
            f"created {self.by_type(self.created_by_type)}",
            f"updated {self.by_type(self.updated_by_type)}",
            f"unchanged {_number(self.unchanged, 'row')}",
        ]
        if self.lists_licences:
            parts.append(f"no longer listed {_number(self.not_listed, 'licence')}")
        parts.append(f"flagged {_number(self.flagged, 'row')}")
        if self.matches:
            parts.append(f"{_number(self.matches, 'match proposal')} to decide")
        if self.publish:
            parts.append("all published")
        elif self.proposed:
            parts.append(
                f"new records are drafts, {_number(self.proposed, 'change')} to published records wait for review"
            )
        else:
            parts.append("all drafts")
        return "; ".join(parts)

    def add_row(self, row, state: str, label: str, flags):
        """Count one row by its outcome ("created", "updated", "unchanged"), and keep it for the preview."""
        setattr(self, state, getattr(self, state) + 1)
        self.flagged += bool(flags)
        self.rows.append((row["_row"], state, label, flags))


def importer_user():
    """The system account imports are recorded under; it cannot log in or review."""
    user, created = get_user_model().objects.get_or_create(
        username=IMPORTER_USERNAME, defaults={"is_staff": False, "is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def unique_slug(base: str, taken: set, max_length: int) -> str:
    """``base`` as a slug of at most ``max_length`` characters, numbered (``-2``…) when ``taken``; added to it."""
    base = (slugify(base) or "record")[:max_length].strip("-")
    slug, n = base, 2
    while slug in taken:
        suffix = f"-{n}"
        slug = f"{base[: max_length - len(suffix)]}{suffix}"
        n += 1
    taken.add(slug)
    return slug


def _write_m2m_history(model, history_rows, field_names):
    """Many-to-many snapshots for bulk-written history rows (``bulk_history_create`` leaves them out).

    Read back from the through tables (one query per field): a snapshot row keeps the through row's id.
    """
    if not history_rows or not field_names:
        return
    for m2m_field, m2m_history_model in HistoricalRecords.m2m_models.items():
        if m2m_field.model is not model or m2m_field.name not in field_names:
            continue
        through = m2m_field.remote_field.through
        owner, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
        current = defaultdict(list)
        for row in through.objects.filter(**{f"{owner}_id__in": [r.id for r in history_rows]}):
            current[getattr(row, f"{owner}_id")].append(row)
        m2m_history_model.objects.bulk_create(
            [
                m2m_history_model(
                    history=row,
                    id=link.pk,
                    **{f"{owner}_id": row.id, f"{target}_id": getattr(link, f"{target}_id")},
                )
                for row in history_rows
                for link in current.get(row.id, [])
            ]
        )


def set_m2m(model, field_name: str, values_by_pk: dict[int, list[int]]):
    """Replace the many-to-many sets of several records in two queries, without per-row signals."""
    if not values_by_pk:
        return
    m2m_field = model._meta.get_field(field_name)
    through = m2m_field.remote_field.through
    source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
    through.objects.filter(**{f"{source}_id__in": list(values_by_pk)}).delete()
    through.objects.bulk_create(
        [
            through(**{f"{source}_id": pk, f"{target}_id": value})
            for pk, values in values_by_pk.items()
            for value in values
        ]
    )


def fast_bulk_update(model, objs, fields, batch_size=400):
    """``bulk_update`` in plain SQL: ``SET col = CASE id WHEN … THEN CAST(… AS type) END``.

    Django's ``bulk_update`` builds one resolved ``When`` expression per row and
    field, which takes seconds for a thousand citations; this writes the same
    statement directly (portable SQL: simple CASE and CAST work on SQLite and
    PostgreSQL).
    """
    if not objs:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    quote = connection.ops.quote_name
    pk_column = quote(model._meta.pk.column)
    columns = [model._meta.get_field(name) for name in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            assignments, params = [], []
            for column in columns:
                cast = column.cast_db_type(connection)
                whens = " ".join([f"WHEN %s THEN CAST(%s AS {cast})"] * len(batch))
                assignments.append(f"{quote(column.column)} = CASE {pk_column} {whens} END")
                for obj in batch:
                    value = column.get_db_prep_save(getattr(obj, column.attname), connection)
                    params += [obj.pk, value]
            placeholders = ", ".join(["%s"] * len(batch))
            params += [obj.pk for obj in batch]
            cursor.execute(
                f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608 - names are quoted
                f"WHERE {pk_column} IN ({placeholders})",
                params,
            )


def _json_changes(fields=None, m2m=None, inlines=None):
    return {
        "fields": {k: review.to_json(v) for k, v in (fields or {}).items()},
        "m2m": {k: sorted(v) for k, v in (m2m or {}).items()},
        "inlines": inlines or {},
    }


class Writer:
    """Collects creations and changes, then writes them in bulk with their history (counted by type).

    Four-eyes: new records are drafts; changes to drafts are saved directly;
    changes to published records become pending revisions (:meth:`propose`),
    unless ``publish`` (the operator's ``--publish``): then every record it
    writes goes live through :func:`curation.review.publish_as_operator` as it
    is written: the review service sets the publication, the writer the rows.
    """

    def __init__(self, *, user, reason: str, publish: bool, now, counts: Counts):
        self.user, self.reason, self.publish, self.now = user, reason, publish, now
        self.counts = counts
        self.history = {"default_user": user, "default_change_reason": reason, "default_date": now}

    def prepare_new(self, obj):
        """A new record, as a draft the importer wrote (saved by :meth:`create` or :meth:`save`)."""
        review.mark_edited(obj, user=self.user, at=self.now, is_new=True)
        return obj

    def route(self, obj) -> str:
        """How a change to an existing record is written: "direct" or "propose" (four-eyes)."""
        if self.publish or not obj.is_published:
            return "direct"
        return "propose"

    def apply_direct(self, obj, fields: dict) -> list[str]:
        """Set the changed values; return the field names to save."""
        for attname, value in fields.items():
            setattr(obj, attname, value)
        return [*fields, *review.mark_edited(obj, user=self.user, at=self.now)]

    def _write(self, objs, write):
        """``write(objs)``; with ``publish``, through the review service, which puts them live as it is done."""
        if self.publish:
            review.publish_as_operator(objs, reason=self.reason, user=self.user, at=self.now, save=write)
        else:
            write(objs)

    def save(self, obj):
        """Save one record (the file's source, the regime) with its history row.

        Dated ``now``, as the rows written in bulk are: a licence is public at its row's instant only if its
        source and regime were (history.as_of.public_then), so a row dated at the save, a moment after the
        import's other rows, would leave every licence of a published import out of the change feed.
        """
        obj._change_reason, obj._history_user, obj._history_date = self.reason, self.user, self.now
        self._write([obj], lambda objs: obj.save())

    def create(self, model, objs, m2m_of=None):
        """Insert new records, then their many-to-many sets (``m2m_of(obj)`` gives them), then history."""
        if not objs:
            return []
        self._write(objs, lambda records: self._insert(model, records, m2m_of))
        return objs

    def _insert(self, model, objs, m2m_of):
        created = model.objects.bulk_create(objs)
        self.counts.created_by_type[model] += len(created)
        sets = {}
        if m2m_of:
            for obj in created:
                for name, ids in m2m_of(obj).items():
                    sets.setdefault(name, {})[obj.pk] = ids
            for name, values in sets.items():
                set_m2m(model, name, values)
        rows = model.history.bulk_history_create(created, **self.history)
        _write_m2m_history(model, rows, set(sets))

    def update(self, model, objs, names, m2m_fields=()):
        """Save changed records (their many-to-many sets already written) with their history."""
        if not objs:
            return
        names = {*names, *(review.PUBLICATION_FIELDS if self.publish else ())}
        self._write(objs, lambda records: self._save_changes(model, records, sorted(names), m2m_fields))

    def _save_changes(self, model, objs, names, m2m_fields):
        fast_bulk_update(model, objs, names)
        self.counts.updated_by_type[model] += len(objs)
        rows = model.history.bulk_history_create(objs, update=True, **self.history)
        _write_m2m_history(model, rows, set(m2m_fields))

    def write_changes(self, changes: Changes, m2m_fields=()):
        """Save the direct changes ``changes`` collected (:meth:`update`)."""
        self.update(changes.model, changes.direct, changes.names, m2m_fields)

    def propose(self, model, proposals, summary: str, m2m_of=None, citations_of=None):
        """Pending revisions for changes to published records, skipping ones already proposed."""
        if not proposals:
            return
        types = ContentType.objects.get_for_models(model)
        pending = defaultdict(list)
        for revision in Revision.objects.pending().filter(author=self.user, content_type=types[model]):
            pending[revision.object_id].append(revision.changes)
        for obj, fields in proposals:
            changes = _json_changes(fields, (m2m_of or {}).get(obj.pk), (citations_of or {}).get(obj.pk))
            if not any(changes.values()) or changes in pending.get(obj.pk, []):
                continue
            review.propose(
                obj,
                author=self.user,
                reason=self.reason,
                base_version=obj.version,
                fields=changes["fields"],
                m2m=changes["m2m"],
                inlines=changes["inlines"],
                summary=summary,
            )
            self.counts.proposed += 1

    def cite(self, model, target_field: str, wanted: dict[int, dict[str, dict]], *, source, register: str, deferred=()):
        """Point each record's citations of the register titled ``register`` at ``source`` (this snapshot).

        ``wanted`` maps a record's pk to ``{supports: {"states", "quote", "locator"}}``.
        Existing citations of earlier snapshots of the same register are updated in
        place (the history keeps the old ones); records in ``deferred`` get theirs
        through their pending revision instead. Returns {pk: inline changes} for those.
        """
        existing = defaultdict(dict)
        # Each citation's source without the file's archived text: a re-import reads a citation per fact of every
        # record (5,500 of the OTHER file's papers), and each would otherwise carry the whole file (140 kB).
        rows = (
            model.objects.filter(
                **{f"{target_field}_id__in": list(wanted)},
                source__publisher=PUBLISHER,
                source__title__startswith=register,
            )
            .select_related("source")
            .defer("source__archived_text", "source__notes")
        )
        # Of several citations of the same fact, this snapshot's own wins (see keep_published below).
        for citation in sorted(rows, key=lambda row: row.source_id == source.pk):
            existing[getattr(citation, f"{target_field}_id")][citation.supports] = citation
        new, changed, inline = [], [], {}
        label = model._meta.label_lower
        for pk, facts in wanted.items():
            for supports, values in facts.items():
                states = values["states"] if len(values["states"]) <= 300 else values["states"][:299] + "…"
                values = {**values, "states": states, "locator": values["locator"][:200]}
                citation = existing[pk].get(supports)
                same = citation is not None and citation.source_id == source.pk
                if same and all(getattr(citation, k) == v for k, v in values.items()):
                    continue
                if pk in deferred:
                    ops = inline.setdefault(pk, {label: {"create": [], "update": {}}})[label]
                    if citation is None:
                        ops["create"].append({"source_id": source.pk, "supports": supports, **values})
                    else:
                        ops["update"][str(citation.pk)] = {"source_id": source.pk, **values}
                    continue
                if citation is None or keep_published(citation, source):
                    new.append(model(**{f"{target_field}_id": pk}, source=source, supports=supports, **values))
                else:
                    citation.source = source
                    for key, value in values.items():
                        setattr(citation, key, value)
                    changed.append(citation)
        if new:
            bulk_create_with_history(new, model, **self.history)
        if changed:
            fast_bulk_update(model, changed, ["source", "states", "quote", "locator"])
            model.history.bulk_history_create(changed, update=True, **self.history)
        return inline

    def confirm_verified(self, model, objs, on):
        """Records an official register lists again on ``on``, whose facts did not change: verified then."""
        if objs:
            review.confirm_verified(model, [obj.pk for obj in objs], on, user=self.user, reason=self.reason)


def keep_published(citation, source) -> bool:
    """Whether a citation of a published snapshot must stay beside a new citation of ``source``, rather than be
    pointed at it: while ``source`` (an import without ``--publish``) is a draft, the record's published
    citation is what keeps it public (a licence cites at least one published source), so moving it would take
    the licence off the site until a reviewer publishes the snapshot."""
    return citation.source_id != source.pk and citation.source.is_published and not source.is_published


class Changes:
    """Changes to existing records of one model, routed as the writer routes them: written directly (drafts,
    or every record with ``publish``) or proposed for review (published records)."""

    def __init__(self, writer: Writer, model):
        self.writer, self.model = writer, model
        self.direct, self.names, self.proposed = [], set(), []

    def add(self, obj, changes: dict, *, also: bool = False, along: dict | None = None) -> str | None:
        """Route ``obj``'s ``changes``: "direct", "propose", or None when there is nothing to write.

        ``also``: the caller writes other changes of it itself (its many-to-many sets); ``along``: values
        written with a change but none on their own (a licence's last verification date).
        """
        if not (changes or also or (self.writer.publish and not obj.is_published)):
            return None
        changes = {**changes, **(along or {})}
        route = self.writer.route(obj)
        if route == "direct":
            self.names.update(self.writer.apply_direct(obj, changes))
            self.direct.append(obj)
        else:
            self.proposed.append((obj, changes))
        return route
