"""Four-eyes publishing: the one place that decides how a curated record changes.

No single account can put a fact live alone:

* a new record starts as a draft; it goes live only when a reviewer other than
  its last editor publishes it (:func:`publish`), and the public sees it only
  once the records its visibility depends on are published too (a licence's
  holder, regime, regulator, a cited source): :func:`draft_dependencies` lists
  the drafts it waits for, which :func:`publish` can put live with it;
* an edit to a published record is kept aside as a pending :class:`Revision`
  (:func:`propose`, or :func:`propose_edit` from an editor's copy) until a
  different reviewer approves it (:func:`approve`); meanwhile the public keeps
  seeing the last approved version;
* every save names its editor and the reason given, which the change history
  (django-simple-history) records;
* a save made from an out-of-date copy is refused (:func:`check_version`), so
  two people editing at once never overwrite each other silently;
* a deleted record comes back only as a draft a reviewer restored
  (:func:`restore`), to be published again;
* an operator's command (the ESMA importer's ``--publish``) puts records live
  through :func:`publish_as_operator`, under the same visibility rules, with
  its reason in the history and no account named as publisher;
* an official register listing a record again verifies it
  (:func:`confirm_verified`): not an edit, so no review.

Each refusal is one check here: :func:`publish_refusal`,
:func:`unpublish_refusal` and :func:`decision_refusal` say it to the admin
before the action, and the action raises it.

The admin, the bulk importer and the official-register importers all call
these functions; none of them change publication state on their own.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from simple_history.utils import get_m2m_reverse_field_name

from registry.models import VISIBILITY_RULES, Publication, Revision, RevisionStatus, Source, path_model, visibility_rule
from watch import outbox


class ConflictError(ValidationError):
    """The record changed since the editor loaded it."""


def can_review(user) -> bool:
    """Reviewers (and superusers) may publish, unpublish and decide on revisions."""
    return bool(user and user.is_active and user.has_perm("registry.review"))


def message_of(exc) -> str:
    """The message of a refusal (a PermissionDenied or ValidationError), as one line."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def _refuse(check, *args):
    """Raise what ``check(*args)`` refuses, if anything."""
    refusal = check(*args)
    if refusal is not None:
        raise refusal


def _publish_check(obj, user):
    if not can_review(user):
        return PermissionDenied("Only a reviewer can publish or unpublish.")
    if obj.is_published:
        return ValidationError("It is already published.", code="published")
    if obj.last_edited_by_id and obj.last_edited_by_id == user.pk:
        return PermissionDenied("You made the last edit to this record: another reviewer must publish it.")
    return None


def _unpublish_check(obj, user):
    if not can_review(user):
        return PermissionDenied("Only a reviewer can publish or unpublish.")
    if not obj.is_published:
        return ValidationError("It is a draft already.", code="draft")
    return None


def publish_refusal(obj, user) -> str:
    """Why ``user`` may not publish ``obj`` now (the four-eyes rules), or "" when they may."""
    refusal = _publish_check(obj, user)
    return message_of(refusal) if refusal else ""


def unpublish_refusal(obj, user) -> str:
    """Why ``user`` may not return ``obj`` to draft now, or "" when they may."""
    refusal = _unpublish_check(obj, user)
    return message_of(refusal) if refusal else ""


def is_public(obj) -> bool:
    """What the public site decides: the record's model's ``published()``, not its own status alone."""
    return type(obj)._default_manager.published().filter(pk=obj.pk).exists()


def stored_as_published(obj) -> bool:
    """Whether the stored copy of ``obj`` is published: an edit of it is then proposed, never saved."""
    stored = type(obj)._base_manager.filter(pk=obj.pk).values_list("publication_status", flat=True).first()
    return stored == Publication.PUBLISHED


def changes_since(obj, base_version: int) -> list[tuple[str, object, object]]:
    """(field, value in the editor's copy, value now) for each field changed after ``base_version``.

    Read from the change history, so the editor sees exactly what someone else
    changed in between.
    """
    history = type(obj).history.filter(id=obj.pk).order_by("history_date", "history_id")
    rows = list(history)
    base = next((row for row in reversed(rows) if row.version == base_version), None)
    current = rows[-1] if rows else None
    if base is None or current is None or base.history_id == current.history_id:
        return []
    delta = current.diff_against(base, excluded_fields=["updated_at", "version", "last_edited_by", "published_at"])
    return [(change.field, change.old, change.new) for change in delta.changes]


def check_version(obj, base_version: int) -> None:
    """Refuse a save made from version ``base_version`` when the stored record is newer.

    Locks the row for the rest of the transaction (PostgreSQL; SQLite's
    IMMEDIATE transactions already serialise writers), so the check and the
    save cannot be interleaved with another editor's.
    """
    model = type(obj)
    current = model._base_manager.select_for_update().filter(pk=obj.pk).values_list("version", flat=True).first()
    if current is None or current == base_version:
        return
    changed = changes_since(obj, base_version)
    detail = "; ".join(f"{field}: {old!r} → {new!r}" for field, old, new in changed) or "see its history"
    raise ConflictError(
        "Someone else saved this record after you opened it (version %(base)s, now %(current)s). "
        "Your changes were not saved. What changed in between: %(detail)s. Reload the page and make your "
        "edit again.",
        code="conflict",
        params={"base": base_version, "current": current, "detail": detail},
    )


def save_edit(obj, *, user, reason: str, base_version: int | None = None, is_new: bool = False):
    """Save a draft (new or existing) as ``user``'s edit.

    A published record is never saved through here: use :func:`propose`.
    Whoever creates a record, it starts as a draft.
    """
    with transaction.atomic():
        if is_new:
            obj.publication_status = Publication.DRAFT
            obj.published_by = None
            obj.published_at = None
        else:
            if stored_as_published(obj):
                raise PermissionDenied("This record is published: propose the change for review instead.")
            if base_version is not None:
                check_version(obj, base_version)
            # A draft stays a draft however the form was filled in.
            obj.publication_status = Publication.DRAFT
        obj.last_edited_by = user
        obj._change_reason = reason
        obj.save()
    return obj


# ---------------------------------------------------------------------------
# Publishing: what a record waits for, and what goes live with it
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Dependency:
    """A draft another record waits for; ``role`` is the relation that names it ("holder", "regime", "source")."""

    record: models.Model
    role: str

    def __str__(self):
        return f"{self.role} “{self.record}”"


def _related_pk(obj, path):
    """The primary key of the record ``path`` ("holder", "license_type__regime") names from ``obj``, or None."""
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, type(obj)._meta.get_field(last).attname)


def _key(record):
    return (record._meta.label, record.pk)


def draft_dependencies(obj) -> list[Dependency]:
    """The drafts ``obj``'s public visibility waits for, besides its own publication.

    Read from its model's :class:`~registry.models.VisibilityRule` (the rule of
    its ``published()``), against the database as it stands: a licence's
    holder, regime and regulator when they are drafts, and its cited sources
    when none of them is published (any one of those is enough). Once ``obj``
    and every record listed are published, ``obj`` is public, provided it cites
    a source at all (the admin saves no licence or audit without one; see
    :func:`becomes_public`).
    """
    model = type(obj)
    rule = visibility_rule(model)
    found = []
    for path in (*rule.requires, *rule.optional):
        pk = _related_pk(obj, path)
        related = path_model(model, path)
        draft = related._base_manager.filter(pk=pk, publication_status=Publication.DRAFT).first() if pk else None
        if draft is not None:
            found.append(Dependency(draft, path.rsplit("__", 1)[-1].replace("_", " ")))
    if rule.cited_by:
        citations = getattr(obj, rule.cited_by).select_related("source").order_by("pk")
        sources = list(dict.fromkeys(citation.source for citation in citations))
        if not any(source.is_published for source in sources):
            found += [Dependency(source, "source") for source in sources]
    return found


def becomes_public(obj, together=()) -> bool:
    """Whether ``obj`` is public once it and the drafts in ``together`` are published (by the same rule)."""
    rule = visibility_rule(type(obj))
    if rule.cited_by and not getattr(obj, rule.cited_by).exists():
        return False
    chosen = {_key(record) for record in together}
    waiting = draft_dependencies(obj)
    records = {_key(d.record) for d in waiting if d.role != "source"}
    sources = {_key(d.record) for d in waiting if d.role == "source"}
    return records <= chosen and (not sources or bool(sources & chosen))


def _put_live(obj, reviewer, reason):
    obj.publication_status = Publication.PUBLISHED
    obj.published_by = reviewer
    obj.published_at = timezone.now()
    obj._change_reason = reason
    obj.save()


def publish(obj, *, reviewer, reason: str = "Published after review", together=()):
    """Put a draft live, and with it ``together``: drafts it waits for (see :func:`draft_dependencies`).

    The reviewer must not be the last editor of any of them: if they are of
    one, nothing is published. One transaction, the drafts first. Published
    records that become public through it (the holder's other licences) get a
    history row now, so the change feed and the as-of view date their going
    live to this moment.
    """
    _refuse(_publish_check, obj, reviewer)
    waiting = {_key(d.record): d.record for d in draft_dependencies(obj)}
    drafts = []
    for record in together:
        if _key(record) not in waiting:
            raise ValidationError(
                "“%(record)s” is not a draft this record waits for.", code="not_waited_for", params={"record": record}
            )
        drafts.append(waiting.pop(_key(record)))
    for record in drafts:
        if record.last_edited_by_id and record.last_edited_by_id == reviewer.pk:
            raise PermissionDenied(
                f"You made the last edit to “{record}”: another reviewer must publish it. Nothing was published."
            )
    # Watchers are told of what went public, in this transaction (watch/outbox.py).
    with transaction.atomic(), outbox.recording():
        hidden = _dependants([*drafts, obj], public=False)
        for record in drafts:
            _put_live(record, reviewer, f"Published with “{obj}”: {reason}")
        _put_live(obj, reviewer, reason)
        _record_visibility_changes(hidden, public=True, user=reviewer)
    return obj


# What putting a record live sets (on top of its edit): for writers that name the fields they save.
PUBLICATION_FIELDS = ("publication_status", "published_by", "published_at")


def publish_as_operator(records, *, reason: str, user, at=None, save=None):
    """Put ``records`` live on an operator's authority: the ESMA importer's ``--publish``.

    No reviewer check and no four-eyes check: an operator's command stands in
    for the reviewer (only operators run management commands; the admin's
    upload offers it to reviewers only), so no account is named as publisher
    (``published_by`` stays empty, as for records ``loaddata`` loads, which the
    four-eyes constraint allows) and ``reason``, which should say so, is each
    record's history reason. ``user`` is the account the history names as
    editor (the importer's system account).

    The visibility rules are :func:`publish`'s: a record that waits for drafts
    not among ``records`` is published but not public until they are
    (:func:`draft_dependencies`), and published records that become public
    through ``records`` (a curator's licences of a holder the import
    publishes) get a history row now.

    ``records`` are drafts, new or stored, or published records the operator
    changed: those are stamped as put live again, at ``at`` (default now).
    ``save(records)`` writes them with one history row each carrying
    ``reason`` (the importer writes in bulk); by default each is saved in turn.
    The number of queries, besides ``save``'s, does not grow with ``records``.
    """
    if not reason:
        raise ValidationError("Say why the records are published: the history keeps the reason.")
    records = list(records)
    at = at or timezone.now()
    with transaction.atomic(), outbox.recording():
        hidden = _dependants([r for r in records if r.pk is not None and not r.is_published], public=False)
        for record in records:
            record.publication_status = Publication.PUBLISHED
            record.published_by = None
            record.published_at = at
        if save is None:
            for record in records:
                record._change_reason = reason
                record._history_user = user
                record.save()
        else:
            save(records)
        _record_visibility_changes(hidden, public=True, user=user)
    return records


def mark_edited(obj, *, user, at, is_new: bool = False) -> list[str]:
    """Mark ``obj`` (not saved) as ``user``'s edit made at ``at``, for a writer that saves in bulk without
    ``save()`` (the ESMA importer): a new record is a draft, as :func:`save_edit` makes it; an existing one's
    version is raised, as a save raises it. Returns the names of the fields set."""
    obj.last_edited_by = user
    obj.updated_at = at
    if is_new:
        obj.created_at = at
        obj.publication_status = Publication.DRAFT
        return ["last_edited_by", "updated_at", "created_at", "publication_status"]
    obj.version = (obj.version or 0) + 1
    return ["version", "updated_at", "last_edited_by"]


def mark_decided(obj, *, author, reviewer, at=None):
    """Mark ``obj`` (not saved) as changed by ``reviewer``'s decision on what ``author`` proposed (accepting a
    proposed match), as :func:`approve` marks a revision it applies: ``author`` is the editor and, when ``obj``
    is published, ``reviewer`` puts this version live at ``at`` (default now). A draft stays a draft."""
    obj.last_edited_by = author
    if obj.is_published:
        obj.published_by, obj.published_at = reviewer, at or timezone.now()
    return obj


def confirm_verified(model, pks, on: datetime.date, *, user, reason: str) -> list:
    """Record that a source lists the ``model`` records ``pks`` again on ``on`` (an official register's
    snapshot): their ``last_verified_on`` moves to ``on`` where it is earlier or unset, never back.

    Not an edit, so no four-eyes: no fact changes, the version stays (an editor's open copy and a pending
    revision stay valid) and a published record stays live. Each record moved gets a history row
    (:func:`add_history`), so the as-of view and the change feed see the date move. Returns their keys.
    """
    moved = []
    for chunk in _chunks(list(pks)):
        rows = model._base_manager.filter(models.Q(last_verified_on__isnull=True) | models.Q(last_verified_on__lt=on))
        ids = list(rows.filter(pk__in=chunk).values_list("pk", flat=True))
        if ids:
            model._base_manager.filter(pk__in=ids).update(last_verified_on=on)
            add_history(model, dict.fromkeys(ids, reason), user=user)
        moved += ids
    return moved


def unpublish(obj, *, reviewer, reason: str):
    """Take a record off the public site (it stays, as a draft, with its history).

    Published records that were public through it (a holder's licences) get a
    history row now, as :func:`publish` gives them when they go live.
    """
    _refuse(_unpublish_check, obj, reviewer)
    if not reason:
        raise ValidationError("Say why the record is taken off the public site.")
    with transaction.atomic(), outbox.recording():
        public = _dependants([obj], public=True)
        obj.publication_status = Publication.DRAFT
        obj.last_edited_by = reviewer
        obj.published_by = None
        obj.published_at = None
        obj._change_reason = reason
        obj.save()
        _record_visibility_changes(public, public=False, user=reviewer)
    return obj


def _dependants(records, *, public: bool) -> dict:
    """``{(model, pk): [records]}``: the published records whose visibility rule names one of ``records``
    (licences of a holder, audits citing a source) and which are public now (``public``) or are not.

    A query per relation of each rule (and per :data:`BATCH_SIZE` records), however many records.
    """
    order = {_key(record): index for index, record in enumerate(records)}
    by_key = {_key(record): record for record in records}
    found = defaultdict(list)
    for name, rule in VISIBILITY_RULES.items():
        model = apps.get_model("registry", name)
        visible = model._default_manager.published().values("pk")
        relations = [(path, path_model(model, path)) for path in (*rule.requires, *rule.optional)]
        if rule.cited_by:
            relations.append((f"{rule.cited_by}__source", Source))
        for lookup, related in relations:
            pks = [record.pk for record in records if isinstance(record, related)]
            for chunk in _chunks(pks):
                candidates = model._base_manager.filter(
                    **{f"{lookup}__in": chunk}, publication_status=Publication.PUBLISHED
                )
                candidates = candidates.filter(pk__in=visible) if public else candidates.exclude(pk__in=visible)
                for pk, cause in candidates.order_by().values_list("pk", lookup).distinct():
                    found[(model, pk)].append(by_key[(related._meta.label, cause)])
    # Each record once, in the order given: the history reason names them so.
    return {key: sorted(set(causes), key=lambda record: order[_key(record)]) for key, causes in found.items()}


def _names(records) -> str:
    names = [f"“{record}”" for record in records]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _record_visibility_changes(watched, *, public: bool, user):
    """A history row for each record of ``watched`` (see :func:`_dependants`) that is now ``public``, or no longer."""
    by_model = defaultdict(dict)
    for (model, pk), causes in watched.items():
        by_model[model][pk] = causes
    for model, causes in by_model.items():
        visible = set()
        for chunk in _chunks(list(causes)):
            visible.update(model._default_manager.published().filter(pk__in=chunk).values_list("pk", flat=True))
        reasons = {}
        for pk, records in causes.items():
            if (pk in visible) != public:
                continue
            verb = "was" if len(records) == 1 else "were"
            if public:
                reasons[pk] = f"Public since {_names(records)} {verb} published"
            else:
                reasons[pk] = f"No longer public: {_names(records)} {verb} returned to draft"
        for chunk in _chunks(list(reasons)):
            add_history(model, {pk: reasons[pk] for pk in chunk}, user=user)


# Publishing a source may make thousands of records public; a database takes only so many parameters a query.
BATCH_SIZE = 500


def _chunks(items):
    for start in range(0, len(items), BATCH_SIZE):
        yield items[start : start + BATCH_SIZE]


def add_history(model, reasons: dict, *, user):
    """A history row ("~") for each ``model`` record in ``reasons`` (``{pk: reason}``), as it stands now.

    The record itself is not saved, so its version stays and no editor's open
    copy of it goes out of date. The rows carry the many-to-many snapshots
    simple-history takes on a save.
    """
    objs = list(model._base_manager.filter(pk__in=list(reasons)).order_by("pk"))
    for obj in objs:
        obj._change_reason = reasons[obj.pk]
        obj._history_user = user
    history_model = model.history.model
    rows = model.history.bulk_history_create(objs, update=True, default_user=user)
    for field in history_model._history_m2m_fields:
        through = field.remote_field.through
        snapshot = next(
            rel.related_model
            for rel in history_model._meta.related_objects
            if getattr(rel.related_model, "instance_type", None) is through
        )
        own = field.m2m_field_name()
        links = defaultdict(list)
        for link in through.objects.filter(**{f"{own}__in": list(reasons)}):
            links[getattr(link, f"{own}_id")].append(link)
        snapshot.objects.bulk_create(
            [
                snapshot(history=row, **{f.attname: getattr(link, f.attname) for f in through._meta.fields})
                for row in rows
                for link in links[row.id]
            ]
        )
    return rows


# ---------------------------------------------------------------------------
# Revisions of published records
# ---------------------------------------------------------------------------


def to_json(value):
    """A field value as JSON (dates and decimals as ISO strings)."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def field_values(obj, names) -> dict:
    """``{attname: JSON value}`` for the named concrete fields of ``obj``."""
    result = {}
    for name in names:
        field = obj._meta.get_field(name)
        result[field.attname] = to_json(getattr(obj, field.attname))
    return result


def propose(
    obj,
    *,
    author,
    reason: str,
    base_version: int,
    fields: dict | None = None,
    m2m: dict | None = None,
    inlines: dict | None = None,
    summary: str = "",
):
    """Keep an edit to a published record aside for review; the record itself is untouched.

    ``fields`` maps attnames to JSON values, ``m2m`` field names to lists of
    primary keys, and ``inlines`` a related model label to
    ``{"create": [values], "update": {pk: values}, "delete": [pk]}``.
    """
    if not reason:
        raise ValidationError("Say why you make this change: the reviewer and the history need it.")
    check_version(obj, base_version)
    changes = {"fields": fields or {}, "m2m": m2m or {}, "inlines": inlines or {}}
    if not any(changes.values()):
        raise ValidationError("Nothing changed.")
    return Revision.objects.create(
        target=obj, base_version=base_version, changes=changes, summary=summary, reason=reason, author=author
    )


def _concrete_names(model, names) -> list[str]:
    """Of ``names``, those of ``model``'s concrete fields that hold a value (not its key, not many-to-many)."""
    result = []
    for name in names:
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            continue
        if field.concrete and not field.many_to_many and not field.primary_key:
            result.append(name)
    return result


def changed_values(stored, edited, names) -> dict:
    """``{attname: JSON value}`` of ``edited`` for the named concrete fields whose value differs from ``stored``
    (None: a row not stored yet, every named field)."""
    names = _concrete_names(type(edited), names)
    proposed = field_values(edited, names)
    current = field_values(stored, names) if stored is not None else {}
    return {attname: value for attname, value in proposed.items() if current.get(attname, object()) != value}


@dataclass(frozen=True)
class RowEdits:
    """An editor's changes to the rows of one model that belong to a record (its citations, its aliases).

    ``created`` and ``changed`` pair a row holding the editor's values (not
    saved) with the names of the fields the editor filled in or changed;
    ``deleted`` lists primary keys.
    """

    model: type[models.Model]
    created: tuple = ()
    changed: tuple = ()
    deleted: tuple = ()

    def operations(self, parent_model) -> dict:
        """As :func:`propose` takes them: ``{"create": [...], "update": {pk: ...}, "delete": [...]}``, without
        the row's link to its record (the revision's own) nor what is unchanged."""
        link = _parent_field(self.model, parent_model)
        create = [changed_values(None, row, [n for n in names if n != link]) for row, names in self.created]
        update = {}
        for row, names in self.changed:
            stored = self.model._base_manager.filter(pk=row.pk).first()
            values = changed_values(stored, row, [n for n in names if n != link])
            if values:
                update[str(row.pk)] = values
        operations = {"create": create, "update": update, "delete": list(self.deleted)}
        return {key: value for key, value in operations.items() if value}


def _parent_field(model, parent_model) -> str:
    """The name of ``model``'s link to the record its rows belong to (a citation's ``license``)."""
    return next(f.name for f in model._meta.concrete_fields if f.is_relation and f.related_model is parent_model)


def summary_of(obj, changes) -> str:
    """A revision's changes as lines "field: current → proposed" (:func:`describe`), for lists and searches."""
    return "\n".join(
        f"{label}: {current or '—'} → {proposed or '—'}" for label, current, proposed in describe(obj, changes)
    )


def propose_edit(edited, *, author, reason: str, base_version: int, fields=(), m2m=None, rows=()):
    """Propose an editor's copy of a published record for review: the admin's change form, saved.

    ``edited`` holds the editor's values (it is not saved); ``fields`` names
    the fields the editor changed; ``m2m`` maps many-to-many fields to the
    records chosen; ``rows`` are :class:`RowEdits` of the rows that belong to
    it. Only what differs from the stored record is proposed (see
    :func:`propose`); None when nothing does.
    """
    model = type(edited)
    stored = model._base_manager.get(pk=edited.pk)
    changes = {"fields": changed_values(stored, edited, fields), "m2m": {}, "inlines": {}}
    for name, chosen in (m2m or {}).items():
        proposed = sorted(item.pk for item in chosen)
        if proposed != sorted(getattr(stored, name).values_list("pk", flat=True)):
            changes["m2m"][name] = proposed
    for edits in rows:
        operations = edits.operations(model)
        if operations:
            changes["inlines"][edits.model._meta.label] = operations
    if not any(changes.values()):
        return None
    return propose(
        stored,
        author=author,
        reason=reason,
        base_version=base_version,
        summary=summary_of(stored, changes),
        **changes,
    )


def _decide(revision, reviewer, status, note):
    revision.status = status
    revision.reviewer = reviewer
    revision.reviewed_at = timezone.now()
    revision.review_note = note
    revision.save()


def _decision_check(revision, user):
    if not can_review(user):
        return PermissionDenied("Only a reviewer can approve or reject a change.")
    if revision.author_id == user.pk:
        return PermissionDenied("You proposed this change: another reviewer must decide on it.")
    if revision.status != RevisionStatus.PENDING:
        return ValidationError("This change has already been decided.", code="decided")
    return None


def target_of(revision):
    """The record ``revision`` changes, or None when it was deleted since."""
    return revision.content_type.model_class()._base_manager.filter(pk=revision.object_id).first()


def decision_refusal(revision, user, target=None) -> str:
    """Why ``user`` may not approve or reject ``revision`` now, or "" when they may.

    ``target`` is the revision's record when the caller has it (:func:`target_of`).
    """
    refusal = _decision_check(revision, user)
    if refusal is not None:
        return message_of(refusal)
    if (target or target_of(revision)) is None:
        return "The record was deleted: this change cannot be applied."
    return ""


def approve(revision, *, reviewer, note: str = ""):
    """Apply a pending revision to its record and keep the record published.

    Raises ObjectDoesNotExist when the record was deleted since.
    """
    _refuse(_decision_check, revision, reviewer)
    with transaction.atomic(), outbox.recording():
        model = revision.content_type.model_class()
        obj = model._base_manager.select_for_update().get(pk=revision.object_id)
        if obj.version != revision.base_version:
            changed = changes_since(obj, revision.base_version)
            names = ", ".join(field for field, _, _ in changed) or "other fields"
            raise ConflictError(
                "The record changed after this edit was proposed (%(names)s). Reject it and ask for a new edit.",
                code="conflict",
                params={"names": names},
            )
        apply_changes(obj, revision.changes)
        obj.last_edited_by = revision.author
        obj.published_by = reviewer
        obj.published_at = timezone.now()
        obj.publication_status = Publication.PUBLISHED
        obj._change_reason = revision.reason
        obj.full_clean()
        obj.save()
        cited = bool(visibility_rule(type(obj)).cited_by)
        public = cited and is_public(obj)
        apply_related_changes(obj, revision.changes, reason=revision.reason, user=revision.author)
        if cited and is_public(obj) != public:
            # Its citations, saved after it, made it public (or hidden): a row of its own dates that.
            add_history(type(obj), {obj.pk: revision.reason}, user=reviewer)
        _decide(revision, reviewer, RevisionStatus.APPROVED, note)
    return obj


def reject(revision, *, reviewer, note: str):
    """Turn down a pending revision; the record stays as it is."""
    _refuse(_decision_check, revision, reviewer)
    if not note:
        raise ValidationError("Say why the change is rejected, so its author can act on it.")
    _decide(revision, reviewer, RevisionStatus.REJECTED, note)
    return revision


def apply_changes(obj, changes):
    """Set the proposed field values on ``obj`` (not saved)."""
    for attname, value in changes.get("fields", {}).items():
        field = next(f for f in obj._meta.concrete_fields if f.attname == attname)
        setattr(obj, attname, field.to_python(value) if value is not None else None)


def apply_related_changes(obj, changes, *, reason, user):
    """Apply the proposed many-to-many sets and inline rows of a saved ``obj``."""
    for name, pks in changes.get("m2m", {}).items():
        getattr(obj, name).set(pks)
    for label, operations in changes.get("inlines", {}).items():
        model = obj._meta.apps.get_model(label)
        parent_field = _parent_field(model, type(obj))
        for pk in operations.get("delete", []):
            row = model._base_manager.filter(pk=pk, **{parent_field: obj}).first()
            if row is not None:
                row._change_reason = reason
                row._history_user = user
                row.delete()
        for pk, values in operations.get("update", {}).items():
            row = model._base_manager.get(pk=pk, **{parent_field: obj})
            apply_changes(row, {"fields": values})
            row._change_reason = reason
            row._history_user = user
            row.full_clean()
            row.save()
        for values in operations.get("create", []):
            row = model(**{parent_field: obj})
            apply_changes(row, {"fields": values})
            row._change_reason = reason
            row._history_user = user
            row.full_clean()
            row.save()


def describe(obj, changes) -> list[tuple[str, str, str]]:
    """(field label, current value, proposed value) for each proposed field change, for reviewers."""
    rows = []
    for attname, value in changes.get("fields", {}).items():
        field = next(f for f in obj._meta.concrete_fields if f.attname == attname)
        current = getattr(obj, attname)
        proposed = field.to_python(value) if value is not None else None
        if field.is_relation:
            model = field.related_model
            current = model._base_manager.filter(pk=current).first() if current is not None else None
            proposed = model._base_manager.filter(pk=proposed).first() if proposed is not None else None
        rows.append(
            (
                str(field.verbose_name),
                "" if current is None else str(current),
                "" if proposed is None else str(proposed),
            )
        )
    for name, pks in changes.get("m2m", {}).items():
        field = obj._meta.get_field(name)
        current = ", ".join(sorted(str(x) for x in getattr(obj, name).all()))
        proposed = ", ".join(sorted(str(x) for x in field.related_model._base_manager.filter(pk__in=pks)))
        if current != proposed:
            rows.append((str(field.verbose_name), current, proposed))
    for label, operations in changes.get("inlines", {}).items():
        model = obj._meta.apps.get_model(label)
        name = str(model._meta.verbose_name)
        for values in operations.get("create", []):
            rows.append((f"new {name}", "", ", ".join(f"{k}: {v}" for k, v in values.items() if v not in ("", None))))
        for pk, values in operations.get("update", {}).items():
            rows.append((f"{name} #{pk}", "", ", ".join(f"{k}: {v}" for k, v in values.items())))
        for pk in operations.get("delete", []):
            rows.append((f"{name} #{pk}", "present", "deleted"))
    return rows


# ---------------------------------------------------------------------------
# Deleted records
# ---------------------------------------------------------------------------

# Rows deleted with their record (its citations) are deleted within the same request.
CASCADE_WINDOW = datetime.timedelta(minutes=1)


def cascade_children(model):
    """``(model, link field)`` of each model whose rows are deleted with a ``model`` record (its citations, its
    aliases) and keep a history."""
    for relation in model._meta.related_objects:
        related = relation.related_model
        if relation.on_delete is models.CASCADE and not relation.many_to_many and hasattr(related, "history"):
            yield related, relation.field


def deleted_records(model) -> list:
    """The last history row of each ``model`` record deleted and not restored, newest first."""
    existing = model._base_manager.values("pk")
    rows, seen = [], set()
    deletions = model.history.filter(history_type="-").exclude(id__in=existing)
    for row in deletions.select_related("history_user").order_by("-history_date", "-history_id"):
        if row.id not in seen:
            seen.add(row.id)
            rows.append(row)
    return rows


def restore(row, *, user, reason: str):
    """Re-create a deleted record from its last history row ``row``, as a draft ``user`` edited.

    Reviewers only; it must be published again like any draft. Its
    many-to-many sets come back as they were before the deletion, and the rows
    deleted with it (its citations, its aliases) with it, each as it was;
    a row that no longer validates (its source is gone too) is left out.
    Returns the record and ``[(row label, why it was left out)]``.
    """
    if not can_review(user):
        raise PermissionDenied("Only a reviewer can restore a deleted record.")
    model = row.instance_type
    if model._base_manager.filter(pk=row.id).exists():
        raise ValidationError("This record exists already: it was restored before.", code="restored")
    if not reason:
        raise ValidationError("Say why the record is restored: the history keeps the reason.", code="no_reason")
    with transaction.atomic():
        obj = row.instance
        last_version = model.history.filter(id=row.id).aggregate(models.Max("version"))["version__max"]
        obj.version = (last_version or 0) + 1
        obj.publication_status = Publication.DRAFT
        obj.published_by = None
        obj.published_at = None
        obj.last_edited_by = user
        obj.full_clean()
        save_edit(obj, user=user, reason=reason, is_new=True)
        _restore_m2m(obj, row)
        skipped = []
        for related, link in cascade_children(model):
            skipped += _restore_children(related, link, row, user=user, reason=reason)
    return obj, skipped


def _restore_m2m(obj, row):
    """The many-to-many sets of ``obj`` as its last history row before the deletion ``row`` holds them."""
    model = type(obj)
    before = model.history.filter(id=row.id, history_date__lte=row.history_date).exclude(history_type="-")
    snapshot = before.order_by("-history_date", "-history_id").first()
    if snapshot is None:
        return
    for field in getattr(row, "_history_m2m_fields", []):
        target = get_m2m_reverse_field_name(field)
        pks = [getattr(item, f"{target}_id") for item in getattr(snapshot, field.name).all()]
        getattr(obj, field.name).set(field.related_model._base_manager.filter(pk__in=pks))


def _restore_children(related, link, row, *, user, reason) -> list[tuple[str, str]]:
    """Re-create the ``related`` rows deleted with the record of ``row``; ``[(label, why)]`` of those left out."""
    existing = related._base_manager.values("pk")
    window = (row.history_date - CASCADE_WINDOW, row.history_date + CASCADE_WINDOW)
    children = related.history.filter(history_type="-", history_date__range=window, **{link.attname: row.id})
    seen, skipped = set(), []
    for child_row in children.exclude(id__in=existing).order_by("-history_date", "-history_id"):
        if child_row.id in seen:
            continue
        seen.add(child_row.id)
        child = child_row.instance
        child._change_reason = reason
        child._history_user = user
        try:
            child.full_clean()
        except ValidationError as exc:
            skipped.append((f"{related._meta.verbose_name} #{child_row.id}", message_of(exc)))
            continue
        child.save()
    return skipped
