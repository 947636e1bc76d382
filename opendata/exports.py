"""CSV and JSON exports of the public lists (docs/exports.md).

A record type's rows are its serializer's table (``opendata.serializers``, ``opendata.tables``): the
columns of ``/licenses.csv`` are the keys of each record of ``/licenses.json``, in the same order, and
of a release's licenses.csv. Both exports receive what the list's own FilterSet selected from
``published()``: a QuerySet, read a batch of ``values()`` at a time; or a :class:`Listing`, the records as
they stood on a past day (``history.as_of``) or the change feed (``history.feed``), services that give
objects a page or a chunk at a time. The JSON export pages as the API does (``opendata.paging``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework import exceptions

from opendata import renderers
from opendata.paging import ExportPagination

# Records per query while streaming a CSV: each batch is one IN (...) list of primary keys, kept under
# SQLite's historical limit of 999 bound parameters so any build of it accepts the query.
CSV_BATCH_SIZE = 900

# Spreadsheets run a cell starting with these as a formula (OWASP "CSV injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A CSV cell that a spreadsheet shows as text, never evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_cell(value):
    """A value as a CSV cell: lists joined with "; ", booleans ``true``/``false``, formula-safe."""
    # Most cells are plain text: answered before the general case, since a large export has millions of cells.
    if type(value) is str:
        return "'" + value if value.startswith(FORMULA_PREFIXES) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        value = "; ".join(str(item) for item in value)
    return neutralise(value)


def invalid_parameters(errors) -> JsonResponse:
    """400 naming every bad parameter and why: ``{"error": ..., "parameters": {name: [messages]}}``."""
    parameters = {name: [str(message) for message in messages] for name, messages in errors.items()}
    return JsonResponse({"error": "invalid parameter", "parameters": parameters}, status=400)


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
    every object. The record type's table makes each row from an object."""

    page: Callable[[int, int], tuple[list, int]]
    iterate: Callable[[int], Iterator]


def _row_batches(request, source, table):
    """The rows of ``source`` (a QuerySet, or a :class:`Listing`) as lists of at most ``CSV_BATCH_SIZE``."""
    if isinstance(source, Listing):
        return table.batches(request, source.iterate(CSV_BATCH_SIZE), CSV_BATCH_SIZE)
    return table.read(request, source, CSV_BATCH_SIZE)


def csv_response(request, source, table, filename):
    """Stream every row of ``source`` (a QuerySet or a :class:`Listing`) as CSV, a batch at a time so memory
    stays flat.

    The header goes out before any query runs, so the download starts at once however long the
    database takes to sort the rows; then one chunk per batch.
    """

    def lines():
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        # The BOM makes spreadsheets read the file as UTF-8.
        buffer.write("\ufeff")
        writer.writerow(table.names)
        yield _taken(buffer)
        for rows in _row_batches(request, source, table):
            writer.writerows(map(csv_cell, row.values()) for row in rows)
            yield _taken(buffer)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_response(request, source, table, filename, cache_key=None):
    """One page of ``source`` (a QuerySet or a :class:`Listing`) as ``{"count", "next", "previous", "results"}``,
    paged as the API is.

    Shown in the browser, saved under ``filename``. The paging parameters were checked with the
    filters (:meth:`ExportPagination.errors`); a page past the end is a JSON 404. A page of a QuerySet read
    by key keeps its keys, count and ``filename`` under ``cache_key`` (:func:`known_json_response`).
    """
    paging = ExportPagination()
    by_keys = table.reads_values(source)
    try:
        if isinstance(source, Listing):
            page = paging.select_read(source.page, request)
        else:
            # By key, not through the page's slice: the database sorts the narrow rows of keys only.
            page = paging.select_keys(source, request) if by_keys else paging.select(source, request)
    except exceptions.NotFound as exc:
        return JsonResponse({"error": "not found", "detail": str(exc.detail)}, status=404)
    if not by_keys:
        return _json_page(paging, table, table.rows(request, page.object_list), filename)
    keys = list(page.object_list)
    if cache_key is not None:
        cache.set(cache_key, (page.paginator.count, keys, filename))
    return _json_page(paging, table, table.by_keys(request, keys), filename)


def known_json_response(request, table, count, keys, filename):
    """:func:`json_response` of a page read before for the same query string (its ``cache_key``): the page's
    ``keys``, the ``count`` they were chosen from and the file's name; its records are read again, by key."""
    paging = ExportPagination()
    paging.select_known(request, count, keys)
    return _json_page(paging, table, table.by_keys(request, keys), filename)


def _json_page(paging, table, rows, filename):
    body = paging.body([table.as_json(row) for row in rows])
    # Compact, as the API's (encoding indented JSON cost a third of a 100-row page's time); browsers and jq lay it
    # out for reading.
    response = HttpResponse(renderers.dumps(body), content_type="application/json")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
