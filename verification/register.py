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
from dataclasses import dataclass, field

from django.db import router
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from history import as_of
from registry.dates import PartialDate
from registry.derived.version import data_version, version_key
from registry.links import detail_path
from registry.models import (
    Activity,
    Entity,
    EntityAlias,
    Jurisdiction,
    License,
    LicenseCitation,
    LicenseQuerySet,
    WarningNotice,
    granted_in_field,
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
    # What is kept is the register's index and reference data: its last four fields, in their order.
    return Register(day or timezone.localdate(), day, version, changed_at, *kept)


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
    # "id", not "pk": a history row's pk is its own, not the entity's.
    infos = [
        EntityInfo(pk, slug, name, kind, lei, website, (code, place) if code else None)
        for pk, slug, name, kind, lei, website, code, place in entities.values_list("id", *ENTITY_COLUMNS)
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


@dataclass
class Licence:
    """What a verdict shows of a licence in force: enough to read it and follow it to its page and sources."""

    slug: str
    holder_id: int
    status: str
    granted: PartialDate | None
    ended: PartialDate | None
    reference_number: str
    license_type: tuple[str, str]  # (slug, name)
    regime: tuple[str, str]  # (slug, short name)
    regulator: tuple[str, str, str] | None  # (slug, name, abbreviation)
    granted_in: tuple[str, str]  # (code, name)
    usable_in: frozenset[str]  # of the jurisdictions asked, those it is usable in
    passported_to: list[str] = field(default_factory=list)
    activities: list[tuple[int, str, str, str]] = field(default_factory=list)  # (id, slug, name, code)
    sources: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # slug: (title, publisher, address)

    def get_absolute_url(self):
        return detail_path("public:license-detail", self.slug)


COLUMNS = {
    "type_slug": F("license_type__slug"),
    "type_name": F("license_type__name"),
    "regime_slug": F("license_type__regime__slug"),
    "regime_short_name": F("license_type__regime__short_name"),
    "regulator_slug": F("regulator__slug"),
    "regulator_name": F("regulator__name"),
    "regulator_abbreviation": F("regulator__abbreviation"),
    "granted_in_code": granted_in_field("code"),
    "granted_in_name": granted_in_field("name"),
}
FIELDS = ("slug", "holder_id", "status", "granted_on", "granted_on_precision", "ended_on", "ended_on_precision")


def licences(register: Register, holders, codes) -> dict[int, list[Licence]]:
    """The licences in force on the register's day of each entity of ``holders``, each with the jurisdictions
    of ``codes`` it is usable in. Read as values, not records: one query for the licences, one each for their
    passports, activities and sources, whatever the number of entities."""
    if not holders:
        return {}
    codes = sorted(codes)
    if register.as_of is None:
        key, rows = "pk", License.objects.published().in_force(register.day).filter(holder_id__in=holders)
        usable = {
            f"usable_{n}": Exists(License.objects.usable_in(code).filter(pk=OuterRef("pk")))
            for n, code in enumerate(codes)
        }
        paths = {"passports": "passported_to", "activities": "activities"}
    else:
        history = License.history.model
        key = "history_id"
        rows = LicenseQuerySet.in_force(
            as_of.rows(License, register.as_of).filter(holder_id__in=holders), at=register.as_of
        )
        same_row = history.objects.filter(history_id=OuterRef("history_id"))
        usable = {f"usable_{n}": Exists(LicenseQuerySet.usable_in(same_row, code)) for n, code in enumerate(codes)}
        paths = {}
        for name, field_name in (("passports", "passported_to"), ("activities", "activities")):
            _, query_name, target = as_of.m2m_snapshot(history, field_name)
            paths[name] = f"{query_name}__{target}"
    found = {}
    for row in (
        rows.order_by().annotate(**usable, **COLUMNS).values(key, "reference_number", *FIELDS, *COLUMNS, *usable)
    ):
        found[row[key]] = Licence(
            slug=row["slug"],
            holder_id=row["holder_id"],
            status=row["status"],
            granted=PartialDate.from_columns(row["granted_on"], row["granted_on_precision"]),
            ended=PartialDate.from_columns(row["ended_on"], row["ended_on_precision"]),
            reference_number=row["reference_number"],
            license_type=(row["type_slug"], row["type_name"]),
            regime=(row["regime_slug"], row["regime_short_name"]),
            regulator=(row["regulator_slug"], row["regulator_name"], row["regulator_abbreviation"])
            if row["regulator_slug"]
            else None,
            granted_in=(row["granted_in_code"], row["granted_in_name"]),
            usable_in=frozenset(code for n, code in enumerate(codes) if row[f"usable_{n}"]),
        )
    _complete(register, rows.model, key, found, paths)
    held = defaultdict(list)
    for licence in sorted(found.values(), key=lambda licence: (licence.regime[1], licence.slug)):
        held[licence.holder_id].append(licence)
    return held


def _complete(register, model, key, found, paths):
    """Each licence's passports, activities and sources (citations of published sources, as they stood)."""
    ids = list(found)
    passports = f"{paths['passports']}__code"
    for pk, code in (
        model.objects.filter(**{f"{key}__in": ids}, **{f"{passports}__isnull": False})
        .values_list(key, passports)
        .order_by(passports)
    ):
        found[pk].passported_to.append(code)
    activity = paths["activities"]
    columns = (f"{activity}__pk", f"{activity}__slug", f"{activity}__name", f"{activity}__code")
    activities = model.objects.filter(**{f"{key}__in": ids}, **{f"{activity}__isnull": False}).values_list(
        key, *columns
    )
    for pk, *values in activities.order_by(columns[2]):
        found[pk].activities.append(tuple(values))
    if register.as_of is None:
        citations = LicenseCitation.objects.published().filter(license_id__in=ids)
        cited = citations.values_list("license_id", "source__slug", "source__title", "source__publisher", "source__url")
        for pk, slug, *source in cited.order_by("source__title"):
            found[pk].sources[slug] = tuple(source)
    else:
        # ``found`` is by history row; citations as they stood are by licence.
        licence_ids = dict(model.objects.filter(history_id__in=ids).values_list("history_id", "id"))
        cited = as_of.citations_of(LicenseCitation, register.as_of, list(licence_ids.values()))
        for history_id, licence_id in licence_ids.items():
            for citation in cited.get(licence_id, ()):
                source = citation.source
                found[history_id].sources[source.slug] = (source.title, source.publisher, source.url)


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
