"""Licences keep their holder's and regime's names (registry/derived/visibility.py): the list's default order.

The triggers that fill these and ``public`` (0007) come with 0012_derived_data_triggers. As in 0007: on
SQLite, triggers an earlier version of this project installed that name registry_license are dropped,
by name, before the table is rebuilt. This migration imports no live code.
"""

from django.conf import settings
from django.db import migrations, models

# Names of the triggers earlier versions of 0004, 0006 and 0008 installed (by prefix: frozen here).
OLD_TRIGGER_PREFIXES = ("registry_search_", "registry_public_")


def drop_old_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL adds a column in place: no table is rebuilt, and 0012 replaces the triggers
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = [name for (name,) in cursor.fetchall() if name.startswith(OLD_TRIGGER_PREFIXES)]
        for name in names:
            cursor.execute(f'DROP TRIGGER IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0007_stored_visibility'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_old_triggers, migrations.RunPython.noop, elidable=False),
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
    ]
