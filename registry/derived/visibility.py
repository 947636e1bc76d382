"""``public`` and the licence sort keys: columns the database derives from other tables on every write.

A licence is public when it is published itself, its holder and regime are
published, its regulator (if named) is published, and it cites at least one
published source; an audit, when it is published, its subject and auditor (if
named) are published, and it cites a published source. Evaluated per row in
every list query, that rule joins five tables (docs/derived-data.md has the
numbers), so the database evaluates it on every write instead and keeps the
answer in ``public``: ``published()`` is then one indexed comparison.

Licences also keep copies of their holder's name and their regime's short name
(``holder_name``, ``regime_name``): the list's default order, served from an
index instead of a sort over joined tables.

The visibility rule is stated twice, on purpose: as a query in
``LicenseQuerySet.by_rule()`` / ``AuditQuerySet.by_rule()`` (the specification,
readable in Python) and as SQL here (what the triggers run). ``differences()``
compares the two, and ``tests/registry/test_visibility.py`` drives every kind of write
through both and holds them equal, on SQLite and PostgreSQL.

The triggers recompute the rows a write can affect, whatever made the write: the
admin, ``loaddata`` (a fixture's own values are overwritten), ``QuerySet.update``,
bulk inserts, raw SQL. A refresh writes only rows whose derived values changed,
so a trigger fired by another refresh finds nothing to do and the chain stops.
None watches a history table.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.derived.triggers import Derived, Trigger, changed, differs

PUBLISHED = "'published'"


@dataclass(frozen=True)
class Rule:
    """The SQL of one model's derived columns: ``(column, expression)`` pairs over its own table name."""

    table: str
    columns: tuple[tuple[str, str], ...]

    def refresh_sql(self, vendor: str, where: str) -> str:
        """``UPDATE`` of the derived columns of the rows matching ``where``, writing only rows that change."""
        assignments = ", ".join(f"{column} = ({expression})" for column, expression in self.columns)
        stale = " OR ".join(f"{column} {differs(vendor)} ({expression})" for column, expression in self.columns)
        return f"UPDATE {self.table} SET {assignments} WHERE ({where}) AND ({stale})"  # noqa: S608 - constants only


def _published(table, key):
    return f"EXISTS (SELECT 1 FROM {table} p WHERE p.id = {key} AND p.publication_status = {PUBLISHED})"  # noqa: S608


def _cited(citation_table, target_column, target):
    return (
        f"EXISTS (SELECT 1 FROM {citation_table} c JOIN registry_source s ON s.id = c.source_id"  # noqa: S608
        f" WHERE c.{target_column} = {target} AND s.publication_status = {PUBLISHED})"
    )


LICENSE = Rule(
    "registry_license",
    (
        (
            "public",
            " AND ".join(
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
            ),
        ),
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
class Watch:
    """After ``event`` on ``table`` (for an UPDATE: of one of ``columns``, when one changed), refresh the
    ``(rule, where)`` rows. ``always``: an UPDATE refreshes even when the watched columns kept their
    values (a record's own row, whose stored ``public`` a raw save may have overwritten)."""

    table: str
    event: str
    refresh: tuple[tuple[str, str], ...]
    columns: tuple[str, ...] = ()
    always: bool = False

    def trigger(self, vendor: str) -> Trigger:
        when = changed(vendor, self.columns) if self.columns else ""
        if self.always:
            # PostgreSQL: a refresh made by another trigger (depth 1 and more) wrote values just computed, so a
            # second pass over each of its rows finds nothing: skipping it makes publishing an entity with
            # 1,000 licences three times faster (docs/derived-data.md). SQLite has no such test; it is fast there.
            when = "pg_trigger_depth() = 0" if vendor == "postgresql" else ""
        return Trigger(
            name=f"{Visibility.prefix}{self.table.removeprefix('registry_')}_{self.event.lower()}",
            table=self.table,
            events=(self.event,),
            body=tuple(RULES[rule].refresh_sql(vendor, where) for rule, where in self.refresh),
            columns=self.columns,
            when=when,
        )


def _own(kind, columns):
    """A record's own row: after an insert, and after an update that may carry a stale ``public`` value."""
    table = RULES[kind].table
    own = ((kind, f"{table}.id = NEW.id"),)
    # Django's save (and loaddata) writes every column, ``public`` included: a refresh must follow any
    # update that names one of these columns, changed or not.
    return [Watch(table, "INSERT", own), Watch(table, "UPDATE", own, columns, always=True)]


def _citations(kind, table, column):
    target = RULES[kind].table
    return [
        Watch(table, "INSERT", ((kind, f"{target}.id = NEW.{column}"),)),
        Watch(table, "DELETE", ((kind, f"{target}.id = OLD.{column}"),)),
        Watch(table, "UPDATE", ((kind, f"{target}.id IN (OLD.{column}, NEW.{column})"),), (column, "source_id")),
    ]


WATCHES = [
    *_own(
        "license",
        ("publication_status", "holder_id", "license_type_id", "regulator_id", "public", "holder_name", "regime_name"),
    ),
    *_own("audit", ("publication_status", "subject_id", "auditor_id", "public")),
    *_citations("license", "registry_licensecitation", "license_id"),
    *_citations("audit", "registry_auditcitation", "audit_id"),
    Watch(
        "registry_entity",
        "UPDATE",
        (
            ("license", "registry_license.holder_id = NEW.id"),
            ("audit", "registry_audit.subject_id = NEW.id OR registry_audit.auditor_id = NEW.id"),
        ),
        ("publication_status", "name"),
    ),
    Watch(
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
    Watch(
        "registry_licensetype", "UPDATE", (("license", "registry_license.license_type_id = NEW.id"),), ("regime_id",)
    ),
    Watch(
        "registry_regulator",
        "UPDATE",
        (("license", "registry_license.regulator_id = NEW.id"),),
        ("publication_status",),
    ),
    Watch(
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


class Visibility(Derived):
    """``public`` of licences and audits, and the licences' ``holder_name`` and ``regime_name``."""

    name = "public"
    prefix = "registry_public_"

    def triggers(self, vendor, tables):
        return [watch.trigger(vendor) for watch in WATCHES]

    def fill_sql(self, vendor):
        """Recompute every licence's and audit's derived columns (rebuild returns how many rows changed)."""
        return [rule.refresh_sql(vendor, "1 = 1") for rule in RULES.values()]

    def differences(self, connection=None) -> list[tuple[str, int, object]]:
        """Rows whose stored values disagree with the rules stated as queries: ``[(kind or column, id, stored)]``."""
        from django.db.models import F

        from registry.models import Audit, License

        using = connection.alias if connection is not None else None
        found = []
        for kind, model in (("license", License), ("audit", Audit)):
            by_rule = set(model.objects.using(using).by_rule().values_list("pk", flat=True))
            stored = set(model.objects.using(using).filter(public=True).values_list("pk", flat=True))
            found += [(kind, pk, True) for pk in sorted(stored - by_rule)]
            found += [(kind, pk, False) for pk in sorted(by_rule - stored)]
        licences = License.objects.using(using)
        sort_keys = {"holder_name": F("holder__name"), "regime_name": F("license_type__regime__short_name")}
        for column, expected in sort_keys.items():
            wrong = licences.exclude(**{column: expected}).values_list("pk", column)
            found += [(column, pk, value) for pk, value in wrong.order_by("pk")]
        return found


VISIBILITY = Visibility()
