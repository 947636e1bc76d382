"""0005 made SQLite rebuild the history tables, which drops their triggers: put the data-version triggers back.

Any migration that alters a register table on SQLite needs this step (see registry/search.py and
registry/caching.py); ``install`` replaces what is there, so running it again is harmless.
"""

from django.db import migrations


def install(apps, schema_editor):
    from registry import caching, search

    search.install(schema_editor.connection)
    caching.install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_history_reason_text"),
    ]

    operations = [
        migrations.RunPython(install, migrations.RunPython.noop, elidable=False),
    ]
