"""Querysets compiled once and run again with other values: a detail page's queries without the ORM's cost.

Building and compiling a query through the ORM costs more than the database takes to run most of a detail
page's queries (a licence's history rows: a few milliseconds to build and compile, a tenth of that to run).
A query's SQL depends on its shape, not on the records it is asked about: :func:`run` compiles
``build(*stand_ins)`` once per shape (its ``key``) and runs the same SQL again with each call's values in the
stand-ins' places, reading the rows into model instances (``select_related`` and annotations included),
dicts (``values()``) or tuples as the ORM does. ``prefetch_related`` lookups are applied to the instances
afterwards.

The key names the shape; the database, its vendor, the time zone and the day are added to it, so a query may
read today's date (as the audits' status does) and still be compiled once a day. A query whose compiled
parameters do not hold each stand-in exactly as given (an empty ``IN`` list, say) is not kept: it is run as
the ORM runs it.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from django.core.exceptions import EmptyResultSet
from django.db import connections, router
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX
from django.db.models import Expression, IntegerField, prefetch_related_objects
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.utils import timezone

# Stand-in values: no record has such a key.
STAND_IN = -7_261_958_403

# Compiled statements, by key; emptied when full (a few dozen shapes are in use).
CACHE_SIZE = 500
# Statements psycopg keeps prepared per PostgreSQL connection (its default, 100, is fewer than the shapes in use).
PREPARED_MAX = CACHE_SIZE
_STATEMENTS: dict = {}


def stand_ins(values) -> list:
    """A distinct stand-in for each of ``values``: an integer for an integer, a text for a text."""
    return [STAND_IN - index if isinstance(value, int) else f"{STAND_IN}:{index}" for index, value in enumerate(values)]


def padded(ids) -> list:
    """``ids`` (not empty) repeated at the end up to the next power of two: as an ``IN`` list of stand-ins,
    a handful of shapes (and so of compiled statements) serve lists of any length, for the same rows."""
    ids = list(ids)
    size = 1 << (len(ids) - 1).bit_length()
    return ids + ids[-1:] * (size - len(ids))


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple
    slots: tuple[tuple[int, int], ...]  # (position in params, index of the value)
    compiler: object
    iterable: type
    prefetch: tuple
    db: str
    names: tuple = ()  # a values() row's keys
    converters: dict | None = None  # the compiler's get_converters(), kept; None: left to results_iter()
    on_server: bool = False  # bound and prepared on the server (see _cursor)
    qmark: str = ""  # on SQLite, ``sql`` with sqlite3's placeholders (see _execute)


def run(key, build, values, model):
    """The rows of ``build(*stand_ins(values))`` run with ``values`` (integers or texts) in their places.

    ``build`` returns a QuerySet of model instances, ``values()`` dicts or ``values_list()`` tuples (a UNION
    of them too); its SQL must depend on ``key`` (hashable) and the values alone. ``model`` is the model read
    (it picks the database).
    """
    values = tuple(values)
    using = router.db_for_read(model)
    kinds = tuple(isinstance(value, int) for value in values)
    full_key = (using, timezone.get_current_timezone_name(), timezone.localdate(), key, kinds)
    statement = _STATEMENTS.get(full_key)
    if statement is None:
        statement = _compile(build(*stand_ins(values)), values)
        if statement is None:
            return list(build(*values))
        if len(_STATEMENTS) >= CACHE_SIZE:
            _STATEMENTS.clear()
        _STATEMENTS[full_key] = statement
    if not statement.sql:
        return []
    return _execute(statement, values)


def _compile(queryset, values):
    if queryset._iterable_class not in (ModelIterable, ValuesIterable, ValuesListIterable, FlatValuesListIterable):
        return None
    compiler = queryset.query.get_compiler(using=queryset.db)
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        sql, params = "", ()
    if not sql:
        return _Statement("", (), (), None, queryset._iterable_class, (), queryset.db)
    count = len(values)
    wanted = dict(zip(stand_ins(values), range(count), strict=True))
    slots = tuple((position, wanted[param]) for position, param in enumerate(params) if _is_stand_in(param, wanted))
    if {index for _, index in slots} != set(range(count)):
        return None
    query = queryset.query
    names = [*query.extra_select, *query.values_select, *query.annotation_select]
    if queryset._iterable_class is ValuesIterable:
        names = list(query.selected or ()) or names  # as the ORM names a values() row's keys
    elif queryset._iterable_class is not ModelIterable and query.annotation_select and queryset._fields:
        if list(queryset._fields) != names:
            return None  # values_list() reorders such rows: left to the ORM
    return _Statement(
        sql,
        tuple(params),
        slots,
        compiler,
        queryset._iterable_class,
        tuple(queryset._prefetch_related_lookups),
        queryset.db,
        tuple(names) if queryset._iterable_class is ValuesIterable else (),
        _converters(compiler),
        # A parameter repeated in a GROUP BY is two placeholders there, which PostgreSQL does not take for one
        # expression ("must appear in the GROUP BY clause"): such statements stay bound on the client.
        compiler.connection.vendor == "postgresql" and "GROUP BY" not in sql,
        FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%") if compiler.connection.vendor == "sqlite" else "",
    )


def _converters(compiler):
    """The converters ``compiler.results_iter()`` would look up for each row set (a fifth of a licence page's
    time in Python went to looking them up again); None when its columns need more than converting."""
    fields = [column[0] for column in compiler.select[: compiler.col_count]]
    return None if compiler.has_composite_fields(fields) else compiler.get_converters(fields)


def _results(statement, rows, tuple_expected=False):
    """``compiler.results_iter([rows])`` with the converters looked up once, when the statement was compiled."""
    converters = statement.converters
    if converters is None:
        return statement.compiler.results_iter([rows], tuple_expected=tuple_expected)
    if converters:
        rows = statement.compiler.apply_converters(rows, converters)
        if tuple_expected:
            rows = map(tuple, rows)
    return rows


def _is_stand_in(param, wanted):
    # An int subclass too: PostgreSQL's backend binds some keys as psycopg's Int8. Never a bool (True == 1).
    return isinstance(param, (int, str)) and not isinstance(param, bool) and param in wanted


def _execute(statement, values):
    params = list(statement.params)
    for position, index in statement.slots:
        kind = type(params[position])
        # The stand-in's own type (Int8, say) for the value, as the ORM would have bound it.
        params[position] = values[index] if kind in (int, str) else kind(values[index])
    compiler = statement.compiler
    with _cursor(statement, params) as cursor:
        connection = cursor.db
        if statement.qmark and not (connection.queries_logged or connection.execute_wrappers):
            # Django's SQLite cursor rewrites every statement's placeholders with a regular expression before
            # running it: 30-50 µs for a feed or section query, done once here, at compile time. Where queries
            # are logged (DEBUG, tests' query counts) or wrapped, Django's own path runs, so they are alike.
            with connection.wrap_database_errors:
                sqlite3.Cursor.execute(cursor.cursor, statement.qmark, params)
        else:
            cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    if compiler.has_extra_select:
        rows = [row[: compiler.col_count] for row in rows]
    if statement.iterable is ModelIterable:
        objects = list(_instances(statement, rows))
        if statement.prefetch:
            prefetch_related_objects(objects, *statement.prefetch)
        return objects
    rows = _results(statement, rows, tuple_expected=True)
    if statement.iterable is ValuesIterable:
        return [dict(zip(statement.names, row, strict=False)) for row in rows]
    if statement.iterable is FlatValuesListIterable:
        return [row[0] for row in rows]
    return list(rows)


@contextmanager
def _cursor(statement, params):
    """A cursor of the statement's database, as Django makes it (its queries logged and counted alike). On
    PostgreSQL, one that binds on the server, so that psycopg prepares the statement at its first run on the
    connection (``prepare_threshold``, config/settings.py) and later runs skip PostgreSQL's parsing and planning.
    Django's own cursors bind on the client, which never prepares."""
    connection = connections[statement.db]
    with connection.cursor() as cursor:
        if not statement.on_server:
            yield cursor
            return
        if connection.connection.prepared_max < PREPARED_MAX:
            connection.connection.prepared_max = PREPARED_MAX
        with _server_cursor()(connection.connection) as bound:
            yield type(cursor)(bound, connection)
        if connection.queries_logged:
            # Django logs what psycopg last sent (DEBUG, tests' query captures, bench/floor.py's replays): here the
            # statement with $1 placeholders, or None once prepared. The log gets it with its values in place, as
            # Django logs the others. The statement ran once: its entry is the last.
            connection.queries_log[-1]["sql"] = connection.ops.compose_sql(statement.sql, params)


@cache
def _server_cursor():
    """psycopg's cursor, but for the placeholders of a statement longer than 4 KB (most of a record page's: its
    columns and joins), which psycopg converts to PostgreSQL's ``$n`` again on every run, keeping no long query
    (an ORM's are rarely run twice). These statements are run again and again: each is converted once (0.3 ms a
    licence page, 0.75 ms a group page). Only PostgreSQL's statements get here."""
    import psycopg
    from psycopg._queries import PostgresQuery, _query2pg_nocache

    converted = {}

    class KeptQuery(PostgresQuery):
        def convert(self, query, vars):
            key = (query, self._tx.encoding)
            found = converted.get(key)
            if found is None:
                if len(converted) >= CACHE_SIZE:
                    converted.clear()
                found = converted[key] = _query2pg_nocache(self._ensure_bytes(query), self._tx.encoding)
            self.query, self._want_formats, self._order, self._parts = found
            self.dump(vars)

    class Cursor(psycopg.Cursor):
        _query_cls = KeptQuery

    return Cursor


def _instances(statement, rows):
    """Model instances from ``rows``, as Django's ModelIterable makes them (no known related objects)."""
    compiler, db = statement.compiler, statement.db
    select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
    model_cls = klass_info["model"]
    select_fields = klass_info["select_fields"]
    start, end = select_fields[0], select_fields[-1] + 1
    init_list = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, db)
    for row in _results(statement, rows):
        obj = model_cls.from_db(db, init_list, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        for name, position in (annotation_col_map or {}).items():
            setattr(obj, name, row[position])
        yield obj


class IdList(Expression):
    """A list of ids as one parameter, for ``field__in=IdList(value)``: ``(SELECT … FROM json_each(%s))`` on
    SQLite, ``(SELECT unnest(%s::bigint[]))`` on PostgreSQL. One parameter however long the list: the SQL is
    the same for every list (so :func:`run` keeps it), and PostgreSQL plans with the list's real length,
    where a subquery's estimate can be a hundred times too high.

    ``value`` is :meth:`encode` of the ids, or a stand-in of :func:`run`.
    """

    output_field = IntegerField()

    def __init__(self, value):
        super().__init__()
        self.value = value

    @staticmethod
    def encode(ids, connection) -> object:
        ids = [int(pk) for pk in ids]
        return ids if connection.vendor == "postgresql" else json.dumps(ids)

    def as_sql(self, compiler, connection):
        if connection.vendor == "postgresql":
            return "(SELECT unnest(%s::bigint[]))", [self.value]
        return "(SELECT value FROM json_each(%s))", [self.value]


def encoded(ids, model):
    """``IdList.encode`` of ``ids`` for the database ``model`` is read from: a value for :func:`run`."""
    return IdList.encode(ids, connections[router.db_for_read(model)])


def id_list(ids, model):
    """``IdList`` of ``ids`` for the database ``model`` is read from."""
    return IdList(encoded(ids, model))
