"""The stored visibility of licences and audits (``public``, kept by triggers: registry/derived/visibility.py).

The triggers that fill the column come with 0012_derived_data_triggers. Adding the column makes SQLite
rebuild both tables, and SQLite refuses to rename a rebuilt table into place while a trigger of another
table names it: on a database that ran this project's earlier 0004/0006 (which installed such triggers),
they are dropped first, by name, and 0012 installs their successors. This migration imports no live code.
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
        ('registry', '0006_reinstall_search_and_version_triggers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_old_triggers, migrations.RunPython.noop, elidable=False),
        migrations.AddField(
            model_name='audit',
            name='public',
            field=models.BooleanField(default=False, editable=False, help_text='Kept by the database on every write (registry/visibility.py): whether the public sees this record.'),
        ),
        migrations.AddField(
            model_name='license',
            name='public',
            field=models.BooleanField(default=False, editable=False, help_text='Kept by the database on every write (registry/visibility.py): whether the public sees this record.'),
        ),
        migrations.AddIndex(
            model_name='audit',
            index=models.Index(condition=models.Q(('public', True)), fields=['kind', 'standard', 'auditor', 'public'], name='audit_public_kind_idx'),
        ),
        migrations.AddIndex(
            model_name='audit',
            index=models.Index(condition=models.Q(('public', True)), fields=['standard', 'kind', 'auditor', 'public'], name='audit_public_standard_idx'),
        ),
        migrations.AddIndex(
            model_name='audit',
            index=models.Index(condition=models.Q(('public', True)), fields=['auditor', 'kind', 'standard', 'public'], name='audit_public_auditor_idx'),
        ),
        migrations.AddIndex(
            model_name='license',
            index=models.Index(condition=models.Q(('public', True)), fields=['status', 'public'], name='license_public_status_idx'),
        ),
        migrations.AddIndex(
            model_name='license',
            index=models.Index(condition=models.Q(('public', True)), fields=['license_type', 'jurisdiction', 'public'], name='license_public_type_idx'),
        ),
    ]
