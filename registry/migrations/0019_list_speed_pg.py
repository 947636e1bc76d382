"""Issue 18: two covering indexes for the licence list on PostgreSQL, which reads them without the table.

1. ``license_public_order_cover_idx``: the list's default order (holder, regime, slug) carrying ``id`` and the
   columns "Granted in" filters on. A page's ids are read from the index alone: without it PostgreSQL sorted
   every public licence for a deep page (``?page=600``: a sequential scan and a sort spilled to disk, 175 ms
   at N = 20,000; 15 ms with it), and a filtered page stepped from the order index to the table per row.
2. ``license_public_facets_idx``: (licence type, stated jurisdiction, status) carrying ``id``: a filtered list's
   count, its status facet and its regime facet (grouped by licence type, with each group's smallest id) are
   read from it alone; the status facet read the whole table.

SQLite needs neither (its plans for these queries already read an index: 0008, 0015, 0018), so both are created
on PostgreSQL only, as SQL: ``INCLUDE`` columns are PostgreSQL's, and the models keep their indexes as they are.
"""

from django.db import migrations

INDEXES = {
    "license_public_order_cover_idx": "(holder_name, regime_name, slug) INCLUDE (id, license_type_id, jurisdiction_id)",
    "license_public_facets_idx": "(license_type_id, jurisdiction_id, status) INCLUDE (id)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON registry_license {columns} WHERE public', None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"', None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0018_list_speed")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
