"""CSV and JSON exports of the public lists.

Each record type has one row builder giving an ordered dict of plain values.
The JSON export nests it under a stable shape (``docs/exports.md``); the CSV
export flattens it, one record per row. Both receive querysets that started
from ``published()`` and were filtered by the list's own FilterSet.
"""

from __future__ import annotations

import csv
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

CSV_CHUNK_SIZE = 500
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


# ---------------------------------------------------------------------------
# Row builders: one per record type. Keys are the export's column names.
# ---------------------------------------------------------------------------


def license_row(request, licence):
    granted_iso, granted_display = partial(licence.granted)
    ended_iso, ended_display = partial(licence.ended)
    regime = licence.license_type.regime
    return {
        "url": absolute(request, licence),
        "natural_key": list(licence.natural_key()),
        "slug": licence.slug,
        "holder": licence.holder.name,
        "holder_slug": licence.holder.slug,
        "holder_url": absolute(request, licence.holder),
        "regime": regime.short_name,
        "regime_slug": regime.slug,
        "license_type": licence.license_type.name,
        "license_type_slug": licence.license_type.slug,
        "regulator": licence.regulator.name if licence.regulator else "",
        "regulator_slug": licence.regulator.slug if licence.regulator else "",
        "jurisdiction": licence.jurisdiction.code if licence.jurisdiction else "",
        "jurisdiction_name": licence.jurisdiction.name if licence.jurisdiction else "",
        "passported_to": [jurisdiction.code for jurisdiction in licence.passported_to.all()],
        "status": licence.status,
        "status_display": licence.get_status_display(),
        "granted": granted_iso,
        "granted_display": granted_display,
        "ended": ended_iso,
        "ended_display": ended_display,
        "activities": [activity.name for activity in licence.activities.all()],
        "client_scope": licence.client_scope,
        "reference_number": licence.reference_number,
        "conditions": licence.conditions,
        "sources": [absolute(request, source) for source in sources_of(licence)],
    }


def audit_row(request, audit):
    issued_iso, issued_display = partial(audit.issued)
    start_iso, start_display = partial(audit.period_started)
    end_iso, end_display = partial(audit.period_ended)
    until_iso, until_display = partial(audit.valid_until_date)
    return {
        "url": absolute(request, audit),
        "natural_key": list(audit.natural_key()),
        "slug": audit.slug,
        "subject": audit.subject.name,
        "subject_slug": audit.subject.slug,
        "subject_url": absolute(request, audit.subject),
        "kind": audit.kind,
        "kind_display": audit.get_kind_display(),
        "standard": audit.standard.name if audit.standard else "",
        "standard_slug": audit.standard.slug if audit.standard else "",
        "auditor": audit.auditor.name if audit.auditor else "",
        "auditor_slug": audit.auditor.slug if audit.auditor else "",
        "scope": audit.scope,
        "issued": issued_iso,
        "issued_display": issued_display,
        "period_start": start_iso,
        "period_start_display": start_display,
        "period_end": end_iso,
        "period_end_display": end_display,
        "valid_until": until_iso,
        "valid_until_display": until_display,
        "ongoing": audit.ongoing,
        "reference": audit.reference,
        "sources": [absolute(request, source) for source in sources_of(audit)],
    }


def entity_row(request, entity):
    group = published_or_none(entity.parent)
    return {
        "url": absolute(request, entity),
        "natural_key": list(entity.natural_key()),
        "slug": entity.slug,
        "name": entity.name,
        "kind": entity.kind,
        "kind_display": entity.get_kind_display(),
        "group": group.name if group else "",
        "group_slug": group.slug if group else "",
        "jurisdiction": entity.jurisdiction.code if entity.jurisdiction else "",
        "jurisdiction_name": entity.jurisdiction.name if entity.jurisdiction else "",
        "aliases": [alias.name for alias in entity.aliases.all()],
        "lei": entity.lei,
        "website": entity.website,
        "sources": [absolute(request, source) for source in sources_of(entity)],
    }


def regulator_row(request, regulator):
    return {
        "url": absolute(request, regulator),
        "natural_key": list(regulator.natural_key()),
        "slug": regulator.slug,
        "name": regulator.name,
        "abbreviation": regulator.abbreviation,
        "jurisdiction": regulator.jurisdiction.code,
        "jurisdiction_name": regulator.jurisdiction.name,
        "regimes": [regime.short_name for regime in regulator.regimes.all()],
        "website": regulator.website,
    }


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------


class _Echo:
    """A write-only file for csv.writer: hands each written line back instead of storing it."""

    def write(self, value):
        return value


def csv_cell(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        value = "; ".join(str(item) for item in value)
    return neutralise(value)


def csv_response(request, queryset, row_builder, filename):
    """Stream every row of ``queryset`` as CSV, reading it in chunks so memory stays flat."""
    writer = csv.writer(_Echo())

    def lines():
        header_written = False
        for obj in queryset.iterator(chunk_size=CSV_CHUNK_SIZE):
            row = row_builder(request, obj)
            if not header_written:
                # The BOM makes spreadsheets read the file as UTF-8.
                yield "\ufeff" + writer.writerow(list(row))
                header_written = True
            yield writer.writerow([csv_cell(value) for value in row.values()])
        if not header_written:
            yield "\ufeff" + writer.writerow(row_builder.columns)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_response(request, queryset, row_builder, size, offset, next_url):
    """One page of ``queryset`` as ``{"count", "next", "results"}`` (see docs/exports.md)."""
    count = queryset.count()
    # An offset past the end never reaches the database (a huge OFFSET overflows some backends).
    rows = [row_builder(request, obj) for obj in queryset[offset : offset + size]] if offset < count else []
    has_next = offset + size < count
    body = {"count": count, "next": next_url(offset + size) if has_next else None, "results": rows}
    return HttpResponse(
        json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1), content_type="application/json"
    )


def _columns(builder, columns):
    builder.columns = columns
    return builder


# The header of an empty CSV: the same columns a non-empty one has.
_columns(
    license_row,
    [
        "url",
        "natural_key",
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
        "jurisdiction",
        "jurisdiction_name",
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
        "natural_key",
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
        "sources",
    ],
)
_columns(
    entity_row,
    [
        "url",
        "natural_key",
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
    ["url", "natural_key", "slug", "name", "abbreviation", "jurisdiction", "jurisdiction_name", "regimes", "website"],
)


# ---------------------------------------------------------------------------
# Change history (rows are registry.changes.Change objects, not model instances)
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
