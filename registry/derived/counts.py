"""The published entities, regulators and audits counted: the home page's other three counts.

``registry_record_count`` holds one row per record type, ``(kind, records)``. Row triggers on each table add one
when a row becomes published (inserted so, or changed so) and take one away when it stops being published or is
deleted; PostgreSQL's ``TRUNCATE`` sets the kind's row to 0. The home page reads three rows instead of counting
every published record after each write: the three counts were 3.8 of the page's 15 ms, in process, on the first
request after a write at N = 20,000.

What "published" means is each model's ``published()`` (``registry/models/base.py``): for entities and regulators
their own ``publication_status``; for audits the ``public`` flag the visibility triggers keep. ``CONDITIONS``
restates it as SQL for the triggers, and :meth:`RecordCounts.differences` compares the stored numbers with
``published().count()``, so the two cannot drift apart unnoticed (``rebuild_derived_data --check``).
"""

from __future__ import annotations

from registry.derived.triggers import Derived, Trigger, check_vendor, differs

TABLE = "registry_record_count"
# kind: (table, the changed columns that may publish or unpublish a row, a row's "published" as SQL on {row})
CONDITIONS = {
    "entity": ("registry_entity", ("publication_status",), "{row}.publication_status = 'published'"),
    "regulator": ("registry_regulator", ("publication_status",), "{row}.publication_status = 'published'"),
    "audit": ("registry_audit", ("public",), "{row}.public"),
}


def _add(kind: str, amount: str) -> str:
    return f"UPDATE {TABLE} SET records = records {amount} WHERE kind = '{kind}'"  # noqa: S608


def _counted(kind: str) -> str:
    table, _columns, published = CONDITIONS[kind]
    return f"SELECT '{kind}', count(*) FROM {table} WHERE {published.format(row=table)}"  # noqa: S608


class RecordCounts(Derived):
    """One count per record type, kept by three row triggers on each table (and a TRUNCATE one on PostgreSQL)."""

    name = "counts"
    table = TABLE

    def storage_sql(self, vendor):
        check_vendor(vendor)
        return [f"CREATE TABLE IF NOT EXISTS {TABLE} (kind varchar(16) PRIMARY KEY, records integer NOT NULL)"]

    def triggers(self, vendor, tables):
        check_vendor(vendor)
        found = []
        for kind, (table, columns, published) in CONDITIONS.items():
            new, old = published.format(row="NEW"), published.format(row="OLD")
            moved = f"CASE WHEN {new} THEN 1 ELSE -1 END"
            found += [
                Trigger(f"{self.prefix}{kind}_insert", table, ("INSERT",), (_add(kind, "+ 1"),), when=new),
                Trigger(f"{self.prefix}{kind}_delete", table, ("DELETE",), (_add(kind, "- 1"),), when=old),
                Trigger(
                    f"{self.prefix}{kind}_update",
                    table,
                    ("UPDATE",),
                    (_add(kind, f"+ {moved}"),),
                    columns=columns,
                    when=f"({old}) {differs(vendor)} ({new})",
                ),
            ]
            if vendor == "postgresql":
                reset = (f"UPDATE {TABLE} SET records = 0 WHERE kind = '{kind}'",)  # noqa: S608
                found.append(
                    Trigger(f"{self.prefix}{kind}_truncate", table, ("TRUNCATE",), reset, for_each="STATEMENT")
                )
        return found

    def fill_sql(self, vendor):
        counted = " UNION ALL ".join(_counted(kind) for kind in CONDITIONS)
        return [f"DELETE FROM {TABLE}", f"INSERT INTO {TABLE} (kind, records) {counted}"]  # noqa: S608

    def differences(self, connection) -> list[tuple]:
        """Kinds whose stored count is not ``published().count()``: ``[("stored" | "counted", (kind, n))]``."""
        stored = set(stored_counts(connection.alias).items())
        counted = {(kind, n) for kind, n in published_counts(connection.alias).items()}
        return [("stored", row) for row in sorted(stored - counted)] + [
            ("counted", row) for row in sorted(counted - stored)
        ]


RECORD_COUNTS = RecordCounts()


def published_counts(using=None) -> dict[str, int]:
    """``{kind: published().count()}``, counted: what the stored counts must equal."""
    from registry.models import Audit, Entity, Regulator

    models = {"entity": Entity, "regulator": Regulator, "audit": Audit}
    return {kind: model.objects.using(using).published().count() for kind, model in models.items()}


def record_counts(using=None) -> dict[str, int]:
    """``{kind: published records}`` as the database keeps them: entity, regulator and audit."""
    kept = stored_counts(using)
    # Not filled (tables restored without their derived data, until rebuild_derived_data): counted, never guessed.
    return kept if kept.keys() == CONDITIONS.keys() else published_counts(using)


def stored_counts(using=None) -> dict[str, int]:
    """The rows of ``registry_record_count``, as they are."""
    from django.db import connections, router

    from registry.models import Entity

    with connections[using or router.db_for_read(Entity)].cursor() as cursor:
        cursor.execute(f"SELECT kind, records FROM {TABLE}")  # noqa: S608
        return dict(cursor.fetchall())
