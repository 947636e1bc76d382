"""The public, read-only JSON API under ``/api/`` (docs/api.md).

Every list starts from the model's ``published()`` and is filtered by the same
FilterSet as its HTML list page and exports, so a query string copied from
``/licenses/?regime=mica`` works on ``/api/licenses/?regime=mica``. Errors are
JSON: ``400 {"error": "invalid parameter", "parameters": {name: [messages]}}``
for a bad query parameter (the exports' shape), ``404 {"error": "not found",
"detail": ...}`` for an unknown record or page.
"""

from __future__ import annotations

from django.core.cache import cache
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, viewsets
from rest_framework.filters import BaseFilterBackend
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from history import as_of
from opendata.paging import InvalidParameters, Pagination, query_parameter
from opendata.serializers import (
    AuditSerializer,
    CryptoAssetSerializer,
    EntitySerializer,
    JurisdictionSerializer,
    LicenseSerializer,
    RegimeSerializer,
    RegulatorSerializer,
    SourceDetailSerializer,
    SourceSerializer,
    WhitePaperSerializer,
)
from opendata.tables import api_rows
from public import filters, redirects
from public.views.lists import list_cache_key
from registry.derived.version import keeps_pages
from registry.models import Jurisdiction, Source, link_supersession

# The API's page sizes (opendata.paging): what the fuzz tests and the docs quote.
PAGE_SIZE = Pagination.page_size
MAX_PAGE_SIZE = Pagination.max_page_size
SLUG_PATTERN = r"[-a-zA-Z0-9_]+"
CODE_PATTERN = r"[-a-zA-Z0-9]+"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def exception_handler(exc, context):
    """DRF's handler, with every error body reshaped to ``{"error", ...}``."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, InvalidParameters):
        response.data = {"error": "invalid parameter", "parameters": exc.parameters}
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {"error": exc.default_code.replace("_", " "), "detail": detail}
    return response


def not_found(request, *args, **kwargs):
    """Any other path under /api/: a JSON 404, never an HTML page."""
    return JsonResponse({"error": "not found", "detail": "No API endpoint at this address."}, status=404)


InvalidParameterError = inline_serializer(
    "InvalidParameterError",
    {
        "error": serializers.CharField(help_text='Always "invalid parameter".'),
        "parameters": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Each bad parameter with the reasons it was refused.",
        ),
    },
)
NotFoundError = inline_serializer(
    "NotFoundError",
    {"error": serializers.CharField(help_text='Always "not found".'), "detail": serializers.CharField()},
)


# ---------------------------------------------------------------------------
# Filtering and pagination
# ---------------------------------------------------------------------------


def _filter_schema(filter_):
    """The OpenAPI schema of one FilterSet filter. Empty values mean "no filter", so they are allowed."""
    if isinstance(filter_, filters.django_filters.BooleanFilter):
        return {"type": "boolean"}
    if isinstance(filter_, filters.JurisdictionFilter):
        return {"type": "string", "pattern": rf"^({CODE_PATTERN})?$", "maxLength": 10}
    if isinstance(filter_, filters.django_filters.ModelChoiceFilter):
        return {"type": "string", "pattern": rf"^({SLUG_PATTERN})?$", "maxLength": 150}
    if isinstance(filter_, filters.django_filters.ChoiceFilter):
        values = [str(value) for value, _ in filter_.field.choices if value != ""]
        return {"type": "string", "enum": ["", *values]}
    if isinstance(filter_, filters.PartialDateFilter):
        return {"type": "string", "pattern": r"^(\d{4}(-\d{1,2}(-\d{1,2})?)?)?$"}
    if isinstance(filter_, filters.DayFilter):
        return {"type": "string", "pattern": r"^(\d{4}-\d{1,2}-\d{1,2})?$"}
    return {"type": "string", "maxLength": filter_.extra.get("max_length", filters.Q_MAX_LENGTH)}


class RegistryFilterBackend(BaseFilterBackend):
    """Applies the view's ``filterset_class`` (with ``?as_of=``, its as-of variant over history rows: history.as_of);
    any bad parameter is a 400."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is None:
            return queryset
        filterset = as_of.filterset_for(filterset_class, request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise InvalidParameters(filterset.errors)
        view.as_of = filterset.as_of
        return filterset.qs

    def get_schema_operation_parameters(self, view):
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is None:
            return []
        parameters = []
        for name, filter_ in filterset_class.base_filters.items():
            description = str(filter_.extra.get("help_text") or filter_.label or name)
            parameters.append(query_parameter(name, _filter_schema(filter_), description))
        for old, current in getattr(filterset_class, "renamed", {}).items():
            schema = _filter_schema(filterset_class.base_filters[current])
            parameter = query_parameter(old, schema, f"Deprecated: the former name of {current}, read as {current}.")
            parameters.append({**parameter, "deprecated": True})
        return parameters


# ---------------------------------------------------------------------------
# Viewsets
# ---------------------------------------------------------------------------


LIST_ERRORS = {400: InvalidParameterError, 404: NotFoundError}
DETAIL_ERRORS = {404: NotFoundError}


def documented(name, plural, serializer):
    """Declare each action's responses (errors included) and describe it in the schema."""
    return extend_schema_view(
        list=extend_schema(
            summary=f"List published {plural}",
            responses={200: serializer(many=True), **LIST_ERRORS},
        ),
        retrieve=extend_schema(summary=f"One published {name}", responses={200: serializer, **DETAIL_ERRORS}),
    )


class RegistryViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN
    filter_backends = [RegistryFilterBackend]
    pagination_class = Pagination
    filterset_class = None
    record_name = "record"
    ordering = ()  # none: the model's (a FilterSet's sort still applies)

    def get_queryset(self):
        """The published records, with what the serializer shows joined or prefetched (its ``optimise``), unless
        a list reads them by ``values()`` (``api_rows``; on a past day the history rows are read instead)."""
        serializer_class = self.get_serializer_class()
        records = serializer_class.Meta.model.objects.published()
        if self.action != "list" or api_rows(serializer_class) is None:
            records = serializer_class.optimise(records)
        return records.order_by(*self.ordering) if self.ordering else records

    def get_object(self):
        try:
            return super().get_object()
        except Http404 as exc:
            raise exceptions.NotFound(f"No published {self.record_name} has this key.") from exc

    def retrieve(self, request, *args, **kwargs):
        try:
            return super().retrieve(request, *args, **kwargs)
        except exceptions.NotFound:
            # A key the record was public under before (renamed, or folded into another): 301, as the HTML page.
            found = redirects.successor(self.get_queryset(), kwargs[self.lookup_field])
            if found is None:
                raise
            url = reverse(f"public:{self.basename}-detail", kwargs={self.lookup_field: found.slug})
            return HttpResponsePermanentRedirect(redirects.with_query(url, request))

    def filter_queryset(self, queryset):
        # A detail is looked up by key only: list filters do not apply to it.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)

    def list(self, request, *args, **kwargs):
        """The page's records, read by ``values()`` when every field of the serializer can be (``api_rows``):
        building a hundred records' instances, their related ones and their prefetches cost most of the time.
        On a past day (``as_of``), from the records as they stood then.

        The page's keys and the count are kept for the data version and day (``list_cache_key``, as the HTML
        lists keep theirs): the same query string asked again skips its FilterSet and its keys' query (4.5 ms of
        a country's first page of licences, SQLite); its records are read again, by key, from ``published()``.
        """
        serializer_class = self.get_serializer_class()
        rows = api_rows(serializer_class)
        kept = rows is not None and keeps_pages(serializer_class.Meta.model)
        key = list_cache_key(request.path, request.GET, "api-keys") if kept else None
        known = cache.get(key) if kept else None
        if known is not None:
            keys = list(self.paginator.select_known(request, *known))
            return self.get_paginated_response(rows.read(request, None, keys))
        queryset = self.filter_queryset(self.get_queryset())
        if rows is None or getattr(self, "as_of", None):
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        keys = list(self.paginator.select_keys(queryset, request))
        if kept:
            cache.set(key, (self.paginator.page.paginator.count, keys))
        return self.get_paginated_response(rows.read(request, queryset, keys))

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        # On a past day the page holds history rows: the records as they stood then (history.as_of).
        if page is not None and getattr(self, "as_of", None):
            page = as_of.records(self.filterset_class._meta.model, self.as_of, page)
        return page


def viewset(serializer_class, name, plural, filterset_class=None, ordering=()):
    """The documented viewset of one record type's published records: its serializer, FilterSet and order."""
    attrs = {
        "__module__": __name__,
        "serializer_class": serializer_class,
        "filterset_class": filterset_class,
        "record_name": name,
        "ordering": ordering,
    }
    cls = type(f"{serializer_class.Meta.model.__name__}ViewSet", (RegistryViewSet,), attrs)
    return documented(name, plural, serializer_class)(cls)


EntityViewSet = viewset(EntitySerializer, "entity", "entities", filters.EntityFilterSet, ("name", "slug"))
RegulatorViewSet = viewset(RegulatorSerializer, "regulator", "regulators", filters.RegulatorFilterSet, ("name", "slug"))
RegimeViewSet = viewset(RegimeSerializer, "regime", "regimes", ordering=("short_name", "slug"))
LicenseViewSet = viewset(
    LicenseSerializer,
    "licence",
    "licences (add as_of=YYYY-MM-DD for the register as it stood then)",
    filters.LicenseFilterSet,
)


@documented("audit", "audits and certifications (add as_of=YYYY-MM-DD for a past day)", AuditSerializer)
class AuditViewSet(RegistryViewSet):
    serializer_class = AuditSerializer
    filterset_class = filters.AuditFilterSet
    record_name = "audit"

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is None:
            return page
        # An as-of page's records come linked within their own snapshot (history.as_of), without the
        # prefetches of the live queryset.
        if getattr(self, "as_of", None):
            return AuditSerializer.prepare_instances(page)
        link_supersession(page)
        return page


@documented("white paper", "crypto-asset white papers (ESMA's MiCA register)", WhitePaperSerializer)
class WhitePaperViewSet(RegistryViewSet):
    serializer_class = WhitePaperSerializer
    filterset_class = filters.WhitePaperFilterSet
    record_name = "white paper"
    ordering = ("-listed_on", "slug")


CryptoAssetViewSet = viewset(
    CryptoAssetSerializer,
    "crypto-asset",
    "crypto-assets described by a published white paper (ESMA's MiCA register)",
    filters.CryptoAssetFilterSet,
    tuple(CryptoAssetSerializer.Meta.model._meta.ordering),
)


@extend_schema_view(
    list=extend_schema(
        summary="List published sources (without their text)",
        responses={200: SourceSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One published source, with its archived text",
        responses={200: SourceDetailSerializer, **DETAIL_ERRORS},
    ),
)
class SourceViewSet(RegistryViewSet):
    record_name = "source"

    def get_serializer_class(self):
        return SourceDetailSerializer if self.action == "retrieve" else SourceSerializer

    def get_queryset(self):
        sources = Source.objects.published().order_by("title", "slug")
        return sources if self.action == "retrieve" else sources.defer("archived_text")


@extend_schema_view(
    list=extend_schema(
        summary="List jurisdictions (ISO 3166 countries, subdivisions, the EU and EEA)",
        responses={200: JurisdictionSerializer(many=True), **LIST_ERRORS},
    ),
    retrieve=extend_schema(
        summary="One jurisdiction, by code", responses={200: JurisdictionSerializer, **DETAIL_ERRORS}
    ),
)
class JurisdictionViewSet(RegistryViewSet):
    serializer_class = JurisdictionSerializer
    lookup_field = "code"
    lookup_value_regex = CODE_PATTERN
    record_name = "jurisdiction"

    def get_queryset(self):
        return Jurisdiction.objects.select_related("parent").order_by("code")

    def get_object(self):
        # Codes are upper case; accept ``mt`` as well as ``MT``.
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()


class Router:
    """The API's URL patterns, named ``api-<basename>-list`` / ``api-<basename>-detail``."""

    viewsets = [
        ("entities", EntityViewSet, "api-entity"),
        ("regulators", RegulatorViewSet, "api-regulator"),
        ("regimes", RegimeViewSet, "api-regime"),
        ("licenses", LicenseViewSet, "api-license"),
        ("audits", AuditViewSet, "api-audit"),
        ("white-papers", WhitePaperViewSet, "api-white-paper"),
        ("crypto-assets", CryptoAssetViewSet, "api-crypto-asset"),
        ("sources", SourceViewSet, "api-source"),
        ("jurisdictions", JurisdictionViewSet, "api-jurisdiction"),
    ]

    @classmethod
    def urls(cls):
        from rest_framework.routers import SimpleRouter

        router = SimpleRouter()
        for prefix, viewset, basename in cls.viewsets:
            router.register(prefix, viewset, basename=basename)
        return router.urls


@extend_schema(exclude=True)
class APIRootView(viewsets.ViewSet):
    """``/api/``: where everything is."""

    def list(self, request):
        from django.urls import reverse

        body = {
            prefix: request.build_absolute_uri(reverse(f"public:{basename}-list"))
            for prefix, _, basename in Router.viewsets
        }
        body["verify"] = request.build_absolute_uri(reverse("verification:api-verify"))
        body["schema"] = request.build_absolute_uri(reverse("public:api-schema"))
        body["docs"] = request.build_absolute_uri(reverse("public:api-docs"))
        return Response(body)
