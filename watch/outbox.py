"""The outbox: an event for each public change someone may watch, written in the transaction that makes it.

``curation/review.py`` wraps each change of what the public sees (publish, approve a revision, an operator's
publish, unpublish) in :func:`recording`: on entering, it notes the newest history row of each watched table;
before the transaction commits, :func:`emit` reads the history rows written since and keeps the public changes
among them by the change feed's own rule (``history.feed.visible_rows`` and ``materialise``: a row the feed would
list, with the action it would show). A rolled-back change takes its events with it; a committed one cannot
lose them, whatever happens to the process afterwards.

Warning notices are not in the change feed: a warning is new when its history row is public at its instant and
no earlier row of it was, by the as-of rule the feed itself applies (``history.as_of.public_then``).

A bulk load (``manage.py load_fixtures``) announces what it makes public the same way (:func:`recording_load`), with
one exception: a register that shows nothing anyone watches yet (no published licence, audit or warning notice) is
being filled for the first time, and its first load is where its history starts, not news.

Each event's ``key`` names the history row (or, for a time-based event, the audit and its expiry) it comes from,
so writing the same event twice (two transactions that saw the same row) keeps one: :func:`emit` and
:func:`emit_expired` may run any number of times.
"""

from __future__ import annotations

import datetime
from contextlib import contextmanager

from django.conf import settings
from django.db.models import Exists, F, Max, OuterRef
from django.utils import timezone

from history import feed
from history.as_of import public_then
from registry.models import Audit, AuditStatus, License, WarningNotice, WhitePaper, link_supersession
from watch.events import kind
from watch.models import Event

# The change feed's tracks that events come from: a licence's, an audit's and a white paper's own rows, and an
# audit's status changes.
TRACK_KEYS = ("license", "audit", "audit-status-change", "whitepaper")
# Whom each track's record is about (Event.entity): a licence's holder, an audit's subject, a paper's offeror.
ABOUT = {"license": (License, "holder_id"), "whitepaper": (WhitePaper, "offeror_id")}
WARNINGS = "warning"
BATCH_SIZE = 500

# The field of a licence the feed names "Status" (history.feed.diff labels fields by their verbose name).
LICENSE_STATUS_LABEL = str(License._meta.get_field("status").verbose_name).capitalize()


def _history(key):
    return WarningNotice.history.model if key == WARNINGS else feed.TRACKS_BY_KEY[key].history


def mark() -> dict:
    """The newest history row of each watched table, now: what :func:`emit` reads after."""
    return {
        key: _history(key).objects.aggregate(newest=Max("history_id"))["newest"] or 0 for key in (*TRACK_KEYS, WARNINGS)
    }


@contextmanager
def recording():
    """Write the events of the public changes made inside the block (inside the transaction that makes them)."""
    since = mark()
    yield
    emit(since)


def shows_nothing_watched() -> bool:
    """No licence, audit, warning notice or white paper is public: what events are about has never been shown."""
    return not any(model.objects.published().exists() for model in (License, Audit, WarningNotice, WhitePaper))


@contextmanager
def recording_load():
    """As :func:`recording`, for a bulk load: nothing when the register shows nothing watched yet (a first load)."""
    if shows_nothing_watched():
        yield
        return
    with recording():
        yield


def emit(since: dict) -> list[Event]:
    """Write an event for each public change recorded after ``since`` (:func:`mark`); returns those built."""
    events = []
    for key in TRACK_KEYS:
        track = feed.TRACKS_BY_KEY[key]
        rows = feed.visible_rows(track).filter(history_id__gt=since.get(key, 0))
        record = track.parent_field and f"{track.parent_field}_id" or "id"
        found = list(
            rows.order_by("history_date", "history_id").values("history_id", "history_date", "history_type", record)
        )
        for start in range(0, len(found), BATCH_SIZE):
            events += _events_of(track, found[start : start + BATCH_SIZE], record)
    events += _new_warnings(since.get(WARNINGS, 0))
    return write(events)


def write(events: list[Event]) -> list[Event]:
    """Store ``events``; one already stored (same key) is kept as it is."""
    for event in events:
        kind(event.kind)  # an undeclared kind is a programming error: fail the transaction, loudly
    Event.objects.bulk_create(events, ignore_conflicts=True)
    return events


def _changes(track, rows):
    """The feed's :class:`~history.feed.Change` of each history row of ``rows``, by history id."""
    keys = [{"history_id": row["history_id"], "history_date": row["history_date"], "track": track.key} for row in rows]
    changes = feed.materialise(keys)
    if len(changes) == len(keys):
        return {key["history_id"]: change for key, change in zip(keys, changes, strict=True)}
    # materialise drops a row it cannot build (never seen): pair them one by one instead.
    return {key["history_id"]: change for key in keys for change in feed.materialise([key])}


def _events_of(track, rows, record):
    changes = _changes(track, rows)
    ids = {row[record] for row in rows}
    model, about = ABOUT.get(track.key, (Audit, "subject_id"))
    # A white paper without an offeror is about no entity: its event has none, and reaches record-type and
    # jurisdiction watches only (Event's constraint allows that for white papers alone).
    entities = dict(model._base_manager.filter(pk__in=ids).values_list("pk", about))
    events, published = [], []
    for row in rows:
        change, pk = changes.get(row["history_id"]), row[record]
        if change is None or pk not in entities:
            continue
        for kind_key in _kinds(track.key, change, row):
            events.append(_event(kind_key, track.record_type, pk, entities[pk], change, row["history_id"]))
        if track.key == "audit" and change.action in ("published", "created"):
            published.append(pk)
    return events + _superseded(published)


def _kinds(track_key, change, row) -> list[str]:
    """The event kinds a feed change stands for (watch/events.py)."""
    if track_key == "license":
        if change.action in ("published", "created"):
            return ["license.new"]
        if change.action in ("unpublished", "deleted"):
            return ["license.withdrawn"]
        if any(field.field == LICENSE_STATUS_LABEL for field in change.changes):
            return ["license.status_changed"]
    if track_key == "audit-status-change" and row["history_type"] == "+":
        return ["certificate.status_changed"]
    if track_key == "whitepaper" and change.action in ("published", "created"):
        return ["white_paper.new"]
    return []


def _new_event(kind_key, record_type, pk, about, at, payload, key_suffix="") -> Event:
    """The event of ``kind_key`` about record ``pk`` (and entity ``about``). Its key names the kind, the record and
    ``key_suffix`` (the history row or the expiry it comes from), so the same change always makes the same key."""
    key = f"{kind_key}:{record_type}:{pk}{key_suffix}"
    return Event(
        key=key, kind=kind_key, record_type=record_type, record_id=pk, entity_id=about, occurred_at=at, payload=payload
    )


def _payload(label, url, action, changes=(), reason="") -> dict:
    """What subscribers receive (Event.payload)."""
    return {"label": label, "url": url, "action": action, "changes": list(changes), "reason": reason}


def _event(kind_key, record_type, pk, entity_id, change, history_id) -> Event:
    changes = [field.as_dict() for field in change.changes]
    payload = _payload(change.label, change.url, change.action, changes, change.reason)
    return _new_event(kind_key, record_type, pk, entity_id, change.date, payload, f":h{history_id}")


def _superseded(audit_ids) -> list[Event]:
    """An event for each certificate the newly public audits ``audit_ids`` supersede (the register's rule:
    ``link_supersession``, i.e. ``AuditQuerySet.with_status``), once per superseded certificate."""
    if not audit_ids:
        return []
    label = feed.TRACKS_BY_KEY["audit"].label
    now = timezone.now()
    audits = Audit.objects.published().filter(pk__in=audit_ids).select_related("subject", "standard")
    events = []
    for audit in link_supersession(audits):
        for older in audit.supersedes_audits:
            if older.status != AuditStatus.SUPERSEDED:
                continue  # withdrawn outranks superseded: nothing new to say
            changes = [{"field": "Superseded by", "old": None, "new": label(audit)}]
            payload = _payload(label(older), older.get_absolute_url(), "superseded", changes)
            events.append(_new_event("certificate.superseded", "audit", older.pk, older.subject_id, now, payload))
    return events


def _new_warnings(since_id) -> list[Event]:
    """An event for each warning notice public for the first time in a history row after ``since_id``."""
    history = WarningNotice.history.model
    public_at_row = public_then(WarningNotice, F("history_date"), today=False)
    earlier = history.objects.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).filter(public_at_row)
    rows = (
        history.objects.filter(history_id__gt=since_id)
        .filter(public_at_row, id__in=WarningNotice.objects.published().values("pk"))
        .exclude(Exists(earlier))
        .order_by("history_id")
    )
    first = {}
    for row in rows.values("history_id", "history_date", "id"):
        first.setdefault(row["id"], row)
    notices = WarningNotice.objects.filter(pk__in=first).select_related("entity", "regulator", "jurisdiction")
    return [
        _new_event(
            "warning.new",
            "warning",
            notice.pk,
            notice.entity_id,
            first[notice.pk]["history_date"],
            _payload(str(notice), notice.get_absolute_url(), "published", reason=notice.reason),
        )
        for notice in notices
    ]


def emit_expired(day: datetime.date | None = None) -> list[Event]:
    """An event for each published certificate whose validity ended since it was last current: expired on
    ``day`` (default today) and current ``DJANGO_WATCH_EXPIRY_LOOKBACK_DAYS`` before, by the register's rule
    (``AuditQuerySet.with_status`` and ``valid``). Once each: the key names the audit and its expiry date."""
    day = day or timezone.localdate()
    before = day - datetime.timedelta(days=settings.WATCH_EXPIRY_LOOKBACK_DAYS)
    label = feed.TRACKS_BY_KEY["audit"].label
    expired = (
        Audit.objects.published()
        .with_status(day)
        .filter(status=AuditStatus.EXPIRED, pk__in=Audit.objects.published().valid(before).values("pk"))
        .select_related("subject", "standard")
        .order_by("pk")
    )
    now = timezone.now()
    events = []
    for audit in expired:
        changes = [{"field": "Valid until", "old": None, "new": str(audit.valid_until_date)}]
        payload = _payload(label(audit), audit.get_absolute_url(), "expired", changes)
        expiry = f":{audit.valid_until.isoformat()}"
        events.append(_new_event("certificate.expired", "audit", audit.pk, audit.subject_id, now, payload, expiry))
    return write(events)
