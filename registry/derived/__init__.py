"""Derived data: values the database computes from the register on every write (docs/derived-data.md).

* ``visibility``: licences' and audits' ``public`` column behind ``published()``, and the licences'
  sort keys ``holder_name`` and ``regime_name``;
* ``search``: the full-text index ``registry_search`` (queried through ``registry/search.py``);
* ``version``: the data version ``registry_data_version`` behind ETags and the caches of derived data;
* ``tally``: the public licences counted per licence type and jurisdiction, ``registry_license_tally`` (the home
  page's licence count and charts);
* ``counts``: the published entities, regulators and audits counted, ``registry_record_count`` (the home page's
  other counts).

Each is a :class:`registry.derived.triggers.Derived` with one shape: ``install``, ``uninstall``,
``rebuild``, ``differences`` and ``outdated``. Triggers keep them because every write must, the ones that
bypass Django included (``QuerySet.update``, ``bulk_create``, ``loaddata``, raw SQL). No trigger of
``visibility`` or ``search`` watches a history table (``registry_historical*``); ``version`` watches
every register table, history tables included (a history row is what the change feed shows).

The code here renders the SQL; migrations carry it frozen (``0012_derived_data_triggers``). After a change
to a definition, or a migration that makes SQLite rebuild a watched table (which drops its triggers),
write a migration with the statements :func:`migration_sql` prints: ``outdated()`` is not empty until then.
"""

from __future__ import annotations

import contextlib

from registry.derived import counts, search, tally, version, visibility
from registry.derived.triggers import register_tables

ALL = {
    derived.name: derived
    for derived in (
        visibility.VISIBILITY,
        search.SEARCH_INDEX,
        version.DATA_VERSION,
        tally.LICENSE_TALLY,
        counts.RECORD_COUNTS,
    )
}


def rebuild(connection, names=None) -> dict[str, int]:
    """Recompute each derived value (all, or those ``names``) with the triggers as they are; returns rows
    written per name. A bulk writer uses :func:`deferred` instead, which is faster but re-creates the triggers."""
    return {name: ALL[name].rebuild(connection) for name in names or ALL}


@contextlib.contextmanager
def deferred(connection, names=None):
    """Write without the derived data's triggers, then compute each derived value once and put them back.

    For bulk writers (the demo generator, a restore): with the triggers in place every row written refreshes
    its licence's or audit's ``public`` flag, its search document and the data version, one row at a time
    (on PostgreSQL, 5.5 of 10.5 s for 600 demo entities). Use inside the caller's transaction, so a failure
    leaves the triggers as they were. Yields ``{name: rows written}``, filled in on exit."""
    chosen = [ALL[name] for name in names or ALL]
    written = {}
    for value in chosen:
        value.uninstall(connection)
    yield written
    tables = register_tables(connection)
    for value in chosen:
        written[value.name] = value.rebuild(connection)
        with connection.cursor() as cursor:
            for statement in value.install_sql(connection.vendor, tables):
                cursor.execute(statement)


def differences(connection, names=None) -> dict[str, list]:
    """``{name: differences}`` of each derived value whose stored data disagrees with the tables."""
    found = {name: ALL[name].differences(connection) for name in names or ALL}
    return {name: rows for name, rows in found.items() if rows}


def outdated(connection, names=None) -> dict[str, list]:
    """``{name: [(trigger, problem)]}`` of each derived value whose triggers in the database are not the code's."""
    found = {name: ALL[name].outdated(connection) for name in names or ALL}
    return {name: rows for name, rows in found.items() if rows}


def install_sql(connection, vendor: str | None = None) -> list[str]:
    """Every statement that creates the derived data's storage and triggers over this database's tables,
    for ``vendor`` (default: the connection's)."""
    tables = register_tables(connection)
    vendor = vendor or connection.vendor
    return [statement for derived in ALL.values() for statement in derived.install_sql(vendor, tables)]


def fill_sql(vendor: str) -> list[str]:
    """Statements that compute every derived value from the tables in one go."""
    return [statement for derived in ALL.values() for statement in derived.fill_sql(vendor)]


def migration_sql(connection) -> str:
    """Python source of the statements that install and fill the derived data, per backend, to paste into a
    migration (``python manage.py shell -c "from django.db import connection; from registry import derived;
    print(derived.migration_sql(connection))"``)."""
    lines = []
    for vendor in ("sqlite", "postgresql"):
        lines.append(f"{vendor.upper()} = [")
        lines += [f"    {statement!r}," for statement in install_sql(connection, vendor) + fill_sql(vendor)]
        lines.append("]")
    return "\n".join(lines)
