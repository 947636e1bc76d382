"""Licences keep their holder's and regime's names (registry/visibility.py): the list's default order;
and the triggers that keep these and ``public`` (0007) are installed, filling all three columns.

As in 0007: the search and visibility triggers that name registry_license are dropped before SQLite
rebuilds the table, and everything is installed again afterwards (which also fills the new columns).
"""

from django.conf import settings
from django.db import migrations, models


def drop_triggers(apps, schema_editor):
    from registry import search, visibility

    if schema_editor.connection.vendor == "sqlite":
        visibility.uninstall(schema_editor.connection)
        with schema_editor.connection.cursor() as cursor:
            for trigger in search.TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger.name}")


def install(apps, schema_editor):
    from registry import caching, search, visibility

    visibility.install(schema_editor.connection)
    search.install(schema_editor.connection)
    caching.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from registry import visibility

    visibility.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0007_stored_visibility'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_triggers, migrations.RunPython.noop, elidable=False),
        migrations.AlterModelOptions(
            name='license',
            options={'ordering': ['holder_name', 'regime_name', 'slug'], 'verbose_name': 'licence'},
        ),
        migrations.AddField(
            model_name='license',
            name='holder_name',
            field=models.CharField(default='', editable=False, help_text="The holder's name, kept by the database (registry/visibility.py): the list's default order.", max_length=300),
        ),
        migrations.AddField(
            model_name='license',
            name='regime_name',
            field=models.CharField(default='', editable=False, help_text="The regime's short name, kept by the database (registry/visibility.py): the list's default order.", max_length=60),
        ),
        migrations.AddIndex(
            model_name='license',
            index=models.Index(condition=models.Q(('public', True)), fields=['holder_name', 'regime_name', 'slug'], name='license_public_order_idx'),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
