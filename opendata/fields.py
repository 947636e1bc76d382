"""Serializer fields that are also table columns (``opendata.tables``), for ``opendata.serializers``.

Besides DRF's, each field takes ``example`` (the data dictionary's; a tuple, one per column, for a field
of several columns), ``pattern`` (a regular expression every non-empty value matches, for the Table Schema),
``table=False`` for a field only the API shows, and ``computed`` (the columns a model property is computed
from, which the table reads and hands to the property itself). A related record (``{slug, name, url}`` in
the API) becomes the columns ``holder``, ``holder_slug``, ``holder_url``; a partial date
(``{value, precision, display}``) becomes ``granted`` and ``granted_display``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from types import SimpleNamespace

from django.core.exceptions import FieldDoesNotExist
from django.db.models import F, Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from opendata.tables import (
    PARTIAL_DATE_PATTERN,
    ApiPart,
    Children,
    Column,
    Related,
    RelatedRecords,
    blank,
    combine,
    each,
    join,
    partial_columns,
)
from registry.dates import DatePrecision, PartialDate
from registry.models import AccreditationBodyKind, Publication, Severity, StatusChange
from registry.models.base import SlugKeyed

SOURCE_PAGE = "public:source-detail"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# ---------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------


class Tabular:
    """A serializer field that is also a table's column: by default one, named after the field."""

    column_type = "string"

    def __init__(self, *args, example="", pattern="", table=True, computed=(), **kwargs):
        self.example = example
        self.pattern = pattern
        self.in_table = table
        # The columns a model property is computed from: the table computes it with the property itself.
        self.computed = computed
        super().__init__(*args, **kwargs)

    @property
    def description(self) -> str:
        return str(self.help_text or "")

    @property
    def required_column(self) -> bool:
        """Always has a value: not nullable, and (for text) not blank."""
        return not self.allow_null and not getattr(self, "allow_blank", False)

    def enum(self) -> tuple[str, ...]:
        return ()

    def path(self, prefix: str) -> str:
        return join(prefix, *self.source_attrs)

    def table_columns(self, prefix: str) -> list[Column]:
        path = self.path(prefix)
        if self.computed:
            paths = tuple(join(prefix, name) for name in self.computed)
            return [self.column(self.field_name, paths, self._computed_reader(prefix))]
        return [self.column(self.field_name, (path,), self.reader(path))]

    def column(self, name, paths, read, **kwargs) -> Column:
        options = {
            "type": self.column_type,
            "required": self.required_column,
            "enum": self.enum(),
            "pattern": self.pattern,
            **kwargs,
        }
        return Column(name, self.description, self.example, paths=paths, read=read, **options)

    def reader(self, path):
        return lambda record, link: blank(record[path])

    # A plain value: the API's is to_representation() of the column's, None for none (as DRF's Serializer).
    api_scalar = False

    def api_part(self, prefix) -> ApiPart | None:
        """How the API's value is read from a ``values()`` record (``opendata.tables.ApiRows``); None when only
        an instance gives it."""
        convert = self.to_representation
        if self.computed:
            getter = getattr(self.parent.Meta.model, self.source).fget
            paths = {name: join(prefix, name) for name in self.computed}
            return ApiPart.call(paths.values(), lambda r, link: _none_or(convert, getter(_Columns(r, paths))))
        if not self.api_scalar:
            return None
        return ApiPart.at(self.path(prefix), convert)

    def _computed_reader(self, prefix):
        # The model's own property, reading the record's columns: one rule for instances and values() rows.
        getter = getattr(self.parent.Meta.model, self.source).fget
        convert = self.to_representation
        paths = {name: join(prefix, name) for name in self.computed}

        def read(record, link):
            return convert(getter(_Columns(record, paths)))

        return read


def _none_or(convert, value):
    return None if value is None else convert(value)


class _Columns:
    """Attribute access to a record's columns (by their paths), for a model property computed from them."""

    __slots__ = ("paths", "record")

    def __init__(self, record, paths):
        self.record = record
        self.paths = paths

    def __getattr__(self, name):
        return self.record[self.paths[name]]


class Text(Tabular, serializers.CharField):
    api_scalar = True

    def api_part(self, prefix):
        if self.computed:
            return super().api_part(prefix)
        path = self.path(prefix)
        # CharField.to_representation is str(): a text column's value is given back as it is, without the calls
        # (some 4,000 values on a page of 100 licences); only another type's is made a text.
        if _text_column(_model_of(self), path):
            return ApiPart.at(path)
        return ApiPart.at(path, str)


TEXT_TYPES = {"CharField", "TextField", "SlugField", "URLField", "EmailField"}


def _model_of(field):
    """The model of the ``values()`` records ``field``'s path is read from: its serializer's (a related record's
    fields read their parent's), or the related model of the list holding it."""
    parent = field.parent
    if parent is None:
        return None
    if isinstance(parent, serializers.ListSerializer):
        owner = _model_of(parent)
        try:
            return owner._meta.get_field(parent.source).related_model
        except (AttributeError, FieldDoesNotExist):
            return None
    model = getattr(getattr(parent, "Meta", None), "model", None)
    return model if model is not None else _model_of(parent)


def _text_column(model, path) -> bool:
    """Whether ``path`` of ``model`` is a text column (which ``values()`` reads as a text or None)."""
    if model is None:
        return False
    *relations, name = path.split("__")
    try:
        for relation in relations:
            model = model._meta.get_field(relation).related_model
        return model._meta.get_field(name).get_internal_type() in TEXT_TYPES
    except (AttributeError, FieldDoesNotExist):
        return False


class Flag(Tabular, serializers.BooleanField):
    column_type = "boolean"
    api_scalar = True

    def to_representation(self, value):
        return bool(value)

    def reader(self, path):
        return lambda record, link: bool(record[path])


class Day(Tabular, serializers.DateField):
    """A plain date (``YYYY-MM-DD``); the table keeps the date, which JSON and CSV write in ISO 8601."""

    column_type = "date"
    api_scalar = True

    def reader(self, path):
        return lambda record, link: record[path]


class Choice(Tabular, serializers.ChoiceField):
    api_scalar = True

    def api_part(self, prefix):
        path = self.path(prefix)
        # A text column of text choices: to_representation gives each value back as it is (None and "" too).
        if all(type(value) is str for value in self.choices) and _text_column(_model_of(self), path):
            return ApiPart.at(path)
        return super().api_part(prefix)

    def enum(self):
        return tuple(str(value) for value in self.choices if value != "")


class Display(Tabular, serializers.CharField):
    """A choice in words (``status_display`` beside ``status``), as ``get_<field>_display()`` gives it."""

    api_scalar = True

    def __init__(self, of, choices, **kwargs):
        self.labels = {value: str(label) for value, label in choices}
        kwargs.setdefault("source", of)
        kwargs.setdefault("help_text", f"The {of.replace('_', ' ')}, in words.")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return "" if value is None else self.labels.get(value, value)

    def api_part(self, prefix):
        if self.computed:
            return super().api_part(prefix)
        # to_representation, read in place: the label, or the value itself when it has none.
        path = self.path(prefix)
        return ApiPart.mapped(path, self.labels)

    def reader(self, path):
        return lambda record, link: self.to_representation(record[path])


class Texts(Tabular, serializers.ListField):
    """A list of words (``client_scope``): an array in JSON, joined with "; " in CSV."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField())
        super().__init__(**kwargs)

    def column(self, name, paths, read, **kwargs):
        return super().column(name, paths, read, list=True, required=False, **kwargs)


class PartialDateSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="ISO 8601 with the source's precision: 2025, 2025-03 or 2025-03-14.")
    precision = serializers.ChoiceField(choices=DatePrecision.choices)
    display = serializers.CharField(help_text="As the site shows it: 2025, March 2025, 14 March 2025.")


@extend_schema_field(PartialDateSerializer(allow_null=True))
class PartialDateField(Tabular, serializers.Field):
    """A :class:`registry.dates.PartialDate`, never shown more precisely than known.

    In a table, two columns: ``<name>`` (ISO 8601 at the source's precision) and ``<name>_display``.
    ``example`` is their pair.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return self.represent(value)

    @staticmethod
    def represent(value):
        return {"value": value.isoformat(), "precision": value.precision, "display": str(value)}

    def _columns(self, prefix):
        # The (date, precision) columns behind the model's PartialDateDescriptor.
        descriptor = getattr(self.parent.Meta.model, self.source)
        return join(prefix, descriptor.date_attname), join(prefix, descriptor.precision_attname)

    def api_part(self, prefix):
        model = getattr(getattr(self.parent, "Meta", None), "model", None)
        if model is None:
            return None
        day, precision = self._columns(prefix)
        return ApiPart.call((day, precision), lambda r, link: partial_date(r[day], r[precision]))

    def table_columns(self, prefix):
        day, precision = self._columns(prefix)
        what = self.description.rstrip(".")
        value, display = self.example or ("", "")
        return [
            Column(
                self.field_name,
                f"{what}, as precise as the source: YYYY, YYYY-MM or YYYY-MM-DD (the precision is the length: "
                "4 characters for a year, 7 for a month, 10 for a day). Empty when no source gives it.",
                value,
                pattern=PARTIAL_DATE_PATTERN,
                paths=(day, precision),
                read=lambda record, link: partial_columns(record[day], record[precision])[0],
            ),
            Column(
                f"{self.field_name}_display",
                f"{what}, as the site shows it; never more precise than the source.",
                display,
                paths=(day, precision),
                read=lambda record, link: partial_columns(record[day], record[precision])[1],
            ),
        ]


def partial_date(day, precision) -> dict | None:
    """The API's value of a partial date (:meth:`PartialDateField.represent`) from its two columns; None for none."""
    items = _partial_date_items(day, precision)
    return None if items is None else dict(items)


@lru_cache(maxsize=4096)
def _partial_date_items(day, precision):
    # Cached (as tables.partial_columns): a register holds few distinct dates, and naming one costs the most.
    value = PartialDate.from_columns(day, precision)
    return None if value is None else tuple(PartialDateField.represent(value).items())


@extend_schema_field(OpenApiTypes.URI)
class PublicURLField(Tabular, serializers.Field):
    """The record's canonical public page, as an absolute URL (a site path in a release without a base URL)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs.setdefault(
            "help_text",
            "The record's page on the site (a site path such as /licenses/… in a release written without --base-url).",
        )
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, obj):
        url = obj.get_absolute_url()
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def table_columns(self, prefix):
        path = self.path(prefix)
        page = getattr(getattr(self.parent, "Meta", None), "page", None)
        if page is None:
            # A record of varying type (what a citation cites): only the instance knows its page.
            address = join(path, "get_absolute_url")
            return [
                self.column(self.field_name, (address,), lambda r, link: link.absolute(r[address]), instance_only=True)
            ]
        slug = join(path, "slug")
        return [self.column(self.field_name, (slug,), lambda r, link: link(page, r[slug]))]

    def api_part(self, prefix):
        page = getattr(getattr(self.parent, "Meta", None), "page", None)
        if page is None:
            return None
        slug = join(self.path(prefix), "slug")
        return ApiPart((slug,), lambda record, names: f"link({page!r}, {record}[{slug!r}])")


@extend_schema_field(OpenApiTypes.URI)
class AbsoluteURLField(Tabular, serializers.CharField):
    """A site path (a change's record page, empty when the record is gone), as an absolute URL."""

    def to_representation(self, value):
        request = self.context.get("request")
        return request.build_absolute_uri(value) if value and request else value or ""

    def reader(self, path):
        return lambda record, link: link.absolute(record[path])


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class NaturalKeyField(Tabular, serializers.Field):
    """The key the fixtures, the admin and citations use (``natural_key()``), as a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, obj):
        return list(obj.natural_key())

    def table_columns(self, prefix):
        path = join(self.path(prefix), "natural_key")
        return [self.column(self.field_name, (path,), lambda r, link: list(r[path]), instance_only=True)]

    def api_part(self, prefix):
        # A record known by its slug (SlugKeyed): its key is the slug; any other needs the instance.
        if getattr(self.parent.Meta.model, "natural_key", None) is not SlugKeyed.natural_key:
            return None
        slug = join(self.path(prefix), "slug")
        return ApiPart((slug,), lambda record, names: f"[{record}[{slug!r}]]")


def loader_for(model, relation, value, only=None):
    """How a table reads the list ``value`` of each record ``relation`` of ``model`` links to."""
    field = model._meta.get_field(relation)
    if field.many_to_many:
        return Related(model, relation, value, only)
    return Children(field.related_model, field.field.name, field.get_accessor_name(), value)


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class RelatedValues(Tabular, serializers.Field):
    """``value`` of each record of a relation (an entity's aliases): a list of words."""

    def __init__(self, value="name", **kwargs):
        self.value = value
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, manager):
        return [getattr(item, self.value) for item in manager.all()]

    def table_columns(self, prefix):
        loader = loader_for(self.parent.Meta.model, self.source, self.value)
        name = self.field_name
        return [self.column(name, (), lambda r, link: r[name], loader=loader, list=True, required=False)]

    def api_part(self, prefix):
        if prefix:
            return None
        name = self.field_name
        loader = loader_for(self.parent.Meta.model, self.source, self.value)
        return ApiPart((), lambda record, names: f"{record}[{name!r}]", {name: loader})

    def prefetch(self):
        return self.source


# ---------------------------------------------------------------------------
# Related records
# ---------------------------------------------------------------------------


class TabularList(serializers.ListSerializer):
    """``many=True`` of a :class:`Ref`: one list column of the child's first ``columns`` field."""

    @property
    def in_table(self):
        return getattr(self.child, "in_table", False)

    def table_columns(self, prefix):
        return self.child.list_columns(self, prefix)

    def api_part(self, prefix):
        api_list_part = getattr(self.child, "api_list_part", None)
        return api_list_part(self, prefix) if api_list_part is not None and not prefix else None

    def prefetch(self):
        return self.child.prefetch_for(self)


class Ref(Tabular, serializers.Serializer):
    """A related record as a small object (``{slug, name, url}``); in a table, the fields ``columns`` names,
    each with its example (``{"name": "OKX", "slug": "okx"}``; a list's one column, ``{"code": "EEA"}``).

    The ``title_field``'s column takes the field's own name (``holder`` is the holder's name), the others
    are suffixed (``holder_slug``, ``holder_url``); each is described from the field's ``help_text`` and
    ``label`` unless ``column_help`` says otherwise. ``published_only``: a draft related record reads as
    none (an affiliate's draft group). ``queryset``: the related records a list may show (published regimes).
    """

    title_field = "name"
    file = ""  # the release file listing the related records
    title_text = "Name of {what}"
    list_text = "Names of {what}"

    def __init__(self, *args, columns=None, column_help=None, published_only=False, queryset=None, **kwargs):
        self.columns = columns or {}
        self.column_help = column_help or {}
        self.published_only = published_only
        self.queryset = queryset
        super().__init__(*args, **kwargs)

    class Meta:
        list_serializer_class = TabularList

    def get_attribute(self, instance):
        related = super().get_attribute(instance)
        if self.published_only and related is not None and not related.is_published:
            return None
        return related

    def describe(self, sub: str, field) -> str:
        if sub in self.column_help:
            return self.column_help[sub]
        what = _lower_first(str(field.help_text or "").rstrip("."))
        label = str(field.label).lower()
        if sub == self.title_field:
            return self.title_text.format(what=what) + "."
        if sub == "slug":
            return f"Slug of the {label}" + (f" in {self.file}." if self.file else ".")
        if sub == "url":
            return f"The {label}'s page on the site."
        return str(self.fields[sub].help_text)

    def table_columns(self, prefix):
        path = self.path(prefix)
        status = join(path, "publication_status")
        columns = []
        for sub, example in self.columns.items():
            (column,) = self.fields[sub].table_columns(path)
            read = column.read
            if self.published_only:
                read = _published_only(read, status)
            columns.append(
                replace(
                    column,
                    name=self.field_name if sub == self.title_field else f"{self.field_name}_{sub}",
                    description=self.describe(sub, self),
                    example=example,
                    required=column.required and not self.allow_null,
                    paths=(*column.paths, status) if self.published_only else column.paths,
                    read=read,
                )
            )
        return columns

    def api_fields(self, prefix):
        """Each field's part, read under ``prefix``; None when one needs instances."""
        parts = {
            name: (field.api_part(prefix) if hasattr(field, "api_part") else None)
            for name, field in self.fields.items()
        }
        return None if None in parts.values() else parts

    def api_part(self, prefix):
        path = self.path(prefix)
        parts = self.api_fields(path)
        if parts is None or type(self).get_attribute is not Ref.get_attribute:
            return None
        # Whether the related record is there (a LEFT JOIN's NULL), and published when that is asked.
        present = join(path, "pk") if self.allow_null else None
        status = join(path, "publication_status") if self.published_only else None
        if not present and not status:
            return combine(parts)

        def none_when(record, names):
            missing = [f"{record}[{present!r}] is None"] if present else []
            if status:
                missing.append(f"{record}[{status!r}] != {names.constant(Publication.PUBLISHED)}")
            return " or ".join(missing)

        return combine(parts, none_when, also=[name for name in (present, status) if name])

    def api_list_part(self, field, prefix):
        model = field.parent.Meta.model
        relation = model._meta.get_field(field.source)
        parts = self.api_fields("")
        if parts is None or not relation.many_to_many:
            return None
        part = combine(parts)
        return each(field.field_name, part, RelatedRecords(model, field.source, part.paths, self.queryset))

    def list_columns(self, field, prefix):
        ((sub, example),) = self.columns.items()
        model = field.parent.Meta.model
        loader = loader_for(model, field.source, self.fields[sub].source, self.queryset)
        name = field.field_name
        what = _lower_first(str(field.help_text or "").rstrip("."))
        return [
            Column(
                name,
                self.column_help.get(sub) or self.list_text.format(what=what) + ".",
                example,
                list=True,
                read=lambda record, link: record[name],
                loader=loader,
            )
        ]

    def prefetch_for(self, field):
        if self.queryset is None:
            return field.source
        return Prefetch(field.source, queryset=self.queryset())


def _published_only(read, status):
    return lambda record, link: read(record, link) if record[status] == Publication.PUBLISHED else ""


class JurisdictionRefSerializer(Ref):
    title_field = "code"
    title_text = "Code of {what} (ISO 3166-1 alpha-2 such as MT, ISO 3166-2 such as AE-DU, or EU, EEA)"
    list_text = "Codes of {what}"

    code = Text()
    name = Text(help_text="That jurisdiction's common English name.")


class EntityRefSerializer(Ref):
    file = "entities.csv"

    slug = Text()
    name = Text()
    url = PublicURLField()

    class Meta(Ref.Meta):
        page = "public:entity-detail"


class RegimeRefSerializer(Ref):
    title_field = "short_name"
    file = "regimes.csv"
    title_text = "Short name of {what}"
    list_text = "Short names of {what}"

    slug = Text()
    short_name = Text()
    url = PublicURLField()

    class Meta(Ref.Meta):
        page = "public:regime-detail"


class RegulatorRefSerializer(Ref):
    file = "regulators.csv"

    slug = Text()
    name = Text()
    abbreviation = Text(allow_blank=True)
    url = PublicURLField()

    class Meta(Ref.Meta):
        page = "public:regulator-detail"


class CryptoAssetRefSerializer(Ref):
    title_field = "slug"
    title_text = "Slug of {what} (crypto-assets: its page is /crypto-assets/<slug>/)"

    slug = Text()
    ffg = Text(allow_blank=True, help_text="Its ISO 24165 FFG code, when known.")
    url = PublicURLField()

    class Meta(Ref.Meta):
        page = "public:crypto-asset-detail"


class LicenseTypeSerializer(Ref):
    slug = Text()
    name = Text()


class ActivitySerializer(Ref):
    slug = Text()
    name = Text()
    code = Text(allow_blank=True, help_text="The regime's own code, e.g. MiCA service (a); may be empty.")


class StandardSerializer(Ref):
    slug = Text()
    name = Text()
    issuer = Text(allow_blank=True)


class SourceRefSerializer(Ref):
    title_field = "title"
    file = "sources.csv"

    slug = Text()
    title = Text()
    publisher = Text(allow_blank=True)
    url = PublicURLField(help_text="Our page for the source, with its archived text.")
    address = Text(source="url", allow_blank=True, help_text="Where it was published, if online; may be empty.")

    class Meta(Ref.Meta):
        page = SOURCE_PAGE


class AuditRefSerializer(Ref):
    title_field = "url"

    slug = Text()
    issued = PartialDateField()
    url = PublicURLField()

    class Meta(Ref.Meta):
        page = "public:audit-detail"


class SupersededBySerializer(AuditRefSerializer):
    """The later report that superseded an audit (``link_supersession``); in a table, its page."""

    def get_attribute(self, instance):
        return getattr(instance, "superseded_by_audit", None)

    def table_columns(self, prefix):
        slug = join(prefix, "superseded_by_slug")  # annotated by AuditQuerySet.with_status, or set by the linking
        page = self.Meta.page
        return [
            Column(
                self.field_name,
                self.column_help.get("url", ""),
                self.example,
                paths=(slug,),
                read=lambda record, link: link(page, record[slug]) if record[slug] else "",
            )
        ]


# ---------------------------------------------------------------------------
# Rows that cite their own source (issue 17): status changes, findings, accreditations, reserve figures
# ---------------------------------------------------------------------------


def plain_number(value) -> str:
    """A stored decimal as written, without the trailing zeros of its places: ``10500``, ``105.2``."""
    if value is None:
        return ""
    text = f"{Decimal(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class Number(Tabular, serializers.DecimalField):
    """A decimal (an amount, a ratio): a string in the API (exact, as DRF writes decimals), plain in a table."""

    column_type = "number"

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 30)
        kwargs.setdefault("decimal_places", 8)
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return plain_number(value) if value is not None else None

    def reader(self, path):
        return lambda record, link: plain_number(record[path])


class Ratio(Tabular, serializers.FloatField):
    """A ratio in percent computed by the database (a float), to two decimals."""

    column_type = "number"

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value is None else round(float(value), 2)

    def reader(self, path):
        return lambda record, link: self.to_representation(record[path])


class CitedRowSerializer(serializers.Serializer):
    """A row that cites its own source: the row in words, the source (its page on the site) and the quote."""

    summary = serializers.CharField(help_text="The row in words, as the table's column lists it.")
    source = SourceRefSerializer(help_text="The source that states it.")
    quote = serializers.CharField(help_text="The sentence in the source that states it, verbatim.")


class StatusChangeSerializer(CitedRowSerializer):
    status = serializers.ChoiceField(choices=StatusChange.choices, help_text="What was decided.")
    status_display = Display(of="status", choices=StatusChange.choices)
    effective = PartialDateField(help_text="When it took effect")
    reason = serializers.CharField(help_text="The reason the source gives; empty when it gives none.")


class FindingSerializer(CitedRowSerializer):
    severity = serializers.ChoiceField(choices=Severity.choices, help_text="As the report grades them.")
    severity_display = Display(of="severity", choices=Severity.choices)
    count = serializers.IntegerField(help_text="How many findings of this severity the report gives.")
    resolved = serializers.IntegerField(allow_null=True, help_text="How many were fixed; null when not stated.")


class AccreditationBodySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    abbreviation = serializers.CharField()
    kind = serializers.ChoiceField(choices=AccreditationBodyKind.choices)
    iaf_mla_signatory = serializers.BooleanField(
        allow_null=True, help_text="Whether it signed the IAF MLA; null when no source says."
    )


class VouchingSerializer(CitedRowSerializer):
    body = AccreditationBodySerializer(help_text="The accreditation body, or the board licensing CPA firms.")
    standard = serializers.CharField(
        source="standard.slug", allow_null=True, default=None, help_text="The standard accredited for, if named."
    )
    scope = serializers.CharField(help_text="As the source states it.")
    reference = serializers.CharField(help_text="The accreditation or licence number, if given.")


class ReserveRowSerializer(CitedRowSerializer):
    as_of = serializers.DateField(help_text="The day the figures stand for.")
    asset = serializers.CharField(help_text="The asset's ticker; empty for the totals across assets, in US dollars.")
    assets = Number(help_text="Reserves held (units of the asset, or US dollars for the totals).")
    liabilities = Number(help_text="What customers are owed, in the same unit.")
    reserve_ratio = Number(help_text="The ratio the report states, in percent; null when it states none.")
    ratio = serializers.FloatField(
        allow_null=True, help_text="The reserve ratio in percent: the stated one, else assets ÷ liabilities × 100."
    )
    under_reserved = serializers.BooleanField(help_text="True when the reserve ratio is under 100 %.")
    liabilities_merkle_tree = serializers.BooleanField(help_text="Liabilities published as a Merkle tree.")
    wallets_attested = serializers.BooleanField(help_text="The reserves' wallets attested.")
    report_url = serializers.CharField(help_text="The published report; may be empty.")
    tool_url = serializers.CharField(help_text="Where customers check their own balance; may be empty.")


@dataclass(frozen=True)
class RowSummaries:
    """``summary(row)`` of each row of ``rows()`` (a QuerySet of the rows the public may see) by its record:
    an instance's from its prefetch through ``relation``, a batch's in one query."""

    rows: Callable
    field: str
    relation: str
    summary: Callable

    def of(self, obj):
        return [self.summary(row) for row in getattr(obj, self.relation).all()]

    def load(self, ids):
        grouped = {}
        for row in self.rows().filter(**{f"{self.field}__in": ids}):
            grouped.setdefault(getattr(row, f"{self.field}_id"), []).append(self.summary(row))
        return grouped


class RowList(Tabular, serializers.ListField):
    """A record's rows that cite their own source: objects in the API (``child``); in a table, one list column
    of each row in words (``summary``). ``rows`` gives the rows the public may see, as the prefetch reads them."""

    def __init__(self, *, child, rows, summary, **kwargs):
        self.rows, self.summary = rows, summary
        kwargs["read_only"] = True
        super().__init__(child=child, **kwargs)

    def to_representation(self, data):
        return self.represent(data.all())

    def represent(self, rows):
        represented = []
        for row in rows:
            row.summary = self.summary(row)
            represented.append(self.child.to_representation(row))
        return represented

    def prefetch(self):
        return Prefetch(self.source, queryset=self.rows())

    def table_columns(self, prefix):
        model = self.parent.Meta.model
        link = model._meta.get_field(self.source).field.name
        loader = RowSummaries(self.rows, link, self.source, self.summary)
        name = self.field_name
        return [self.column(name, (), lambda r, link: r[name], loader=loader, list=True, required=False)]


@dataclass(frozen=True)
class Vouchers:
    """The accreditations that vouch for each audit's auditor (``Accreditation.bears_on``), in words."""

    rows: Callable
    summary: Callable

    def of(self, audit):
        if audit.auditor is None:
            return []
        return [self.summary(row) for row in audit.auditor.accreditations.all() if row.bears_on(audit)]

    def load(self, ids):
        # Each accreditation once per audit of the batch its holder performed, with that audit's standard.
        rows = (
            self.rows()
            .filter(holder__audits_performed__in=ids)
            .annotate(audit_id=F("holder__audits_performed"), audit_standard_id=F("holder__audits_performed__standard"))
        )
        grouped = {}
        for row in rows:
            audit = SimpleNamespace(auditor_id=row.holder_id, standard_id=row.audit_standard_id)
            if row.bears_on(audit):
                grouped.setdefault(row.audit_id, []).append(self.summary(row))
        return grouped


class VouchedBy(RowList):
    """The accreditations (and CPA licences) of an audit's auditor that bear on the audit: its standard's, or
    tied to none. Read through the auditor, so prefetched as ``auditor__accreditations``."""

    # TableSerializer.optimise prefetches it although its source is the audit itself.
    always_prefetch = True

    def __init__(self, **kwargs):
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, audit):
        if audit.auditor is None:
            return []
        return self.represent(row for row in audit.auditor.accreditations.all() if row.bears_on(audit))

    def prefetch(self):
        return Prefetch("auditor__accreditations", queryset=self.rows())

    def table_columns(self, prefix):
        loader = Vouchers(self.rows, self.summary)
        name = self.field_name
        return [self.column(name, (), lambda r, link: r[name], loader=loader, list=True, required=False)]


@dataclass(frozen=True, eq=False)
class LatestReserve:
    """Each audit's latest totals row (``ReserveSnapshotQuerySet.latest_totals``, annotated ``with_ratio``).

    One loader for the three columns of :class:`LatestReserveValue`: a table loads it once per batch.
    """

    rows: Callable

    def of(self, audit):
        return latest_totals_of(audit.reserve_snapshots.all())

    def load(self, ids):
        return {row.audit_id: row for row in self.rows().latest_totals().filter(audit_id__in=ids)}


def latest_totals_of(rows):
    """Of an audit's reserve rows (prefetched), the latest totals row, as ``latest_totals()`` picks it; or None."""
    totals = [row for row in rows if not row.asset]
    return max(totals, key=lambda row: row.as_of) if totals else None


class LatestReserveValue(Tabular, serializers.Field):
    """One value of an audit's latest proof-of-reserves totals (``part`` of the row: its day, its ratio, whether
    it is under 100 %), read from the audit's reserve figures as ``reserve_snapshots`` prefetches them; null
    when there is none. ``loader`` is shared by the fields of one audit, so a table reads the rows once."""

    def __init__(self, *, loader, part, column_type="string", **kwargs):
        self.loader, self.part, self.column_type = loader, part, column_type
        kwargs["read_only"] = True
        kwargs["source"] = "reserve_snapshots"
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def value(self, row):
        if row is None:
            return None
        value = getattr(row, self.part)
        if self.part == "ratio":
            return None if value is None else round(value, 2)
        return bool(value) if self.part == "under_reserved" else value

    def to_representation(self, manager):
        return self.value(latest_totals_of(manager.all()))

    def table_columns(self, prefix):
        name = self.field_name

        def read(record, link):
            row = record[name]
            return self.value(row if row != [] else None)

        return [self.column(name, (), read, loader=self.loader)]


# The schema's type of each part (drf-spectacular reads it from the field's class).
@extend_schema_field(serializers.DateField(allow_null=True))
class LatestReserveDay(LatestReserveValue):
    def __init__(self, **kwargs):
        super().__init__(part="as_of", column_type="date", **kwargs)


@extend_schema_field(serializers.FloatField(allow_null=True))
class LatestReserveRatio(LatestReserveValue):
    def __init__(self, **kwargs):
        super().__init__(part="ratio", column_type="number", **kwargs)


@extend_schema_field(serializers.BooleanField(allow_null=True))
class LatestReserveFlag(LatestReserveValue):
    def __init__(self, **kwargs):
        super().__init__(part="under_reserved", column_type="boolean", **kwargs)
