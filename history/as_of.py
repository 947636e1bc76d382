"""Records as they stood on a date: ``?as_of=YYYY-MM-DD``, answered from the change history.

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
status, dates, passports and activities as they were); the facts recorded
about an audit (status changes, its auditor's accreditations, scope items,
findings, reserve figures) are read as they stood too (:func:`facts_then`),
by the same rules as today's. Names of related
records (holder, regulator…) are today's, and a row links to the record's
current page, which may have gone since (best effort: history keeps values,
not whole related records).

:func:`filterset_for` is the one entry point for lists, exports and the API:
given a list's FilterSet class and query string, it returns that FilterSet,
or, with a valid ``as_of``, its as-of variant over the history rows of
:func:`rows` (the records public then), which it filters and sorts. A caller
then reads those rows as records with :func:`records` (a slice: a page of the
HTML list or the API), :func:`page` (a slice and the count: the JSON export) or
:func:`iterate` (all of them: the CSV export). Records are model instances with
the snapshot's values, sets and citations, so templates, row builders and
serializers read them as they read today's.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
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
from simple_history.manager import SIMPLE_HISTORY_REVERSE_ATTR_NAME

from public import filters
from registry.dates import PartialDate
from registry.models import (
    Accreditation,
    Audit,
    AuditCitation,
    AuditFinding,
    AuditQuerySet,
    AuditScopeItem,
    AuditStatusChange,
    CryptoAsset,
    License,
    LicenseCitation,
    LicenseQuerySet,
    Publication,
    ReserveSnapshot,
    Source,
    SourcedRow,
    WhitePaper,
    WhitePaperCitation,
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
# The rule: public at an instant
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
    """Each record's latest history row by ``cutoff``, whatever it says (:func:`public_then` tells)."""
    history_model = model.history.model
    return history_model.objects.filter(history_date__lte=cutoff).filter(
        history_id=Subquery(_latest_by(history_model, _deeper(cutoff)))
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


def citing_then(cutoff) -> Q:
    """A citation's history row, if it is its latest by ``cutoff``, cited a source published then."""
    return ~Q(history_type="-") & was_public(Source, "source_id", cutoff, today=False)


def _citations_at(citation_model, cutoff, today=True):
    """Citation rows alive at ``cutoff`` whose source was published then (and, with ``today``, is published now)."""
    rows = _rows_at(citation_model, cutoff).filter(citing_then(cutoff))
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


def _named_public_now(model, path, per_row):
    """The record ``path`` names from the outer row is public today (its model's ``published()``).

    By default an ``IN`` list of the public records, read once per query: it suits a query that asks of
    every row (an as-of list). ``per_row``, an ``EXISTS`` per row: it suits a condition the database
    reaches for few rows (the feed's records gone since). Across a reference table (a licence's
    ``license_type__regime``) either goes through a subquery of it, so the outer query joins nothing.
    """
    first, _, rest = path.partition("__")
    related = model._meta.get_field(first).related_model
    if rest:
        public = related._base_manager.filter(_named_public_now(related, rest, per_row))
    else:
        public = related._default_manager.published()
    if per_row:
        return Exists(public.filter(pk=OuterRef(f"{first}_id")))
    return Q(**{f"{first}__in": public})


def _each_named(model, named) -> Q:
    """``named(path)`` for each record ``model``'s :class:`~registry.models.VisibilityRule` names (a licence's
    holder, regime, and regulator if any): all of them, an optional one only when the row names one."""
    rule = visibility_rule(model)
    condition = Q()
    for path in (*rule.requires, *rule.optional):
        condition &= (Q(**{f"{path}__isnull": True}) | named(path)) if path in rule.optional else named(path)
    return condition


def named_public_now(model, per_row=False) -> Q:
    """The records the outer history row of ``model`` names are public today (see :func:`_named_public_now`)."""
    return _each_named(model, lambda path: _named_public_now(model, path, per_row))


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
    condition = Q(publication_status=PUBLISHED) & ~Q(history_type="-")
    if today:
        condition &= named_public_now(model)
    condition &= _each_named(model, lambda path: _named_public_then(model, path, cutoff))
    condition &= _shown_then(model, cutoff, today)
    return condition & cited_then(model, cutoff, today) if cited else condition


# Records public only while a public record of another type names them, as their ``published()`` says with an
# EXISTS (a crypto-asset is known from its white papers): {model: (the naming model, its reference column)}.
SHOWN_BY = {CryptoAsset: (WhitePaper, "crypto_asset_id")}


def _shown_then(model, cutoff, today) -> Q | Exists:
    """For a model of :data:`SHOWN_BY`: a record naming the outer row's was public at ``cutoff`` too."""
    model = getattr(model, "instance_type", model)
    if model not in SHOWN_BY:
        return Q()
    naming, column = SHOWN_BY[model]
    inner = _deeper(cutoff)
    return Exists(_rows_at(naming, inner).filter(public_then(naming, inner, today), **{column: OuterRef("id")}))


# ---------------------------------------------------------------------------
# Records as they stood: the rows, a page of them, all of them
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What a list shows of one model's records as they stood, and how its history rows become them.

    ``joined`` is read with each history row (``select_related``); ``related`` the relations set on each
    record (today's records, see the module docstring); ``m2m`` the tracked many-to-many fields, read from
    the snapshot; ``citation_model`` the citations, as they stood, of sources published then and today;
    ``order`` the list's order (the live licence list sorts by stored copies of names, which history lacks);
    ``finish`` completes a page of records from the rest of the snapshot.
    """

    joined: tuple[str, ...]
    related: tuple[str, ...]
    m2m: tuple[str, ...]
    citation_model: type[models.Model] | None
    order: tuple[str, ...]
    finish: Callable[[list, datetime.date], None] | None = None


SHAPES = {
    License: Shape(
        joined=("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction"),
        related=("holder", "license_type", "regulator", "jurisdiction"),
        m2m=("activities", "passported_to"),
        citation_model=LicenseCitation,
        order=("holder__name", "license_type__regime__short_name", "slug"),
    ),
    Audit: Shape(
        joined=("subject", "standard", "auditor"),
        related=("subject", "standard", "auditor"),
        m2m=(),
        citation_model=AuditCitation,
        order=tuple(Audit._meta.ordering),
        # Each report's status that day, superseded by (or superseding) reports of the same snapshot, and the
        # facts about it (status changes, scope, findings, reserve figures, accreditations) as they stood.
        finish=lambda records, day: _audit_facts(link_supersession(records, at=day, **audit_snapshot(day)), day),
    ),
    WhitePaper: Shape(
        joined=("offeror", "filed_by", "regulator", "jurisdiction", "crypto_asset"),
        related=("offeror", "filed_by", "regulator", "jurisdiction", "crypto_asset"),
        m2m=("host_states",),
        citation_model=WhitePaperCitation,
        order=("-listed_on", "slug"),
    ),
    CryptoAsset: Shape(joined=(), related=(), m2m=(), citation_model=None, order=tuple(CryptoAsset._meta.ordering)),
}


def rows(model, day: datetime.date) -> models.QuerySet:
    """The history rows of ``model``'s records as they stood at the end of ``day``, public then (the rule:
    :func:`public_then`), in the list's order: what an as-of list filters, counts and pages."""
    shape = SHAPES[model]
    return standing(model, day).select_related(*shape.joined).order_by(*shape.order)


def standing(model, day: datetime.date) -> models.QuerySet:
    """Each record of ``model`` as it stood at the end of ``day``: its latest history row by then, if the record
    existed then and, for a curated model, was public then (:func:`public_then`). Unordered, for callers that
    need no list's shape (verification/register.py: entities, aliases and warning notices as they stood)."""
    cutoff = end_of_day(day)
    if any(field.name == "publication_status" for field in model._meta.fields):
        return _rows_at(model, cutoff).filter(public_then(model, cutoff))
    return _rows_at(model, cutoff).exclude(history_type="-")


def facts_then(model, day: datetime.date) -> models.QuerySet:
    """The rows of ``model``, a fact recorded about an audit or its auditor (status changes, accreditations,
    scope items, findings, reserve figures), as they stood at the end of ``day``: each row's latest history row
    by then, not a deletion, and, for a row that cites its own source (:class:`~registry.models.SourcedRow`),
    citing a source published then and today, as today's rows must cite a published one (``cited()``).

    Returned as ``model``'s own QuerySet class over those history rows, so the fact's one rule reads them as it
    reads today's (``bearing_on()``, ``latest_totals()``, ``with_ratio()``, the audit status rule).
    """
    if issubclass(model, SourcedRow):
        found = _citations_at(model, end_of_day(day))
    else:
        found = standing(model, day)
    queryset_class = type(model._default_manager.all())
    return queryset_class(model=found.model, query=found.query, using=found.db)


def audit_snapshot(day: datetime.date) -> dict:
    """What an audit's status on ``day`` is read against, as the register stood at its end: the audits that
    may supersede it (``candidates``) and the status changes then recorded (``changes``, :func:`facts_then`);
    the keyword arguments of :meth:`registry.models.AuditQuerySet.with_status`."""
    return {
        "candidates": rows(Audit, day),
        "changes": facts_then(AuditStatusChange, day),
    }


# The facts an audit's record carries, read as they stood (:func:`_audit_facts`), by relation; listed in their
# model's order within one audit, as today's are.
AUDIT_FACTS = {
    "status_changes": AuditStatusChange,
    "scope_items": AuditScopeItem,
    "findings": AuditFinding,
    "reserve_snapshots": ReserveSnapshot,
}


def _facts(model, day, order, **lookups) -> list:
    """The facts of ``model`` as they stood (:func:`facts_then`) that ``lookups`` select, in ``order``: instances
    of ``model`` with their source (an accreditation: its body and standard too; today's records) and, for
    reserve figures, the reserve-ratio rule's annotations, as today's rows are read (opendata/serializers.py)."""
    found = facts_then(model, day).filter(**lookups).order_by(*order)
    joined = ()
    if issubclass(model, SourcedRow):
        joined = ("source", "body", "standard") if model is Accreditation else ("source",)
        found = found.select_related(*joined).defer("source__archived_text", "source__notes")
    if model is ReserveSnapshot:
        found = found.with_ratio()
    annotations = tuple(found.query.annotations)
    found = list(found)
    instances = _instances(model, found)
    for row, obj in zip(found, instances, strict=True):
        for name in (*joined, *annotations):
            setattr(obj, name, getattr(row, name))
    return instances


def _grouped(instances, key) -> defaultdict:
    grouped = defaultdict(list)
    for obj in instances:
        grouped[getattr(obj, key)].append(obj)
    return grouped


def _audit_facts(audits: list, day: datetime.date) -> list:
    """Give each of ``audits`` (records as they stood at the end of ``day``) the facts about it as they stood
    then, where today's record has today's: its status changes, scope items, findings and reserve figures, and
    its auditor's accreditations, as those relations' prefetched rows (:func:`_answer_from`), so serializers
    and tables read them as they read today's, and never today's rows. A fixed number of queries."""
    if not audits:
        return audits
    ids = [audit.pk for audit in audits]
    for relation, model in AUDIT_FACTS.items():
        order = [name for name in model._meta.ordering if name != "audit"]
        by_audit = _grouped(_facts(model, day, order, audit_id__in=ids), "audit_id")
        for audit in audits:
            _answer_from(audit, {relation: (model, by_audit[audit.pk])})
    auditors = {audit.auditor_id for audit in audits if audit.auditor_id}
    order = ("body__name", "reference", "id")  # as the audit's serializer lists them (``vouched_by``)
    by_holder = _grouped(_facts(Accreditation, day, order, holder_id__in=auditors), "holder_id")
    for audit in audits:
        if audit.auditor_id:
            _answer_from(audit.auditor, {"accreditations": (Accreditation, by_holder[audit.auditor_id])})
    return audits


def records(model, day: datetime.date, history_rows) -> list:
    """The ``model`` records as they stood at the end of ``day`` that ``history_rows`` (some of :func:`rows`, a
    slice or a list) hold, in their order: instances with the snapshot's values, many-to-many sets and
    citations, for templates, row builders and serializers. A fixed number of queries, whatever the slice."""
    history_rows = list(history_rows)
    if not history_rows:
        return []
    shape = SHAPES[model]
    history_model = model.history.model
    snapshots = [Prefetch(*_m2m_prefetch(history_model, name)) for name in shape.m2m]
    prefetch_related_objects(history_rows, *snapshots)
    citations = defaultdict(list)
    if shape.citation_model is not None:
        citations = citations_of(shape.citation_model, day, [row.id for row in history_rows])
    instances = zip(history_rows, _instances(model, history_rows), strict=True)
    found = [_record(model, shape, day, row, obj, citations[row.id]) for row, obj in instances]
    if shape.finish is not None:
        shape.finish(found, day)
    return found


def page(model, day: datetime.date, history_rows, offset: int, limit: int) -> tuple[list, int]:
    """``(records, total)``: the records ``[offset:offset + limit]`` of ``history_rows`` and how many it holds.

    An offset past the end reads no records: a huge OFFSET overflows some backends.
    """
    total = history_rows.count()
    found = records(model, day, history_rows[offset : offset + limit]) if offset < total else []
    return found, total


def iterate(model, day: datetime.date, history_rows, chunk_size: int = 500) -> Iterator:
    """Every record of ``history_rows``, in its order, read ``chunk_size`` at a time."""
    offset = 0
    while True:
        chunk = records(model, day, history_rows[offset : offset + chunk_size])
        yield from chunk
        if len(chunk) < chunk_size:
            return
        offset += chunk_size


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


def _m2m_prefetch(history_model, field_name):
    """``(lookup, queryset)`` reading a many-to-many field's snapshot rows with the records they name."""
    accessor, _, target = m2m_snapshot(history_model, field_name)
    through = getattr(history_model, accessor).rel.related_model
    return accessor, through.objects.select_related(target)


def citations_of(citation_model, day, ids):
    """The citations, as they stood at the end of ``day``, of the records ``ids``, by record id (each with its
    source: today's record, published then and today)."""
    target_field = citation_model.TARGET_FIELD
    found = defaultdict(list)
    citations = (
        _citations_at(citation_model, end_of_day(day))
        .filter(**{f"{target_field}_id__in": ids})
        .select_related("source")
        .defer("source__archived_text")
        .order_by("supports", "source__title", "id")
    )
    for citation in citations:
        found[getattr(citation, f"{target_field}_id")].append(citation)
    return found


def _instances(model, history_rows):
    """The model instance each history row holds, as simple-history's ``row.instance`` makes it, except that the
    columns history does not keep (a licence's stored ``public`` flag and sort keys, read from today's record)
    are read for all the rows in one query, not one query a row."""
    history_model = model.history.model
    kept = [field.attname for field in history_model.tracked_fields]
    others = [
        field.attname
        for name in history_model._history_excluded_fields
        if not isinstance(field := model._meta.get_field(name), models.ManyToManyField)
    ]
    today = {}
    if others:
        current = model._default_manager.filter(pk__in=[row.id for row in history_rows]).values("pk", *others)
        today = {values.pop("pk"): values for values in current}
    instances = []
    for row in history_rows:
        obj = model(**{attname: getattr(row, attname) for attname in kept}, **today.get(row.id, {}))
        setattr(obj, SIMPLE_HISTORY_REVERSE_ATTR_NAME, row)  # as row.instance: the history row it came from
        instances.append(obj)
    return instances


def _record(model, shape, day, row, obj, citations):
    """The record a history row holds (``obj``, its instance), as it stood: today's related records, its sets
    then."""
    for name in shape.related:
        setattr(obj, name, getattr(row, name))
    sets = {}
    for field_name in shape.m2m:
        accessor, _, target = m2m_snapshot(type(row), field_name)
        items = sorted((getattr(item, target) for item in getattr(row, accessor).all()), key=str)
        sets[field_name] = (model._meta.get_field(field_name).related_model, items)
    if shape.citation_model is not None:
        sets["citations"] = (shape.citation_model, citations)
    _answer_from(obj, sets)
    obj.as_of = day
    return obj


def _answer_from(obj, sets):
    """Make ``obj.<relation>.all()`` answer each of ``sets`` (``{relation: (model, items)}``) without a query.

    History keeps a record's many-to-many sets and citations in its own tables, which no ``Prefetch`` can read
    into a live model's related manager, so they are stored the way ``prefetch_related_objects`` stores what
    it reads: in the instance's prefetch cache, each as an evaluated queryset of its model.
    """
    cache = getattr(obj, "_prefetched_objects_cache", {})
    for name, (related_model, items) in sets.items():
        queryset = related_model._default_manager.none()
        queryset._result_cache = list(items)
        queryset._prefetch_done = True
        cache[name] = queryset
    obj._prefetched_objects_cache = cache


# ---------------------------------------------------------------------------
# The as-of FilterSets
# ---------------------------------------------------------------------------


class AsOfMixin:
    """A list's FilterSet over the history rows of :func:`rows`: ``qs`` is those rows, filtered and sorted.

    Callers turn the rows they show into records as they stood with :func:`records` (or :func:`page`,
    :func:`iterate`).
    """

    as_of_day: datetime.date

    def __init__(self, *args, as_of_day, **kwargs):
        self.as_of_day = as_of_day
        super().__init__(*args, **kwargs)
        for name, query_name in self.snapshot_fields().items():
            self.filters[name].field_name = query_name

    def snapshot_fields(self):
        return {}


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

    def filter_in_force_on(self, queryset, name, value):
        # The rule lives on LicenseQuerySet; it reads only columns the snapshot has too.
        return LicenseQuerySet.in_force(queryset, at=value)


class AuditAsOfFilterSet(AsOfMixin, filters.AuditFilterSet):
    class Meta(filters.AuditFilterSet.Meta):
        model = Audit.history.model

    def filter_valid_on(self, queryset, name, value):
        # The rule lives on AuditQuerySet; a report is superseded by later ones of the same snapshot.
        return AuditQuerySet.valid(queryset, at=value, **audit_snapshot(self.as_of_day))

    def with_status(self, queryset):
        # Each report's status at the end of the as-of day, against the snapshot of that day.
        return AuditQuerySet.with_status(queryset, at=self.as_of_day, **audit_snapshot(self.as_of_day))

    def facts(self, model):
        # The filters' facts (accredited, scope_item, findings, reserves) as they stood at the end of the day.
        return facts_then(model, self.as_of_day)


class WhitePaperAsOfFilterSet(AsOfMixin, filters.WhitePaperFilterSet):
    class Meta(filters.WhitePaperFilterSet.Meta):
        model = WhitePaper.history.model

    def snapshot_fields(self):
        return {"host_state": snapshot_path(WhitePaper, "host_states")}

    @property
    def facets(self):
        # The host states as the snapshot kept them: a join the count reads distinct (no through table).
        path = snapshot_path(WhitePaper, "host_states")
        return tuple(
            filters.Facet(facet.param, facet.label, f"{path}__code", f"{path}__name") if facet.through else facet
            for facet in filters.WhitePaperFilterSet.facets
        )


class CryptoAssetAsOfFilterSet(AsOfMixin, filters.CryptoAssetFilterSet):
    class Meta(filters.CryptoAssetFilterSet.Meta):
        model = CryptoAsset.history.model

    def papers(self):
        # The white papers public at the end of the day, as they stood: their offeror, authority, states then.
        return standing(WhitePaper, self.as_of_day)

    def paper_path(self, relation):
        return snapshot_path(WhitePaper, relation)


def snapshot_path(model, field_name) -> str:
    """The query path from ``model``'s history rows to the records a tracked many-to-many field named then."""
    _, query_name, target = m2m_snapshot(model.history.model, field_name)
    return f"{query_name}__{target}"


AS_OF_VARIANTS = {
    filters.LicenseFilterSet: LicenseAsOfFilterSet,
    filters.AuditFilterSet: AuditAsOfFilterSet,
    filters.WhitePaperFilterSet: WhitePaperAsOfFilterSet,
    filters.CryptoAssetFilterSet: CryptoAssetAsOfFilterSet,
}


def filterset_for(filterset_class, data=None, queryset=None, request=None, **kwargs):
    """``filterset_class`` over ``queryset``; with a valid ``as_of`` in ``data``, its as-of variant over the
    history rows of :func:`rows` (``queryset`` is then not read).

    The returned FilterSet has ``as_of``, the day or None: with a day its ``qs`` holds history rows, which
    :func:`records` turns into the records as they stood.
    """
    variant = AS_OF_VARIANTS.get(filterset_class)
    day = parse_as_of(data) if variant else None
    if day is None:
        filterset = filterset_class(data, queryset=queryset, request=request, **kwargs)
    else:
        model = filterset_class._meta.model
        filterset = variant(data, queryset=rows(model, day), request=request, as_of_day=day, **kwargs)
    filterset.as_of = day
    return filterset
