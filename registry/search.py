"""The full-text search index behind the lists' ``q`` (entities, licences, audits, regulators).

One table, ``registry_search``, holds a document per record: the words a visitor
may type to find it. A licence's document carries its holder's name and aliases,
its reference number, licence type, regime, regulator and conditions, so "okx
mica" finds OKX's MiCA licence with one index lookup, without joins per word.

* SQLite: an FTS5 virtual table ``registry_search(kind, object_id, text)`` whose
  rowid is ``object_id * 16 + kind code`` (a refresh deletes by rowid, not by a
  scan of the unindexed columns).
* PostgreSQL: a table with the same columns plus ``document``, a tsvector
  generated from ``text`` in SQL, under a GIN index.

Triggers written here (installed by migration 0004) keep it in step with every
write, the raw ones included: ``loaddata``, ``bulk_create``, the demo generator's
``executemany`` and SQL typed by hand. Renaming an entity refreshes the
documents of its licences and audits; renaming a regime, those of its licences.
Records are indexed whatever their publication status: queries intersect the
hits with a ``published()`` queryset, so visibility keeps its single rule.

Both backends see the same words: letters and digits, everything else a
separator (PostgreSQL's parser would otherwise keep ``okx.com`` or an e-mail
address as one token), folded to lower case, accents kept. A query matches a
record when every word of it starts a word of the record's document ("mid eas"
finds "OKX Middle East").

Changing a document or the trigger SQL here needs a new migration that calls
:func:`install` again (it replaces what is there). So does any later migration
that makes SQLite rebuild one of the indexed tables (SQLite drops a table's
triggers with it): ``tests/test_search.py`` fails until then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models.expressions import RawSQL

TABLE = "registry_search"
MAX_WORDS = 10
# A word is a run of letters and digits (underscore is punctuation, as it is to FTS5's unicode61 tokenizer).
WORD = re.compile(r"[^\W_]+")
# FTS5: rowid = object_id * ROWID_FACTOR + kind code (queries read it back with ``>> 4`` and ``& 15``).
ROWID_FACTOR = 16


# ---------------------------------------------------------------------------
# Documents: what each kind of record is found by
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """How one kind of record's search text is computed in SQL.

    ``alias`` names the record's table in ``joins``; ``text`` is an SQL
    expression in which ``{aliases:<entity id expr>}`` stands for that entity's
    aliases joined by spaces (``group_concat`` on SQLite, ``string_agg`` on
    PostgreSQL).
    """

    kind: str
    code: int
    model_label: str
    alias: str
    joins: str
    text: str

    @property
    def table(self) -> str:
        return self.joins.split()[1]

    @property
    def from_table(self) -> str:
        """``FROM <table> <alias>``: the record's own table without the joins."""
        return f"FROM {self.table} {self.alias}"

    def text_sql(self, vendor: str) -> str:
        aggregate = "group_concat(x.name, ' ')" if vendor == "sqlite" else "string_agg(x.name, ' ')"

        def aliases(match):
            entity = match.group(1)
            return f"coalesce((SELECT {aggregate} FROM registry_entityalias x WHERE x.entity_id = {entity}), '')"  # noqa: S608

        return re.sub(r"\{aliases:([a-z_.]+)\}", aliases, self.text)

    def select_sql(self, vendor: str, where: str) -> str:
        """``SELECT <rowid>, kind, object_id, text FROM ... WHERE <where>`` for the rows matching ``where``."""
        key = f"{self.alias}.id"
        head = f"{key} * {ROWID_FACTOR} + {self.code}, " if vendor == "sqlite" else ""
        return f"SELECT {head}'{self.kind}', {key}, {self.text_sql(vendor)} {self.joins} WHERE {where}"  # noqa: S608


def _join(*parts: str) -> str:
    return " || ' ' || ".join(parts)


DOCUMENTS = {
    document.kind: document
    for document in (
        Document(
            kind="entity",
            code=1,
            model_label="registry.Entity",
            alias="e",
            joins="FROM registry_entity e",
            text=_join("e.name", "e.lei", "{aliases:e.id}"),
        ),
        Document(
            kind="license",
            code=2,
            model_label="registry.License",
            alias="l",
            joins=(
                "FROM registry_license l"
                " JOIN registry_entity h ON h.id = l.holder_id"
                " JOIN registry_licensetype t ON t.id = l.license_type_id"
                " JOIN registry_regime g ON g.id = t.regime_id"
                " LEFT JOIN registry_regulator r ON r.id = l.regulator_id"
            ),
            text=_join(
                "h.name",
                "{aliases:h.id}",
                "l.reference_number",
                "t.name",
                "g.short_name",
                "g.name",
                "coalesce(r.name, '')",
                "coalesce(r.abbreviation, '')",
                "l.conditions",
            ),
        ),
        Document(
            kind="audit",
            code=3,
            model_label="registry.Audit",
            alias="a",
            joins=(
                "FROM registry_audit a"
                " JOIN registry_entity s ON s.id = a.subject_id"
                " LEFT JOIN registry_entity d ON d.id = a.auditor_id"
                " LEFT JOIN registry_standard st ON st.id = a.standard_id"
            ),
            text=_join(
                "s.name", "{aliases:s.id}", "coalesce(d.name, '')", "coalesce(st.name, '')", "a.scope", "a.reference"
            ),
        ),
        Document(
            kind="regulator",
            code=4,
            model_label="registry.Regulator",
            alias="r",
            joins="FROM registry_regulator r",
            text=_join("r.name", "r.abbreviation"),
        ),
    )
}
KIND_OF_MODEL = {document.model_label: kind for kind, document in DOCUMENTS.items()}


# ---------------------------------------------------------------------------
# Triggers: which writes refresh which documents
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """After ``event`` on ``table``: refresh the ``(kind, where)`` documents, or remove ``(kind, id expr)``.

    ``columns``: for an UPDATE, only a change to one of these matters.
    """

    table: str
    event: str
    columns: tuple[str, ...] = ()
    refresh: tuple[tuple[str, str], ...] = ()
    remove: tuple[tuple[str, str], ...] = ()

    @property
    def name(self):
        return f"{TABLE}_{self.table.removeprefix('registry_')}_{self.event.lower()}"


def _entity_and_dependents(entity):
    """An entity's own document and those naming it (licences it holds, audits of it or by it)."""
    return (
        ("entity", f"e.id = {entity}"),
        ("license", f"l.holder_id = {entity}"),
        ("audit", f"a.subject_id = {entity} OR a.auditor_id = {entity}"),
    )


def _own(kind, columns):
    table = f"registry_{kind}"
    alias = DOCUMENTS[kind].alias
    return [
        Trigger(table, "INSERT", refresh=((kind, f"{alias}.id = NEW.id"),)),
        Trigger(table, "UPDATE", columns, refresh=((kind, f"{alias}.id = NEW.id"),)),
        Trigger(table, "DELETE", remove=((kind, "OLD.id"),)),
    ]


TRIGGERS = [
    Trigger("registry_entity", "INSERT", refresh=(("entity", "e.id = NEW.id"),)),
    Trigger("registry_entity", "UPDATE", ("name", "lei"), refresh=_entity_and_dependents("NEW.id")),
    Trigger("registry_entity", "DELETE", remove=(("entity", "OLD.id"),)),
    Trigger("registry_entityalias", "INSERT", refresh=_entity_and_dependents("NEW.entity_id")),
    Trigger(
        "registry_entityalias",
        "UPDATE",
        ("name", "entity_id"),
        refresh=_entity_and_dependents("NEW.entity_id") + _entity_and_dependents("OLD.entity_id"),
    ),
    Trigger("registry_entityalias", "DELETE", refresh=_entity_and_dependents("OLD.entity_id")),
    *_own("license", ("holder_id", "license_type_id", "regulator_id", "reference_number", "conditions")),
    *_own("audit", ("subject_id", "auditor_id", "standard_id", "scope", "reference")),
    Trigger("registry_regulator", "INSERT", refresh=(("regulator", "r.id = NEW.id"),)),
    Trigger(
        "registry_regulator",
        "UPDATE",
        ("name", "abbreviation"),
        refresh=(("regulator", "r.id = NEW.id"), ("license", "l.regulator_id = NEW.id")),
    ),
    Trigger("registry_regulator", "DELETE", remove=(("regulator", "OLD.id"),)),
    Trigger(
        "registry_regime",
        "UPDATE",
        ("short_name", "name"),
        refresh=(
            ("license", "l.license_type_id IN (SELECT t2.id FROM registry_licensetype t2 WHERE t2.regime_id = NEW.id)"),
        ),
    ),
    Trigger(
        "registry_licensetype", "UPDATE", ("name", "regime_id"), refresh=(("license", "l.license_type_id = NEW.id"),)
    ),
    Trigger("registry_standard", "UPDATE", ("name",), refresh=(("audit", "a.standard_id = NEW.id"),)),
]


def _refresh_statements(vendor, kind, where):
    document = DOCUMENTS[kind]
    if vendor == "sqlite":
        key = f"{document.alias}.id * {ROWID_FACTOR} + {document.code}"
        return [
            f"DELETE FROM {TABLE} WHERE rowid IN (SELECT {key} {document.from_table} WHERE {where})",  # noqa: S608
            f"INSERT INTO {TABLE} (rowid, kind, object_id, text) {document.select_sql(vendor, where)}",
        ]
    # Concurrent refreshes of one document both insert it: the later one wins rather than failing.
    return [
        f"INSERT INTO {TABLE} (kind, object_id, text) {document.select_sql(vendor, where)}"
        " ON CONFLICT (kind, object_id) DO UPDATE SET text = EXCLUDED.text"
    ]


def _remove_statement(vendor, kind, key):
    if vendor == "sqlite":
        return f"DELETE FROM {TABLE} WHERE rowid = {key} * {ROWID_FACTOR} + {DOCUMENTS[kind].code}"  # noqa: S608
    return f"DELETE FROM {TABLE} WHERE kind = '{kind}' AND object_id = {key}"  # noqa: S608


def _body(vendor, trigger):
    statements = []
    for kind, where in trigger.refresh:
        statements += _refresh_statements(vendor, kind, f"({where})")
    for kind, key in trigger.remove:
        statements.append(_remove_statement(vendor, kind, key))
    return statements


def _when(vendor, trigger):
    if not trigger.columns:
        return ""
    operator = "IS NOT" if vendor == "sqlite" else "IS DISTINCT FROM"
    changed = " OR ".join(f"OLD.{column} {operator} NEW.{column}" for column in trigger.columns)
    return f" WHEN ({changed})"


def schema_sql(vendor: str) -> list[str]:
    """Every statement that (re)creates the index table and its triggers; safe to run again."""
    if vendor == "sqlite":
        statements = [
            # ``unicode61`` folds case; diacritics are kept, as PostgreSQL's ``simple`` configuration keeps them.
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
            "kind UNINDEXED, object_id UNINDEXED, text, "
            "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3')"
        ]
        for trigger in TRIGGERS:
            columns = f" OF {', '.join(trigger.columns)}" if trigger.columns else ""
            body = "".join(f"{statement}; " for statement in _body(vendor, trigger))
            statements += [
                f"DROP TRIGGER IF EXISTS {trigger.name}",
                f"CREATE TRIGGER {trigger.name} AFTER {trigger.event}{columns} ON {trigger.table} "
                f"FOR EACH ROW{_when(vendor, trigger)} BEGIN {body}END",
            ]
        return statements
    if vendor != "postgresql":
        raise NotImplementedError(f"No search index for the {vendor} backend.")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TABLE} ("
        " kind varchar(20) NOT NULL,"
        " object_id bigint NOT NULL,"
        " text text NOT NULL,"
        # Punctuation becomes a space first, so the words are the ones SQLite's tokenizer sees.
        " document tsvector GENERATED ALWAYS AS"
        " (to_tsvector('simple'::regconfig, regexp_replace(text, '[^[:alnum:]]+', ' ', 'g'))) STORED,"
        " PRIMARY KEY (kind, object_id))",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_document ON {TABLE} USING gin (document)",
    ]
    for trigger in TRIGGERS:
        function = f"{trigger.name}_fn"
        body = "".join(f"{statement}; " for statement in _body(vendor, trigger))
        columns = f" OF {', '.join(trigger.columns)}" if trigger.columns else ""
        statements += [
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body}RETURN NULL; END $$",
            f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}",
            f"CREATE TRIGGER {trigger.name} AFTER {trigger.event}{columns} ON {trigger.table} "
            f"FOR EACH ROW{_when(vendor, trigger)} EXECUTE FUNCTION {function}()",
        ]
    # Django's flush (between transactional tests, ``manage.py flush``) truncates tables: no row trigger fires.
    tables = sorted({f"registry_{kind}" for kind in DOCUMENTS})
    truncated = f"BEGIN DELETE FROM {TABLE} WHERE kind = TG_ARGV[0]; RETURN NULL; END"  # noqa: S608
    statements.append(
        f"CREATE OR REPLACE FUNCTION {TABLE}_truncated_fn() RETURNS trigger LANGUAGE plpgsql AS $$ {truncated} $$"
    )
    for table in tables:
        kind = table.removeprefix("registry_")
        statements += [
            f"DROP TRIGGER IF EXISTS {TABLE}_{kind}_truncate ON {table}",
            f"CREATE TRIGGER {TABLE}_{kind}_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_truncated_fn('{kind}')",
        ]
    return statements


def trigger_names(vendor: str) -> set[str]:
    names = {trigger.name for trigger in TRIGGERS}
    if vendor == "postgresql":
        names |= {f"{TABLE}_{kind}_truncate" for kind in DOCUMENTS}
    return names


def install(connection) -> None:
    """Create (or replace) the index and its triggers, then fill it from the tables."""
    with connection.cursor() as cursor:
        for statement in schema_sql(connection.vendor):
            cursor.execute(statement)
    rebuild(connection)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for trigger in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger.name}")
        else:
            for trigger in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {trigger.name}_fn()")
            for kind in DOCUMENTS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{kind}_truncate ON registry_{kind}")
            cursor.execute(f"DROP FUNCTION IF EXISTS {TABLE}_truncated_fn()")
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def installed_triggers(connection) -> set[str]:
    """Names of the index's triggers present in the database."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE %s", [f"{TABLE}%"])
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE %s", [f"{TABLE}%"])
        return {name for (name,) in cursor.fetchall()}


# ---------------------------------------------------------------------------
# Rebuilding and checking
# ---------------------------------------------------------------------------


def rebuild(connection, batch_size: int = 5000, progress: Callable[[str, int, int], None] | None = None) -> int:
    """Recompute every document in id ranges of ``batch_size``; returns how many were written.

    The triggers keep the index right; this is for an index restored from
    elsewhere, or one that predates a change to the documents.
    ``progress(kind, done, total)`` is called after each batch.
    """
    vendor = connection.vendor
    written = 0
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608
        for kind, document in DOCUMENTS.items():
            cursor.execute(f"SELECT count(*), min(id), max(id) FROM {document.table}")  # noqa: S608
            total, low, high = cursor.fetchone()
            done = 0
            if total:
                columns = "(rowid, kind, object_id, text)" if vendor == "sqlite" else "(kind, object_id, text)"
                key = f"{document.alias}.id"
                for start in range(low, high + 1, batch_size):
                    where = f"{key} >= %s AND {key} < %s"
                    cursor.execute(
                        f"INSERT INTO {TABLE} {columns} {document.select_sql(vendor, where)}",
                        [start, start + batch_size],
                    )
                    done += max(cursor.rowcount, 0)
                    if progress:
                        progress(kind, done, total)
            elif progress:
                progress(kind, 0, 0)
            written += done
        if vendor == "sqlite":
            # Merge the b-tree segments the inserts left behind into one: faster lookups.
            cursor.execute(f"INSERT INTO {TABLE} ({TABLE}) VALUES ('optimize')")  # noqa: S608
        else:
            cursor.execute(f"ANALYZE {TABLE}")
    return written


def differences(connection) -> list[tuple[str, int, str]]:
    """Documents that are missing, stale or left over: ``[(kind, object_id, problem)]`` (empty when in step)."""
    vendor = connection.vendor
    found = []
    with connection.cursor() as cursor:
        for kind, document in DOCUMENTS.items():
            cursor.execute(document.select_sql(vendor, "1 = 1"))
            expected = {row[-2]: row[-1] for row in cursor.fetchall()}
            cursor.execute(f"SELECT object_id, text FROM {TABLE} WHERE kind = %s", [kind])  # noqa: S608
            stored = dict(cursor.fetchall())
            for object_id in sorted(expected.keys() | stored.keys()):
                if object_id not in stored:
                    found.append((kind, object_id, "missing"))
                elif object_id not in expected:
                    found.append((kind, object_id, "left over"))
                # Compared as sets of words: the order of a record's aliases is the database's choice.
                elif sorted(stored[object_id].split()) != sorted(expected[object_id].split()):
                    found.append((kind, object_id, "stale"))
    return found


# ---------------------------------------------------------------------------
# Querying
# ---------------------------------------------------------------------------


def words(value: str) -> list[str]:
    """The words of a query, as the index splits text (at most ``MAX_WORDS``; the rest is ignored)."""
    return WORD.findall(value or "")[:MAX_WORDS]


def match_sql(kind: str, value: str, vendor: str) -> tuple[str, list] | None:
    """SQL selecting the ids of ``kind`` records matching every word of ``value``; None when it has no words."""
    terms = words(value)
    if not terms:
        return None
    code = DOCUMENTS[kind].code
    if vendor == "sqlite":
        # Each word is letters and digits only, so quoting it as an FTS5 string is safe; * makes it a prefix.
        expression = " ".join(f'"{term}"*' for term in terms)
        return (
            # Bit operations rather than / and %: a literal % would upset SQL logging's "%" formatting.
            f"SELECT rowid >> 4 FROM {TABLE} WHERE {TABLE} MATCH %s AND (rowid & 15) = {code}",  # noqa: S608
            [expression],
        )
    if vendor == "postgresql":
        expression = " & ".join(f"'{term}':*" for term in terms)
        return (
            f"SELECT object_id FROM {TABLE} WHERE document @@ to_tsquery('simple', %s) AND kind = %s",  # noqa: S608
            [expression, kind],
        )
    raise NotImplementedError(f"No search index for the {vendor} backend.")


def filter_queryset(queryset, kind: str, value: str):
    """``queryset`` narrowed to records whose document matches every word of ``value``.

    A query with no words at all ("%", "--") matches nothing. The filter is on
    ``id``, so it also narrows a history (as-of) queryset of the same records;
    their documents are today's.
    """
    from django.db import connections

    found = match_sql(kind, value, connections[queryset.db].vendor)
    if found is None:
        return queryset.none()
    sql, params = found
    # Only constants are spliced into ``sql``; the query's words travel as a parameter.
    return queryset.filter(id__in=RawSQL(sql, params))  # noqa: S611
