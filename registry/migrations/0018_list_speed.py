"""Issue 18: two things that make list and home pages cheap after a write.

1. An index for the entity list filtered by jurisdiction, and its facets. ``/entities/?jurisdiction=SG`` asks
   ``published()`` entities whose jurisdiction is SG or one of its subdivisions (``jurisdiction_id IN (…)``),
   counts them, groups them by kind and reads the first page by name; its jurisdiction facet groups every
   published entity by ``jurisdiction_id``. Without statistics SQLite read every published row through the
   ``publication_status`` index for each of these four queries (about 12 ms each at N = 20,000);
   ``(publication_status, jurisdiction_id, kind, name, slug)`` answers each from the index alone (0.2–2.5 ms).
   Written as SQL, like 0015: the same index on both databases, the models left as they are.

2. The licence tally (``registry/derived/tally.py``, docs/derived-data.md): public licences counted per licence
   type and stated jurisdiction, kept by triggers on ``registry_license``, read by the home page instead of
   counting every licence after each write. Its statements are the ones ``registry/derived/`` rendered when this
   migration was written, frozen here as literals (as in 0012), then the table is filled from the licences.
"""

from django.db import migrations

INDEX = "registry_entity_published_place_idx"
PREFIX = "registry_license_tally_"
TABLE = "registry_license_tally"


def install(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(schema_editor.connection.vendor)
    if statements is None:
        raise NotImplementedError(f"No derived data for the {schema_editor.connection.vendor} backend.")
    for statement in statements:
        schema_editor.execute(statement, None)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    for name in ("insert", "delete", "update", "truncate"):
        if connection.vendor == "sqlite":
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{PREFIX}{name}"', None)
        else:
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{PREFIX}{name}" ON registry_license', None)
            schema_editor.execute(f'DROP FUNCTION IF EXISTS "{PREFIX}{name}_fn"() CASCADE', None)
    schema_editor.execute(f"DROP TABLE IF EXISTS {TABLE}", None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0017_group_page_indexes")]

    operations = [
        migrations.RunSQL(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "registry_entity" '
            '("publication_status", "jurisdiction_id", "kind", "name", "slug")',
            f'DROP INDEX IF EXISTS "{INDEX}"',
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]


SQLITE = [
    'CREATE TABLE IF NOT EXISTS registry_license_tally (license_type_id integer NOT NULL, jurisdiction_id integer NOT NULL, licences integer NOT NULL, first_id integer NOT NULL, PRIMARY KEY (license_type_id, jurisdiction_id))',
    'CREATE TRIGGER registry_license_tally_insert AFTER INSERT ON registry_license FOR EACH ROW WHEN (NEW.public) BEGIN INSERT OR IGNORE INTO registry_license_tally (license_type_id, jurisdiction_id, licences, first_id) SELECT NEW.license_type_id, coalesce(NEW.jurisdiction_id, 0), 0, NEW.id; UPDATE registry_license_tally SET licences = licences + 1, first_id = min(first_id, NEW.id) WHERE license_type_id = NEW.license_type_id AND jurisdiction_id = coalesce(NEW.jurisdiction_id, 0); END',
    'CREATE TRIGGER registry_license_tally_delete AFTER DELETE ON registry_license FOR EACH ROW WHEN (OLD.public) BEGIN UPDATE registry_license_tally SET licences = licences - 1 WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0); DELETE FROM registry_license_tally WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND licences = 0; UPDATE registry_license_tally SET first_id = (SELECT min(id) FROM registry_license INDEXED BY license_public_type_idx WHERE public AND license_type_id = OLD.license_type_id AND jurisdiction_id IS OLD.jurisdiction_id) WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND first_id = OLD.id; END',
    'CREATE TRIGGER registry_license_tally_update AFTER UPDATE OF public, license_type_id, jurisdiction_id ON registry_license FOR EACH ROW WHEN (OLD.public IS NOT NEW.public OR OLD.license_type_id IS NOT NEW.license_type_id OR OLD.jurisdiction_id IS NOT NEW.jurisdiction_id) BEGIN UPDATE registry_license_tally SET licences = licences - 1 WHERE OLD.public AND license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0); DELETE FROM registry_license_tally WHERE OLD.public AND license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND licences = 0; UPDATE registry_license_tally SET first_id = (SELECT min(id) FROM registry_license INDEXED BY license_public_type_idx WHERE public AND license_type_id = OLD.license_type_id AND jurisdiction_id IS OLD.jurisdiction_id) WHERE OLD.public AND license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND first_id = OLD.id; INSERT OR IGNORE INTO registry_license_tally (license_type_id, jurisdiction_id, licences, first_id) SELECT NEW.license_type_id, coalesce(NEW.jurisdiction_id, 0), 0, NEW.id WHERE NEW.public; UPDATE registry_license_tally SET licences = licences + 1, first_id = min(first_id, NEW.id) WHERE NEW.public AND license_type_id = NEW.license_type_id AND jurisdiction_id = coalesce(NEW.jurisdiction_id, 0); END',
    'DELETE FROM registry_license_tally',
    'INSERT INTO registry_license_tally (license_type_id, jurisdiction_id, licences, first_id) SELECT license_type_id, coalesce(jurisdiction_id, 0), count(*), min(id) FROM registry_license WHERE public GROUP BY license_type_id, coalesce(jurisdiction_id, 0)',
]

POSTGRESQL = [
    'CREATE TABLE IF NOT EXISTS registry_license_tally (license_type_id integer NOT NULL, jurisdiction_id integer NOT NULL, licences integer NOT NULL, first_id integer NOT NULL, PRIMARY KEY (license_type_id, jurisdiction_id))',
    'CREATE OR REPLACE FUNCTION registry_license_tally_insert_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO registry_license_tally (license_type_id, jurisdiction_id, licences, first_id) VALUES (NEW.license_type_id, coalesce(NEW.jurisdiction_id, 0), 1, NEW.id) ON CONFLICT (license_type_id, jurisdiction_id) DO UPDATE SET licences = registry_license_tally.licences + 1, first_id = least(registry_license_tally.first_id, EXCLUDED.first_id); RETURN NULL; END $$',
    'CREATE TRIGGER registry_license_tally_insert AFTER INSERT ON registry_license FOR EACH ROW WHEN (NEW.public) EXECUTE FUNCTION registry_license_tally_insert_fn()',
    'CREATE OR REPLACE FUNCTION registry_license_tally_delete_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_license_tally SET licences = licences - 1 WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0); DELETE FROM registry_license_tally WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND licences = 0; IF OLD.jurisdiction_id IS NULL THEN UPDATE registry_license_tally SET first_id = (SELECT min(id) FROM registry_license WHERE public AND license_type_id = OLD.license_type_id AND jurisdiction_id IS NULL) WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND first_id = OLD.id; ELSE UPDATE registry_license_tally SET first_id = (SELECT min(id) FROM registry_license WHERE public AND license_type_id = OLD.license_type_id AND jurisdiction_id = OLD.jurisdiction_id) WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND first_id = OLD.id; END IF; RETURN NULL; END $$',
    'CREATE TRIGGER registry_license_tally_delete AFTER DELETE ON registry_license FOR EACH ROW WHEN (OLD.public) EXECUTE FUNCTION registry_license_tally_delete_fn()',
    'CREATE OR REPLACE FUNCTION registry_license_tally_update_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF OLD.public THEN UPDATE registry_license_tally SET licences = licences - 1 WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0); DELETE FROM registry_license_tally WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND licences = 0; IF OLD.jurisdiction_id IS NULL THEN UPDATE registry_license_tally SET first_id = (SELECT min(id) FROM registry_license WHERE public AND license_type_id = OLD.license_type_id AND jurisdiction_id IS NULL) WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND first_id = OLD.id; ELSE UPDATE registry_license_tally SET first_id = (SELECT min(id) FROM registry_license WHERE public AND license_type_id = OLD.license_type_id AND jurisdiction_id = OLD.jurisdiction_id) WHERE license_type_id = OLD.license_type_id AND jurisdiction_id = coalesce(OLD.jurisdiction_id, 0) AND first_id = OLD.id; END IF; END IF; IF NEW.public THEN INSERT INTO registry_license_tally (license_type_id, jurisdiction_id, licences, first_id) VALUES (NEW.license_type_id, coalesce(NEW.jurisdiction_id, 0), 1, NEW.id) ON CONFLICT (license_type_id, jurisdiction_id) DO UPDATE SET licences = registry_license_tally.licences + 1, first_id = least(registry_license_tally.first_id, EXCLUDED.first_id); END IF; RETURN NULL; END $$',
    'CREATE TRIGGER registry_license_tally_update AFTER UPDATE OF public, license_type_id, jurisdiction_id ON registry_license FOR EACH ROW WHEN (OLD.public IS DISTINCT FROM NEW.public OR OLD.license_type_id IS DISTINCT FROM NEW.license_type_id OR OLD.jurisdiction_id IS DISTINCT FROM NEW.jurisdiction_id) EXECUTE FUNCTION registry_license_tally_update_fn()',
    'CREATE OR REPLACE FUNCTION registry_license_tally_truncate_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DELETE FROM registry_license_tally; RETURN NULL; END $$',
    'CREATE TRIGGER registry_license_tally_truncate AFTER TRUNCATE ON registry_license FOR EACH STATEMENT EXECUTE FUNCTION registry_license_tally_truncate_fn()',
    'DELETE FROM registry_license_tally',
    'INSERT INTO registry_license_tally (license_type_id, jurisdiction_id, licences, first_id) SELECT license_type_id, coalesce(jurisdiction_id, 0), count(*), min(id) FROM registry_license WHERE public GROUP BY license_type_id, coalesce(jurisdiction_id, 0)',
]
