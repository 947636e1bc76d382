"""The lists' CSV and JSON exports: the rows the same query string selects on the list page."""

from __future__ import annotations

from functools import partial

from django.core.cache import cache
from django.utils import timezone
from django.views.generic import View

from history import as_of
from opendata import exports
from opendata.paging import ExportPagination
from opendata.serializers import (
    AuditSerializer,
    EntitySerializer,
    LicenseSerializer,
    RegulatorSerializer,
)
from public import filters
from public.views.common import public_licenses
from public.views.lists import audit_list_queryset, entity_list_queryset, list_cache_key, regulator_list_queryset
from registry.derived.version import keeps_pages


class ExportView(View):
    """``/<records>.csv`` and ``/<records>.json``: the rows the same query string selects on the list page.

    Strict where the HTML page is lenient: any bad parameter answers 400 with a JSON body naming it,
    since a script cannot read a message beside a field. The rows are the record type's serializer's
    table (``opendata.serializers``); JSON pages as the API does (``page``, ``page_size``; docs/api.md),
    the CSV holds every row and ignores them.
    """

    filterset_class = None
    serializer_class = None
    filename = ""

    def get_queryset(self):
        raise NotImplementedError

    def get(self, request, format):
        table = self.serializer_class.table()
        # A JSON page's keys are kept for the data version and day, as the HTML lists keep theirs: the same query
        # string asked again skips its FilterSet and its keys' query; its records are read again, by key.
        kept = format == "json" and keeps_pages(self.serializer_class.Meta.model)
        cache_key = list_cache_key(request.path, request.GET, "json-keys") if kept else None
        known = cache.get(cache_key) if cache_key else None
        if known is not None:
            return exports.known_json_response(request, table, *known)
        filterset = as_of.filterset_for(
            self.filterset_class, request.GET or None, queryset=self.get_queryset(), request=request
        )
        errors = dict(filterset.errors) if filterset.is_bound else {}
        if format == "json":
            errors.update(ExportPagination.errors(request.GET))
        if errors:
            return exports.invalid_parameters(errors)
        source = self.listing(filterset)
        # Named after what it holds: licenses-MT-regime-mica-2026-12-05.csv (the as-of day for a past register).
        day = filterset.as_of or timezone.localdate()
        name = "-".join([self.filename, *filters.export_name(filterset), day.isoformat()])
        if format == "csv":
            return exports.csv_response(request, source, table, f"{name}.csv")
        return exports.json_response(request, source, table, f"{name}.json", cache_key)

    def listing(self, filterset):
        """What the export reads: the filtered QuerySet, or on a past day the records as they stood then."""
        if not filterset.as_of:
            return filterset.qs
        model, day, history_rows = self.filterset_class._meta.model, filterset.as_of, filterset.qs
        return exports.Listing(
            page=partial(as_of.page, model, day, history_rows),
            iterate=partial(as_of.iterate, model, day, history_rows),
        )


def export_view(filterset_class, serializer_class, filename, records):
    """The export of one list: its FilterSet, its serializer's table, its file name and its ``records()``."""
    return type(
        f"{serializer_class.Meta.model.__name__}ExportView",
        (ExportView,),
        {
            "__module__": __name__,
            "filterset_class": filterset_class,
            "serializer_class": serializer_class,
            "filename": filename,
            "get_queryset": lambda self: records(),
        },
    )


LicenseExportView = export_view(filters.LicenseFilterSet, LicenseSerializer, "licenses", public_licenses)
AuditExportView = export_view(filters.AuditFilterSet, AuditSerializer, "audits", audit_list_queryset)
EntityExportView = export_view(filters.EntityFilterSet, EntitySerializer, "entities", entity_list_queryset)
RegulatorExportView = export_view(
    filters.RegulatorFilterSet, RegulatorSerializer, "regulators", regulator_list_queryset
)
