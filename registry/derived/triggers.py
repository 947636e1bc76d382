"""The one shape of every derived value: triggers that keep it, and ``install``, ``uninstall``, ``rebuild``,
``differences`` and ``outdated`` (see ``registry/derived/__init__.py`` and docs/derived-data.md).

A :class:`Derived` subclass says what it stores (``storage_sql``), which triggers keep it (``triggers``),
how to recompute it from the tables (``rebuild``) and how to compare it with them (``differences``).
Everything else (rendering a trigger for SQLite or PostgreSQL, dropping a set by its name prefix,
comparing the database's triggers with the code's) is written once, here.

This module only renders SQL. Migrations never import it: each migration that installs triggers carries
the statements it ran as literal strings (``registry/migrations/0012_derived_data_triggers.py``), so
replaying an old migration never runs today's SQL on an old schema.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trigger:
    """After ``events`` on ``table`` (for an UPDATE: ``OF columns``, ``WHEN when``), run ``body``.

    On PostgreSQL the body becomes a function of the trigger's own (``<name>_fn``), unless ``function``
    names a shared one (created by :meth:`Derived.functions`), called with ``arguments``. Statement-level
    triggers (``for_each="STATEMENT"``) and ``TRUNCATE`` exist on PostgreSQL only.
    """

    name: str
    table: str
    events: tuple[str, ...]
    body: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    when: str = ""
    for_each: str = "ROW"
    function: str = ""
    arguments: str = ""

    @property
    def function_name(self) -> str:
        return self.function or f"{self.name}_fn"

    def create_sql(self, vendor: str) -> str:
        """The ``CREATE TRIGGER`` statement (SQLite keeps its text as written: :func:`outdated` compares it)."""
        columns = f" OF {', '.join(self.columns)}" if self.columns else ""
        when = f" WHEN ({self.when})" if self.when else ""
        head = f"CREATE TRIGGER {self.name} AFTER {' OR '.join(self.events)}{columns} ON {self.table}"
        head += f" FOR EACH {self.for_each}{when}"
        if vendor == "sqlite":
            return f"{head} BEGIN {''.join(f'{statement}; ' for statement in self.body)}END"
        return f"{head} EXECUTE FUNCTION {self.function_name}({self.arguments})"

    def function_source(self) -> str:
        """PostgreSQL: the body of the trigger's own function (as ``pg_proc.prosrc`` keeps it)."""
        return f" BEGIN {''.join(f'{statement}; ' for statement in self.body)}RETURN NULL; END "


def function_sql(name: str, source: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${source}$$"


def differs(vendor: str) -> str:
    """The null-safe "is different from" of each backend."""
    return "IS NOT" if vendor == "sqlite" else "IS DISTINCT FROM"


def changed(vendor: str, columns) -> str:
    """A WHEN condition: one of ``columns`` changed in this UPDATE."""
    return " OR ".join(f"OLD.{column} {differs(vendor)} NEW.{column}" for column in columns)


def check_vendor(vendor: str) -> None:
    if vendor not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"No derived data for the {vendor} backend.")


class Derived:
    """One derived value. Subclasses set ``name`` and ``prefix`` (of every trigger and function name), or
    ``table`` when they keep a table of their own (the prefix is then ``<table>_``), and define ``triggers``,
    ``rebuild`` and ``differences``; ``storage_sql`` and ``functions`` when they keep a table or a shared
    PostgreSQL function of their own."""

    name = ""
    prefix = ""
    table = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.table and "prefix" not in cls.__dict__:
            cls.prefix = f"{cls.table}_"

    def storage_sql(self, vendor: str) -> list[str]:
        """Statements creating the tables it writes, if missing (a derived column is the model's own)."""
        return []

    def drop_storage_sql(self, vendor: str) -> list[str]:
        return [f"DROP TABLE IF EXISTS {self.table}"] if self.table else []

    def functions(self, vendor: str) -> dict[str, str]:
        """PostgreSQL: ``{name: source}`` of functions shared by several triggers."""
        return {}

    def triggers(self, vendor: str, tables: list[str]) -> list[Trigger]:
        """The triggers that keep it, given the register's tables (:func:`register_tables`)."""
        raise NotImplementedError

    def fill_sql(self, vendor: str) -> list[str]:
        """Statements that compute it from the tables in one go (what a migration runs after the triggers)."""
        return []

    def rebuild(self, connection) -> int:
        """Recompute it from the tables; returns how many rows were written."""
        written = 0
        with connection.cursor() as cursor:
            for statement in self.fill_sql(connection.vendor):
                cursor.execute(statement)
                written += max(cursor.rowcount, 0)
        return written

    def differences(self, connection) -> list[tuple]:
        """Where the stored value disagrees with the tables (empty when in step)."""
        raise NotImplementedError

    # -- the same for every derived value --------------------------------------------------------------

    def install_sql(self, vendor: str, tables: list[str]) -> list[str]:
        """Every statement that creates its storage (if missing), functions and triggers."""
        check_vendor(vendor)
        return list(self.storage_sql(vendor)) + self.trigger_sql(vendor, tables)

    def trigger_sql(self, vendor: str, tables: list[str]) -> list[str]:
        """The statements that create its functions and triggers (not its storage)."""
        check_vendor(vendor)
        statements = []
        if vendor == "postgresql":
            statements += [function_sql(name, source) for name, source in self.functions(vendor).items()]
        for trigger in self.triggers(vendor, tables):
            if vendor == "postgresql" and not trigger.function:
                statements.append(function_sql(trigger.function_name, trigger.function_source()))
            statements.append(trigger.create_sql(vendor))
        return statements

    def install(self, connection) -> None:
        """Replace its triggers by the code's, then rebuild it (before the triggers exist: see
        ``registry.derived.deferred``). Call it inside a transaction so no write slips in between."""
        self.uninstall(connection)
        with connection.cursor() as cursor:
            for statement in self.storage_sql(connection.vendor):
                cursor.execute(statement)
        self.rebuild(connection)
        with connection.cursor() as cursor:
            for statement in self.trigger_sql(connection.vendor, register_tables(connection)):
                cursor.execute(statement)

    def uninstall(self, connection, *, storage: bool = False) -> None:
        """Drop its triggers and functions (any whose name has its prefix, an older version's too)."""
        with connection.cursor() as cursor:
            for name, (table, _definition) in installed(connection, self.prefix).items():
                if connection.vendor == "sqlite":
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
                else:
                    cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            if connection.vendor == "postgresql":
                for name in installed_functions(connection, self.prefix):
                    cursor.execute(f"DROP FUNCTION IF EXISTS {name}() CASCADE")
            if storage:
                for statement in self.drop_storage_sql(connection.vendor):
                    cursor.execute(statement)

    def expected(self, connection) -> dict[str, tuple[str, object]]:
        """``{trigger name: (table, definition)}`` as the code defines them, comparable with :func:`installed`."""
        vendor = connection.vendor
        shared = self.functions(vendor)
        found = {}
        for trigger in self.triggers(vendor, register_tables(connection)):
            if vendor == "sqlite":
                found[trigger.name] = (trigger.table, trigger.create_sql(vendor))
            else:
                source = shared[trigger.function] if trigger.function else trigger.function_source()
                found[trigger.name] = (trigger.table, (trigger.function_name, source))
        return found

    def outdated(self, connection) -> list[tuple[str, str]]:
        """``[(trigger name, "missing" | "changed" | "unexpected")]``: where the database's triggers are not the
        code's. Empty after the migrations ran, unless the code changed without a migration, or a migration
        made SQLite rebuild a table (which drops its triggers) without putting them back."""
        expected = self.expected(connection)
        present = installed(connection, self.prefix)
        problems = []
        for name in sorted(expected.keys() | present.keys()):
            if name not in present:
                problems.append((name, "missing"))
            elif name not in expected:
                problems.append((name, "unexpected"))
            elif present[name] != expected[name]:
                problems.append((name, "changed"))
        return problems


# ---------------------------------------------------------------------------
# The database's catalog
# ---------------------------------------------------------------------------


def register_tables(connection) -> list[str]:
    """Every table of the register (``registry_*``), the derived data's own tables excepted."""
    from registry.derived.counts import TABLE as COUNT_TABLE
    from registry.derived.search import TABLE as SEARCH_TABLE
    from registry.derived.tally import TABLE as TALLY_TABLE
    from registry.derived.version import TABLE as VERSION_TABLE

    return sorted(
        name
        for name in connection.introspection.table_names()
        if name.startswith("registry_")
        and name not in (VERSION_TABLE, TALLY_TABLE, COUNT_TABLE)
        and not name.startswith(SEARCH_TABLE)
    )


def installed(connection, prefix: str) -> dict[str, tuple[str, object]]:
    """``{trigger name: (table, definition)}`` of the triggers present whose names start with ``prefix``.

    The definition is the statement's text on SQLite; on PostgreSQL, which normalises a trigger's text,
    the function it runs and that function's source.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
            rows = [(name, table, sql) for name, table, sql in cursor.fetchall()]
        else:
            cursor.execute(
                "SELECT t.tgname, c.relname, p.proname, p.prosrc FROM pg_trigger t"
                " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid)"
            )
            rows = [(name, table, (function, source)) for name, table, function, source in cursor.fetchall()]
    return {name: (table, definition) for name, table, definition in rows if name.startswith(prefix)}


def installed_functions(connection, prefix: str) -> list[str]:
    """PostgreSQL: names of the functions present whose names start with ``prefix``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE pg_function_is_visible(oid)")
        return sorted({name for (name,) in cursor.fetchall() if name.startswith(prefix)})
