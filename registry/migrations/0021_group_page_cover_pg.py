"""Issue 18: a group's or an audit firm's page picks its most recent licences and audits from an index alone on
PostgreSQL.

The page's first query per section counts the public records of every member and picks the 50 latest
(``public.views.common.most_recent``): for the largest group, 1,258 licences of 447 members and 832 audits. The
indexes it used (0017) hold the columns it sorts on but not ``id``, so PostgreSQL read every one of those rows
from the table as well (2,200 buffers; 4.5 ms for the licences, 3.7 ms for the audits). Carrying ``id`` lets it
read the index alone (1,350 buffers; 1.9 ms and 1.8 ms, measured with EXPLAIN ANALYZE on the 20,000-entity bench
database after VACUUM).

SQLite needs none of them: its indexes carry the row id, which is ``id``. So they are PostgreSQL's only, as SQL
(``INCLUDE`` is PostgreSQL's); the models keep their indexes as they are.
"""

from django.db import migrations

_AUDIT_START = "INCLUDE (id, ongoing, period_start, period_end, issued_on)"
INDEXES = {
    "license_public_holder_cover_idx": "registry_license (holder_id, granted_on) INCLUDE (id)",
    "audit_public_subject_cover_idx": f"registry_audit (subject_id) {_AUDIT_START}",
    "audit_public_auditor_cover_idx": f"registry_audit (auditor_id) {_AUDIT_START}",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, columns in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON {columns} WHERE public', None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"', None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0020_licence_places_pg")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
