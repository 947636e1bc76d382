"""The public change history: the dated changes to published facts, read from django-simple-history.

Only what the public could see is ever shown, and from the moment it could:

* a history row of a record is listed when the record was public at that
  row's instant, by the as-of rule (:func:`history.as_of.public_then`: a
  licence published while its holder was a draft was not), and the record is
  visible today through its model's ``published()``, so nothing of a draft,
  or of a record since taken down, leaks;
* its action says what the public saw change: "published" when the record was
  not public at its row before and is at this one (its own publication, or
  that of a record it waited for: ``curation.review`` gives it a history row
  then), "unpublished" the reverse, "created" and "deleted", else "changed";
* two events are shown for records that are no longer visible, because the
  public saw the record before them: its deletion while public and its
  unpublishing. They carry the label of the last public snapshot and no
  link, and only when the records that label names (a licence's holder, an
  audit's subject) are published today;
* a citation's or alias's change shows as a change of its parent record, when
  the parent is visible today and was public when the change was made, and
  (for a citation) its source is published;
* editors are never named: ``history_user`` is never read.

Read it through four functions of :class:`Filters` (record types, a period, one
record, or an Atom feed's scopes): :func:`count`, :func:`select` (a slice),
:func:`page` (a slice and the count) and :func:`iterate` (every change, a chunk
at a time); :func:`changes_for` is a detail page's section. A slice is one UNION
query over every history table, to which each table gives only its newest rows
(as many as the slice needs, read along its index on ``history_date``); a count
is one query of one ``COUNT(*)`` per table; then the slice's rows, their previous
versions and the records they belong to are loaded with a fixed number of queries
per record type. :func:`iterate` walks the feed by key, never by offset.

The as-of rule costs a few index lookups per history row it is asked of (one
seek each into the history tables' "row at an instant" indexes, which hold
what the rule reads: registry.models.HistoricalRecords): a page asks it of
about a page of rows, a count of every row, which is why the list views cache
counts per data version.
"""

from __future__ import annotations

import calendar
import datetime
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, partial

from django.db import models
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
    prefetch_related_objects,
)
from django.db.models.lookups import IsNull
from django.utils import timezone

from history.as_of import cited_then, citing_then, named_public_now, public_then, was_public
from registry import prepared
from registry.dates import DatePrecision, PartialDate
from registry.models import (
    Audit,
    AuditCitation,
    AuditStatusChange,
    Entity,
    EntityAlias,
    EntityCitation,
    KeyPerson,
    KeyPersonCitation,
    License,
    LicenseCitation,
    LicenseType,
    Regime,
    Regulator,
    Source,
    WhitePaper,
    WhitePaperCitation,
    visibility_rule,
)
from registry.models.base import WORKFLOW_FIELDS

RECORD_TYPES = {
    "license": "Licence",
    "audit": "Audit",
    "entity": "Entity",
    "regulator": "Regulator",
    "regime": "Regime",
    "source": "Source",
    "keyperson": "Key person",
    "whitepaper": "White paper",
}

ACTIONS = {
    "created": "Created",
    "changed": "Changed",
    "published": "Published",
    "unpublished": "Unpublished",
    "deleted": "Deleted",
}

# Never listed as changed fields: the review workflow's own fields (becoming public or not shows as the entry's
# action, "published" or "unpublished"), plus two that the workflow does not set but that are not facts either:
# the primary key, and a source's digest of its archived text (recomputed on save; the text itself is listed).
BOOKKEEPING_FIELDS = {*WORKFLOW_FIELDS, "id", "sha256"}

DETAIL_PAGE_LIMIT = 25


def display_date(value: datetime.datetime | datetime.date) -> str:
    """``25 November 2026`` (a datetime is read in the site's time zone)."""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return f"{value.day} {calendar.month_name[value.month]} {value.year}"


# ---------------------------------------------------------------------------
# What a change looks like
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One changed field. ``old``/``new`` are display strings; None means the value is not shown."""

    field: str
    old: str | None = None
    new: str | None = None

    def __str__(self):
        if self.old is None and self.new is None:
            return f"{self.field} changed"
        if self.old is None:
            return f"{self.field}: {self.new or '—'}"
        if self.new is None:
            return f"{self.field}: {self.old or '—'}"
        return f"{self.field}: {self.old or '—'} → {self.new or '—'}"

    def as_dict(self):
        return {"field": self.field, "old": self.old, "new": self.new}


@dataclass
class Change:
    """A dated change of one public record, as the public may see it."""

    date: datetime.datetime
    record_type: str
    label: str
    url: str
    action: str
    reason: str = ""
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def record_type_display(self):
        return RECORD_TYPES[self.record_type]

    @property
    def action_display(self):
        return ACTIONS[self.action]

    @property
    def date_display(self):
        return display_date(self.date)

    @property
    def date_iso(self):
        """ISO 8601 in UTC: ``2026-11-25T14:03:07Z``."""
        return self.date.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------
# Labels and values, from current records or history snapshots alike
# ---------------------------------------------------------------------------


def _partial(obj, attname):
    value = getattr(obj, attname)
    if value is None:
        return None
    return PartialDate(value, getattr(obj, f"{attname}_precision") or DatePrecision.DAY)


def _label_license(obj):
    license_type = obj.license_type
    return f"{obj.holder.name}: {license_type.regime.short_name} {license_type.name}"


def _label_audit(obj):
    what = obj.standard.name if obj.standard_id else obj.get_kind_display()
    issued, started = _partial(obj, "issued_on"), _partial(obj, "period_start")
    when = f" ({issued})" if issued else (f" (since {started})" if obj.ongoing and started else "")
    return f"{obj.subject.name}: {what}{when}"


def _label_key_person(obj):
    return f"{obj.name}, {obj.role} ({obj.entity.name})"


def _is_public(obj) -> bool:
    """Whether a related record may be named: reference data always, a curated record when published now (the
    diffs name an entity, regime, regulator or source, whose ``published()`` asks nothing more)."""
    return getattr(obj, "is_published", True)


NOT_PUBLIC = "(not public)"


def _related_label(obj) -> str:
    if obj is None:
        return ""
    if not _is_public(obj):
        return NOT_PUBLIC
    if isinstance(obj, LicenseType):  # its regime may be a draft
        return f"{obj.regime.short_name} {obj.name}" if _is_public(obj.regime) else NOT_PUBLIC
    # What the record's pages call it: "Malta (MT)", "Malta Financial Services Authority (MFSA)", a name.
    return str(obj)


def _plain_value(model_field, value) -> str:
    if value is None or value == "":
        return ""
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime | datetime.date):
        return display_date(value)
    return str(value)


# ---------------------------------------------------------------------------
# Tracks: one per history table
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Track:
    """One history table and how its rows become public changes.

    A record's own track has ``parent_field`` None; a citation's or alias's
    track names the foreign key to the record its changes belong to.
    """

    key: str
    model: type[models.Model]
    record_type: str
    label: object = None
    related: tuple[str, ...] = ()
    parent_field: str | None = None
    parent_model: type[models.Model] | None = None
    child_name: str = ""
    # The target of a detail page: extra lookups on the history rows, by the target's model.
    target_lookups: tuple[tuple[type[models.Model], str], ...] = ()

    @cached_property
    def history(self):
        # ``Model.history`` builds a manager class each time it is read: read it once.
        return self.model.history.model

    @property
    def m2m_fields(self):
        return list(self.history._history_m2m_fields)

    def m2m_accessor(self, m2m_field):
        """The reverse accessor from a history row to its many-to-many snapshot rows."""
        through = m2m_field.remote_field.through
        return next(
            rel.get_accessor_name()
            for rel in self.history._meta.related_objects
            if getattr(rel.related_model, "instance_type", None) is through
        )

    def m2m_prefetches(self):
        lookups = []
        for m2m_field in self.m2m_fields:
            target = m2m_field.m2m_reverse_field_name()
            lookups.append(f"{self.m2m_accessor(m2m_field)}__{target}")
        return lookups


def _part_track(key, model, parent_field, child_name, related, target_lookups=()):
    """The track of a record's parts (citations, aliases, status changes): each change of one shows as a change
    of the record its foreign key ``parent_field`` names, under that record's type."""
    parent_model = model._meta.get_field(parent_field).related_model
    return Track(
        key,
        model,
        parent_model._meta.model_name,
        related=related,
        parent_field=parent_field,
        parent_model=parent_model,
        child_name=child_name,
        target_lookups=target_lookups,
    )


TRACKS = (
    Track(
        "license",
        License,
        "license",
        label=_label_license,
        related=("holder", "license_type__regime", "regulator", "jurisdiction"),
    ),
    _part_track(
        "license-citation",
        LicenseCitation,
        "license",
        "Citation",
        ("source", "license__holder", "license__license_type__regime"),
    ),
    Track("audit", Audit, "audit", label=_label_audit, related=("subject", "standard", "auditor")),
    _part_track("audit-citation", AuditCitation, "audit", "Citation", ("source", "audit__subject", "audit__standard")),
    # A certificate suspended, withdrawn or restored: a dated, cited change of its status (issue 17).
    _part_track(
        "audit-status-change",
        AuditStatusChange,
        "audit",
        "Status change",
        ("source", "audit__subject", "audit__standard"),
    ),
    Track("entity", Entity, "entity", label=lambda obj: obj.name, related=("parent", "jurisdiction")),
    _part_track("entity-alias", EntityAlias, "entity", "Alias", ("entity",)),
    _part_track("entity-citation", EntityCitation, "entity", "Citation", ("source", "entity")),
    Track("regulator", Regulator, "regulator", label=str, related=("jurisdiction",)),
    Track("regime", Regime, "regime", label=lambda obj: obj.short_name, related=("jurisdiction",)),
    Track("source", Source, "source", label=lambda obj: obj.title),
    Track(
        "keyperson",
        KeyPerson,
        "keyperson",
        label=_label_key_person,
        related=("entity",),
        target_lookups=((Entity, "entity"),),
    ),
    _part_track(
        "keyperson-citation",
        KeyPersonCitation,
        "key_person",
        "Citation",
        ("source", "key_person__entity"),
        target_lookups=((Entity, "key_person__entity"),),
    ),
)
TRACKS = (
    *TRACKS,
    Track(
        "whitepaper",
        WhitePaper,
        "whitepaper",
        label=str,
        related=("offeror", "filed_by", "crypto_asset", "regulator", "jurisdiction"),
        target_lookups=((Entity, "offeror"),),
    ),
    Track(
        "whitepaper-citation",
        WhitePaperCitation,
        "whitepaper",
        related=("source", "white_paper"),
        parent_field="white_paper",
        parent_model=WhitePaper,
        child_name="Citation",
        target_lookups=((Entity, "white_paper__offeror"),),
    ),
)
TRACKS_BY_KEY = {track.key: track for track in TRACKS}


def _earlier_rows(history):
    """The same record's history rows before the outer one, newest first (ties on date broken by id)."""
    return (
        history.objects.filter(id=OuterRef("id"))
        .filter(
            Q(history_date__lt=OuterRef("history_date"))
            | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id"))
        )
        .order_by("-history_date", "-history_id")
    )


def _previous_row(history, field_name="history_id"):
    """The same record's history row just before the outer one."""
    return _earlier_rows(history).values(field_name)[:1]


def _public_at_row(model):
    """A history row's record was public at the row's own instant: the as-of rule (history.as_of)."""
    return public_then(model, F("history_date"), today=False)


def _parent_public_at_row(track):
    """A citation's or alias's parent was public at the row's instant: the as-of rule, as :func:`_public_at_row`.

    A citation that is not a removal, of a source published then, is itself
    the citation the parent's rule asks for: only when it is not are the
    parent's other citations looked up (the costliest part of the rule).
    """
    parent, now = f"{track.parent_field}_id", F("history_date")
    then = was_public(track.parent_model, parent, now, today=False, cited=False)
    if track.model is not _citation_model(track.parent_model):
        return then & cited_then(track.parent_model, now, today=False, reference=parent)
    itself = citing_then(now)
    return then & (itself | cited_then(track.parent_model, now, today=False, reference=parent))


def _citation_model(model):
    rule = visibility_rule(model)
    return model._meta.get_field(rule.cited_by).related_model if rule.cited_by else None


def _public_before(track):
    """The record was public at the instant of its history row just before the outer one."""
    earlier = _earlier_rows(track.history).annotate(
        public=ExpressionWrapper(_public_at_row(track.model), output_field=BooleanField())
    )
    return Subquery(earlier.values("public")[:1], output_field=BooleanField())


def visible_rows(track, per_row=False):
    """The history rows of ``track`` the public may see (see the module docstring).

    Whether a row's record is visible today is asked as :func:`_visible_now`
    does, ``per_row`` for a page's few rows, as an ``EXISTS`` for a count.
    """
    # Building the rule's query costs about a millisecond a track: build it once, hand out clones.
    built, rows = _VISIBLE_ROWS.get((track.key, per_row), (None, None))
    if built is not track:
        rows = _visible_rows(track, per_row)
        _VISIBLE_ROWS[track.key, per_row] = (track, rows)
    return rows.all()


_VISIBLE_ROWS = {}  # (track key, per_row): (track, query)


def _visible_now(model, attname, per_row):
    """The record a history row's ``attname`` points to is visible today (its model's ``published()``).

    An ``EXISTS`` suits a count, which reads every row: PostgreSQL hashes the
    visible records once. ``per_row`` suits a page, which reads a few rows: a
    scalar subquery, which PostgreSQL looks up row by row instead of hashing a
    whole table first. SQLite runs both forms row by row.
    """
    visible = model.objects.published().filter(pk=OuterRef(attname)).order_by()
    return IsNull(Subquery(visible.values("pk")[:1]), False) if per_row else Exists(visible)


def _visible_rows(track, per_row):
    """The query :func:`visible_rows` hands out clones of (never evaluated itself).

    The conditions are ordered cheapest first, and every lookup of another row
    is a subquery rather than a join or an ``IN`` list: the database then
    evaluates the costly ones (the previous history row, the parent's status
    at the time) only for the few rows that still need them, and a feed's
    newest page reads only as many rows as it shows, in the order of the index
    on ``history_date``.
    """
    rows = track.history.objects.all()
    if track.parent_field:
        if hasattr(track.model, "source"):
            rows = rows.filter(_visible_now(Source, "source_id", per_row))
        parent = f"{track.parent_field}_id"
        return rows.filter(_visible_now(track.parent_model, parent, per_row)).filter(_parent_public_at_row(track))
    current = _visible_now(track.model, "id", per_row) & _public_at_row(track.model)
    # Deleted or taken off the public site (by itself, or by a record it depends on) while it was public.
    # Its label names the records its visibility rule names (a licence's holder): they must be public today.
    gone = Q(history_type="-") | ~_public_at_row(track.model)
    gone &= Q(public_before=True) & named_public_now(track.model, per_row=True)
    return rows.alias(public_before=_public_before(track)).filter(current | gone)


# ---------------------------------------------------------------------------
# The feed: which changes, how many, which of them
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which public changes to read; the default reads them all.

    ``types`` keeps the changes of those record types (keys of :data:`RECORD_TYPES`); ``since`` and
    ``until`` are days in the site's time zone, both included. ``record`` keeps one record's changes and
    its citations' (an entity's include its aliases and key people): a detail page's. ``scopes`` maps a
    track key to a condition on that track's history rows and leaves out the tracks it does not name: an
    Atom feed's (history.feeds). None of them can show more than :func:`visible_rows` lets through.
    """

    types: tuple[str, ...] = ()
    since: datetime.date | None = None
    until: datetime.date | None = None
    record: models.Model | None = None
    scopes: Mapping[str, Q] | None = None


ALL = Filters()


def count(filters: Filters = ALL) -> int:
    """How many changes ``filters`` selects: one ``COUNT(*)`` per track, in one query (a UNION of one row each)."""

    def build(filters):
        return _union(
            [
                rows.order_by().annotate(_one=Value(1)).values("_one").annotate(n=Count("*")).values("n")
                for _, rows in _parts(filters)
            ]
        )

    return sum(row["n"] for row in _run(filters, ("count",), build))


def select(filters: Filters = ALL, offset: int = 0, limit: int | None = None) -> list[Change]:
    """The changes ``filters`` selects from ``offset``, at most ``limit`` of them (None: to the end), newest first."""
    stop = None if limit is None else offset + limit
    if stop is not None and stop <= offset:
        return []
    return materialise(_select(filters, offset, stop))


def page(filters: Filters, offset: int, limit: int) -> tuple[list[Change], int]:
    """``(changes, total)``: the changes ``[offset:offset + limit]`` and how many ``filters`` selects in all.

    An offset past the end reads no changes: a huge OFFSET overflows some backends.
    """
    total = count(filters)
    return (select(filters, offset, limit) if offset < total else []), total


def iterate(filters: Filters = ALL, chunk_size: int = 500) -> Iterator[Change]:
    """Every change ``filters`` selects, newest first, read a chunk at a time.

    Each chunk starts after the last key of the one before (no OFFSET), so a whole export costs the same per
    chunk however deep it goes.
    """
    after = None
    while True:
        keys = _select(filters, 0, chunk_size, after=after)
        yield from materialise(keys)
        if len(keys) < chunk_size:
            return
        after = keys[-1]


def changes_for(obj, limit=DETAIL_PAGE_LIMIT, *, published=False):
    """The latest public changes of one record, for its detail page: ``{"changes", "count", "limit"}``.

    ``published``: ``obj`` was read through its model's ``published()`` (a detail page's record), so it is the
    current record its own changes name and link to, and is not read again.
    """
    filters = Filters(record=obj)
    latest = materialise(_select(filters, 0, limit), known=(obj,) if published else ())
    total = len(latest) if len(latest) < limit else count(filters)
    return {"changes": latest, "count": total, "limit": limit}


def _tracks(filters):
    """``(track, condition)`` for each track ``filters`` spans: the condition (or None) narrows its history rows."""
    for track in TRACKS:
        if filters.types and track.record_type not in filters.types:
            continue
        condition = None
        if filters.scopes is not None:
            condition = filters.scopes.get(track.key)
            if condition is None:
                continue
        if filters.record is not None:
            lookup = _record_lookup(track, type(filters.record))
            if lookup is None:
                continue
            condition = Q(**{lookup: filters.record.pk}) & (condition or Q())
        yield track, condition


def _record_lookup(track, record_model):
    """The lookup from a history row of ``track`` to the ``record_model`` record it belongs to, if any."""
    if track.model is record_model:
        return "id"
    if track.parent_model is record_model:
        return f"{track.parent_field}_id"
    return next((lookup for model, lookup in track.target_lookups if model is record_model), None)


def _parts(filters, per_row=False):
    """``(track, rows)`` for each track ``filters`` spans: its visible history rows, filtered (see visible_rows)."""
    parts = []
    for track, condition in _tracks(filters):
        rows = visible_rows(track, per_row)
        if condition is not None:
            rows = rows.filter(condition)
        if filters.since:
            rows = rows.filter(history_date__gte=_start_of(filters.since))
        if filters.until:
            rows = rows.filter(history_date__lt=_start_of(filters.until + datetime.timedelta(days=1)))
        parts.append((track, rows))
    return parts


def _select(filters, start, stop, after=None):
    """The keys ``{history_id, history_date, track}`` of the changes ``[start:stop]``, newest first.

    Only the newest ``stop`` rows of a track can be among the feed's first
    ``stop``, so near the top (``stop`` up to :data:`NEWEST_ROWS`) each
    track's part reads at most that many rows, newest first along its
    index on ``history_date``, before the UNION orders them: the visibility
    rule is evaluated for about a page of rows, not for every row of every
    history table. Deeper, the UNION of whole tracks is ordered at once
    (SQLite merges the tracks' index scans and stops at ``stop``;
    PostgreSQL sorts, which beats reading ``stop`` rows from each track).
    ``after``, a key with its ``history_date``, starts the feed after it
    (see :func:`iterate`).
    """
    if after is not None:
        query = _select_query(filters, start, stop, after)
        return list(query) if query is not None else []
    return _run(filters, ("select", start, stop), lambda filters: _select_query(filters, start, stop))


def _select_query(filters, start, stop, after=None):
    newest = stop is not None and stop <= NEWEST_ROWS
    parts = []
    for track, rows in _parts(filters, per_row=newest):
        if after is not None:
            rows = rows.filter(_after(track, after))
        if newest:
            newest_ids = rows.order_by("-history_date", "-history_id").values("history_id")[:stop]
            rows = track.history.objects.filter(history_id__in=newest_ids)
        parts.append(_key_values(track, rows))
    query = _union(parts)
    if query is None:
        return None
    ordered = query.order_by(*KEY_ORDER)
    return ordered[start:stop] if stop is not None else ordered[start:]


def _run(filters, kind, build):
    """The rows (dicts) of the query ``build(filters)`` returns, its SQL compiled once per filters (registry.prepared).

    Building and compiling a query over twelve history tables through the
    ORM takes longer than the database takes to run it for the newest
    page (a detail page's changes: 30 ms against 0.4 ms). The SQL depends on
    the filters only, never on the data, so it stays right across writes,
    which are what make a page cold. One record's changes are compiled once
    per record type, for a stand-in key replaced by the record's; scoped ones
    are built each time (their SQL names records).
    """
    if filters.scopes is not None:
        query = build(filters)
        return list(query) if query is not None else []
    record = filters.record
    model = TRACKS[0].history

    def build_for(*pk):
        query = build(replace(filters, record=type(record)(pk=pk[0])) if pk else filters)
        return query if query is not None else model.objects.none()

    key = ("feed", kind, filters.types, filters.since, filters.until, type(record) if record is not None else None)
    return prepared.run(key, build_for, [record.pk] if record is not None else [], model)


# How far from the top a page is read from each track's newest rows (see _select).
NEWEST_ROWS = 1000


# Newest first. On a tie (a fixture loads everything at one instant) a citation sorts above its record's creation.
KEY_ORDER = ("-history_date", "-track", "-history_id")


def _key_values(track, rows):
    return (
        rows.order_by()
        .annotate(track=Value(track.key, output_field=CharField()))
        .values("history_id", "history_date", "track")
    )


def _union(querysets):
    if not querysets:
        return None
    first, *others = querysets
    return first.union(*others, all=True) if others else first


def _after(track, key):
    """The rows of ``track`` that come after ``key`` in :data:`KEY_ORDER`.

    Track keys are lowercase words, a hyphen only after the whole key of the
    record they belong to, so Python and every database collation order them alike.
    """
    date, history_id = key["history_date"], key["history_id"]
    if track.key < key["track"]:
        return Q(history_date__lte=date)
    if track.key > key["track"]:
        return Q(history_date__lt=date)
    return Q(history_date__lt=date) | Q(history_date=date, history_id__lt=history_id)


def _start_of(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


# ---------------------------------------------------------------------------
# Turning history rows into changes
# ---------------------------------------------------------------------------


def materialise(keys, known=()):
    """The :class:`Change` of each ``{history_id, history_date, track}`` key, in the keys' order.

    Per track on the page: one query for its rows together with their
    previous rows (plus one per many-to-many field when a row on the page is
    diffed), and for a record's own track one more for the current records
    (labels and links), but for those in ``known`` (published records).
    """
    by_track = defaultdict(list)
    for key in keys:
        by_track[key["track"]].append(key["history_id"])
    built = {}
    for track_key, ids in by_track.items():
        track = TRACKS_BY_KEY[track_key]
        for history_id, change in _build(track, ids, known).items():
            built[(track_key, history_id)] = change
    return [built[(key["track"], key["history_id"])] for key in keys if (key["track"], key["history_id"]) in built]


def _load_rows(track, ids):
    """The history rows ``ids`` of ``track`` and the row before each, by ``history_id``: their SQL is compiled
    once per track and length of list (registry.prepared), as building it costs far more than running it."""
    if not ids:
        return {}
    rows = prepared.run(("feed-rows", track.key), partial(_rows_query, track), prepared.padded(ids), track.history)
    return {row.history_id: row for row in rows}


def _rows_query(track, *ids):
    history = track.history
    previous = _previous_row(history)
    asked = history.objects.filter(history_id__in=ids).order_by()
    # The rows and their previous rows, as one IN list: an OR of two lists would read the whole table on PostgreSQL.
    wanted = asked.values("history_id").union(
        asked.annotate(previous_id=Subquery(previous)).values("previous_id"), all=True
    )
    rows = (
        history.objects.filter(history_id__in=wanted)
        .order_by()  # read into a dict: the models' default orders would only add sorts (and joins)
        .annotate(previous_id=Subquery(previous))
        .select_related(*track.related)
    )
    if not track.parent_field:
        # Whether the record was public at each row, and so at the row before: what tells "published" apart.
        rows = rows.annotate(public=ExpressionWrapper(_public_at_row(track.model), output_field=BooleanField()))
    return rows


def _current_query(track, *ids):
    return track.model.objects.published().filter(pk__in=ids).order_by().select_related(*track.related)


def _with_m2m(track, rows, ids):
    """Reads the many-to-many snapshots of the rows that are diffed (an edit, and the row before it), and of no
    others: most rows of a record's page are its creation or publication, whose changes name no field."""
    if not track.m2m_fields:
        return
    diffed = {}
    for history_id in ids:
        row = rows.get(history_id)
        previous = rows.get(row.previous_id) if row is not None else None
        if previous is not None and row.history_type == "~":
            diffed.update({row.history_id: row, previous.history_id: previous})
    if diffed:
        prefetch_related_objects(list(diffed.values()), *track.m2m_prefetches())


def _build(track, ids, known=()):
    rows = _load_rows(track, ids)
    _with_m2m(track, rows, ids)
    if track.parent_field:
        return {history_id: _child_change(track, rows[history_id], rows) for history_id in ids if history_id in rows}
    current = {obj.pk: obj for obj in known if type(obj) is track.model}
    records = sorted({rows[i].id for i in ids if i in rows} - current.keys())
    if records:
        found = prepared.run(
            ("feed-current", track.key), partial(_current_query, track), prepared.padded(records), track.model
        )
        current.update((obj.pk, obj) for obj in found)
    result = {}
    for history_id in ids:
        row = rows.get(history_id)
        if row is None:
            continue
        result[history_id] = _own_change(track, row, rows.get(row.previous_id), current.get(row.id))
    return result


def _record_url(track, obj):
    if obj is None:
        return ""
    if track.model is KeyPerson:
        return obj.entity.get_absolute_url()
    return obj.get_absolute_url()


def _own_change(track, row, previous, current):
    """The change a record's own history row stands for, by whether the record was public at it and before it.

    "Published" means it became public: not public at the row before, public at
    this one, whether through its own publication or through that of a record
    it waited for (which gives it a history row of its own, curation.review).
    """
    public_before = previous is not None and bool(previous.public)
    changes = []
    if row.history_type == "+":
        action = "created"
    elif row.history_type == "-":
        action = "deleted"
    elif not row.public:
        action = "unpublished"
    elif not public_before:
        action = "published"
    else:
        action = "changed"
        changes = diff(track, previous, row)
    # Deleted and unpublished records keep the label they were last public with, and no link.
    visible = action not in ("deleted", "unpublished") and current is not None
    if visible:
        label = track.label(current)
    else:
        label = track.label(previous if action == "unpublished" and public_before else row)
    return Change(
        date=row.history_date,
        record_type=track.record_type,
        label=label,
        url=_record_url(track, current) if visible else "",
        action=action,
        reason=row.history_change_reason or "",
        changes=changes,
    )


def _child_description(track, row):
    if track.model is EntityAlias:
        return f"{row.name} ({row.get_kind_display().lower()})"
    if track.model is AuditStatusChange:
        when = PartialDate.from_columns(row.effective_on, row.effective_on_precision)
        return f"{row.get_status_display().lower()} from {when}, per {row.source.title}"
    if row.supports:
        return f"{row.source.title}, for the {row.get_supports_display().lower()}"
    return row.source.title


def _child_change(track, row, rows):
    parent = getattr(row, track.parent_field)
    parent_track = TRACKS_BY_KEY[track.record_type]
    name = track.child_name
    description = _child_description(track, row)
    if row.history_type == "+":
        changes = [FieldChange(f"{name} added", new=description)]
    elif row.history_type == "-":
        changes = [FieldChange(f"{name} removed", old=description)]
    else:
        previous = rows.get(row.previous_id)
        changes = [
            FieldChange(f"{name} ({description}): {change.field[0].lower()}{change.field[1:]}", change.old, change.new)
            for change in (diff(track, previous, row) if previous is not None else [])
        ] or [FieldChange(f"{name} ({description})")]
    return Change(
        date=row.history_date,
        record_type=track.record_type,
        label=parent_track.label(parent),
        url=_record_url(parent_track, parent),
        action="changed",
        reason=row.history_change_reason or "",
        changes=changes,
    )


def diff(track, old, new) -> list[FieldChange]:
    """The public field changes between two snapshots of one record, in the model's field order."""
    tracked = {model_field.attname: model_field for model_field in track.history.tracked_fields}
    # A citation's own licence never changes; its source is named in the label.
    skipped = BOOKKEEPING_FIELDS | ({track.parent_field} if track.parent_field else set())
    result = []
    for attname, model_field in tracked.items():
        if model_field.name in skipped:
            continue
        label = str(model_field.verbose_name)
        label = label[:1].upper() + label[1:]
        if attname.endswith("_precision") and attname.removesuffix("_precision") in tracked:
            continue  # shown with its date
        if f"{attname}_precision" in tracked:
            before, after = _partial(old, attname), _partial(new, attname)
            if before != after:
                result.append(FieldChange(label, str(before or ""), str(after or "")))
            continue
        before, after = getattr(old, attname), getattr(new, attname)
        if before == after:
            continue
        if model_field.is_relation:
            result.append(
                FieldChange(
                    label,
                    _related_label(getattr(old, model_field.name)),
                    _related_label(getattr(new, model_field.name)),
                )
            )
        elif isinstance(model_field, models.TextField):
            result.append(FieldChange(label))
        else:
            result.append(FieldChange(label, _plain_value(model_field, before), _plain_value(model_field, after)))
    for m2m_field in track.m2m_fields:
        accessor = track.m2m_accessor(m2m_field)
        target = m2m_field.m2m_reverse_field_name()
        before = {getattr(item, target) for item in getattr(old, accessor).all()}
        after = {getattr(item, target) for item in getattr(new, accessor).all()}
        before_ids, after_ids = {obj.pk for obj in before}, {obj.pk for obj in after}
        if before_ids == after_ids:
            continue
        label = str(m2m_field.verbose_name)
        label = label[:1].upper() + label[1:]

        def names(objs):
            return ", ".join(sorted(_related_label(obj) for obj in objs if obj is not None and _is_public(obj)))

        old_names, new_names = names(before), names(after)
        if old_names != new_names:
            result.append(FieldChange(label, old_names, new_names))
    return result
