"""The public licences counted per (licence type, jurisdiction): the home page's licence count and charts.

``registry_license_tally`` holds one row per group of public licences with the same licence type and stated
jurisdiction (0 for none): how many there are and the smallest id among them. That is exactly what the licence
list's keyed facets group by (``public/filters.py``, ``keyed_rows_together``): a regime is a set of licence
types, a home jurisdiction follows from the stated one or the type's regime. So the home page reads a few hundred
rows here instead of counting 60,000 licences after every write, and its counts and bars still equal the lists
they link to.

Triggers on ``registry_license`` keep it: a row that becomes public (its own ``public`` flag, set by the
visibility triggers) adds one to its group, one that stops being public, moves group or is deleted takes one
away; a group's smallest id is looked up again, through ``license_public_type_idx``, only when it was that row's.
"""

from __future__ import annotations

from registry.derived.triggers import Derived, Trigger, changed, check_vendor

TABLE = "registry_license_tally"
LICENSES = "registry_license"
_KEY = "license_type_id = {row}.license_type_id AND jurisdiction_id = coalesce({row}.jurisdiction_id, 0)"
_GROUPS = (
    "SELECT license_type_id, coalesce(jurisdiction_id, 0), count(*), min(id) FROM registry_license"  # noqa: S608
    " WHERE public GROUP BY license_type_id, coalesce(jurisdiction_id, 0)"
)


def _added(vendor: str, guard: str = "") -> list[str]:
    """Statements counting ``NEW`` in its group (``guard``: an extra condition, SQLite)."""
    if vendor == "postgresql":
        return [
            f"INSERT INTO {TABLE} (license_type_id, jurisdiction_id, licences, first_id)"  # noqa: S608
            " VALUES (NEW.license_type_id, coalesce(NEW.jurisdiction_id, 0), 1, NEW.id)"
            " ON CONFLICT (license_type_id, jurisdiction_id) DO UPDATE"
            f" SET licences = {TABLE}.licences + 1, first_id = least({TABLE}.first_id, EXCLUDED.first_id)"
        ]
    where = f" WHERE {guard}" if guard else ""
    return [
        f"INSERT OR IGNORE INTO {TABLE} (license_type_id, jurisdiction_id, licences, first_id)"  # noqa: S608
        f" SELECT NEW.license_type_id, coalesce(NEW.jurisdiction_id, 0), 0, NEW.id{where}",
        f"UPDATE {TABLE} SET licences = licences + 1, first_id = min(first_id, NEW.id)"  # noqa: S608
        f" WHERE {guard + ' AND ' if guard else ''}{_KEY.format(row='NEW')}",
    ]


def _smallest(jurisdiction: str, indexed_by: str = "") -> str:
    """The smallest id of ``OLD``'s group, ``jurisdiction`` matching its jurisdiction in a way the index
    ``license_public_type_idx`` answers. SQLite, without statistics, would take the index on ``license_type_id``
    alone for ``min(id)`` and step over every licence of the type that is no longer public: a regime of 4,130
    licences unpublished took 10 s instead of 0.3 s, hence ``indexed_by`` there."""
    return (
        f"SELECT min(id) FROM registry_license{indexed_by} WHERE public"  # noqa: S608
        f" AND license_type_id = OLD.license_type_id AND {jurisdiction}"
    )


def _removed(vendor: str, guard: str = "") -> list[str]:
    """Statements taking ``OLD`` out of its group (already changed or gone: the triggers run after the write)."""
    key = f"{guard + ' AND ' if guard else ''}{_KEY.format(row='OLD')}"
    statements = [
        f"UPDATE {TABLE} SET licences = licences - 1 WHERE {key}",  # noqa: S608
        f"DELETE FROM {TABLE} WHERE {key} AND licences = 0",  # noqa: S608
    ]
    first = f"UPDATE {TABLE} SET first_id = ({{smallest}}) WHERE {key} AND first_id = OLD.id"  # noqa: S608
    if vendor == "sqlite":
        smallest = _smallest("jurisdiction_id IS OLD.jurisdiction_id", " INDEXED BY license_public_type_idx")
        return [*statements, first.format(smallest=smallest)]
    # PostgreSQL's IS NOT DISTINCT FROM is not answered by an index: one statement for each case.
    return [
        *statements,
        f"IF OLD.jurisdiction_id IS NULL THEN {first.format(smallest=_smallest('jurisdiction_id IS NULL'))};"
        f" ELSE {first.format(smallest=_smallest('jurisdiction_id = OLD.jurisdiction_id'))}; END IF",
    ]


class LicenseTally(Derived):
    """The per-group counts of public licences, kept by three row triggers on the licence table (and, on
    PostgreSQL, one emptying it when the licence table is truncated)."""

    name = "tally"
    table = TABLE

    def storage_sql(self, vendor):
        check_vendor(vendor)
        return [
            f"CREATE TABLE IF NOT EXISTS {TABLE} (license_type_id integer NOT NULL, jurisdiction_id integer NOT NULL,"
            " licences integer NOT NULL, first_id integer NOT NULL, PRIMARY KEY (license_type_id, jurisdiction_id))"
        ]

    def triggers(self, vendor, tables):
        moved = changed(vendor, ("public", "license_type_id", "jurisdiction_id"))
        columns = ("public", "license_type_id", "jurisdiction_id")
        if vendor == "sqlite":
            return [
                Trigger(f"{self.prefix}insert", LICENSES, ("INSERT",), tuple(_added(vendor)), when="NEW.public"),
                Trigger(f"{self.prefix}delete", LICENSES, ("DELETE",), tuple(_removed(vendor)), when="OLD.public"),
                Trigger(
                    f"{self.prefix}update",
                    LICENSES,
                    ("UPDATE",),
                    (*_removed(vendor, "OLD.public"), *_added(vendor, "NEW.public")),
                    columns=columns,
                    when=moved,
                ),
            ]
        check_vendor(vendor)
        update = (
            f"IF OLD.public THEN {'; '.join(_removed(vendor))}; END IF",
            f"IF NEW.public THEN {'; '.join(_added(vendor))}; END IF",
        )
        return [
            Trigger(f"{self.prefix}insert", LICENSES, ("INSERT",), tuple(_added(vendor)), when="NEW.public"),
            Trigger(f"{self.prefix}delete", LICENSES, ("DELETE",), tuple(_removed(vendor)), when="OLD.public"),
            Trigger(f"{self.prefix}update", LICENSES, ("UPDATE",), update, columns=columns, when=moved),
            Trigger(f"{self.prefix}truncate", LICENSES, ("TRUNCATE",), (f"DELETE FROM {TABLE}",), for_each="STATEMENT"),  # noqa: S608
        ]

    def fill_sql(self, vendor):
        return [
            f"DELETE FROM {TABLE}",  # noqa: S608
            f"INSERT INTO {TABLE} (license_type_id, jurisdiction_id, licences, first_id) {_GROUPS}",
        ]

    def differences(self, connection) -> list[tuple]:
        """Groups whose stored row disagrees with the licences: ``[("stored" | "counted", row)]``."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT license_type_id, jurisdiction_id, licences, first_id FROM {TABLE}")  # noqa: S608
            stored = set(cursor.fetchall())
            cursor.execute(_GROUPS)
            counted = set(cursor.fetchall())
        return [("stored", row) for row in sorted(stored - counted)] + [
            ("counted", row) for row in sorted(counted - stored)
        ]


LICENSE_TALLY = LicenseTally()


def licence_groups(using=None) -> dict[int, int]:
    """``{a group's smallest licence id: its public licences}``, every group of public licences by licence type
    and stated jurisdiction: the counts ``keyed_rows_together`` would take from a GROUP BY over the licences."""
    from django.db import connections, router

    from registry.models import License

    with connections[using or router.db_for_read(License)].cursor() as cursor:
        cursor.execute(f"SELECT first_id, licences FROM {TABLE}")  # noqa: S608
        return dict(cursor.fetchall())
