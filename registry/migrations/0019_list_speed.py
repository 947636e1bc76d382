"""An index for the entity list filtered by jurisdiction, and its facets (issue 18).

``/entities/?jurisdiction=SG`` asks ``published()`` entities whose jurisdiction is SG or one of its subdivisions
(``jurisdiction_id IN (…)``), counts them, groups them by kind and reads the first page by name; its
jurisdiction facet groups every published entity by ``jurisdiction_id``. Without statistics SQLite read every
published row through the ``publication_status`` index for each of these four queries (about 12 ms each at
N = 20,000); ``(publication_status, jurisdiction_id, kind, name, slug)`` answers each from the index alone
(0.2–2.5 ms). Written as SQL, like 0015: the same index on both databases, the models left as they are.
"""

from django.db import migrations

NAME = "registry_entity_published_place_idx"


class Migration(migrations.Migration):
    dependencies = [("registry", "0016_tokens_white_papers")]

    operations = [
        migrations.RunSQL(
            f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "registry_entity" '
            '("publication_status", "jurisdiction_id", "kind", "name", "slug")',
            f'DROP INDEX IF EXISTS "{NAME}"',
        ),
    ]
