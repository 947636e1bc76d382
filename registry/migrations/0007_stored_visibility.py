"""The stored visibility of licences and audits (``public``, kept by triggers: registry/visibility.py).

Adding the column makes SQLite rebuild both tables, which drops their search-index and data-version
triggers: they are installed again here. The visibility triggers, which fill the column, come with 0008. The
search triggers of *other* tables name these two in their bodies, and SQLite refuses to rename the
rebuilt table into place while such a trigger exists, so they are dropped first.
"""

from django.conf import settings
from django.db import migrations, models


def drop_search_triggers(apps, schema_editor):
    from registry import search

    if schema_editor.connection.vendor == "sqlite":
        with schema_editor.connection.cursor() as cursor:
            for trigger in search.TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {trigger.name}")


def install(apps, schema_editor):
    from registry import caching, search

    # The visibility triggers come with 0008: registry.visibility also fills columns 0008 adds.
    search.install(schema_editor.connection)
    caching.install(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0006_reinstall_search_and_version_triggers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_search_triggers, migrations.RunPython.noop, elidable=False),
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
        migrations.RunPython(install, migrations.RunPython.noop, elidable=False),
    ]
