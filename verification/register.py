"""What verification reads from the register: today's, or as it stood at the end of a day (``?as_of=``).

Every rule is the register's own: ``published()`` (or, as of a day, :func:`history.as_of.standing` and
:func:`history.as_of.rows`, which apply :func:`history.as_of.public_then`), ``LicenseQuerySet.in_force`` and
``LicenseQuerySet.usable_in``. Nothing here says again what they say.

The lookups are batched for a whole request: the :class:`~verification.matching.Index` of names, LEIs and
domains is built once per data version (and day) and kept by each worker; the licences and warnings of every
entity matched are read in one query each, whatever the number of counterparties.
"""

from __future__ import annotations

import datetime
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass

from django.db import router
from django.db.models import Exists, F, OuterRef, Prefetch
from django.utils import timezone

from history import as_of
from registry.derived.version import data_version, version_key
from registry.models import (
    Activity,
    Entity,
    EntityAlias,
    Jurisdiction,
    License,
    LicenseCitation,
    LicenseQuerySet,
    WarningNotice,
)
from verification.matching import EntityInfo, Index

ALIAS_REASONS = {
    EntityAlias.Kind.TRADING: "alias",
    EntityAlias.Kind.OTHER: "alias",
    EntityAlias.Kind.FORMER: "former_name",
}
ENTITY_COLUMNS = ("slug", "name", "kind", "lei", "website", "jurisdiction__code", "jurisdiction__name")
# Indexes kept per worker: today's and a few as-of days, each for the data version it was built from.
KEPT = 4
_kept: OrderedDict = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class Register:
    """The register as verification reads it: on ``day`` (today, or the ``as_of`` day asked), at a data version."""

    day: datetime.date
    as_of: datetime.date | None
    version: int
    changed_at: datetime.datetime
    index: Index
    jurisdictions: dict[str, str]  # code: name
    activities: dict[str, frozenset[int]]  # code, slug or folded name: activity ids
    activity_names: dict[int, str]


def read(day: datetime.date | None = None) -> Register:
    """The register today, or as it stood at the end of ``day``; its index is built once per data version."""
    version, changed_at = data_version()
    key = (router.db_for_read(Entity), version_key(version, changed_at), day)
    with _lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept is None:
        kept = (_index(day), *_reference())
        with _lock:
            _kept[key] = kept
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
    index, jurisdictions, activities, activity_names = kept
    return Register(
        day=day or timezone.localdate(),
        as_of=day,
        version=version,
        changed_at=changed_at,
        index=index,
        jurisdictions=jurisdictions,
        activities=activities,
        activity_names=activity_names,
    )


def forget():
    """Drop every kept index (tests that rewind the database)."""
    with _lock:
        _kept.clear()


def _reference():
    """Jurisdiction codes and names; activities by MiCA code ("a"), slug and name (reference data: no history)."""
    jurisdictions = dict(Jurisdiction.objects.values_list("code", "name"))
    lookup = defaultdict(set)
    names = {}
    for pk, slug, name, code in Activity.objects.values_list("pk", "slug", "name", "code"):
        names[pk] = name
        for word in (slug, name, code):
            if word:
                lookup[word.casefold()].add(pk)
    return jurisdictions, {word: frozenset(pks) for word, pks in lookup.items()}, names


def _index(day: datetime.date | None) -> Index:
    if day is None:
        entities = Entity.objects.published()
        aliases = EntityAlias.objects.filter(entity__in=entities)
        warnings = WarningNotice.objects.published()
        earlier = Entity.history.all()
    else:
        entities = as_of.standing(Entity, day).filter(id__in=Entity.objects.published().values("pk"))
        aliases = as_of.standing(EntityAlias, day)
        warnings = as_of.standing(WarningNotice, day)
        earlier = Entity.history.filter(history_date__lte=as_of.end_of_day(day))
    infos = [
        EntityInfo(pk, slug, name, kind, lei, website, (code, place) if code else None)
        for pk, slug, name, kind, lei, website, code, place in entities.values_list("pk", *ENTITY_COLUMNS)
    ]
    current = {info.pk: info.name for info in infos}
    names = [(pk, ALIAS_REASONS[kind], name) for pk, kind, name in aliases.values_list("entity_id", "kind", "name")]
    # A name the entity was public under before is a former name, recorded as an alias or not.
    was_public = as_of.public_then(Entity, F("history_date"), today=False)
    for pk, name in earlier.filter(was_public).values_list("id", "name").distinct():
        if pk in current and name != current[pk]:
            names.append((pk, "former_name", name))
    websites = [(info.pk, info.website, "its website") for info in infos if info.website]
    for pk, listed in warnings.values_list("entity_id", "websites"):
        websites += [(pk, line, "a website named in a warning notice") for line in listed.splitlines() if line]
    return Index.build(infos, names, websites)


def licences(register: Register, holders, codes) -> dict[int, list[tuple[License, frozenset[str]]]]:
    """The licences in force on the register's day of each entity of ``holders``, with the jurisdictions of
    ``codes`` each is usable in: one query (and its prefetches) for all of them."""
    if not holders:
        return {}
    codes = sorted(codes)
    if register.as_of is None:
        usable = {
            f"usable_{n}": Exists(License.objects.usable_in(code).filter(pk=OuterRef("pk")))
            for n, code in enumerate(codes)
        }
        rows = list(
            License.objects.published()
            .in_force(register.day)
            .filter(holder_id__in=holders)
            .annotate(**usable)
            .select_related("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
            .prefetch_related("passported_to", "activities", _published_citations())
        )
        records = rows
    else:
        history = License.history.model
        same_row = history.objects.filter(history_id=OuterRef("history_id"))
        usable = {f"usable_{n}": Exists(LicenseQuerySet.usable_in(same_row, code)) for n, code in enumerate(codes)}
        then = as_of.rows(License, register.as_of).filter(holder_id__in=holders)
        rows = list(LicenseQuerySet.in_force(then, at=register.as_of).annotate(**usable))
        records = as_of.records(License, register.as_of, rows)
    found = defaultdict(list)
    for row, record in zip(rows, records, strict=True):
        where = frozenset(code for n, code in enumerate(codes) if getattr(row, f"usable_{n}"))
        found[record.holder_id].append((record, where))
    return found


def warnings(register: Register, entities) -> dict[int, list[WarningNotice]]:
    """The published warning notices naming each entity of ``entities`` (as they stood, with ``as_of``)."""
    if not entities:
        return {}
    related = ("entity", "regulator", "jurisdiction", "source")
    if register.as_of is None:
        notices = WarningNotice.objects.published().filter(entity_id__in=entities).select_related(*related)
        notices = list(notices.defer("source__archived_text").order_by("entity_id", "-decided_on", "slug"))
    else:
        rows = as_of.standing(WarningNotice, register.as_of).filter(entity_id__in=entities)
        notices = []
        for row in rows.select_related(*related).defer("source__archived_text").order_by("id"):
            notice = row.instance
            for name in related:  # today's related records, as the as-of lists show them
                setattr(notice, name, getattr(row, name))
            notices.append(notice)
    found = defaultdict(list)
    for notice in notices:
        found[notice.entity_id].append(notice)
    return found


def _published_citations():
    return Prefetch(
        "citations",
        queryset=LicenseCitation.objects.published().select_related("source").defer("source__archived_text"),
    )
