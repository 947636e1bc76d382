"""CSV and JSON exports of the public lists.

Each record type has one row builder giving an ordered dict of plain values.
The JSON export nests it under a stable shape (``docs/exports.md``); the CSV
export flattens it, one record per row. Both receive querysets that started
from ``published()`` and were filtered by the list's own FilterSet.

A row builder reads a record either from a model instance (the as-of exports
and the dataset releases hand it instances) or, for a plain QuerySet, from
``values()`` a batch at a time (:meth:`RecordRows.read`): tens of thousands of
rows then cost a few queries per batch and no model instances, and the memory
held is one batch whatever the size of the register.
"""

from __future__ import annotations

import csv
import io
import json
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

from registry.dates import PartialDate
from registry.links import detail_path
from registry.models import (
    AuditCitation,
    AuditKind,
    AuditStatus,
    EntityAlias,
    EntityCitation,
    EntityKind,
    License,
    LicenseCitation,
    LicenseStatus,
    Publication,
    Regime,
    Regulator,
    granted_in_field,
    link_supersession,
)

# Records per query while streaming a CSV: each batch is one IN (...) list of primary keys, kept under
# SQLite's historical limit of 999 bound parameters so any build of it accepts the query.
CSV_BATCH_SIZE = 900
JSON_DEFAULT_SIZE = 100
JSON_MAX_SIZE = 1000

# Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A CSV cell that a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def invalid_parameters(errors) -> JsonResponse:
    """400 naming every bad parameter and why: ``{"error": ..., "parameters": {name: [messages]}}``."""
    parameters = {name: [str(message) for message in messages] for name, messages in errors.items()}
    return JsonResponse({"error": "invalid parameter", "parameters": parameters}, status=400)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def partial(value):
    """A partial date as ``(iso, display)``: ``("2025-03", "March 2025")``; blanks for no date."""
    if value is None:
        return "", ""
    return value.isoformat(), str(value)


def absolute(request, obj):
    return request.build_absolute_uri(obj.get_absolute_url())


def published_or_none(obj):
    """A related curated record, unless it is a draft (an affiliate's draft group stays hidden)."""
    if obj is None or not obj.is_published:
        return None
    return obj


def sources_of(obj):
    """Published sources cited by ``obj``; ``citations`` is prefetched with published sources only."""
    seen, result = set(), []
    for citation in obj.citations.all():
        if citation.source_id not in seen:
            seen.add(citation.source_id)
            result.append(citation.source)
    return result


@lru_cache(maxsize=4096)
def _partial_columns(day, precision):
    # Cached: a register holds few distinct dates, and building and naming one is most of a row's cost.
    return partial(PartialDate.from_columns(day, precision))


def _blank(value):
    """A nullable column's value, or "" (the column of a relation the record does not have)."""
    return "" if value is None else value


class Links:
    """Absolute URLs of detail pages for one request.

    ``absolute(request, obj)`` builds the whole URL per call; this takes the
    request's origin once and each path from :func:`registry.links.detail_path`,
    so a row costs no pattern resolution and the URLs are the same.
    """

    def __init__(self, request):
        self.origin = request.build_absolute_uri("/")[:-1]

    def __call__(self, url_name, slug):
        return self.origin + detail_path(url_name, slug)


# ---------------------------------------------------------------------------
# Row builders: one per record type. Keys are the export's column names.
# ---------------------------------------------------------------------------

LICENSE_PAGE = "registry:license-detail"
AUDIT_PAGE = "registry:audit-detail"
ENTITY_PAGE = "registry:entity-detail"
REGULATOR_PAGE = "registry:regulator-detail"
SOURCE_PAGE = "registry:source-detail"

# The labels ``get_<field>_display()`` gives (a value without one shows as itself).
LICENSE_STATUSES = {value: str(label) for value, label in LicenseStatus.choices}
_AUDIT_KINDS = {value: str(label) for value, label in AuditKind.choices}
_AUDIT_STATUSES = {value: str(label) for value, label in AuditStatus.choices}
_ENTITY_KINDS = {value: str(label) for value, label in EntityKind.choices}
# ``License.client_scope``: the client types, in this order, each from its ``serves_<type>`` column.
_CLIENT_SCOPES = ("retail", "professional", "institutional")


def _grouped(pairs):
    grouped = defaultdict(list)
    for owner, value in pairs:
        grouped[owner].append(value)
    return grouped


@dataclass(frozen=True)
class Related:
    """A list column: ``value`` of each record the many-to-many ``relation`` of ``model`` links to.

    An instance's list comes from its prefetch, in the related model's order;
    :meth:`load` reads a batch's lists in one query, in that same order. ``only``
    narrows the related records (a regulator's published regimes) as the prefetch does.
    """

    model: type
    relation: str
    value: str
    only: Callable[[], QuerySet] | None = None

    def of(self, obj):
        return [getattr(item, self.value) for item in getattr(obj, self.relation).all()]

    def load(self, ids):
        field = self.model._meta.get_field(self.relation)
        owner, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        links = field.remote_field.through.objects.filter(**{f"{owner}__in": ids})
        if self.only is not None:
            links = links.filter(**{f"{target}__in": self.only()})
        # Ordering by the relation itself sorts by the related model's Meta.ordering, as its prefetch does.
        return _grouped(links.order_by(target).values_list(owner, f"{target}__{self.value}"))


@dataclass(frozen=True)
class Children:
    """A list column: ``value`` of the ``model`` records whose foreign key ``field`` names the record."""

    model: type
    field: str
    relation: str
    value: str

    def of(self, obj):
        return [getattr(item, self.value) for item in getattr(obj, self.relation).all()]

    def load(self, ids):
        # The model's own ordering, which its prefetch through ``relation`` has too.
        return _grouped(self.model.objects.filter(**{f"{self.field}__in": ids}).values_list(self.field, self.value))


@dataclass(frozen=True)
class CitedSources:
    """The ``sources`` column: slugs of the published sources a record cites, each once, in citation order."""

    citation_model: type

    def of(self, obj):
        return [source.slug for source in sources_of(obj)]

    def load(self, ids):
        target = self.citation_model.TARGET_FIELD
        # Within one record, the citations' own ordering (what follows the record in Meta.ordering),
        # which is the order the views' prefetch hands to ``sources_of``.
        within = [name for name in self.citation_model._meta.ordering if name != target]
        citations = (
            self.citation_model.objects.filter(**{f"{target}__in": ids})
            .order_by(*within)
            .values_list(target, "source_id", "source__slug", "source__publication_status")
        )
        sources = defaultdict(dict)
        for owner, source_id, slug, status in citations:
            # ``CitationQuerySet.published()``, applied here rather than in SQL: given that condition, SQLite
            # (without statistics) reads every published source and probes each against each record of the
            # batch, about 13 times slower than reading the batch's citations by their index.
            if status == Publication.PUBLISHED:
                sources[owner].setdefault(source_id, slug)
        return {owner: list(slugs.values()) for owner, slugs in sources.items()}


class _Attributes:
    """A model instance read like a row of ``values()``: ``record["holder__name"]`` is ``obj.holder.name``.

    A path through an empty relation reads None, as the LEFT JOIN of ``values()``
    does; the list columns come ready-made in ``lists``.
    """

    __slots__ = ("lists", "obj")

    def __init__(self, obj, lists):
        self.obj = obj
        self.lists = lists

    def __getitem__(self, path):
        if path in self.lists:
            return self.lists[path]
        value = self.obj
        for name in path.split("__"):
            value = getattr(value, name)
            if value is None:
                return None
        return value


class RecordRows:
    """The export rows of one record type: ``rows(request, obj)`` for an instance, :meth:`read` for a queryset.

    Both make each row with :meth:`build`, from a record read from an instance
    or from ``values()``, so the two cannot disagree. ``fields`` are the
    ``values()`` paths :meth:`build` reads (``pk`` first), ``lists`` its list
    columns (each reads an instance's prefetched relation, or a whole batch's in
    one query) and ``columns`` the CSV header, set with :func:`_columns`. ``expressions`` are values computed by
    the database, each named by the path that reads the same value from an instance (``granted_in__code``).
    """

    columns: list[str]
    fields: tuple[str, ...] = ()
    expressions: dict = {}
    lists: dict = {}

    def build(self, link, record):
        raise NotImplementedError

    def __call__(self, request, obj):
        lists = {name: column.of(obj) for name, column in self.lists.items()}
        return self.build(Links(request), _Attributes(obj, lists))

    def _rows(self, link, queryset, keys):
        """The rows of the records ``keys`` names, in that order: one query, and one per list column.

        The records are read through ``queryset`` (its filters, not its order), so a
        record unpublished since its key was read is left out, never leaked.
        """
        found = {
            record["pk"]: record
            for record in queryset.order_by().filter(pk__in=keys).values(*self.fields, **self.expressions)
        }
        records = [found[pk] for pk in keys if pk in found]
        if not records:
            return []
        loaded = {name: column.load(list(found)) for name, column in self.lists.items()}
        rows = []
        for record in records:
            for name, lists in loaded.items():
                record[name] = lists.get(record["pk"], [])
            rows.append(self.build(link, record))
        return rows

    def page(self, request, queryset, offset, size):
        """Rows ``offset`` to ``offset + size`` of ``queryset``, in its order.

        The page's keys first, then its records by key: the database sorts the
        narrow rows of keys rather than every column of every matching record.
        """
        queryset = queryset.prefetch_related(None)
        keys = list(queryset.values_list("pk", flat=True)[offset : offset + size])
        return self._rows(Links(request), queryset, keys) if keys else []

    def read(self, request, queryset, batch_size):
        """Every row of ``queryset``, in its order, as lists of at most ``batch_size`` rows.

        One query reads the primary keys in the queryset's order (8 bytes a
        record are held); each batch is then read by key. So the rows are sorted
        once, no cursor stays open while the client downloads, and memory holds
        one batch whatever the number of rows.
        """
        queryset = queryset.prefetch_related(None)
        keys = array("q", queryset.values_list("pk", flat=True).iterator(chunk_size=batch_size))
        link = Links(request)
        for start in range(0, len(keys), batch_size):
            rows = self._rows(link, queryset, keys[start : start + batch_size].tolist())
            if rows:
                yield rows


class LicenseRows(RecordRows):
    fields = (
        "pk",
        "slug",
        "holder__name",
        "holder__slug",
        "license_type__regime__short_name",
        "license_type__regime__slug",
        "license_type__name",
        "license_type__slug",
        "regulator__name",
        "regulator__slug",
        "jurisdiction_id",
        "status",
        "granted_on",
        "granted_on_precision",
        "ended_on",
        "ended_on_precision",
        "serves_retail",
        "serves_professional",
        "serves_institutional",
        "reference_number",
        "conditions",
    )
    # Where it was granted: License.granted_in, the same rule in SQL.
    expressions = {"granted_in__code": granted_in_field("code"), "granted_in__name": granted_in_field("name")}
    lists = {
        "passported_to": Related(License, "passported_to", "code"),
        "activities": Related(License, "activities", "name"),
        "sources": CitedSources(LicenseCitation),
    }

    def build(self, link, record):
        slug, holder_slug, status = record["slug"], record["holder__slug"], record["status"]
        granted_iso, granted_display = _partial_columns(record["granted_on"], record["granted_on_precision"])
        ended_iso, ended_display = _partial_columns(record["ended_on"], record["ended_on_precision"])
        return {
            "url": link(LICENSE_PAGE, slug),
            "slug": slug,
            "holder": record["holder__name"],
            "holder_slug": holder_slug,
            "holder_url": link(ENTITY_PAGE, holder_slug),
            "regime": record["license_type__regime__short_name"],
            "regime_slug": record["license_type__regime__slug"],
            "license_type": record["license_type__name"],
            "license_type_slug": record["license_type__slug"],
            "regulator": _blank(record["regulator__name"]),
            "regulator_slug": _blank(record["regulator__slug"]),
            "granted_in": record["granted_in__code"],
            "granted_in_name": record["granted_in__name"],
            "granted_in_stated": record["jurisdiction_id"] is not None,
            "passported_to": record["passported_to"],
            "status": status,
            "status_display": LICENSE_STATUSES.get(status, status),
            "granted": granted_iso,
            "granted_display": granted_display,
            "ended": ended_iso,
            "ended_display": ended_display,
            "activities": record["activities"],
            "client_scope": [scope for scope in _CLIENT_SCOPES if record[f"serves_{scope}"]],
            "reference_number": record["reference_number"],
            "conditions": record["conditions"],
            "sources": [link(SOURCE_PAGE, source) for source in record["sources"]],
        }


class AuditRows(RecordRows):
    fields = (
        "pk",
        "slug",
        "subject__name",
        "subject__slug",
        "kind",
        "standard__name",
        "standard__slug",
        "auditor__name",
        "auditor__slug",
        "scope",
        "issued_on",
        "issued_on_precision",
        "period_start",
        "period_start_precision",
        "period_end",
        "period_end_precision",
        "valid_until",
        "valid_until_precision",
        "ongoing",
        "reference",
        # Annotated by AuditQuerySet.with_status (or set by link_supersession on an as-of record).
        "status",
        "superseded_by_slug",
    )
    lists = {"sources": CitedSources(AuditCitation)}

    def __call__(self, request, obj):
        # An instance loaded without its status (AuditQuerySet.with_status) is given it here, by the same rule.
        if not hasattr(obj, "status_day"):
            link_supersession([obj])
        return super().__call__(request, obj)

    def _rows(self, link, queryset, keys):
        if "status" not in queryset.query.annotations:
            queryset = queryset.with_status()
        return super()._rows(link, queryset, keys)

    def build(self, link, record):
        slug, subject_slug, kind = record["slug"], record["subject__slug"], record["kind"]
        status, superseded_by = record["status"] or "", record["superseded_by_slug"]
        issued_iso, issued_display = _partial_columns(record["issued_on"], record["issued_on_precision"])
        start_iso, start_display = _partial_columns(record["period_start"], record["period_start_precision"])
        end_iso, end_display = _partial_columns(record["period_end"], record["period_end_precision"])
        until_iso, until_display = _partial_columns(record["valid_until"], record["valid_until_precision"])
        return {
            "url": link(AUDIT_PAGE, slug),
            "slug": slug,
            "subject": record["subject__name"],
            "subject_slug": subject_slug,
            "subject_url": link(ENTITY_PAGE, subject_slug),
            "kind": kind,
            "kind_display": _AUDIT_KINDS.get(kind, kind),
            "standard": _blank(record["standard__name"]),
            "standard_slug": _blank(record["standard__slug"]),
            "auditor": _blank(record["auditor__name"]),
            "auditor_slug": _blank(record["auditor__slug"]),
            "scope": record["scope"],
            "issued": issued_iso,
            "issued_display": issued_display,
            "period_start": start_iso,
            "period_start_display": start_display,
            "period_end": end_iso,
            "period_end_display": end_display,
            "valid_until": until_iso,
            "valid_until_display": until_display,
            "ongoing": record["ongoing"],
            "reference": record["reference"],
            "status": status,
            "status_display": _AUDIT_STATUSES.get(status, ""),
            "superseded_by": link(AUDIT_PAGE, superseded_by) if superseded_by else "",
            "sources": [link(SOURCE_PAGE, source) for source in record["sources"]],
        }


class EntityRows(RecordRows):
    fields = (
        "pk",
        "slug",
        "name",
        "kind",
        "parent__publication_status",
        "parent__name",
        "parent__slug",
        "jurisdiction__code",
        "jurisdiction__name",
        "lei",
        "website",
    )
    lists = {
        "aliases": Children(EntityAlias, "entity", "aliases", "name"),
        "sources": CitedSources(EntityCitation),
    }

    def build(self, link, record):
        slug, kind = record["slug"], record["kind"]
        # An affiliate's draft group stays hidden (as ``published_or_none``).
        group = record["parent__publication_status"] == Publication.PUBLISHED
        return {
            "url": link(ENTITY_PAGE, slug),
            "slug": slug,
            "name": record["name"],
            "kind": kind,
            "kind_display": _ENTITY_KINDS.get(kind, kind),
            "group": record["parent__name"] if group else "",
            "group_slug": record["parent__slug"] if group else "",
            "jurisdiction": _blank(record["jurisdiction__code"]),
            "jurisdiction_name": _blank(record["jurisdiction__name"]),
            "aliases": record["aliases"],
            "lei": record["lei"],
            "website": record["website"],
            "sources": [link(SOURCE_PAGE, source) for source in record["sources"]],
        }


def _published_regimes():
    return Regime.objects.published()


class RegulatorRows(RecordRows):
    fields = ("pk", "slug", "name", "abbreviation", "jurisdiction__code", "jurisdiction__name", "website")
    lists = {"regimes": Related(Regulator, "regimes", "short_name", only=_published_regimes)}

    def build(self, link, record):
        slug = record["slug"]
        return {
            "url": link(REGULATOR_PAGE, slug),
            "slug": slug,
            "name": record["name"],
            "abbreviation": record["abbreviation"],
            "jurisdiction": record["jurisdiction__code"],
            "jurisdiction_name": record["jurisdiction__name"],
            "regimes": record["regimes"],
            "website": record["website"],
        }


# Each is called as ``license_row(request, licence)``. Every record type is keyed by its slug (its natural key
# too, so no separate natural_key column repeats it).
license_row = LicenseRows()
audit_row = AuditRows()
entity_row = EntityRows()
regulator_row = RegulatorRows()


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------


def csv_cell(value):
    # Most cells are plain text: answered before the general case, since a large export has millions of cells.
    if type(value) is str:
        return "'" + value if value.startswith(FORMULA_PREFIXES) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        value = "; ".join(str(item) for item in value)
    return neutralise(value)


def _taken(buffer):
    """What was written to ``buffer`` since the last call, leaving it empty."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


@dataclass(frozen=True)
class Listing:
    """Records an export reads from a service rather than a QuerySet (history: the change feed, records as
    they stood on a past day): ``page(offset, limit)`` gives ``(objects, total)``, ``iterate(chunk_size)``
    every object. The row builder makes each row from an object."""

    page: Callable[[int, int], tuple[list, int]]
    iterate: Callable[[int], Iterator]


def _row_batches(request, queryset, row_builder):
    """The rows of ``queryset`` (a QuerySet, or a :class:`Listing`) as lists of at most ``CSV_BATCH_SIZE``."""
    if isinstance(queryset, QuerySet) and isinstance(row_builder, RecordRows):
        yield from row_builder.read(request, queryset, CSV_BATCH_SIZE)
        return
    objects = queryset.iterate(CSV_BATCH_SIZE)
    while chunk := list(islice(objects, CSV_BATCH_SIZE)):
        yield [row_builder(request, obj) for obj in chunk]


def csv_response(request, queryset, row_builder, filename):
    """Stream every row of ``queryset`` as CSV, a batch at a time so memory stays flat.

    The header goes out before any query runs, so the download starts at once
    however long the database takes to sort the rows; then one chunk per batch.
    """

    def lines():
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        # The BOM makes spreadsheets read the file as UTF-8.
        buffer.write("\ufeff")
        writer.writerow(row_builder.columns)
        yield _taken(buffer)
        for rows in _row_batches(request, queryset, row_builder):
            writer.writerows(map(csv_cell, row.values()) for row in rows)
            yield _taken(buffer)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_response(request, queryset, row_builder, size, offset, next_url, filename):
    """One page of ``queryset`` as ``{"count", "next", "results"}`` (see docs/exports.md).

    Shown in the browser, saved under ``filename``.
    """
    if isinstance(queryset, Listing):
        objects, count = queryset.page(offset, size)
        rows = [row_builder(request, obj) for obj in objects]
    else:
        count = queryset.count()
        # An offset past the end never reaches the database (a huge OFFSET overflows some backends).
        rows = row_builder.page(request, queryset, offset, size) if offset < count else []
    has_next = offset + size < count
    body = {"count": count, "next": next_url(offset + size) if has_next else None, "results": rows}
    response = HttpResponse(
        json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1), content_type="application/json"
    )
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _columns(builder, columns):
    builder.columns = columns
    return builder


# The header of an empty CSV: the same columns a non-empty one has.
_columns(
    license_row,
    [
        "url",
        "slug",
        "holder",
        "holder_slug",
        "holder_url",
        "regime",
        "regime_slug",
        "license_type",
        "license_type_slug",
        "regulator",
        "regulator_slug",
        "granted_in",
        "granted_in_name",
        "granted_in_stated",
        "passported_to",
        "status",
        "status_display",
        "granted",
        "granted_display",
        "ended",
        "ended_display",
        "activities",
        "client_scope",
        "reference_number",
        "conditions",
        "sources",
    ],
)
_columns(
    audit_row,
    [
        "url",
        "slug",
        "subject",
        "subject_slug",
        "subject_url",
        "kind",
        "kind_display",
        "standard",
        "standard_slug",
        "auditor",
        "auditor_slug",
        "scope",
        "issued",
        "issued_display",
        "period_start",
        "period_start_display",
        "period_end",
        "period_end_display",
        "valid_until",
        "valid_until_display",
        "ongoing",
        "reference",
        "status",
        "status_display",
        "superseded_by",
        "sources",
    ],
)
_columns(
    entity_row,
    [
        "url",
        "slug",
        "name",
        "kind",
        "kind_display",
        "group",
        "group_slug",
        "jurisdiction",
        "jurisdiction_name",
        "aliases",
        "lei",
        "website",
        "sources",
    ],
)
_columns(
    regulator_row,
    ["url", "slug", "name", "abbreviation", "jurisdiction", "jurisdiction_name", "regimes", "website"],
)


# ---------------------------------------------------------------------------
# Change history (rows are history.feed.Change objects, not model instances)
# ---------------------------------------------------------------------------


def change_row(request, change):
    """One public change; ``changes`` lists ``{"field", "old", "new"}`` (null where a value is not shown)."""
    return {
        "date": change.date_iso,
        "date_display": change.date_display,
        "record_type": change.record_type,
        "record_type_display": change.record_type_display,
        "record": change.label,
        "url": request.build_absolute_uri(change.url) if change.url else "",
        "action": change.action,
        "action_display": change.action_display,
        "changes": [field_change.as_dict() for field_change in change.changes],
        "reason": change.reason,
    }


def change_csv_row(request, change):
    """As :func:`change_row`, each changed field written out ("Status: Active → Revoked")."""
    row = change_row(request, change)
    row["changes"] = [str(field_change) for field_change in change.changes]
    return row


_CHANGE_COLUMNS = [
    "date",
    "date_display",
    "record_type",
    "record_type_display",
    "record",
    "url",
    "action",
    "action_display",
    "changes",
    "reason",
]
_columns(change_row, _CHANGE_COLUMNS)
_columns(change_csv_row, _CHANGE_COLUMNS)
