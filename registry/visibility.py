"""Columns the database derives on every write: ``public`` behind ``published()``, and sort keys.

A licence is public when it is published itself, its holder and regime are
published, its regulator (if named) is published, and it cites at least one
published source; an audit, when it is published, its subject and auditor (if
named) are published, and it cites a published source. Evaluated per row in
every list query, that rule joined five tables and cost about 100 ms per query
on 60,000 licences (SQLite), and a list page runs five such queries. So the
database evaluates it on every write instead and keeps the answer in
``public``: ``published()`` is then one indexed comparison.

Licences also keep copies of their holder's name and their regime's short name
(``holder_name``, ``regime_name``): the list's default order. Sorting 54,000
rows by a joined column took 80-300 ms a page; over these columns an index
gives the first page in under a millisecond.

The visibility rule is stated twice, on purpose: as a query in
``LicenseQuerySet.by_rule()`` / ``AuditQuerySet.by_rule()`` (the specification,
readable in Python) and as SQL here (what the triggers run). ``differences()``
compares the two, and ``tests/test_visibility.py`` drives every kind of write
through both and holds them equal, on SQLite and PostgreSQL.

Triggers (installed by migrations 0007 and 0008) recompute the rows a write can
affect, whatever made the write: the admin, ``loaddata`` (a fixture's own values
are overwritten), ``QuerySet.update``, bulk inserts, raw SQL. A refresh writes
only rows whose derived values changed, so a trigger fired by another refresh
finds nothing to do and the chain stops.

Like the search index and the data version, the triggers vanish when SQLite
rebuilds a table: a later migration that alters ``registry_license``,
``registry_audit`` or a table named below must call :func:`install` again
(``tests/test_visibility.py`` fails until it does).
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLISHED = "'published'"


@dataclass(frozen=True)
class Rule:
    """The SQL of one model's derived columns: ``(column, expression)`` pairs over its own table name."""

    table: str
    columns: tuple[tuple[str, str], ...]

    def refresh_sql(self, vendor: str, where: str) -> str:
        """``UPDATE`` of the derived columns of the rows matching ``where``, writing only rows that change."""
        differs = "IS NOT" if vendor == "sqlite" else "IS DISTINCT FROM"
        assignments = ", ".join(f"{column} = ({expression})" for column, expression in self.columns)
        changed = " OR ".join(f"{column} {differs} ({expression})" for column, expression in self.columns)
        return f"UPDATE {self.table} SET {assignments} WHERE ({where}) AND ({changed})"  # noqa: S608 - constants only


def _published(table, key):
    return f"EXISTS (SELECT 1 FROM {table} p WHERE p.id = {key} AND p.publication_status = {PUBLISHED})"  # noqa: S608


def _cited(citation_table, target_column, target):
    return (
        f"EXISTS (SELECT 1 FROM {citation_table} c JOIN registry_source s ON s.id = c.source_id"  # noqa: S608
        f" WHERE c.{target_column} = {target} AND s.publication_status = {PUBLISHED})"
    )


LICENSE_PUBLIC = " AND ".join(
    [
        f"registry_license.publication_status = {PUBLISHED}",
        _published("registry_entity", "registry_license.holder_id"),
        "EXISTS (SELECT 1 FROM registry_licensetype t JOIN registry_regime g ON g.id = t.regime_id"  # noqa: S608
        f" WHERE t.id = registry_license.license_type_id AND g.publication_status = {PUBLISHED})",
        "(registry_license.regulator_id IS NULL OR "
        + _published("registry_regulator", "registry_license.regulator_id")
        + ")",
        _cited("registry_licensecitation", "license_id", "registry_license.id"),
    ]
)
LICENSE = Rule(
    "registry_license",
    (
        ("public", LICENSE_PUBLIC),
        # coalesce: while ``flush`` empties the tables one by one, a licence may outlive its holder for a moment.
        ("holder_name", "coalesce((SELECT h.name FROM registry_entity h WHERE h.id = registry_license.holder_id), '')"),
        (
            "regime_name",
            "coalesce((SELECT g.short_name FROM registry_licensetype t JOIN registry_regime g ON g.id = t.regime_id"
            " WHERE t.id = registry_license.license_type_id), '')",
        ),
    ),
)
AUDIT = Rule(
    "registry_audit",
    (
        (
            "public",
            " AND ".join(
                [
                    f"registry_audit.publication_status = {PUBLISHED}",
                    _published("registry_entity", "registry_audit.subject_id"),
                    "(registry_audit.auditor_id IS NULL OR "
                    + _published("registry_entity", "registry_audit.auditor_id")
                    + ")",
                    _cited("registry_auditcitation", "audit_id", "registry_audit.id"),
                ]
            ),
        ),
    ),
)
RULES = {"license": LICENSE, "audit": AUDIT}


@dataclass(frozen=True)
class Trigger:
    """After ``event`` on ``table`` (for an UPDATE: of one of ``columns``, when one changed), refresh
    the ``(rule, where)`` rows. ``always``: an UPDATE refreshes even when the watched columns kept their
    values (a record's own row, whose stored ``public`` a raw save may have overwritten)."""

    table: str
    event: str
    refresh: tuple[tuple[str, str], ...]
    columns: tuple[str, ...] = ()
    always: bool = False

    @property
    def name(self) -> str:
        return f"registry_public_{self.table.removeprefix('registry_')}_{self.event.lower()}"

    def when(self, vendor: str) -> str:
        if not self.columns or self.always:
            return ""
        operator = "IS NOT" if vendor == "sqlite" else "IS DISTINCT FROM"
        return " WHEN (" + " OR ".join(f"OLD.{c} {operator} NEW.{c}" for c in self.columns) + ")"

    def body(self, vendor: str) -> list[str]:
        return [RULES[rule].refresh_sql(vendor, where) for rule, where in self.refresh]


def _own(kind, columns):
    """A record's own row: after an insert, and after an update that may carry a stale ``public`` value."""
    table = RULES[kind].table
    own = ((kind, f"{table}.id = NEW.id"),)
    # Django's save (and loaddata) writes every column, ``public`` included: a refresh must follow any
    # update that names one of these columns, changed or not.
    return [Trigger(table, "INSERT", own), Trigger(table, "UPDATE", own, columns, always=True)]


def _citations(kind, table, column):
    target = RULES[kind].table
    return [
        Trigger(table, "INSERT", ((kind, f"{target}.id = NEW.{column}"),)),
        Trigger(table, "DELETE", ((kind, f"{target}.id = OLD.{column}"),)),
        Trigger(table, "UPDATE", ((kind, f"{target}.id IN (OLD.{column}, NEW.{column})"),), (column, "source_id")),
    ]


TRIGGERS = [
    *_own(
        "license",
        ("publication_status", "holder_id", "license_type_id", "regulator_id", "public", "holder_name", "regime_name"),
    ),
    *_own("audit", ("publication_status", "subject_id", "auditor_id", "public")),
    *_citations("license", "registry_licensecitation", "license_id"),
    *_citations("audit", "registry_auditcitation", "audit_id"),
    Trigger(
        "registry_entity",
        "UPDATE",
        (
            ("license", "registry_license.holder_id = NEW.id"),
            ("audit", "registry_audit.subject_id = NEW.id OR registry_audit.auditor_id = NEW.id"),
        ),
        ("publication_status", "name"),
    ),
    Trigger(
        "registry_regime",
        "UPDATE",
        (
            (
                "license",
                "registry_license.license_type_id IN"
                " (SELECT t2.id FROM registry_licensetype t2 WHERE t2.regime_id = NEW.id)",
            ),
        ),
        ("publication_status", "short_name"),
    ),
    Trigger(
        "registry_licensetype", "UPDATE", (("license", "registry_license.license_type_id = NEW.id"),), ("regime_id",)
    ),
    Trigger(
        "registry_regulator",
        "UPDATE",
        (("license", "registry_license.regulator_id = NEW.id"),),
        ("publication_status",),
    ),
    Trigger(
        "registry_source",
        "UPDATE",
        (
            (
                "license",
                "registry_license.id IN"
                " (SELECT c2.license_id FROM registry_licensecitation c2 WHERE c2.source_id = NEW.id)",
            ),
            (
                "audit",
                "registry_audit.id IN (SELECT c2.audit_id FROM registry_auditcitation c2 WHERE c2.source_id = NEW.id)",
            ),
        ),
        ("publication_status",),
    ),
]


def schema_sql(vendor: str) -> list[str]:
    """Statements that (re)create every trigger; safe to run again."""
    statements = []
    for trigger in TRIGGERS:
        columns = f" OF {', '.join(trigger.columns)}" if trigger.columns else ""
        body = "".join(f"{statement}; " for statement in trigger.body(vendor))
        head = f"CREATE TRIGGER {trigger.name} AFTER {trigger.event}{columns} ON {trigger.table} FOR EACH ROW"
        if vendor == "sqlite":
            statements += [
                f"DROP TRIGGER IF EXISTS {trigger.name}",
                f"{head}{trigger.when(vendor)} BEGIN {body}END",
            ]
        elif vendor == "postgresql":
            function = f"{trigger.name}_fn"
            statements += [
                f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {body}RETURN NULL; END $$",
                f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}",
                f"{head}{trigger.when(vendor)} EXECUTE FUNCTION {function}()",
            ]
        else:
            raise NotImplementedError(f"No stored visibility for the {vendor} backend.")
    return statements


def install(connection) -> None:
    """Create (or replace) the triggers, then recompute ``public`` on every row."""
    with connection.cursor() as cursor:
        for statement in schema_sql(connection.vendor):
            cursor.execute(statement)
    rebuild(connection)


def uninstall(connection) -> None:
    with connection.cursor() as cursor:
        for trigger in TRIGGERS:
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger.name}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger.name} ON {trigger.table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {trigger.name}_fn()")


def trigger_names() -> set[str]:
    return {trigger.name for trigger in TRIGGERS}


def installed_triggers(connection) -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'registry_public_%%'")
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE 'registry_public_%%'")
        return {name for (name,) in cursor.fetchall()}


def rebuild(connection) -> int:
    """Recompute ``public`` on every licence and audit; returns how many rows changed."""
    changed = 0
    with connection.cursor() as cursor:
        for rule in RULES.values():
            cursor.execute(rule.refresh_sql(connection.vendor, "1 = 1"))
            changed += max(cursor.rowcount, 0)
    return changed


def differences() -> list[tuple[str, int, object]]:
    """Rows whose stored values disagree with the rules stated as queries: ``[(kind or column, id, stored)]``."""
    from django.db.models import F

    from registry.models import Audit, License

    found = []
    for kind, model in (("license", License), ("audit", Audit)):
        by_rule = set(model.objects.by_rule().values_list("pk", flat=True))
        stored = set(model.objects.filter(public=True).values_list("pk", flat=True))
        found += [(kind, pk, True) for pk in sorted(stored - by_rule)]
        found += [(kind, pk, False) for pk in sorted(by_rule - stored)]
    sort_keys = {"holder_name": F("holder__name"), "regime_name": F("license_type__regime__short_name")}
    for column, expected in sort_keys.items():
        wrong = License.objects.exclude(**{column: expected}).values_list("pk", column)
        found += [(column, pk, value) for pk, value in wrong.order_by("pk")]
    return found
