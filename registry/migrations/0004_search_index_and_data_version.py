"""The search index (registry/search.py) and the data version behind ETags (registry/caching.py).

Both are tables and triggers in SQL, per backend, so they see every write,
raw ones included. Running ``install`` again replaces what is there: a later
migration that changes the documents, adds a register table, or makes SQLite
rebuild an indexed table (dropping its triggers) calls them again.
"""

from django.db import migrations


def install(apps, schema_editor):
    from registry import caching, search

    search.install(schema_editor.connection)
    caching.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from registry import caching, search

    caching.uninstall(schema_editor.connection)
    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_esma_import"),
    ]

    operations = [
        migrations.RunPython(install, uninstall, elidable=False),
    ]
