"""One FilterSet per public list.

The HTML list pages, the CSV/JSON exports (and later the API) validate and apply
their query string through the same FilterSet, so a link copied from a list page
to an export selects exactly the same rows. Each FilterSet also declares its
facets (the counts shown beside filter values) and the columns it may be sorted by.

The FilterSets never choose the base queryset: callers pass one that starts from
the model's ``published()``. Choice querysets (regimes, entities, regulators) are
published-only too, so a draft's slug is an unknown choice, not a hint it exists.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import django_filters
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, F, Min, Model, Q, QuerySet
from django.db.models.functions import Coalesce
from django.forms.boundfield import BoundField
from django.forms.models import ModelChoiceIterator
from django.forms.renderers import DjangoTemplates

from registry import prepared
from registry import search as search_index
from registry.dates import PartialDate
from registry.models import (
    Accreditation,
    Activity,
    Audit,
    AuditFinding,
    AuditKind,
    AuditScopeItem,
    AuditStatus,
    CryptoAsset,
    Entity,
    EntityKind,
    Jurisdiction,
    License,
    LicenseQuerySet,
    LicenseStatus,
    LicenseType,
    Publication,
    Regime,
    Regulator,
    ReserveSnapshot,
    Severity,
    SourcedRow,
    Standard,
    TokenKind,
    WarningNotice,
    WhitePaper,
    granted_in_field,
)

Q_MAX_LENGTH = 200
# Ids per query when a facet reads its groups' labels: under SQLite's historical limit of 999 parameters.
LABEL_BATCH_SIZE = 900
NUL_MESSAGE = "Null characters are not allowed."


# ---------------------------------------------------------------------------
# Form and field building blocks
# ---------------------------------------------------------------------------


class CachedModelChoiceIterator(ModelChoiceIterator):
    """``(value, label)`` pairs of a choice queryset, computed once per data version and process.

    The labels follow the data, never the request, so every list page shares them until the next
    write raises the version (registry/derived/version.py). :meth:`digest` names the pairs themselves, so a
    select's cached markup outlives writes that leave its choices as they were.
    """

    _cache: dict = {}

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        yield from self._pairs()

    def __len__(self):
        return len(self._pairs()) + (self.field.empty_label is not None)

    def digest(self):
        """A digest of the choices (labels and the empty label included), computed once per data version."""
        return self._cached("digest", lambda: choices_digest(self))

    def _pairs(self):
        return self._cached(
            "pairs",
            lambda: [
                (str(self.field.prepare_value(obj)), self.field.label_from_instance(obj)) for obj in self.queryset
            ],
        )

    def _cached(self, part, compute):
        from registry.derived.version import current_version

        version = current_version()
        # Named by the form's class (one per FilterSet) and field, set by RegistryFilterForm: compiling the
        # queryset's SQL to name it cost a millisecond a select.
        name = getattr(self.field, "choices_key", None) or str(self.queryset.query)
        key = (name, self.field.to_field_name, version, part, self.field.empty_label)
        value = self._cache.get(key)
        if value is None:
            value = compute()
            for stale in [k for k in self._cache if k[2] != version]:
                del self._cache[stale]
            self._cache[key] = value
        return value


def choices_digest(choices):
    return hashlib.sha256(repr([(str(value), str(label)) for value, label in choices]).encode()).hexdigest()[:32]


class FilterBoundField(BoundField):
    """A filter field that names what its markup depends on, so list_filters.html can cache it."""

    @property
    def fragment_key(self):
        """What this field's label, widget, help and errors depend on besides the list they belong to.

        Its value and errors, and the choices of a select (a digest: hundreds of regimes, licence types and
        regulators took Django's widget templates 40 ms a licence list). Text inputs never read their
        choices: an entity field's are every published entity.
        """
        choices = ""
        if isinstance(self.field.widget, forms.Select):
            options = self.field.widget.choices
            choices = options.digest() if isinstance(options, CachedModelChoiceIterator) else choices_digest(options)
        return (self.html_name, self.value(), [str(error) for error in self.errors], choices)


SELECT_TEMPLATE = "public/includes/widgets/select.html"


class FilterFormRenderer(DjangoTemplates):
    """Django's form templates, with the project's own first: a filter form's selects render through
    :data:`SELECT_TEMPLATE`, which writes each option in one loop (Django's includes two templates per option,
    twice the time for the licence list's thousand regimes, licence types and regulators). Same markup, same
    widgets: only the widget's template_name is set, Django's supported way to change its template."""

    @cached_property
    def engine(self):
        return self.backend(
            {
                "APP_DIRS": True,
                "DIRS": [*settings.TEMPLATES[0]["DIRS"], Path(forms.__file__).parent / self.backend.app_dirname],
                "NAME": "registryforms",
                "OPTIONS": {},
            }
        )


class RegistryFilterForm(forms.Form):
    """A filter form that turns NUL bytes into a field error instead of a database error.

    Its fields are rendered by Django's templates; list_filters.html caches each field's markup under
    :attr:`FilterBoundField.fragment_key`, and the choices of model selects are read once per data version.

    PostgreSQL rejects NUL in text parameters, and a model choice field would send
    the raw value to the database before any validator runs; so values holding
    NUL are dropped before cleaning and reported against their own field.
    """

    bound_field_class = FilterBoundField
    default_renderer = FilterFormRenderer()

    def __init__(self, data=None, *args, **kwargs):
        self.nul_fields = []
        if data is not None:
            data = data.copy()
            for key in list(data.keys()):
                if any("\x00" in value for value in data.getlist(key)):
                    self.nul_fields.append(key)
                    del data[key]
        super().__init__(data, *args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.Select) and field.widget.template_name == forms.Select.template_name:
                field.widget.template_name = SELECT_TEMPLATE
            if isinstance(field, forms.ModelChoiceField) and isinstance(field.widget, forms.Select):
                field.choices_key = f"{type(self).__qualname__}.{name}"
                field.iterator = CachedModelChoiceIterator
                field.widget.choices = field.choices

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        for name in self.nul_fields:
            if name in self.fields:
                self.add_error(name, NUL_MESSAGE)


class KeyChoiceField(forms.ModelChoiceField):
    """A record typed as its key (its ``to_field_name``) in a text box, not picked from a <select>: thousands of
    jurisdictions or firms make a poor one (an entity select cost seconds a page). ``normalise`` is how the key is
    written (codes upper case, slugs lower case)."""

    widget = forms.TextInput
    normalise = staticmethod(str.strip)

    def to_python(self, value):
        if isinstance(value, str):
            value = self.normalise(value.strip())
        return super().to_python(value)

    def prepare_value(self, value):
        if isinstance(value, self.queryset.model):
            return getattr(value, self.to_field_name)
        return value


class CodeChoiceField(KeyChoiceField):
    """A jurisdiction typed as its code (``mt`` or ``AE-DU``)."""

    normalise = staticmethod(str.upper)
    default_error_messages = {
        "invalid_choice": "Unknown jurisdiction code: use an ISO 3166 code such as MT, AE-DU, or EU.",
    }


class SlugChoiceField(KeyChoiceField):
    """An entity typed as its slug (``okx``)."""

    normalise = staticmethod(str.lower)
    default_error_messages = {
        "invalid_choice": "No published entity has this identifier: use the last part of its page address, "
        "such as okx for /entities/okx/.",
    }


class EntityChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = SlugChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", Entity.objects.published())
        kwargs.setdefault("to_field_name", "slug")
        kwargs.pop("empty_label", None)
        super().__init__(*args, **kwargs)


class JurisdictionFilter(django_filters.ModelChoiceFilter):
    field_class = CodeChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("queryset", Jurisdiction.objects.all())
        kwargs.setdefault("to_field_name", "code")
        super().__init__(*args, **kwargs)


def established_in(queryset, jurisdiction):
    """Rows of ``queryset`` whose ``jurisdiction`` is ``jurisdiction`` or one of its subdivisions.

    Asked of the row's own column (``jurisdiction_id IN (…)``), which an index answers: an OR across the join
    to the jurisdiction made SQLite read every published entity (12 ms a query at N = 20,000, four a page).
    """
    places = Jurisdiction.objects.filter(Q(pk=jurisdiction.pk) | Q(parent=jurisdiction)).values("pk")
    return queryset.filter(jurisdiction__in=places)


def established_in_filter(help_text):
    """``jurisdiction=<code>``: the rows established in that jurisdiction or one of its subdivisions
    (:func:`established_in`), as the lists of entities and of regulators filter them."""
    return JurisdictionFilter(
        method=lambda queryset, name, value: established_in(queryset, value),
        label="Jurisdiction",
        help_text=help_text,
    )


class PartialDateFilterField(forms.Field):
    """:class:`PartialDateFilter`'s form field: one text box holding ``2025``, ``2025-03`` or ``2025-03-14``.

    Not the admin's three-box field (curation.forms) nor the API's (opendata.api): this one cleans to a single day.

    ``bound`` picks the day the value stands for: ``"start"`` (1 March for
    2025-03) for lower bounds, ``"end"`` (31 March) for upper bounds, so
    ``granted_after=2025-03&granted_before=2025-03`` means "in March 2025".
    """

    default_error_messages = {"invalid": "Enter a valid date: YYYY, YYYY-MM or YYYY-MM-DD."}

    def __init__(self, *args, bound="start", **kwargs):
        self.bound = bound
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "YYYY-MM-DD", "inputmode": "numeric"}))
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.date):
            return value
        try:
            partial = PartialDate.parse(str(value))
        except (ValueError, OverflowError) as exc:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from exc
        return partial.first_day if self.bound == "start" else partial.last_day


class PartialDateFilter(django_filters.Filter):
    field_class = PartialDateFilterField


class DayField(forms.DateField):
    default_error_messages = {"invalid": "Enter a valid date: YYYY-MM-DD."}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("input_formats", ["%Y-%m-%d"])
        kwargs.setdefault("widget", forms.TextInput(attrs={"placeholder": "YYYY-MM-DD", "inputmode": "numeric"}))
        super().__init__(*args, **kwargs)


class DayFilter(django_filters.Filter):
    field_class = DayField


class StrictBooleanField(forms.NullBooleanField):
    """``true`` or ``false`` (empty means either); anything else is an error rather than silently "either"."""

    default_error_messages = {"invalid": "Enter true or false."}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise ValidationError(self.error_messages["invalid"], code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


def as_of_filter():
    """``as_of=YYYY-MM-DD``: the register as it stood at the end of that day (UTC), from the change history.

    Validated here like any filter, but applied before filtering: ``history.as_of.filterset_for``
    swaps the base queryset for the history snapshot, so the filter method itself does nothing.
    """
    return DayFilter(
        method="filter_as_of",
        label="As it stood on",
        help_text="Show the register as it stood at the end of this day (UTC): YYYY-MM-DD.",
    )


@dataclass(frozen=True)
class Sort:
    """A sortable column: its query-string name, label and the ordering it applies.

    ``fields`` are field paths or expressions. Each ordering ends with a unique
    column so pages never overlap; nullable columns sort their blanks last on
    every database.
    """

    param: str
    label: str
    fields: tuple
    nullable: tuple[str, ...] = ()

    def ordering(self, descending):
        result = []
        for name in (*self.fields, "slug"):
            expression = F(name) if isinstance(name, str) else name
            nulls = {"nulls_last": True} if name in self.nullable else {}
            result.append(expression.desc(**nulls) if descending else expression.asc(**nulls))
        return result


class SortFilter(django_filters.ChoiceFilter):
    """``sort=<column>`` or ``sort=-<column>``, from an allow-list of :class:`Sort` columns."""

    def __init__(self, *args, sorts=(), **kwargs):
        self.sorts = {sort.param: sort for sort in sorts}
        choices = []
        for sort in sorts:
            choices += [(sort.param, f"{sort.label} (ascending)"), (f"-{sort.param}", f"{sort.label} (descending)")]
        kwargs.setdefault("label", "Sort by")
        kwargs.setdefault("empty_label", "Default order")
        super().__init__(*args, choices=choices, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        descending = value.startswith("-")
        return qs.order_by(*self.sorts[value.lstrip("-")].ordering(descending))


# ---------------------------------------------------------------------------
# Facets
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Facet:
    """Counts of rows per value of one filter, computed in one GROUP BY query.

    ``value`` and ``label`` are expressions (field paths or Coalesce) evaluated
    on the filtered queryset; ``choices`` gives labels for TextChoices fields.
    ``through`` names a many-to-many relation whose related rows are counted
    instead (a regulator supervises several regimes).
    """

    param: str
    label: str
    value: object
    value_label: object = None
    choices: dict | None = None
    through: str | None = None
    through_filter: dict | None = None
    keys: tuple[str, ...] = ()

    def rows(self, queryset, keyed=True):
        """Return ``[(value, label, count)]``, most frequent first, in a single query.

        With ``keys`` (and ``keyed``), the count groups by those local columns only, which a partial
        index on the published rows answers without touching the table or joining; a second query
        reads each key's value and label from one row of its group.
        """
        if self.keys and keyed:
            return self._keyed_rows(queryset)
        if self.through:
            model = queryset.model
            relation = model._meta.get_field(self.through)
            through_model = relation.remote_field.through
            source = relation.m2m_field_name()
            target = relation.m2m_reverse_field_name()
            base = through_model.objects.filter(**{f"{source}__in": queryset.values("pk")})
            if self.through_filter:
                base = base.filter(**{f"{target}__{key}": value for key, value in self.through_filter.items()})
            rows = (
                base.values(facet_value=F(f"{target}__{self.value}"), facet_label=F(f"{target}__{self.value_label}"))
                .annotate(facet_count=Count(source, distinct=True))
                .order_by("-facet_count", "facet_label")
                .values_list("facet_value", "facet_label", "facet_count")
            )
        else:
            rows = self.count_query(queryset)
        return self.labelled(rows)

    def count_query(self, queryset):
        """The counts of a facet neither keyed nor ``through``: ``(value, label, count)`` tuples of ``queryset``."""
        value, label = self._expressions()
        return (
            queryset.order_by()
            .values(facet_value=value, facet_label=label)
            .annotate(facet_count=_row_count(queryset))
            .filter(facet_value__isnull=False)
            .order_by("-facet_count", "facet_label")
            .values_list("facet_value", "facet_label", "facet_count")
        )

    def labelled(self, rows):
        """``[(value, label, count)]`` of the counts ``rows``, as texts; a choice's label from ``choices``."""
        result = []
        for value, label, count in rows:
            if self.choices is not None:
                label = self.choices.get(value, value)
            result.append((str(value), str(label), count))
        if self.choices is not None:
            result.sort(key=lambda item: (-item[2], item[1]))
        return result

    def _expressions(self):
        """The value and label as expressions (a field path becomes ``F``); the label defaults to the value."""
        value = F(self.value) if isinstance(self.value, str) else self.value
        if self.value_label is None:
            return value, value
        return value, F(self.value_label) if isinstance(self.value_label, str) else self.value_label

    def _keyed_rows(self, queryset):
        # One pass over the index counts each group and names its smallest id, the row its value and label are
        # read from: a join over a few hundred rows by primary key rather than over every row counted (a second
        # pass for the representatives cost as much as the count: 10 ms on the licence list at N = 20,000).
        grouped = queryset.order_by().values(*self.keys).annotate(facet_count=_row_count(queryset), first=Min("pk"))
        counts = {row["first"]: row["facet_count"] for row in grouped}
        return _labelled_totals([self], queryset.model, counts)[self.param]


def keyed_rows_together(facets, queryset, groups=None):
    """``{facet.param: facet.rows(queryset)}`` of keyed facets of the same rows, in one GROUP BY over all their
    keys and one query for the values and labels, rather than two queries each (the home page's two charts).

    A keyed facet's value depends on its own keys alone, so its groups are unions of these finer groups: summing
    their counts by value gives its counts. Counts that a join may repeat (``_row_count``: distinct) do not sum;
    then each facet counts alone. ``groups``, when given, is that GROUP BY's answer kept elsewhere
    (``{a group's smallest id: its rows}``: the licence tally, ``registry/derived/tally.py``).
    """
    if any(not facet.keys for facet in facets) or _row_count(queryset).distinct:
        return {facet.param: facet.rows(queryset) for facet in facets}
    return _labelled_totals(facets, queryset.model, _key_groups(facets, queryset) if groups is None else groups)


def counted_with_rows(facets, queryset):
    """``(queryset.count(), keyed_rows_together(facets, queryset))`` from the same GROUP BY: the row count is the
    sum of its groups' counts. A list's count and the keyed facets whose own filter is not set, which count the
    list's rows too (the licence list: four scans of a country's licences in one). None when a facet has no keys
    or a row may repeat (a distinct count does not sum)."""
    if not facets or any(not facet.keys for facet in facets) or _row_count(queryset).distinct:
        return None
    groups = _key_groups(facets, queryset)
    return sum(groups.values()), _labelled_totals(facets, queryset.model, groups)


def _key_groups(facets, queryset):
    """``{a group's smallest id: its row count}`` of ``queryset`` grouped by every key of ``facets``."""
    keys = list(dict.fromkeys(key for facet in facets for key in facet.keys))
    grouped = queryset.order_by().values(*keys).annotate(facet_count=_row_count(queryset), first=Min("pk"))
    return {row["first"]: row["facet_count"] for row in grouped}


def _labelled_totals(facets, model, counts):
    """``{facet.param: [(value, label, count)]}``, most frequent first: ``counts`` (``{a group's first id: its
    count}``) summed by each facet's value, read with its label from each group's first row."""
    annotations = {}
    for i, facet in enumerate(facets):
        annotations[f"facet_value_{i}"], annotations[f"facet_label_{i}"] = facet._expressions()

    def build(ids):
        rows = model._default_manager.order_by().filter(pk__in=prepared.IdList(ids)).annotate(**annotations)
        return rows.values_list("pk", *annotations)

    # Compiled once per set of facets (registry.prepared), the ids as one parameter: the home page's 600 groups
    # as 600 literals took PostgreSQL longer to plan than to read, and the ORM as long again to build and compile.
    key = ("facet-labels", model._meta.label, tuple((type(facet).__qualname__, facet.param) for facet in facets))
    labelled = prepared.run(key, build, [prepared.encoded(list(counts), model)], model) if counts else []
    result = {}
    for i, facet in enumerate(facets):
        totals: dict[str, list] = {}
        for row in labelled:
            value, label = row[1 + 2 * i], row[2 + 2 * i]
            if value is None:
                continue
            entry = totals.setdefault(str(value), [str(label), 0])
            entry[1] += counts[row[0]]
        if facet.choices is not None:
            totals = {value: [str(facet.choices.get(value, value)), count] for value, (_, count) in totals.items()}
        rows = [(value, label, count) for value, (label, count) in totals.items()]
        rows.sort(key=lambda item: (-item[2], item[1]))
        result[facet.param] = rows
    return result


def _row_count(queryset):
    """``COUNT(*)``, unless a filter joined a many-valued relation and a row may repeat: then count distinct."""
    for join in queryset.query.alias_map.values():
        field = getattr(join, "join_field", None)
        if field is not None and (field.one_to_many or field.many_to_many):
            return Count("pk", distinct=True)
    return Count("pk")


def country_of(path):
    """The country a jurisdiction rolls up to (itself, or its parent for a subdivision)."""
    return Coalesce(f"{path}__parent__code", f"{path}__code")


def country_name_of(path):
    return Coalesce(f"{path}__parent__name", f"{path}__name")


# ---------------------------------------------------------------------------
# FilterSets
# ---------------------------------------------------------------------------

# How a parameter reads in an export's file name, where its own name would not (q is a search).
EXPORT_LABELS = {"q": "search"}


def safe_name(text, limit=40):
    """``text`` as a part of a file name: ASCII letters and digits between single hyphens, at most ``limit`` long."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text)[:limit].strip("-")


def export_name(filterset):
    """The parts of an export's file name that say what ``filterset``'s filters select (docs/exports.md).

    The FilterSet's ``named_by_value`` filter gives its value alone (``MT``); every other filter its name and
    value (``regime-mica``, ``granted-in-AE``, ``granted-after-2025-03``, ``search-okx``), in the FilterSet's
    order. ``sort`` changes no row and ``as_of`` names the day instead, so neither appears. Records are named
    by code or slug, other values as typed. Only valid filters are read (an export refuses invalid ones).
    """
    if not filterset.is_bound or not filterset.is_valid():
        return []
    lead = getattr(filterset, "named_by_value", "")
    names = [name for name in filterset.filters if name not in ("sort", "as_of")]
    if lead in names:
        names.remove(lead)
        names.insert(0, lead)
    cleaned, data = filterset.form.cleaned_data, filterset.form.data
    parts = []
    for name in names:
        value = cleaned.get(name)
        if value is None or value == "":
            continue
        text = safe_name(str(getattr(value, "code", None) or getattr(value, "slug", None) or data.get(name, value)))
        if text:
            parts.append(text if name == lead else f"{EXPORT_LABELS.get(name, name.replace('_', '-'))}-{text}")
    return parts


class _Filters(dict):
    """A FilterSet's declared filters, whose deep copy (django-filter's, one per FilterSet made) copies each filter
    shallowly: a filter's own attributes (the model and FilterSet it is given) are the copy's, and what they share
    is only read. The deep copy of a licence filter's 15 filters was 0.3 ms of every list, export and API page."""

    def __deepcopy__(self, memo):
        copies = {}
        for name, filter_ in self.items():
            copied = copies[name] = copy.copy(filter_)
            if filter_.method is not None:
                copied.method = filter_.method  # its FilterMethod, bound to the copy (it reads the copy's FilterSet)
        return copies


class RegistryFilterSet(django_filters.FilterSet):
    """Shared behaviour: the NUL-safe form, a capped free-text ``q`` and a sort allow-list."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        max_length=Q_MAX_LENGTH,
        help_text=f"Names, aliases, reference numbers, scopes (at most {Q_MAX_LENGTH} characters).",
    )
    # The kind of document ``q`` looks up in the full-text index (registry/search.py says what each holds).
    search_kind = ""

    facets: tuple[Facet, ...] = ()
    sorts: tuple[Sort, ...] = ()
    # Former parameter names still understood: {old: current}. Decided here only: the API and the exports
    # read the old name as the current one; the HTML list answers 301 to the URL with the current name.
    renamed: dict[str, str] = {}
    # The filter an export's file name gives by its value alone (licenses-MT-….csv): see :func:`export_name`.
    named_by_value = ""

    class Meta:
        form = RegistryFilterForm

    def __init__(self, data=None, *args, **kwargs):
        # {current: old} for each parameter this query gave under its former name.
        self.given_as = {}
        if data is not None:
            self.given_as = {new: old for old, new in self.renamed.items() if old in data and new not in data}
            data = self.canonical(data)
        super().__init__(data, *args, **kwargs)

    @classmethod
    def get_filters(cls):
        return _Filters(super().get_filters())

    def get_form_class(self):
        """django-filter's form class, built once per FilterSet class rather than once per request.

        Its fields follow from the filters' declarations alone (every model choice is a fixed queryset, none a
        function of the request), and each form deep-copies them, as any Django form does. Building the class,
        with a new field per filter, was 0.55 of the 2.5 ms a licence filter took to validate (in process).
        """
        form_class = type(self).__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            type(self)._form_class = form_class
        return form_class

    @property
    def errors(self):
        """The form's errors, each under the name the query gave it (``jurisdiction``, when it was sent)."""
        errors = super().errors
        if not self.given_as:
            return errors
        return {self.given_as.get(name, name): messages for name, messages in errors.items()}

    @classmethod
    def canonical(cls, data):
        """``data`` with each renamed parameter under its current name; ``data`` itself when none is used.

        When both names are given, the current one wins and the old one is dropped.
        """
        if not any(old in data for old in cls.renamed):
            return data
        data = data.copy()
        for old, current in cls.renamed.items():
            if old not in data:
                continue
            values = data.getlist(old) if hasattr(data, "getlist") else [data[old]]
            del data[old]
            if current not in data:
                if hasattr(data, "setlist"):
                    data.setlist(current, values)
                else:
                    data[current] = values[-1]
        return data

    def search(self, queryset, name, value):
        """Records matching every word of ``value`` (each as a word prefix), through the full-text index."""
        return search_index.filter_queryset(queryset, self.search_kind, value) if value else queryset

    def filtered_without(self, param, cleaned=None):
        """The queryset filtered by every valid parameter except ``param`` (and sort): a facet's base.

        ``cleaned`` stands for the form's ``cleaned_data`` (:meth:`facet_rows` passes stand-ins)."""
        queryset = self.queryset.all()
        if not self.is_bound:
            return queryset
        self.errors  # noqa: B018 - validates the form so cleaned_data exists
        for name, value in (self.form.cleaned_data if cleaned is None else cleaned).items():
            if name in (param, "sort"):
                continue
            queryset = self.filters[name].filter(queryset, value)
        return queryset

    def facet_rows(self, facet):
        """``facet.rows()`` of the rows but for the facet's own filter.

        A plain :class:`Facet`'s count, neither keyed nor ``through``, has its SQL compiled once per set of
        other filters (registry.prepared) where each is a plain equality (a record or a choice, no ``method``),
        whose SQL depends on which are set, not on their values: building and compiling the audits' status
        cost twice what counting it does. Any other filter, and the as-of rows, go through the ORM. The list's queryset
        must be the same on every call (the list view's ``get_queryset()``).
        """
        if type(facet) is not Facet or facet.keys or facet.through or getattr(self, "as_of", None):
            base = self.filtered_without(facet.param)
            # As-of pages count history snapshots, whose model the key mappings do not cover.
            return facet.rows(base, keyed=base.model is self._meta.model)
        given = self._plain_values(facet.param)
        if given is None:
            return facet.rows(self.filtered_without(facet.param))
        names = tuple(given)

        def build(*stand_ins):
            cleaned = dict(self.form.cleaned_data) if self.is_bound else None
            for name, stand_in in zip(names, stand_ins, strict=True):
                value = given[name]
                cleaned[name] = type(value)(pk=stand_in) if isinstance(value, Model) else stand_in
            return facet.count_query(self.filtered_without(facet.param, cleaned))

        values = [value.pk if isinstance(value, Model) else value for value in given.values()]
        key = ("facet", type(self).__module__, type(self).__qualname__, facet.param, names)
        return facet.labelled(prepared.run(key, build, values, self._meta.model))

    def _plain_values(self, param):
        """``{name: value}`` of the filters set but ``param``'s (and sort), when each is a plain equality: a
        record's key or a choice; else None."""
        if not self.is_bound:
            return {}
        self.errors  # noqa: B018 - validates the form so cleaned_data exists
        given = {}
        for name, value in self.form.cleaned_data.items():
            if name in (param, "sort") or value in django_filters.constants.EMPTY_VALUES:
                continue
            field = self.filters[name]
            if field.method is not None or field.lookup_expr != "exact" or field.exclude or field.distinct:
                return None
            plain_record = isinstance(field, django_filters.ModelChoiceFilter) and isinstance(value, Model)
            plain_choice = type(field) is django_filters.ChoiceFilter and type(value) is str
            if not (plain_record or plain_choice) or value == field.null_value:
                return None
            given[name] = value
        return given


CLIENT_SCOPES = [("retail", "Retail"), ("professional", "Professional"), ("institutional", "Institutional")]


class LicenseFilterSet(RegistryFilterSet):
    usable_in = JurisdictionFilter(
        method="filter_usable_in",
        label="Usable in",
        help_text="A jurisdiction code (MT): licences granted there, passported there, or under a regime of an "
        "area that covers it (the EU for MT); a country includes its subdivisions (AE: Dubai).",
    )
    granted_in = JurisdictionFilter(
        method="filter_granted_in",
        label="Granted in",
        help_text="A jurisdiction code (MT): licences whose home jurisdiction it is, or one of its subdivisions; "
        "where the source names none, the regime's (the EU for MiFID II). Passports do not count.",
    )
    regime = django_filters.ModelChoiceFilter(
        field_name="license_type__regime",
        to_field_name="slug",
        queryset=Regime.objects.published(),
        empty_label="Any regime",
    )
    license_type = django_filters.ModelChoiceFilter(
        field_name="license_type",
        to_field_name="slug",
        queryset=LicenseType.objects.filter(regime__in=Regime.objects.published()).select_related("regime"),
        label="Licence type",
        empty_label="Any type",
    )
    regulator = django_filters.ModelChoiceFilter(
        to_field_name="slug", queryset=Regulator.objects.published(), empty_label="Any regulator"
    )
    status = django_filters.ChoiceFilter(choices=LicenseStatus.choices, empty_label="Any status")
    activity = django_filters.ModelChoiceFilter(
        field_name="activities", to_field_name="slug", queryset=Activity.objects.all(), empty_label="Any activity"
    )
    clients = django_filters.ChoiceFilter(
        choices=CLIENT_SCOPES, method="filter_clients", label="Client scope", empty_label="Any clients"
    )
    holder = EntityChoiceFilter(
        method="filter_holder",
        help_text="An entity's identifier, such as okx; a group also matches its affiliates' licences.",
    )
    granted_after = PartialDateFilter(field_name="granted_on", lookup_expr="gte", label="Granted from")
    granted_before = PartialDateFilter(field_name="granted_on", lookup_expr="lte", label="Granted until", bound="end")
    in_force_on = DayFilter(method="filter_in_force_on", label="In force on")
    as_of = as_of_filter()

    facets = (
        # Keyed, as the two below: the list counts its rows and these facets in one GROUP BY (counted_with_rows).
        Facet("status", "Status", "status", choices=dict(LicenseStatus.choices), keys=("status",)),
        Facet(
            "regime", "Regime", "license_type__regime__slug", "license_type__regime__short_name", keys=("license_type",)
        ),
        # What the home chart shows too: its bars are these rows, each linking to ?granted_in=.
        Facet(
            "granted_in",
            "Granted in",
            # A subdivision counts under its country, as ?granted_in=<country> includes it.
            granted_in_field("parent__code", "code"),
            granted_in_field("parent__name", "name"),
            keys=("license_type", "jurisdiction"),
        ),
    )
    sorts = (
        Sort("holder", "Holder", ("holder_name", "regime_name")),
        Sort("regime", "Regime", ("regime_name", "license_type__name")),
        Sort("granted_in", "Granted in", (granted_in_field("code"),)),
        Sort("regulator", "Regulator", ("regulator__name",), nullable=("regulator__name",)),
        Sort("status", "Status", ("status",)),
        Sort("granted_on", "Granted", ("granted_on",), nullable=("granted_on",)),
    )
    sort = SortFilter(sorts=sorts)

    search_kind = "license"
    renamed = {"jurisdiction": "usable_in"}
    named_by_value = "usable_in"

    class Meta(RegistryFilterSet.Meta):
        model = License
        fields = []

    # Called unbound: on the as-of list the queryset holds history rows, which the rules answer for too.
    def filter_usable_in(self, queryset, name, value):
        return LicenseQuerySet.usable_in(queryset, value.code)

    def filter_granted_in(self, queryset, name, value):
        return LicenseQuerySet.granted_in(queryset, value.code)

    def filter_clients(self, queryset, name, value):
        return queryset.filter(**{f"serves_{value}": True})

    def filter_holder(self, queryset, name, value):
        return queryset.filter(holder__in=Entity.objects.with_affiliates(value))

    def filter_in_force_on(self, queryset, name, value):
        return queryset.in_force(at=value)

    def filter_as_of(self, queryset, name, value):
        return queryset  # applied before filtering: see as_of_filter()


RESERVE_CHOICES = [
    ("published", "Figures published"),
    ("under_100", "Latest ratio under 100 %"),
    ("none", "No figures in the cited sources"),
]


class AuditFilterSet(RegistryFilterSet):
    kind = django_filters.ChoiceFilter(choices=AuditKind.choices, empty_label="Any kind")
    status = django_filters.ChoiceFilter(
        choices=AuditStatus.choices,
        method="filter_status",
        empty_label="Any status",
        help_text="On the day shown (today, or the as_of day): current, suspended, withdrawn, superseded, expired.",
    )
    standard = django_filters.ModelChoiceFilter(
        to_field_name="slug", queryset=Standard.objects.all(), empty_label="Any standard"
    )
    auditor = EntityChoiceFilter(help_text="The audit firm's identifier, such as slowmist.")
    subject = EntityChoiceFilter(
        method="filter_subject",
        help_text="An entity's identifier, such as okx; a group also matches its affiliates' audits.",
    )
    issued_after = PartialDateFilter(field_name="issued_on", lookup_expr="gte", label="Issued from")
    issued_before = PartialDateFilter(field_name="issued_on", lookup_expr="lte", label="Issued until", bound="end")
    valid_on = DayFilter(method="filter_valid_on", label="Valid on")
    ongoing = StrictBooleanFilter(
        widget=forms.Select(choices=[("", "Either"), ("true", "Ongoing only"), ("false", "Not ongoing")]),
        label="Ongoing engagement",
    )
    accredited = StrictBooleanFilter(
        method="filter_accredited",
        widget=forms.Select(choices=[("", "Either"), ("true", "Vouched for"), ("false", "Not vouched for")]),
        label="Auditor vouched for",
        help_text="Whether a cited source names an accreditation (or a CPA licence) of the auditor for its standard.",
    )
    scope_item = django_filters.CharFilter(
        method="filter_scope_item",
        label="Scope covers",
        max_length=Q_MAX_LENGTH,
        help_text="Words of an area the audit covered, such as wallet.",
    )
    findings = django_filters.ChoiceFilter(
        choices=Severity.choices,
        method="filter_findings",
        label="Findings of severity",
        empty_label="Any or none",
        help_text="Audits whose published report gives findings of this severity.",
    )
    reserves = django_filters.ChoiceFilter(
        choices=RESERVE_CHOICES,
        method="filter_reserves",
        label="Proof-of-reserves figures",
        empty_label="Any",
    )
    as_of = as_of_filter()

    facets = (
        Facet("status", "Status", "status", choices=dict(AuditStatus.choices)),
        Facet("kind", "Kind", "kind", choices=dict(AuditKind.choices)),
        Facet("standard", "Standard", "standard__slug", "standard__name", keys=("standard",)),
        Facet("auditor", "Auditor", "auditor__slug", "auditor__name", keys=("auditor",)),
    )
    sorts = (
        Sort("subject", "Subject", ("subject__name",)),
        Sort("kind", "Kind", ("kind",)),
        Sort("standard", "Standard", ("standard__name",), nullable=("standard__name",)),
        Sort("auditor", "Auditor", ("auditor__name",), nullable=("auditor__name",)),
        Sort("issued_on", "Issued", ("issued_on",), nullable=("issued_on",)),
    )
    sort = SortFilter(sorts=sorts)

    search_kind = "audit"

    class Meta(RegistryFilterSet.Meta):
        model = Audit
        fields = []

    def filter_subject(self, queryset, name, value):
        return queryset.filter(subject__in=Entity.objects.with_affiliates(value))

    def filter_valid_on(self, queryset, name, value):
        return queryset.valid(at=value)

    def with_status(self, queryset):
        """``queryset`` annotated with each audit's status today (the as-of variant: on its day)."""
        return queryset.with_status()

    def filtered_without(self, param, cleaned=None):
        queryset = super().filtered_without(param, cleaned)
        # The status facet counts the status annotation, which only its own filter adds.
        return self.with_status(queryset) if param == "status" else queryset

    # The methods below are called unbound on the as-of list too, whose rows are history rows: they name
    # audits by ``id``, a column both have.
    def filter_status(self, queryset, name, value):
        return self.with_status(queryset).filter(status=value)

    def facts(self, model):
        """The rows of ``model`` (accreditations, scope items, findings, reserve figures) the filters below read:
        today's, citing a published source where they cite one; the as-of variant's, as they stood on its day."""
        return model.objects.cited() if issubclass(model, SourcedRow) else model.objects.all()

    def filter_accredited(self, queryset, name, value):
        vouched = Exists(self.facts(Accreditation).bearing_on())
        return queryset.filter(vouched if value else ~Q(vouched))

    def filter_scope_item(self, queryset, name, value):
        return queryset.filter(id__in=self.facts(AuditScopeItem).filter(name__icontains=value).values("audit_id"))

    def filter_findings(self, queryset, name, value):
        found = self.facts(AuditFinding).filter(severity=value, count__gt=0)
        return queryset.filter(id__in=found.values("audit_id"))

    def filter_reserves(self, queryset, name, value):
        snapshots = self.facts(ReserveSnapshot)
        if value == "under_100":
            under = snapshots.latest_totals().with_ratio().filter(under_reserved=True)
            return queryset.filter(id__in=under.values("audit_id"))
        if value == "published":
            return queryset.filter(id__in=snapshots.values("audit_id"))
        return queryset.filter(kind=AuditKind.PROOF_OF_RESERVES).exclude(id__in=snapshots.values("audit_id"))

    def filter_as_of(self, queryset, name, value):
        return queryset  # applied before filtering: see as_of_filter()


class EntityFilterSet(RegistryFilterSet):
    jurisdiction = established_in_filter(
        "Where it is established: a code such as SG (a country includes its subdivisions).",
    )
    group = EntityChoiceFilter(
        field_name="parent",
        queryset=Entity.objects.published().filter(kind=EntityKind.GROUP),
        help_text="A group's identifier, such as okx.",
    )
    regime = django_filters.ModelChoiceFilter(
        to_field_name="slug",
        queryset=Regime.objects.published(),
        method="filter_regime",
        label="Holds a licence under",
        empty_label="Any regime",
    )
    standard = django_filters.ModelChoiceFilter(
        to_field_name="slug",
        queryset=Standard.objects.all(),
        method="filter_standard",
        label="Currently certified to",
        empty_label="Any standard",
    )
    kind = django_filters.ChoiceFilter(choices=EntityKind.choices, empty_label="Any kind")
    warning = django_filters.ChoiceFilter(
        choices=[("yes", "Named on a warning list"), ("no", "Not on a warning list")],
        method="filter_warning",
        label="Warning list",
        empty_label="Either",
    )

    facets = (
        Facet("kind", "Kind", "kind", choices=dict(EntityKind.choices)),
        Facet(
            "jurisdiction",
            "Jurisdiction",
            country_of("jurisdiction"),
            country_name_of("jurisdiction"),
            keys=("jurisdiction",),
        ),
    )
    sorts = (
        Sort("name", "Name", ("name",)),
        Sort("kind", "Kind", ("kind",)),
        Sort("jurisdiction", "Jurisdiction", ("jurisdiction__code",), nullable=("jurisdiction__code",)),
    )
    sort = SortFilter(sorts=sorts)

    search_kind = "entity"
    named_by_value = "jurisdiction"

    class Meta(RegistryFilterSet.Meta):
        model = Entity
        fields = []

    def filter_regime(self, queryset, name, value):
        # Only published licences count: a draft licence must not be revealed through a filter.
        holders = License.objects.published().filter(license_type__regime=value).values("holder")
        return queryset.filter(pk__in=holders)

    def filter_standard(self, queryset, name, value):
        """Subjects of a published audit to the standard that is valid today."""
        subjects = Audit.objects.published().valid().filter(standard=value).values("subject")
        return queryset.filter(pk__in=subjects)

    def filter_warning(self, queryset, name, value):
        """Entities an authority named on a warning list (published notices only), or those it did not."""
        named = WarningNotice.objects.published().values("entity")
        return queryset.filter(pk__in=named) if value == "yes" else queryset.exclude(pk__in=named)


class RegulatorFilterSet(RegistryFilterSet):
    jurisdiction = established_in_filter(
        "A code such as AE (a country includes its subdivisions: AE finds Dubai's VARA).",
    )
    regime = django_filters.ModelChoiceFilter(
        field_name="regimes",
        to_field_name="slug",
        queryset=Regime.objects.published(),
        label="Supervises",
        empty_label="Any regime",
    )

    facets = (
        Facet("jurisdiction", "Jurisdiction", country_of("jurisdiction"), country_name_of("jurisdiction")),
        Facet(
            "regime",
            "Supervises",
            "slug",
            "short_name",
            through="regimes",
            through_filter={"publication_status": Publication.PUBLISHED},
        ),
    )
    sorts = (
        Sort("name", "Name", ("name",)),
        Sort("jurisdiction", "Jurisdiction", ("jurisdiction__code",)),
    )
    sort = SortFilter(sorts=sorts)

    search_kind = "regulator"
    named_by_value = "jurisdiction"

    class Meta(RegistryFilterSet.Meta):
        model = Regulator
        fields = []


def notifying_authority_filter(**where):
    """``authority=<slug>``: the published regulator a white paper was notified to. The white papers' list and the
    crypto-assets' offer the same choice; ``where`` says what it filters (a ``field_name`` or a ``method``)."""
    return django_filters.ModelChoiceFilter(
        to_field_name="slug",
        queryset=Regulator.objects.published(),
        label="Notifying authority",
        empty_label="Any authority",
        **where,
    )


def home_state_filter(help_text, **where):
    """``home_state=<code>``: the notifying authority's member state, on the white papers' list or the crypto-assets'
    (``where``: a ``field_name`` or a ``method``), under the label its facet shares."""
    return JurisdictionFilter(label="Home member state", help_text=help_text, **where)


def host_state_filter(help_text, **where):
    """``host_state=<code>``: a member state a white paper's offer covers, as :func:`home_state_filter`."""
    return JurisdictionFilter(label="Offered in", help_text=help_text, **where)


class WhitePaperFilterSet(RegistryFilterSet):
    """The white papers of ESMA's register (MiCA Titles II to IV): one list for the three kinds."""

    kind = django_filters.ChoiceFilter(choices=TokenKind.choices, label="Kind", empty_label="Any kind")
    home_state = home_state_filter(
        "The notifying authority's member state, a code such as IE.", field_name="jurisdiction"
    )
    authority = notifying_authority_filter(field_name="regulator")
    host_state = host_state_filter(
        "A host member state the offer covers, a code such as FR (as ESMA lists them; often none).",
        field_name="host_states",
    )
    offeror = EntityChoiceFilter(
        label="Offeror or issuer", help_text="An entity's identifier: the papers it offers or issues."
    )
    filed_by = EntityChoiceFilter(label="Filed by (CASP)", help_text="An entity's identifier: the papers it filed.")
    crypto_asset = django_filters.ModelChoiceFilter(
        to_field_name="slug",
        queryset=CryptoAsset.objects.published(),
        label="Crypto-asset",
        empty_label="Any crypto-asset",
    )
    notified_after = PartialDateFilter(field_name="notified_on", lookup_expr="gte", label="Notified from")
    notified_before = PartialDateFilter(
        field_name="notified_on", lookup_expr="lte", label="Notified until", bound="end"
    )
    listed_after = PartialDateFilter(field_name="listed_on", lookup_expr="gte", label="Entry updated from")
    listed_before = PartialDateFilter(
        field_name="listed_on", lookup_expr="lte", label="Entry updated until", bound="end"
    )

    facets = (
        Facet("kind", "Kind", "kind", choices=dict(TokenKind.choices)),
        Facet("home_state", "Home member state", "jurisdiction__code", "jurisdiction__name"),
        Facet("authority", "Notifying authority", "regulator__slug", "regulator__name"),
        Facet("host_state", "Offered in", "code", "name", through="host_states"),
        Facet("filed_by", "Filed by (CASP)", "filed_by__slug", "filed_by__name"),
        Facet("offeror", "Offeror or issuer", "offeror__slug", "offeror__name"),
    )
    sorts = (
        Sort("offeror", "Offeror or issuer", ("offeror__name",), nullable=("offeror__name",)),
        Sort("home_state", "Home member state", ("jurisdiction__code",), nullable=("jurisdiction__code",)),
        Sort("notified_on", "Notified", ("notified_on",), nullable=("notified_on",)),
        Sort("listed_on", "Entry updated", ("listed_on",), nullable=("listed_on",)),
    )
    sort = SortFilter(sorts=sorts)
    as_of = as_of_filter()
    named_by_value = "kind"

    class Meta(RegistryFilterSet.Meta):
        model = WhitePaper
        fields = []

    def filter_as_of(self, queryset, name, value):
        return queryset  # applied before filtering: see as_of_filter()

    def search(self, queryset, name, value):
        """Papers whose offeror, CASP, crypto-asset (name, FFG, DTIs) or address contains every word of ``value``.

        White papers have no full-text documents (registry/derived/search.py): a few thousand rows, read
        with ``icontains``.
        """
        for word in value.split():
            queryset = queryset.filter(
                Q(offeror__name__icontains=word)
                | Q(filed_by__name__icontains=word)
                | Q(crypto_asset__name__icontains=word)
                | Q(crypto_asset__ffg__icontains=word)
                | Q(crypto_asset__dtis__icontains=word)
                | Q(url__icontains=word)
                | Q(url_as_published__icontains=word)
            )
        return queryset


@dataclass(frozen=True)
class PaperFacet(Facet):
    """A crypto-asset facet read through the white papers that describe it: the public ones only (its FilterSet's
    ``papers()``, as they stood on an as-of day), counting distinct crypto-assets per value, as the filter of the
    same name selects them (:class:`CryptoAssetFilterSet`). ``value`` and ``value_label`` are white-paper paths;
    ``relation`` names the many-to-many set they start from (host states), which an as-of snapshot keeps apart."""

    papers: object = None
    relation: str = ""

    def rows(self, queryset, keyed=True):
        papers = self.papers.papers()
        value, label = self.value, self.value_label
        if self.relation:
            path = self.papers.paper_path(self.relation)
            value, label = f"{path}__{value}", f"{path}__{label}"
        # The crypto-assets' ids first, then their papers': as one query, both sides ask whether a paper is public,
        # and PostgreSQL, misjudging them before an ANALYZE, re-read every public paper per paper (28 s for 700).
        ids = list(queryset.order_by().values_list("id", flat=True))
        totals: dict[str, list] = {}
        for start in range(0, len(ids), LABEL_BATCH_SIZE):
            # A crypto-asset is in one batch only: the batches' distinct counts add up.
            for row in (
                papers.filter(crypto_asset_id__in=ids[start : start + LABEL_BATCH_SIZE])
                .order_by()
                .values(facet_value=F(value), facet_label=F(label))
                .annotate(facet_count=Count("crypto_asset_id", distinct=True))
                .filter(facet_value__isnull=False)
            ):
                entry = totals.setdefault(str(row["facet_value"]), [str(row["facet_label"]), 0])
                entry[1] += row["facet_count"]
        result = [(value, label, count) for value, (label, count) in totals.items()]
        result.sort(key=lambda item: (-item[2], item[1]))
        return result


class CryptoAssetFilterSet(RegistryFilterSet):
    """The crypto-assets of ESMA's register, filtered by what their public white papers say (the offeror or
    issuer, the notifying authority and its member state, the host states): a crypto-asset matches when one of
    its public papers does, the rule of its ``published()`` (a token is known from its papers)."""

    kind = django_filters.ChoiceFilter(choices=TokenKind.choices, label="Kind", empty_label="Any kind")
    offeror = EntityChoiceFilter(
        method="filter_papers",
        label="Offeror or issuer",
        help_text="An entity's identifier: the crypto-assets of the white papers it offers or issues.",
    )
    authority = notifying_authority_filter(method="filter_papers")
    home_state = home_state_filter(
        "The notifying authority's member state of one of its white papers, a code such as IE.", method="filter_papers"
    )
    host_state = host_state_filter(
        "A host member state one of its white papers covers, a code such as FR (often none is listed).",
        method="filter_papers",
    )
    as_of = as_of_filter()

    # The white paper's field each filter above reads.
    paper_fields = {"offeror": "offeror", "authority": "regulator", "home_state": "jurisdiction"}
    sorts = (
        Sort("name", "Name", ("name", "ffg")),
        Sort("kind", "Kind", ("kind", "name", "ffg")),
    )
    sort = SortFilter(sorts=sorts)
    named_by_value = "kind"

    class Meta(RegistryFilterSet.Meta):
        model = CryptoAsset
        fields = []

    @property
    def facets(self):
        return (
            Facet("kind", "Kind", "kind", choices=dict(TokenKind.choices)),
            PaperFacet("home_state", "Home member state", "jurisdiction__code", "jurisdiction__name", papers=self),
            PaperFacet("authority", "Notifying authority", "regulator__slug", "regulator__name", papers=self),
            PaperFacet("host_state", "Offered in", "code", "name", papers=self, relation="host_states"),
            PaperFacet("offeror", "Offeror or issuer", "offeror__slug", "offeror__name", papers=self),
        )

    def papers(self):
        """The white papers the filters and facets read: the public ones (the as-of variant: public on its day)."""
        return WhitePaper.objects.published()

    def paper_path(self, relation):
        """The query path of a white paper's many-to-many ``relation`` (the as-of variant: its snapshot's)."""
        return relation

    # Called unbound on the as-of list too, whose rows are history rows: they name crypto-assets by ``id``.
    def filter_papers(self, queryset, name, value):
        field = self.paper_fields.get(name) or self.paper_path("host_states")
        papers = self.papers().filter(**{field: value})
        return queryset.filter(id__in=papers.values("crypto_asset_id"))

    def search(self, queryset, name, value):
        """Crypto-assets whose name, FFG code or DTIs contain every word of ``value`` (no full-text documents)."""
        for word in value.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(ffg__icontains=word) | Q(dtis__icontains=word))
        return queryset

    def filter_as_of(self, queryset, name, value):
        return queryset  # applied before filtering: see as_of_filter()


# ---------------------------------------------------------------------------
# Change history
# ---------------------------------------------------------------------------


class ChangeFilterForm(RegistryFilterForm):
    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the period cannot be before its start.")
        return cleaned


def _record_type_choices():
    from history.feed import RECORD_TYPES  # imported late: history.feed is not needed by the other lists

    return list(RECORD_TYPES.items())


def _change_day(label, side, **kwargs):
    return PartialDateFilter(
        label=label, help_text=f"Changes on or {side} this date: YYYY, YYYY-MM or YYYY-MM-DD.", **kwargs
    )


class ChangeFilterSet(django_filters.FilterSet):
    """Filters of ``/changes/``. The change feed is a service, not a QuerySet (history.feed): this set filters
    no rows, and its ``qs`` is the :class:`history.feed.Filters` its valid fields select, for the feed to read.

    ``since=2026-11&until=2026-11`` means "in November 2026", as on the other lists.
    """

    type = django_filters.ChoiceFilter(choices=_record_type_choices, label="Record type", empty_label="Any type")
    since = _change_day("Since", "after")
    until = _change_day("Until", "before", bound="end")
    usable_in = JurisdictionFilter(
        label="Licences usable in",
        help_text="A jurisdiction code (MT): changes to the licences /licenses/?usable_in= lists, as its Atom feed.",
    )

    facets: tuple[Facet, ...] = ()
    sorts: tuple[Sort, ...] = ()

    class Meta:
        form = ChangeFilterForm
        fields = []

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None):
        # django-filter reads the model of the QuerySet it filters; the changes have none to give.
        super().__init__(data, QuerySet(), request=request, prefix=prefix)

    @property
    def qs(self):
        from history.feed import Filters  # imported late, as RECORD_TYPES above
        from history.feeds import jurisdiction_scopes

        if not self.is_bound:
            return Filters()
        # An invalid field is reported beside it and left out: cleaned_data holds the valid ones.
        self.form.is_valid()
        cleaned = self.form.cleaned_data
        kind, place = cleaned.get("type"), cleaned.get("usable_in")
        return Filters(
            types=(kind,) if kind else (),
            since=cleaned.get("since") or None,
            until=cleaned.get("until") or None,
            scopes=jurisdiction_scopes(place) if place else None,
        )
