"""Issue 18: the licence list filtered by "Granted in" (``?granted_in=MT``) on PostgreSQL, from an index alone.

``LicenseQuerySet.granted_in`` asks for the licences whose stated jurisdiction is one of a list of places (a
country and its subdivisions). Two things let PostgreSQL answer that from an index instead of reading every
public licence (5 ms a query, four queries a page, at N = 20,000):

1. ``license_public_place_idx``: the public licences by (stated jurisdiction, licence type, status), carrying
   ``id`` and the list's order: the count, the status and regime facets (one GROUP BY, each group's smallest id)
   and a page's ids read only the country's entries (0.1 to 0.5 ms).
2. Statistics on every value of ``jurisdiction_id`` (a target of 1,000, above the few hundred places licences
   are granted in): with the default, a subdivision with no licence was assumed to hold as many as an average
   place, a country of 38 places was expected to hold 5,600 licences rather than 160, and a page's ids were read
   by walking the list's order index (7 ms) instead of sorting the 160 (0.4 ms). The target applies from the
   table's next ANALYZE (autovacuum's, after a load).

SQLite needs neither (its plans already read an index: 0008, 0015, 0018), so both are PostgreSQL's only, as SQL
(``INCLUDE`` is PostgreSQL's); the models keep their indexes as they are.
"""

from django.db import migrations

INDEX = "license_public_place_idx"
COLUMNS = "(jurisdiction_id, license_type_id, status) INCLUDE (id, holder_name, regime_name, slug)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON registry_license {COLUMNS} WHERE public', None)
    schema_editor.execute("ALTER TABLE registry_license ALTER COLUMN jurisdiction_id SET STATISTICS 1000", None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"', None)
    schema_editor.execute("ALTER TABLE registry_license ALTER COLUMN jurisdiction_id SET STATISTICS -1", None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0019_list_speed_pg")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
