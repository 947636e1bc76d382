"""Records as flat rows: the columns of the CSV and JSON exports and of the dataset releases.

A :class:`Table` is compiled from a record type's one serializer (``opendata.serializers``): each field says
which columns it becomes (``table_columns``), so the API, the exports, the releases and the data dictionary
share one field list. A column reads its record by ``values()`` path (``holder__slug``), so one definition
reads either

* a whole batch of a QuerySet through ``values()`` (:meth:`Table.read`, :meth:`Table.page`): one query for
  the records and one per list column, however many records, and no model instances; or
* a model instance (or any object, such as a change of the feed), through :class:`Record`, which follows the
  same paths as attributes (:meth:`Table.rows`, :meth:`Table.batches`): the records as they stood on a past
  day (``history.as_of``) and the change feed (``history.feed``) give objects.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import islice

from django.db.models import QuerySet

from registry import prepared
from registry.dates import PartialDate
from registry.links import Links

# ISO 8601 with reduced precision (2025, 2025-03, 2025-03-14); Table Schema anchors patterns itself.
PARTIAL_DATE_PATTERN = r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?"


# ---------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a table (and key of its JSON rows), as the Table Schema and the data dictionary show it.

    ``read(record, link)`` gives the value from a record read by path; ``paths`` are the ``values()`` paths
    it reads. A list column has a ``loader`` instead, which reads a batch's lists in one query (or an
    instance's from its prefetch) into ``record[name]``. ``json`` turns a value into JSON where the JSON and
    CSV forms differ (a change's fields); ``instance_only`` marks a value only an object can give.
    """

    name: str
    description: str
    example: str = ""
    type: str = "string"
    required: bool = False
    enum: tuple[str, ...] = ()
    pattern: str = ""
    list: bool = False  # joined with "; " in CSV, an array in JSON
    read: Callable = field(default=None, compare=False, repr=False)
    paths: tuple[str, ...] = ()
    loader: object = field(default=None, compare=False, repr=False)
    json: Callable | None = field(default=None, compare=False, repr=False)
    instance_only: bool = False

    def table_schema(self) -> dict:
        description = self.description
        if self.list:
            description += ' In CSV, values are joined with "; "; in the JSON dump, an array.'
        schema = {"name": self.name, "type": self.type, "description": description}
        constraints = {}
        if self.required:
            constraints["required"] = True
        if self.enum:
            constraints["enum"] = list(self.enum)
        if self.pattern:
            constraints["pattern"] = self.pattern
        if constraints:
            schema["constraints"] = constraints
        return schema

    @property
    def constraint_notes(self) -> list[str]:
        """The constraints in words, for the dictionary page."""
        notes = []
        if self.required:
            notes.append("always present")
        if self.enum:
            notes.append("one of " + ", ".join(self.enum))
        if self.pattern == PARTIAL_DATE_PATTERN:
            notes.append("YYYY, YYYY-MM or YYYY-MM-DD")
        elif self.pattern:
            notes.append(f"matches {self.pattern}")
        if self.list:
            notes.append('a list ("; " in CSV)')
        return notes


def join(*parts: str) -> str:
    """A ``values()`` path from its parts, the empty ones left out: ``join("holder", "slug")``."""
    return "__".join(part for part in parts if part)


def blank(value):
    """A text column's value, or "" (the column of a relation the record does not have)."""
    return "" if value is None else value


@lru_cache(maxsize=4096)
def partial_columns(day, precision) -> tuple[str, str]:
    """A partial date's two columns, ``("2025-03", "March 2025")``; blanks for no date.

    Cached: a register holds few distinct dates, and building and naming one is most of a row's cost.
    """
    value = PartialDate.from_columns(day, precision)
    if value is None:
        return "", ""
    return value.isoformat(), str(value)


# ---------------------------------------------------------------------------
# List columns: an instance's list from its prefetch, a batch's in one query
# ---------------------------------------------------------------------------


def by_ids(key, model, build, ids) -> list:
    """The rows of ``build(id_list)``, a QuerySet of ``model`` narrowed by ``pk__in=id_list`` (or another key), run
    for ``ids`` with its SQL compiled once per ``key`` (``registry.prepared``): building and compiling a page's
    queries cost more than the database takes to run them."""
    return prepared.run(key, lambda value: build(prepared.IdList(value)), [prepared.encoded(ids, model)], model)


def _links(related, ids):
    """(owner column, target column, the link rows of ``ids``) of ``related``'s many-to-many relation, narrowed by
    its ``only`` and ordered by the target, which sorts by the related model's Meta.ordering as its prefetch does."""
    field_ = related.model._meta.get_field(related.relation)
    owner, target = field_.m2m_field_name(), field_.m2m_reverse_field_name()
    links = field_.remote_field.through.objects.filter(**{f"{owner}__in": ids})
    if related.only is not None:
        links = links.filter(**{f"{target}__in": related.only()})
    return owner, target, links.order_by(target)


def _link_rows(related, ids, paths):
    """``(owner, *paths)`` of the link rows of ``ids`` (:func:`_links`), ``paths`` read from the target; one
    statement per relation and paths, compiled once."""

    def build(id_list):
        owner, target, links = _links(related, id_list)
        return links.values_list(owner, *(join(target, path) for path in paths))

    return by_ids(("opendata.links", related.model, related.relation, paths, related.only), related.model, build, ids)


def _grouped(pairs):
    grouped = defaultdict(list)
    for owner, value in pairs:
        grouped[owner].append(value)
    return grouped


@dataclass(frozen=True)
class Related:
    """``value`` of each record the many-to-many ``relation`` of ``model`` links to.

    An instance's list comes from its prefetch, in the related model's order; :meth:`load` reads a
    batch's lists in one query, in that same order. ``only`` narrows the related records (a regulator's
    published regimes) as the prefetch does.
    """

    model: type
    relation: str
    value: str
    only: Callable[[], QuerySet] | None = None

    def of(self, obj):
        return [getattr(item, self.value) for item in getattr(obj, self.relation).all()]

    def load(self, ids):
        return _grouped(_link_rows(self, ids, (self.value,)))


@dataclass(frozen=True)
class Children:
    """``value`` of the ``model`` records whose foreign key ``field`` names the record."""

    model: type
    field: str
    relation: str
    value: str

    def of(self, obj):
        return [getattr(item, self.value) for item in getattr(obj, self.relation).all()]

    def load(self, ids):
        # The model's own ordering, which its prefetch through ``relation`` has too.
        def build(id_list):
            return self.model.objects.filter(**{f"{self.field}__in": id_list}).values_list(self.field, self.value)

        return _grouped(by_ids(("opendata.children", self), self.model, build, ids))


def sources_of(obj):
    """Published sources cited by ``obj``, each once; ``citations`` is prefetched with published sources only."""
    seen, result = set(), []
    for citation in obj.citations.all():
        if citation.source_id not in seen:
            seen.add(citation.source_id)
            result.append(citation.source)
    return result


@dataclass(frozen=True)
class CitedSources:
    """Slugs of the published sources a record cites, each once, in citation order."""

    citation_model: type

    def of(self, obj):
        return [source.slug for source in sources_of(obj)]

    def load(self, ids):
        rows = cited_rows(self.citation_model, ids, ("source_id", "source__slug"))
        sources = defaultdict(dict)
        for owner, source_id, slug in rows:
            sources[owner].setdefault(source_id, slug)
        return {owner: list(slugs.values()) for owner, slugs in sources.items()}


def cited_rows(citation_model, ids, paths):
    """``(record id, *paths)`` of the citations of published sources (``CitationQuerySet.published()``) of the
    records ``ids``, in the order their prefetch gives them: within one record, the citations' own ordering
    (what follows the record in ``Meta.ordering``)."""
    target = citation_model.TARGET_FIELD
    within = [name for name in citation_model._meta.ordering if name != target]

    def build(id_list):
        citations = citation_model.objects.published().filter(**{f"{target}__in": id_list})
        return citations.order_by(*within).values_list(target, *paths)

    return by_ids(("opendata.citations", citation_model, tuple(paths)), citation_model, build, ids)


def published_records(serializer_class, fields, expressions, keys) -> dict:
    """``{pk: values() record}`` of the published records ``keys`` names (the model's ``published()``, as the
    serializer's ``prepare_values`` annotates it): ``fields`` and the ``expressions`` (annotations) by name.

    A page's keys were chosen from its list's filtered QuerySet, so they carry its filters: the records are read
    by key from ``published()`` alone, which still leaves out one unpublished since. The statement is then the
    same whatever the filters, compiled once (:func:`by_ids`), and the database does not evaluate the filters
    again (on SQLite, a country's licences: 1.8 ms through the filtered QuerySet, 0.5 ms by key alone).
    """
    model = serializer_class.Meta.model

    def build(id_list):
        records = serializer_class.prepare_values(model.objects.published().order_by())
        return records.filter(pk__in=id_list).values(*fields, **expressions)

    key = ("opendata.records", serializer_class, tuple(fields), tuple(expressions))
    return {record["pk"]: record for record in by_ids(key, model, build, keys)}


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


class Record:
    """An object read like a row of ``values()``: ``record["holder__name"]`` is ``obj.holder.name``.

    A path through an empty relation reads None, as the LEFT JOIN of ``values()`` does; a method at
    the end of a path is called (``natural_key``), as DRF's fields do; list columns come in ``lists``.
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
        return value() if callable(value) else value


@dataclass(frozen=True)
class _Plan:
    """How a table reads a batch: the ``values()`` fields and annotations, the list loaders, each column's reader."""

    fields: tuple[str, ...]
    expressions: dict
    lists: dict
    readers: tuple
    converters: tuple


class Table:
    """The rows of one record type, as its serializer's fields define them (see the module's docstring)."""

    def __init__(self, serializer_class):
        self.serializer_class = serializer_class

    @cached_property
    def columns(self) -> tuple[Column, ...]:
        serializer = self.serializer_class()
        columns = []
        for field_ in serializer.fields.values():
            if getattr(field_, "in_table", False):
                columns.extend(field_.table_columns(""))
        return tuple(columns)

    @property
    def names(self) -> list[str]:
        """The CSV header."""
        return [column.name for column in self.columns]

    @cached_property
    def _plan(self) -> _Plan:
        expressions = getattr(self.serializer_class.Meta, "expressions", {})
        paths = dict.fromkeys(path for column in self.columns for path in column.paths if path not in expressions)
        return _Plan(
            fields=("pk", *paths),
            expressions=expressions,
            lists={column.name: column.loader for column in self.columns if column.loader is not None},
            readers=tuple((column.name, column.read) for column in self.columns),
            converters=tuple((column.name, column.json) for column in self.columns if column.json is not None),
        )

    @cached_property
    def by_instances(self) -> bool:
        """Whether rows need objects: a column reads what only an instance can give (a natural key)."""
        return any(column.instance_only for column in self.columns)

    def _build(self, link, record):
        return {name: read(record, link) for name, read in self._plan.readers}

    def as_json(self, row):
        """The row as its JSON form, where a column's JSON and CSV forms differ."""
        converters = self._plan.converters
        if not converters:
            return row
        return {**row, **{name: convert(row[name]) for name, convert in converters}}

    def rows(self, request, objects):
        """The rows of ``objects`` (instances prefetched as the serializer's ``optimise`` does, or snapshots)."""
        objects = self.serializer_class.prepare_instances(list(objects))
        link, lists = Links(request), self._plan.lists
        return [
            self._build(link, Record(obj, {name: loader.of(obj) for name, loader in lists.items()})) for obj in objects
        ]

    def row(self, request, obj):
        return self.rows(request, [obj])[0]

    def _by_keys(self, link, queryset, keys):
        """The rows of the records ``keys`` names, in that order, read through ``queryset`` (its filters, not its
        order, so a record unpublished since its key was read is left out, never leaked): one query, and one per
        list column."""
        plan = self._plan
        queryset = self.serializer_class.prepare_values(queryset.order_by()).filter(pk__in=keys)
        found = {record["pk"]: record for record in queryset.values(*plan.fields, **plan.expressions)}
        return self._rows(link, found, keys)

    def _rows(self, link, found, keys):
        """The rows of the ``values()`` records ``found`` (by key) in the order of ``keys``, their lists loaded."""
        plan = self._plan
        records = [found[pk] for pk in keys if pk in found]
        if not records:
            return []
        # A loader several columns share (an audit's latest reserve figures) is read once.
        by_loader = {}
        loaded = {}
        for name, loader in plan.lists.items():
            if id(loader) not in by_loader:
                by_loader[id(loader)] = loader.load(list(found))
            loaded[name] = by_loader[id(loader)]
        rows = []
        for record in records:
            for name, values in loaded.items():
                record[name] = values.get(record["pk"], [])
            rows.append(self._build(link, record))
        return rows

    def page(self, request, queryset, offset, size):
        """Rows ``offset`` to ``offset + size`` of ``queryset``, in its order.

        The page's keys first, then its records by key: the database sorts the narrow rows of keys
        rather than every column of every matching record.
        """
        if not self.reads_values(queryset):
            return self.rows(request, queryset[offset : offset + size])
        return self.by_keys(request, list(self.keys(queryset)[offset : offset + size]))

    @staticmethod
    def keys(queryset):
        """The primary keys of ``queryset``, in its order, as a QuerySet (what a page is chosen from)."""
        return queryset.prefetch_related(None).values_list("pk", flat=True)

    def by_keys(self, request, keys):
        """The rows of the published records ``keys`` names (a page chosen from :meth:`keys` of a list's
        QuerySet), in that order: :func:`published_records`, then one query per list column."""
        if not keys:
            return []
        plan = self._plan
        found = published_records(self.serializer_class, plan.fields, plan.expressions, keys)
        return self._rows(Links(request), found, keys)

    def read(self, request, queryset, batch_size):
        """Every row of ``queryset``, in its order, as lists of at most ``batch_size`` rows.

        For a QuerySet, one query reads the primary keys in its order (8 bytes a record are held); each
        batch is then read by key. So the rows are sorted once, no cursor stays open while the client
        downloads, and memory holds one batch whatever the number of rows. A table whose columns need
        instances reads them a chunk at a time.
        """
        if not self.reads_values(queryset):
            yield from self.batches(request, queryset.iterator(chunk_size=batch_size), batch_size)
            return
        queryset = queryset.prefetch_related(None)
        keys = array("q", queryset.values_list("pk", flat=True).iterator(chunk_size=batch_size))
        link = Links(request)
        for start in range(0, len(keys), batch_size):
            rows = self._by_keys(link, queryset, keys[start : start + batch_size].tolist())
            if rows:
                yield rows

    def batches(self, request, objects, batch_size):
        """The rows of the objects ``objects`` yields, as lists of at most ``batch_size`` rows."""
        while chunk := list(islice(objects, batch_size)):
            yield self.rows(request, chunk)

    def reads_values(self, source) -> bool:
        return isinstance(source, QuerySet) and not self.by_instances


# ---------------------------------------------------------------------------
# The API's representation, read the way a table is
# ---------------------------------------------------------------------------


class Names:
    """The names a compiled reader's source uses: its constants (functions, values) and its loop variables."""

    def __init__(self):
        self.constants: dict = {}
        self.loops = 0

    def constant(self, value) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name

    def loop(self) -> str:
        self.loops += 1
        return f"_item{self.loops}"


@dataclass(frozen=True)
class ApiPart:
    """How one serializer field's API value is read from a ``values()`` record: the ``paths`` it reads, the
    ``loaders`` of its lists (by the key each writes into the record) and ``code(record, names)``, the Python
    expression giving the value from the record named ``record`` (and ``link``, the request's
    :class:`~registry.links.Links`), its constants named by ``names`` (:class:`Names`).

    A serializer's parts nest as its fields do (a related record's, a list's items') and are compiled into one
    function per serializer (:meth:`read`): building a page's hundred licences through a function per field
    and per level took twice as long (2.9 against 1.4 ms, SQLite bench data, 2026-12-06).
    """

    paths: tuple[str, ...]
    code: Callable[[str, Names], str] = field(compare=False, repr=False)
    loaders: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def call(cls, paths, function, loaders=None) -> ApiPart:
        """The value ``function(record, link)`` gives."""
        return cls(tuple(paths), lambda record, names: f"{names.constant(function)}({record}, link)", loaders or {})

    @classmethod
    def at(cls, path, convert=None) -> ApiPart:
        """The record's value at ``path``, ``convert``-ed unless it is None."""
        if convert is None:
            return cls((path,), lambda record, names: f"{record}[{path!r}]")
        return cls(
            (path,),
            lambda record, names: f"{names.constant(_none_or)}({names.constant(convert)}, {record}[{path!r}])",
        )

    @classmethod
    def mapped(cls, path, mapping) -> ApiPart:
        """``mapping``'s value for the record's value at ``path``, or that value when it has none; None for None."""

        def code(record, names):
            value = f"{record}[{path!r}]"
            return f"(None if {value} is None else {names.constant(mapping)}.get({value}, {value}))"

        return cls((path,), code)

    @cached_property
    def read(self) -> Callable:
        """``read(record, link)``: the value, by the function compiled from :attr:`code`."""
        names = Names()
        source = f"def read(record, link):\n    return {self.code('record', names)}\n"
        # Compiled from the serializer's declaration alone: paths are written as literals (repr), every other
        # value is a constant passed by name, as dataclasses and namedtuple compile their methods.
        exec(compile(source, "<opendata.tables.ApiPart>", "exec"), names.constants)  # noqa: S102
        return names.constants["read"]


def _none_or(convert, value):
    return None if value is None else convert(value)


def combine(parts: dict[str, ApiPart], none_when=None, also=()) -> ApiPart:
    """One part reading ``{name: value}`` from ``parts``; None when ``none_when(record)`` (an expression's source)
    holds, which reads the paths ``also``."""

    def code(record, names):
        value = "{" + ", ".join(f"{name!r}: {part.code(record, names)}" for name, part in parts.items()) + "}"
        return value if none_when is None else f"(None if {none_when(record, names)} else {value})"

    paths = tuple(dict.fromkeys([*(path for part in parts.values() for path in part.paths), *also]))
    loaders = {key: loader for part in parts.values() for key, loader in part.loaders.items()}
    return ApiPart(paths, code, loaders)


def each(key, part: ApiPart, loader) -> ApiPart:
    """A list of ``part`` read from each ``values()`` record ``loader`` loads into the record's ``key``."""

    def code(record, names):
        item = names.loop()
        return f"[{part.code(item, names)} for {item} in {record}[{key!r}]]"

    return ApiPart((), code, {key: loader})


@dataclass(frozen=True, eq=False)
class RelatedRecords:
    """The ``values()`` records (``paths``, from the related model) of each record's many-to-many ``relation``,
    in the related model's order, as its prefetch gives them; ``only`` narrows them as the prefetch does."""

    model: type
    relation: str
    paths: tuple[str, ...]
    only: Callable[[], QuerySet] | None = None

    def load(self, ids):
        grouped = defaultdict(list)
        for row in _link_rows(self, ids, self.paths):
            grouped[row[0]].append(dict(zip(self.paths, row[1:], strict=True)))
        return grouped


@dataclass(frozen=True, eq=False)
class Citations:
    """The ``values()`` records (``paths``) of each record's citations of published sources, in the order the
    prefetch gives them (:func:`cited_rows`)."""

    citation_model: type
    paths: tuple[str, ...]

    def load(self, ids):
        grouped = defaultdict(list)
        for row in cited_rows(self.citation_model, ids, self.paths):
            grouped[row[0]].append(dict(zip(self.paths, row[1:], strict=True)))
        return grouped


class ApiRows:
    """A page of the API's records as its serializer represents them, read by ``values()`` as :class:`Table`
    reads rows: one query for the records and one per list, no model instances. Each field says how
    (``api_part``); a serializer with a field that cannot (a value only an instance gives) has no ``ApiRows``
    (:func:`api_rows` gives None) and is rendered from instances."""

    def __init__(self, serializer_class, part: ApiPart):
        self.serializer_class = serializer_class
        self.part = part
        expressions = getattr(serializer_class.Meta, "expressions", {})
        self.expressions = {name: value for name, value in expressions.items() if name in part.paths}
        self.fields = ("pk", *(path for path in part.paths if path not in expressions))

    def read(self, request, queryset, keys):
        """The published records ``keys`` names (chosen from ``queryset``, whose filters are in them), in that
        order: :func:`published_records`, then one query per list."""
        found = published_records(self.serializer_class, self.fields, self.expressions, keys) if keys else {}
        records = [found[pk] for pk in keys if pk in found]
        for name, loader in self.part.loaders.items():
            loaded = loader.load(list(found)) if records else {}
            for record in records:
                record[name] = loaded.get(record["pk"], [])
        link, read = Links(request), self.part.read
        return [read(record, link) for record in records]


def api_rows(serializer_class) -> ApiRows | None:
    """The :class:`ApiRows` of ``serializer_class``, or None when a field needs instances."""
    if "_api_rows" not in serializer_class.__dict__:
        serializer = serializer_class()
        parts = {}
        for name, field_ in serializer.fields.items():
            part = field_.api_part("") if hasattr(field_, "api_part") else None
            if part is None:
                parts = None
                break
            parts[name] = part
        serializer_class._api_rows = None if parts is None else ApiRows(serializer_class, combine(parts))
    return serializer_class._api_rows
