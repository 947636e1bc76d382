"""The register as it stood on a past day: ``?as_of=YYYY-MM-DD``, answered from the change history.

The rule (also in docs/api.md): the end of day D is 23:59:59.999999 UTC. For
each licence (or audit) we take its latest django-simple-history row dated no
later than that. The record is listed when

* that row is not a deletion and its snapshot was published;
* the records it names (a licence's holder, regime and regulator; an audit's
  subject and auditor) were published at that moment too (their own latest
  history rows by then), and are published today, because their current names
  and pages are what the list shows and links to;
* it cited, at that moment, at least one source published then and today.

That rule is :func:`public_then`, derived from each model's
:class:`~registry.models.VisibilityRule` (the rule of its ``published()``
written as data); the change feed asks it of each history row at the row's
own instant, so a record enters the feed when it became public.

Filters, facets and sorting then apply to the snapshot's own values (its
status, dates, passports and activities as they were). Names of related
records (holder, regulator…) are today's, and a row links to the record's
current page, which may have gone since (best effort: history keeps values,
not whole related records).

:func:`filterset_for` is the one entry point for lists, exports and the API:
given a list's FilterSet class and query string, it returns that FilterSet,
or, with a valid ``as_of``, its as-of variant over the snapshot rows. The
variant's ``qs`` is a :class:`Snapshots` sequence yielding model instances as
they stood, so templates, row builders and serializers work unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    Subquery,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce

from public import filters
from registry.dates import PartialDate
from registry.models import (
    Audit,
    AuditCitation,
    AuditQuerySet,
    License,
    LicenseCitation,
    LicenseQuerySet,
    Publication,
    Source,
    link_supersession,
    path_model,
    visibility_rule,
)

PUBLISHED = Publication.PUBLISHED


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last instant of ``day`` in UTC (no ``day + 1``: 9999-12-31 is a valid, if hopeful, answer)."""
    return datetime.datetime.combine(day, datetime.time.max, tzinfo=datetime.UTC)


def parse_as_of(data) -> datetime.date | None:
    """The valid ``as_of`` day of a query string, else None (the FilterSet reports a bad value itself)."""
    if not data:
        return None
    raw = data.get("as_of")
    if raw in (None, ""):
        return None
    try:
        return filters.DayField(required=False).clean(raw)
    except ValidationError:
        return None


def display_day(day: datetime.date) -> str:
    """``1 March 2025``: a day known to the day, shown the register's way."""
    return str(PartialDate(day))


# ---------------------------------------------------------------------------
# Snapshot querysets
# ---------------------------------------------------------------------------


def _deeper(cutoff):
    """``cutoff`` as written one subquery further in.

    A cutoff is a fixed instant, or a column: ``F("history_date")`` of the rows being filtered (the change
    feed asks about each row's own instant), ``OuterRef(...)`` of an enclosing query's rows. A subquery
    reaches the same column through one more ``OuterRef``.
    """
    if isinstance(cutoff, OuterRef):
        return OuterRef(cutoff)
    if isinstance(cutoff, F):
        return OuterRef(cutoff.name)
    return cutoff


def _latest_by(history_model, cutoff):
    """The id of the outer history row's record's latest history row by ``cutoff`` (ties broken by id).

    ``cutoff`` as seen from this subquery (see :func:`_deeper`).
    """
    return (
        history_model.objects.filter(id=OuterRef("id"), history_date__lte=cutoff)
        .order_by("-history_date", "-history_id")
        .values("history_id")[:1]
    )


def _rows_at(model, cutoff):
    """Each record's latest history row by ``cutoff``, when it is a published snapshot and not a deletion."""
    history_model = model.history.model
    return (
        history_model.objects.filter(history_date__lte=cutoff, publication_status=PUBLISHED)
        .exclude(history_type="-")
        .filter(history_id=Subquery(_latest_by(history_model, _deeper(cutoff))))
    )


def was_public(model, reference, cutoff, today=True, cited=True):
    """The ``model`` record the outer row's ``reference`` names was public at ``cutoff`` (see :func:`public_then`).

    One lookup of that record's latest history row by ``cutoff`` (a scalar
    subquery), whose snapshot the rule is then evaluated on: cheaper than
    asking whether some row is both the latest and public.
    """
    inner = _deeper(cutoff)
    latest = model.history.model.objects.filter(id=OuterRef(reference), history_date__lte=inner)
    public = ExpressionWrapper(public_then(model, inner, today, cited), output_field=BooleanField())
    answer = latest.order_by("-history_date", "-history_id").annotate(public=public).values("public")[:1]
    return Coalesce(Subquery(answer, output_field=BooleanField()), Value(False), output_field=BooleanField())


def _citations_at(citation_model, cutoff, today=True):
    """Citation rows alive at ``cutoff`` whose source was published then (and, with ``today``, is published now)."""
    history_model = citation_model.history.model
    rows = (
        history_model.objects.filter(history_date__lte=cutoff)
        .exclude(history_type="-")
        .filter(history_id=Subquery(_latest_by(history_model, _deeper(cutoff))))
        .filter(was_public(Source, "source_id", cutoff, today=False))
    )
    return rows.filter(source__in=Source.objects.published()) if today else rows


def _named_public_then(model, path, cutoff):
    """The record ``path`` names from the outer row was public at ``cutoff``; across a reference table
    (a licence's ``license_type__regime``) through a subquery of it, not a join."""
    first, _, rest = path.partition("__")
    if not rest:
        return was_public(path_model(model, first), f"{first}_id", cutoff, today=False)
    through = model._meta.get_field(first).related_model
    inner = _deeper(cutoff)
    return Exists(through._base_manager.filter(_named_public_then(through, rest, inner), pk=OuterRef(f"{first}_id")))


def cited_then(model, cutoff, today=True, reference="id") -> Q | Exists:
    """The ``model`` record the outer row's ``reference`` names cited, at ``cutoff``, a source published then
    (with ``today``: and now). Always true for a model whose rule asks for no citation."""
    rule = visibility_rule(model)
    if not rule.cited_by:
        return Q()
    citation_model = model._meta.get_field(rule.cited_by).related_model
    target = f"{citation_model.TARGET_FIELD}_id"
    return Exists(_citations_at(citation_model, _deeper(cutoff), today).filter(**{target: OuterRef(reference)}))


def public_then(model, cutoff, today=True, cited=True) -> Q:
    """The history rows of ``model`` whose snapshot was public at ``cutoff``: the as-of rule.

    The snapshot is published and not a deletion; the records its model's
    :class:`~registry.models.VisibilityRule` names (a licence's holder, regime
    and regulator if any) were published at ``cutoff`` (their own latest
    history rows by then); and, for a cited record, a citation alive at
    ``cutoff`` cited a source published then. With ``today`` the named records
    and that source must also be published now: the as-of lists show today's
    names and link to today's pages. The change feed asks without ``today``,
    each row at its own instant (``cutoff=F("history_date")``). Without
    ``cited``, the citations are left for the caller to check (:func:`cited_then`).
    """
    rule = visibility_rule(model)
    condition = Q(publication_status=PUBLISHED) & ~Q(history_type="-")
    for path in (*rule.requires, *rule.optional):
        related = path_model(model, path)
        named = _named_public_then(model, path, cutoff)
        if today:
            named = Q(**{f"{path}__in": related._default_manager.published()}) & named
        condition &= (Q(**{f"{path}__isnull": True}) | named) if path in rule.optional else named
    return condition & cited_then(model, cutoff, today) if cited else condition


def license_snapshots(day: datetime.date):
    """Published licence snapshots at the end of ``day`` (see the module docstring for the rule)."""
    cutoff = end_of_day(day)
    return (
        _rows_at(License, cutoff)
        .filter(public_then(License, cutoff))
        .select_related("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
        # The list's order; the live model's sort-key copies (holder_name, regime_name) have no history.
        .order_by("holder__name", "license_type__regime__short_name", "slug")
    )


def audit_snapshots(day: datetime.date):
    """Published audit snapshots at the end of ``day``."""
    cutoff = end_of_day(day)
    return (
        _rows_at(Audit, cutoff)
        .filter(public_then(Audit, cutoff))
        .select_related("subject", "standard", "auditor")
        .order_by(*Audit._meta.ordering)
    )


# ---------------------------------------------------------------------------
# From history rows to records as they stood
# ---------------------------------------------------------------------------


def m2m_snapshot(history_model, field_name):
    """``(accessor, query name, target field)`` of a tracked many-to-many field's snapshot rows."""
    for m2m_field in history_model._history_m2m_fields:
        if m2m_field.name != field_name:
            continue
        through = m2m_field.remote_field.through
        for rel in history_model._meta.related_objects:
            if getattr(rel.related_model, "instance_type", None) is through:
                return rel.get_accessor_name(), rel.field.related_query_name(), m2m_field.m2m_reverse_field_name()
    raise LookupError(f"{history_model.__name__} does not track {field_name}")


def _cached(model, items):
    """A queryset whose result is ``items``: what ``obj.<relation>.all()`` returns after a prefetch."""
    queryset = model.objects.none()
    queryset._result_cache = list(items)
    queryset._prefetch_done = True
    return queryset


class Snapshot:
    """How the history rows of one model become instances: related objects, m2m snapshots, citations."""

    def __init__(self, model, related, m2m, citation_model, day, finish=None):
        self.model = model
        self.related = related
        self.m2m = m2m
        self.citation_model = citation_model
        self.day = day
        # Called with the records of each slice: what they need from the rest of the snapshot.
        self.finish = finish

    def records(self, rows):
        rows = list(rows)
        if not rows:
            return []
        history_model = self.model.history.model
        lookups = []
        for field_name in self.m2m:
            accessor, _, target = m2m_snapshot(history_model, field_name)
            through = getattr(history_model, accessor).rel.related_model
            lookups.append(Prefetch(accessor, queryset=through.objects.select_related(target)))
        prefetch_related_objects(rows, *lookups)
        citations = defaultdict(list)
        target_field = self.citation_model.TARGET_FIELD
        citation_rows = (
            _citations_at(self.citation_model, end_of_day(self.day))
            .filter(**{f"{target_field}_id__in": [row.id for row in rows]})
            .select_related("source")
            .defer("source__archived_text")
            .order_by("supports", "source__title", "id")
        )
        for citation in citation_rows:
            citations[getattr(citation, f"{target_field}_id")].append(citation)
        records = [self._record(row, citations[row.id]) for row in rows]
        if self.finish is not None:
            self.finish(records)
        return records

    def _record(self, row, citations):
        obj = row.instance
        for name in self.related:
            setattr(obj, name, getattr(row, name))
        cache = {}
        for field_name in self.m2m:
            accessor, _, target = m2m_snapshot(type(row), field_name)
            related_model = self.model._meta.get_field(field_name).related_model
            items = [getattr(item, target) for item in getattr(row, accessor).all()]
            cache[field_name] = _cached(related_model, sorted(items, key=str))
        cache["citations"] = _cached(self.citation_model, citations)
        obj._prefetched_objects_cache = cache
        obj.as_of = self.day
        return obj


class Snapshots:
    """Filtered snapshot rows that behave like a QuerySet of records as they stood.

    Enough of the QuerySet API for Django's paginator, DRF's pagination and the
    exports: ``count``, slicing, iteration and ``iterator``. Each slice turns
    its rows into instances with a fixed number of queries.
    """

    ordered = True

    def __init__(self, rows, snapshot):
        self.rows = rows
        self.snapshot = snapshot
        self.model = snapshot.model

    def count(self):
        return self.rows.count()

    def __len__(self):
        return self.count()

    def exists(self):
        return self.rows.exists()

    def all(self):
        return self

    def __getitem__(self, key):
        if isinstance(key, int):
            found = self[key : key + 1]
            if not found:
                raise IndexError(key)
            return found[0]
        return self.snapshot.records(self.rows[key])

    def __iter__(self):
        return self.iterator()

    def iterator(self, chunk_size=500):
        offset = 0
        while True:
            chunk = self[offset : offset + chunk_size]
            yield from chunk
            if len(chunk) < chunk_size:
                return
            offset += chunk_size


# ---------------------------------------------------------------------------
# The as-of FilterSets
# ---------------------------------------------------------------------------


class AsOfMixin:
    """A list's FilterSet over snapshot rows: ``qs`` yields records as they stood on ``as_of``."""

    as_of_day: datetime.date

    def __init__(self, *args, as_of_day, **kwargs):
        self.as_of_day = as_of_day
        super().__init__(*args, **kwargs)
        for name, query_name in self.snapshot_fields().items():
            self.filters[name].field_name = query_name

    def snapshot_fields(self):
        return {}

    @property
    def qs(self):
        return Snapshots(super().qs, self.snapshot())


# The live sorts read the licence's sort-key copies, which history rows lack: snapshots sort by the originals.
_SNAPSHOT_COLUMNS = {"holder_name": "holder__name", "regime_name": "license_type__regime__short_name"}
LICENSE_SNAPSHOT_SORTS = tuple(
    dataclasses.replace(
        sort,
        fields=tuple(_SNAPSHOT_COLUMNS.get(name, name) if isinstance(name, str) else name for name in sort.fields),
    )
    for sort in filters.LicenseFilterSet.sorts
)


class LicenseAsOfFilterSet(AsOfMixin, filters.LicenseFilterSet):
    sorts = LICENSE_SNAPSHOT_SORTS
    sort = filters.SortFilter(sorts=LICENSE_SNAPSHOT_SORTS)

    class Meta(filters.LicenseFilterSet.Meta):
        model = License.history.model

    def snapshot_fields(self):
        _, activities, target = m2m_snapshot(License.history.model, "activities")
        return {"activity": f"{activities}__{target}"}

    def snapshot(self):
        return Snapshot(
            License,
            ("holder", "license_type", "regulator", "jurisdiction"),
            ("activities", "passported_to"),
            LicenseCitation,
            self.as_of_day,
        )

    def filter_in_force_on(self, queryset, name, value):
        # The rule lives on LicenseQuerySet; it reads only columns the snapshot has too.
        return LicenseQuerySet.in_force(queryset, at=value)


class AuditAsOfFilterSet(AsOfMixin, filters.AuditFilterSet):
    class Meta(filters.AuditFilterSet.Meta):
        model = Audit.history.model

    def snapshot(self):
        day = self.as_of_day
        return Snapshot(
            Audit,
            ("subject", "standard", "auditor"),
            (),
            AuditCitation,
            day,
            # Each record's status that day, superseded by (or superseding) reports of the same snapshot.
            finish=lambda records: link_supersession(records, at=day, candidates=audit_snapshots(day)),
        )

    def filter_valid_on(self, queryset, name, value):
        # The rule lives on AuditQuerySet; a report is superseded by later ones of the same snapshot.
        return AuditQuerySet.valid(queryset, at=value, candidates=audit_snapshots(self.as_of_day))


AS_OF_VARIANTS = {
    filters.LicenseFilterSet: (LicenseAsOfFilterSet, license_snapshots),
    filters.AuditFilterSet: (AuditAsOfFilterSet, audit_snapshots),
}


def filterset_for(filterset_class, data=None, queryset=None, request=None, **kwargs):
    """``filterset_class`` over ``queryset``; with a valid ``as_of`` in ``data``, its as-of variant over snapshots.

    The returned FilterSet has ``as_of`` (the day, or None) for banners and serializers.
    """
    variant = AS_OF_VARIANTS.get(filterset_class)
    day = parse_as_of(data) if variant else None
    if day is None:
        filterset = filterset_class(data, queryset=queryset, request=request, **kwargs)
    else:
        variant_class, snapshots = variant
        filterset = variant_class(data, queryset=snapshots(day), request=request, as_of_day=day, **kwargs)
    filterset.as_of = day
    return filterset
