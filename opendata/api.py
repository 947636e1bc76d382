"""The public, read-only JSON API under ``/api/`` (docs/api.md).

Every list starts from the model's ``published()`` and is filtered by the same
FilterSet as its HTML list page and exports, so a query string copied from
``/licenses/?regime=mica`` works on ``/api/licenses/?regime=mica``. Errors are
JSON: ``400 {"error": "invalid parameter", "parameters": {name: [messages]}}``
for a bad query parameter (the exports' shape), ``404 {"error": "not found",
"detail": ...}`` for an unknown record or page.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import ngettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view, inline_serializer
from rest_framework import exceptions, pagination, serializers, viewsets
from rest_framework.filters import BaseFilterBackend
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from history import as_of
from public import filters, redirects
from registry.dates import DatePrecision
from registry.models import (
    Audit,
    AuditCitation,
    AuditStatus,
    Entity,
    EntityCitation,
    Jurisdiction,
    License,
    LicenseCitation,
    Regime,
    Regulator,
    Source,
    link_supersession,
)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
SLUG_PATTERN = r"[-a-zA-Z0-9_]+"
CODE_PATTERN = r"[-a-zA-Z0-9]+"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class InvalidParameters(exceptions.APIException):
    """A 400 naming each bad query parameter and why, as the exports do."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, parameters):
        self.parameters = {name: [str(message) for message in messages] for name, messages in parameters.items()}
        super().__init__("invalid parameter")


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


def _parameter(name, schema, description):
    return {"name": name, "required": False, "in": "query", "description": description or "", "schema": schema}


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
    """Applies the view's ``filterset_class`` (with ``?as_of=`` snapshots); any bad parameter is a 400."""

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
            parameters.append(_parameter(name, _filter_schema(filter_), description))
        for old, current in getattr(filterset_class, "renamed", {}).items():
            schema = _filter_schema(filterset_class.base_filters[current])
            parameter = _parameter(old, schema, f"Deprecated: the former name of {current}, read as {current}.")
            parameters.append({**parameter, "deprecated": True})
        return parameters


class Pagination(pagination.PageNumberPagination):
    """``page`` (from 1) and ``page_size`` (default 50, capped at 100).

    A bad value is a 400 naming it; a page past the end is a 404.
    """

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    @staticmethod
    def _whole_number(request, name, default):
        if name not in request.query_params:
            return default
        raw = request.query_params[name]
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise InvalidParameters({name: ["Enter a whole number, 1 or more."]})
        return value

    def get_page_size(self, request):
        return min(self._whole_number(request, self.page_size_query_param, self.page_size), self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        size = self.get_page_size(request)
        number = self._whole_number(request, self.page_query_param, 1)
        paginator = self.django_paginator_class(queryset, size)
        if number > paginator.num_pages:
            pages = ngettext("there is %(count)d page", "there are %(count)d pages", paginator.num_pages)
            raise exceptions.NotFound(f"Page {number} does not exist: {pages % {'count': paginator.num_pages}}.")
        self.page = paginator.page(number)
        return list(self.page)

    def get_schema_operation_parameters(self, view):
        return [
            _parameter(self.page_query_param, {"type": "integer", "minimum": 1}, "Page number, from 1."),
            _parameter(
                self.page_size_query_param,
                {"type": "integer", "minimum": 1},
                f"Results per page (default {PAGE_SIZE}; more than {MAX_PAGE_SIZE} gives {MAX_PAGE_SIZE}).",
            ),
        ]


# ---------------------------------------------------------------------------
# Serializers
# ---------------------------------------------------------------------------


class PartialDateSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="ISO 8601 with the source's precision: 2025, 2025-03 or 2025-03-14.")
    precision = serializers.ChoiceField(choices=DatePrecision.choices)
    display = serializers.CharField(help_text="As the site shows it: 2025, March 2025, 14 March 2025.")


@extend_schema_field(PartialDateSerializer(allow_null=True))
class PartialDateField(serializers.Field):
    """A :class:`registry.dates.PartialDate`, never shown more precisely than known."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return {"value": value.isoformat(), "precision": value.precision, "display": str(value)}


class PublicURLField(serializers.Field):
    """The record's canonical public page, as an absolute URL."""

    def __init__(self, **kwargs):
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, obj):
        url = obj.get_absolute_url()
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


extend_schema_field(OpenApiTypes.URI)(PublicURLField)


class JurisdictionRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class EntityRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    url = PublicURLField()


class RegimeRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    short_name = serializers.CharField()
    url = PublicURLField()


class RegulatorRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    abbreviation = serializers.CharField()
    url = PublicURLField()


class LicenseTypeSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class ActivitySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    code = serializers.CharField(help_text="The regime's own code, e.g. MiCA service (a); may be empty.")


class StandardSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    issuer = serializers.CharField()


class SourceRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    publisher = serializers.CharField()
    url = PublicURLField(help_text="Our page for the source, with its archived text.")
    address = serializers.CharField(source="url", help_text="Where it was published, if online; may be empty.")


class CitationSerializer(serializers.Serializer):
    source = SourceRefSerializer()
    supports = serializers.CharField(help_text="The field this citation supports; empty for the record as a whole.")
    supports_display = serializers.CharField(source="get_supports_display")
    quote = serializers.CharField(help_text="The sentence in the source that supports the fact, verbatim.")
    locator = serializers.CharField()
    states = serializers.CharField(help_text="What the source says for the fact, as written.")


def _natural_key(obj):
    return list(obj.natural_key())


class RecordSerializer(serializers.Serializer):
    url = PublicURLField(help_text="The record's canonical page on the site.")
    natural_key = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_natural_key(self, obj):
        return _natural_key(obj)


class EntitySerializer(RecordSerializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    kind_display = serializers.CharField(source="get_kind_display")
    group = serializers.SerializerMethodField(help_text="The group it belongs to, when that is published.")
    jurisdiction = JurisdictionRefSerializer(allow_null=True)
    lei = serializers.CharField(help_text="ISO 17442 Legal Entity Identifier; may be empty.")
    website = serializers.CharField()
    description = serializers.CharField()
    aliases = serializers.SerializerMethodField()
    citations = CitationSerializer(many=True)

    @extend_schema_field(EntityRefSerializer(allow_null=True))
    def get_group(self, obj):
        parent = obj.parent
        if parent is None or not parent.is_published:
            return None
        return EntityRefSerializer(parent, context=self.context).data

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_aliases(self, obj):
        return [alias.name for alias in obj.aliases.all()]


class RegulatorSerializer(RecordSerializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    abbreviation = serializers.CharField()
    jurisdiction = JurisdictionRefSerializer()
    website = serializers.CharField()
    regimes = RegimeRefSerializer(many=True, help_text="Published regimes it supervises.")


class RegimeSerializer(RecordSerializer):
    slug = serializers.CharField()
    short_name = serializers.CharField()
    name = serializers.CharField()
    legal_reference = serializers.CharField()
    jurisdiction = JurisdictionRefSerializer()
    official_url = serializers.CharField(source="url", help_text="The official text; may be empty.")
    description = serializers.CharField()
    license_types = LicenseTypeSerializer(many=True)


class LicenseSerializer(RecordSerializer):
    slug = serializers.CharField()
    holder = EntityRefSerializer()
    regime = RegimeRefSerializer(source="license_type.regime")
    license_type = LicenseTypeSerializer()
    regulator = RegulatorRefSerializer(allow_null=True)
    granted_in = JurisdictionRefSerializer(
        help_text="Where it was granted (its home jurisdiction): the one its source states, else its regime's "
        "(the EU for a MiFID II licence whose source names no member state). Filter with ?granted_in=."
    )
    granted_in_stated = serializers.BooleanField(
        help_text="False when no source states the home jurisdiction and the regime's stands in for it."
    )
    passported_to = JurisdictionRefSerializer(many=True)
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    granted = PartialDateField()
    ended = PartialDateField()
    activities = ActivitySerializer(many=True)
    client_scope = serializers.ListField(child=serializers.CharField())
    reference_number = serializers.CharField()
    conditions = serializers.CharField()
    last_verified_on = serializers.DateField(allow_null=True)
    citations = CitationSerializer(many=True)


class AuditRefSerializer(serializers.Serializer):
    slug = serializers.CharField()
    issued = PartialDateField()
    url = PublicURLField()


class AuditSerializer(RecordSerializer):
    slug = serializers.CharField()
    subject = EntityRefSerializer()
    kind = serializers.CharField()
    kind_display = serializers.CharField(source="get_kind_display")
    standard = StandardSerializer(allow_null=True)
    auditor = EntityRefSerializer(allow_null=True)
    scope = serializers.CharField()
    issued = PartialDateField()
    period_start = PartialDateField(source="period_started")
    period_end = PartialDateField(source="period_ended")
    valid_until = PartialDateField(source="valid_until_date")
    ongoing = serializers.BooleanField()
    reference = serializers.CharField()
    status = serializers.ChoiceField(
        choices=AuditStatus.choices,
        help_text="On the day asked (today, or as_of): current, superseded by a later report of the same "
        "standard for the same subject, expired, or not yet issued.",
    )
    status_display = serializers.CharField(source="status_label")
    superseded_by = serializers.SerializerMethodField(help_text="The later report that superseded this one.")
    supersedes = serializers.SerializerMethodField(help_text="The earlier reports this one superseded.")
    last_verified_on = serializers.DateField(allow_null=True)
    citations = CitationSerializer(many=True)

    def to_representation(self, instance):
        # The viewset links a page's audits in one query; an audit serialized on its own is linked here.
        if not hasattr(instance, "supersedes_audits"):
            link_supersession([instance])
        return super().to_representation(instance)

    def _ref(self, audit):
        return AuditRefSerializer(audit, context=self.context).data

    @extend_schema_field(AuditRefSerializer(allow_null=True))
    def get_superseded_by(self, obj):
        return self._ref(obj.superseded_by_audit) if obj.superseded_by_audit else None

    @extend_schema_field(AuditRefSerializer(many=True))
    def get_supersedes(self, obj):
        return [self._ref(audit) for audit in obj.supersedes_audits]


class SourceSerializer(RecordSerializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    kind = serializers.CharField()
    kind_display = serializers.CharField(source="get_kind_display")
    publisher = serializers.CharField()
    address = serializers.CharField(source="url", help_text="Where it was published, if online; may be empty.")
    published = PartialDateField(source="publication_date")
    retrieved_on = serializers.DateField(allow_null=True)
    sha256 = serializers.CharField(help_text="SHA-256 of the archived text (UTF-8); empty when there is none.")


class SourceDetailSerializer(SourceSerializer):
    archived_text = serializers.CharField(help_text="Our archived copy of the text.")


class JurisdictionSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    official_name = serializers.CharField()
    kind = serializers.CharField()
    parent = serializers.CharField(source="parent.code", allow_null=True, default=None)


# ---------------------------------------------------------------------------
# Viewsets
# ---------------------------------------------------------------------------


def _citations(model):
    return Prefetch(
        "citations", queryset=model.objects.published().select_related("source").defer("source__archived_text")
    )


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
            url = reverse(f"registry:{self.basename}-detail", kwargs={self.lookup_field: found.slug})
            return HttpResponsePermanentRedirect(redirects.with_query(url, request))

    def filter_queryset(self, queryset):
        # A detail is looked up by key only: list filters do not apply to it.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        # On a past day the page holds history rows: the records as they stood then (history.as_of).
        if page is not None and getattr(self, "as_of", None):
            page = as_of.records(self.filterset_class._meta.model, self.as_of, page)
        return page


@documented("entity", "entities", EntitySerializer)
class EntityViewSet(RegistryViewSet):
    serializer_class = EntitySerializer
    filterset_class = filters.EntityFilterSet
    record_name = "entity"

    def get_queryset(self):
        return (
            Entity.objects.published()
            .select_related("parent", "jurisdiction")
            .prefetch_related("aliases", _citations(EntityCitation))
            .order_by("name", "slug")
        )


@documented("regulator", "regulators", RegulatorSerializer)
class RegulatorViewSet(RegistryViewSet):
    serializer_class = RegulatorSerializer
    filterset_class = filters.RegulatorFilterSet
    record_name = "regulator"

    def get_queryset(self):
        return (
            Regulator.objects.published()
            .select_related("jurisdiction")
            .prefetch_related(Prefetch("regimes", queryset=Regime.objects.published()))
            .order_by("name", "slug")
        )


@documented("regime", "regimes", RegimeSerializer)
class RegimeViewSet(RegistryViewSet):
    serializer_class = RegimeSerializer
    record_name = "regime"

    def get_queryset(self):
        return (
            Regime.objects.published()
            .select_related("jurisdiction")
            .prefetch_related("license_types")
            .order_by("short_name", "slug")
        )


@documented("licence", "licences (add as_of=YYYY-MM-DD for the register as it stood then)", LicenseSerializer)
class LicenseViewSet(RegistryViewSet):
    serializer_class = LicenseSerializer
    filterset_class = filters.LicenseFilterSet
    record_name = "licence"

    def get_queryset(self):
        return (
            License.objects.published()
            .select_related("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
            .prefetch_related("passported_to", "activities", _citations(LicenseCitation))
        )


@documented("audit", "audits and certifications (add as_of=YYYY-MM-DD for a past day)", AuditSerializer)
class AuditViewSet(RegistryViewSet):
    serializer_class = AuditSerializer
    filterset_class = filters.AuditFilterSet
    record_name = "audit"

    def get_queryset(self):
        return (
            Audit.objects.published()
            .select_related("subject", "standard", "auditor")
            .prefetch_related(_citations(AuditCitation))
        )

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        # An as-of page's records come linked within their own snapshot (history.as_of).
        if page is not None and not getattr(self, "as_of", None):
            link_supersession(page)
        return page


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
            prefix: request.build_absolute_uri(reverse(f"registry:{basename}-list"))
            for prefix, _, basename in Router.viewsets
        }
        body["schema"] = request.build_absolute_uri(reverse("registry:api-schema"))
        body["docs"] = request.build_absolute_uri(reverse("registry:api-docs"))
        return Response(body)
