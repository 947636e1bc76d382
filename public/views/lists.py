"""The list pages: filtered, sorted, faceted and paginated, with their state in the URL."""

from __future__ import annotations

import hashlib
from functools import partial

from django.core.cache import cache
from django.db.models import Prefetch
from django.http import HttpResponsePermanentRedirect
from django.urls import reverse
from django.utils import timezone
from django_filters.constants import EMPTY_VALUES
from django_filters.views import FilterView

from history import as_of
from opendata import datasets
from opendata.serializers import (
    LicenseSerializer,
)
from opendata.tables import api_rows
from public import filters
from registry import prepared
from registry.derived.version import current_version
from registry.models import (
    Audit,
    Entity,
    License,
    Regime,
    Regulator,
    link_supersession,
)


def _facet_key(value):
    """The query-string form of a cleaned filter value (a jurisdiction's code, a record's slug)."""
    if value is None or value == "":
        return None
    return getattr(value, "code", None) or getattr(value, "slug", None) or str(value)


def _query_url(params, **changes):
    """``?query`` from ``params`` with ``changes`` applied (None removes a key); always drops ``page``."""
    params = params.copy()
    params.pop("page", None)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return f"?{params.urlencode()}" if params else "?"


def list_cache_key(path, params, part, *, without=()):
    """A key for data derived from a list's query string ``params`` (a QueryDict), at the current data version and
    date, leaving out the parameters ``without`` names (what the data does not depend on).

    Exact rather than timed: any write raises the data version (registry/derived/version.py), after which no
    request asks for the old keys again; they age out of the cache.
    """
    items = sorted((key, value) for key in params if key not in without for value in params.getlist(key))
    digest = hashlib.sha256(repr((path, items)).encode()).hexdigest()[:32]
    return f"public:list:{part}:{current_version()}:{timezone.localdate().isoformat()}:{digest}"


def facet_rows(filterset, facet, key):
    """``facet.rows()`` of ``filterset``'s rows but for the facet's own filter, cached under ``key``."""
    rows = cache.get(key)
    if rows is None:
        rows = filterset.facet_rows(facet)
        cache.set(key, rows)
    return rows


class RegistryListView(FilterView):
    """A public list: FilterSet-filtered, sortable, faceted and paginated, with its state in the URL.

    ``strict = False``: an invalid parameter is reported beside its field and
    ignored, while the valid ones still apply (django-filter only keeps the
    valid fields in ``cleaned_data``).
    """

    strict = False
    paginate_by = 50
    facet_size = 30
    export_name = ""
    heading = ""

    def get(self, request, *args, **kwargs):
        # A parameter's former name (the licence list's ?jurisdiction=) moves to the current one for good,
        # so every list URL has one spelling: the FilterSet says which names were renamed.
        canonical = getattr(self.filterset_class, "canonical", None)
        if canonical is not None and (data := canonical(request.GET)) is not request.GET:
            return HttpResponsePermanentRedirect(f"{request.path}?{data.urlencode()}")
        return super().get(request, *args, **kwargs)

    def get_filterset(self, filterset_class):
        # ``?as_of=`` swaps the rows for the change history's snapshot (history.as_of).
        return as_of.filterset_for(filterset_class, **self.get_filterset_kwargs(filterset_class))

    def cache_key(self, part, *, without=()):
        """A key for data derived from this list's query string: :func:`list_cache_key`."""
        return list_cache_key(self.request.path, self.request.GET, part, without=without)

    def paginate_queryset(self, queryset, page_size):
        """Like Django's, but a bad or out-of-range ``page`` shows page 1 with a message, never a 404.

        The count and each page's ids are cached per data version: sorting tens of thousands of rows
        by a joined column (the holder's name) is most of a cold page's cost, and the first pages of
        the unfiltered lists are what most visitors ask for.
        """
        paginator = self.get_paginator(queryset, page_size, allow_empty_first_page=True)
        # A cached_property: the count query is not run again.
        paginator.count = self.cached_count(partial(self.count_with_facets, queryset))
        page = paginator.page(self.page_number(paginator.num_pages))
        if self.filterset.as_of:
            # History rows: the page's records as they stood that day (history.as_of).
            records = as_of.records(self.filterset_class._meta.model, self.filterset.as_of, page.object_list)
            page.object_list = self.snapshot_rows(records)
            return paginator, page, page.object_list, page.has_other_pages()
        ids_key = self.cache_key(f"ids:{page.number}", without=("page",))
        ids = cache.get(ids_key)
        if ids is None:
            ids = list(page.object_list.values_list("pk", flat=True))
            cache.set(ids_key, ids)
        # Read by id through the list's base queryset (published()), not the filtered one: the ids already
        # carry the filters (running a search's MATCH again for 50 known ids cost 10 ms), and the base still
        # leaves out a record unpublished since its id was cached.
        page.object_list = self.page_rows(self.filterset.queryset, ids) if ids else []
        return paginator, page, page.object_list, page.has_other_pages()

    def cached_count(self, count):
        """``count()``, cached per data version for this list's filters (any ``page`` and ``sort``)."""
        key = self.cache_key("count", without=("page", "sort"))
        value = cache.get(key)
        if value is None:
            value = count()
            cache.set(key, value)
        return value

    def count_with_facets(self, queryset):
        """``queryset.count()``; with it, from the same GROUP BY (filters.counted_with_rows), the rows of the keyed
        facets whose own filter is not set, which count the list's rows too, cached where :meth:`get_facets`
        looks for them: a country's licence list read its licences four times, once for each."""
        if self.filterset.as_of:
            return queryset.count()
        cleaned = self.filterset.form.cleaned_data if self.filterset.is_bound else {}
        keys = {
            facet.param: self.facet_key(facet)
            for facet in self.filterset.facets
            if facet.keys and cleaned.get(facet.param) in EMPTY_VALUES
        }
        found = cache.get_many(keys.values())
        facets = [facet for facet in self.filterset.facets if facet.param in keys and keys[facet.param] not in found]
        counted = filters.counted_with_rows(facets, queryset)
        if counted is None:
            return queryset.count()
        count, rows = counted
        cache.set_many({keys[param]: facet_rows for param, facet_rows in rows.items()})
        return count

    def facet_key(self, facet):
        """The cache key of ``facet``'s rows: counted without its own filter, so every ``?granted_in=`` of a list
        shares its "Granted in" counts."""
        return self.cache_key(f"facet:{facet.param}", without=("page", "sort", facet.param))

    def page_number(self, num_pages):
        """The ``page`` asked for; 1, with a message in ``page_error``, when it is not a page of ``num_pages``."""
        raw = self.request.GET.get("page", "")
        self.page_error = ""
        number = 1
        if raw:
            try:
                number = int(raw)
            except ValueError:
                number = 0
            if not 1 <= number <= num_pages:
                self.page_error = f"Page must be a whole number from 1 to {num_pages}; showing page 1 instead."
                number = 1
        return number

    def snapshot_rows(self, records):
        """The rows a page shows of records as they stood on a past day (history.as_of)."""
        return records

    def page_rows(self, queryset, ids):
        """The records ``ids`` names, in that order, read through ``queryset`` (its rule, not its order)."""
        by_id = {row.pk: row for row in queryset.order_by().filter(pk__in=ids)}
        return [by_id[pk] for pk in ids if pk in by_id]

    def get_facets(self):
        params = self.request.GET
        cleaned = self.filterset.form.cleaned_data if self.filterset.is_bound else {}
        facets = []
        for facet in self.filterset.facets:
            selected = _facet_key(cleaned.get(facet.param))
            values = []
            rows = facet_rows(self.filterset, facet, self.facet_key(facet))
            # The most frequent values, as Datasette shows them, and the selected one wherever it ranks: a
            # jurisdiction facet has two hundred values, and a link each cost more than the rest of the page.
            shown = [row for i, row in enumerate(rows) if i < self.facet_size or row[0] == selected]
            for value, label, count in shown:
                is_selected = value == selected
                values.append(
                    {
                        "value": value,
                        "label": label,
                        "count": count,
                        "selected": is_selected,
                        "url": _query_url(params, **{facet.param: None if is_selected else value}),
                    }
                )
            facets.append(
                {"param": facet.param, "label": facet.label, "values": values, "more": len(rows) - len(shown)}
            )
        return facets

    def get_sort_links(self):
        params = self.request.GET
        current = ""
        if self.filterset.is_bound:
            current = self.filterset.form.cleaned_data.get("sort") or ""
        links = {}
        for sort in self.filterset.sorts:
            state = "ascending" if current == sort.param else "descending" if current == f"-{sort.param}" else ""
            target = f"-{sort.param}" if state == "ascending" else sort.param
            links[sort.param] = {"label": sort.label, "url": _query_url(params, sort=target), "state": state}
        return links

    def active_filter_count(self) -> int:
        """How many of the form's filters the URL sets (the sort order is not a filter): "Filters (2 active)"."""
        params = self.request.GET
        return sum(
            1 for name in self.filterset.form.fields if name != "sort" and any(v.strip() for v in params.getlist(name))
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        suffix = f"?{query.urlencode()}" if query else ""
        export = f"public:{self.export_name}-export"
        context.update(
            heading=self.heading,
            facets=self.get_facets(),
            sort_links=self.get_sort_links(),
            page_error=self.page_error,
            csv_url=reverse(export, kwargs={"format": "csv"}) + suffix,
            json_url=reverse(export, kwargs={"format": "json"}) + suffix,
            has_filters=any(key != "page" for key in self.request.GET),
            active_filters=self.active_filter_count(),
            as_of=self.filterset.as_of,
            as_of_display=as_of.display_day(self.filterset.as_of) if self.filterset.as_of else "",
        )
        return context


def list_view(filterset_class, export_name, heading, records):
    """A list view from its FilterSet, the name of its export (``public:<export_name>-export``, its template
    ``public/<export_name>_list.html`` with ``_`` for ``-``), its heading and its ``records()``; a list with more
    of its own (the licence list's row reading) subclasses it."""
    return type(
        f"{filterset_class._meta.model.__name__}ListView",
        (RegistryListView,),
        {
            "__module__": __name__,
            "filterset_class": filterset_class,
            "template_name": f"public/{export_name.replace('-', '_')}_list.html",
            "export_name": export_name,
            "heading": heading,
            "get_queryset": lambda self: records(),
        },
    )


def audit_list_queryset():
    return Audit.objects.published().select_related("subject", "standard", "auditor")


def entity_list_queryset():
    return (
        Entity.objects.published()
        .select_related("parent", "jurisdiction")
        .prefetch_related("aliases")
        .order_by("name", "slug")
    )


def regulator_list_queryset():
    return (
        Regulator.objects.published()
        .select_related("jurisdiction")
        .prefetch_related(Prefetch("regimes", queryset=Regime.objects.published()))
        .order_by("name", "slug")
    )


class ApiRecord(dict):
    """A record as the API represents it, also read by attribute (``row.slug``), as the lists of model
    instances are."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# The licence list's row: these of the licence's one serializer's fields, as the API gives them. Read with
# ``values()`` (opendata.tables.ApiRows), or from instances on as-of pages; a page of model instances meant 300
# of them (each licence and its four related records) and a related manager per passport lookup: half of the
# page's 17 ms. Links are site paths (``datasets.Site``), as on every other page.
LICENSE_ROW = LicenseSerializer.only(
    "url",
    "slug",
    "holder",
    "regime",
    "license_type",
    "regulator",
    "granted_in",
    "granted_in_stated",
    "passported_to",
    "status",
    "status_display",
    "granted",
)


class LicenseListView(list_view(filters.LicenseFilterSet, "license", "Licences", License.objects.published)):
    def page_rows(self, queryset, ids):
        return [ApiRecord(row) for row in api_rows(LICENSE_ROW).read(datasets.Site(), queryset, ids)]

    def snapshot_rows(self, records):
        return [ApiRecord(row) for row in LICENSE_ROW(records, many=True).data]


class AuditListView(RegistryListView):
    filterset_class = filters.AuditFilterSet
    template_name = "public/audit_list.html"
    export_name = "audit"
    heading = "Audits and certifications"

    # What a row shows of the audit's subject, standard and auditor (audit_list.html): whole entities were two fifths
    # of the cached rows' size (55 kB a page), read, pickled and unpickled on every visit.
    row_fields = (
        "subject__slug",
        "subject__name",
        "standard__slug",
        "standard__name",
        "auditor__slug",
        "auditor__name",
    )

    def get_queryset(self):
        return audit_list_queryset()

    def page_rows(self, queryset, ids):
        # Kept per data version and day, as the ids are: each row's status and its links (link_supersession) are
        # most of a repeat visit's work otherwise.
        digest = hashlib.sha256(repr(ids).encode()).hexdigest()[:32]
        key = f"public:list:audit-rows:{current_version()}:{timezone.localdate().isoformat()}:{digest}"
        rows = cache.get(key)
        if rows is None:
            rows = link_supersession(self.audit_rows(queryset, ids))
            cache.set(key, rows)
        return rows

    def audit_rows(self, queryset, ids):
        """:meth:`RegistryListView.page_rows` with the row's fields, its SQL compiled once (registry.prepared): the
        list's base queryset is the same on every page but the as-of ones, which read history rows instead."""
        own = [field.name for field in Audit._meta.concrete_fields]

        def build(value):
            return queryset.only(*own, *self.row_fields).order_by().filter(pk__in=prepared.IdList(value))

        found = prepared.run(("audit-list-rows",), build, [prepared.encoded(ids, Audit)], Audit)
        by_id = {row.pk: row for row in found}
        return [by_id[pk] for pk in ids if pk in by_id]


EntityListView = list_view(filters.EntityFilterSet, "entity", "Entities", entity_list_queryset)
RegulatorListView = list_view(filters.RegulatorFilterSet, "regulator", "Regulators", regulator_list_queryset)
