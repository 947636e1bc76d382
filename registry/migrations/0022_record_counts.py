"""Issue 18: the published entities, regulators and audits counted, kept by the database for the home page.

``registry_record_count`` (``registry/derived/counts.py``, docs/derived-data.md) holds one row per record type;
row triggers on ``registry_entity``, ``registry_regulator`` and ``registry_audit`` add or take one away when a row
becomes or stops being published (PostgreSQL's TRUNCATE sets it to 0). Its statements are the ones
``registry/derived/`` rendered when this migration was written, frozen here as literals (as in 0012 and 0018),
then the table is filled from the tables.
"""

from django.db import migrations

PREFIX = "registry_record_count_"
TABLE = "registry_record_count"
WATCHED = {"entity": "registry_entity", "regulator": "registry_regulator", "audit": "registry_audit"}


def install(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL}.get(schema_editor.connection.vendor)
    if statements is None:
        raise NotImplementedError(f"No derived data for the {schema_editor.connection.vendor} backend.")
    for statement in statements:
        schema_editor.execute(statement, None)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    for kind, table in WATCHED.items():
        for event in ("insert", "delete", "update", "truncate"):
            name = f"{PREFIX}{kind}_{event}"
            if connection.vendor == "sqlite":
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}"', None)
            else:
                schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}" ON {table}', None)
                schema_editor.execute(f'DROP FUNCTION IF EXISTS "{name}_fn"() CASCADE', None)
    schema_editor.execute(f"DROP TABLE IF EXISTS {TABLE}", None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0021_group_page_cover_pg")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]


SQLITE = [
    "CREATE TABLE IF NOT EXISTS registry_record_count (kind varchar(16) PRIMARY KEY, records integer NOT NULL)",
    "CREATE TRIGGER registry_record_count_entity_insert AFTER INSERT ON registry_entity FOR EACH ROW WHEN (NEW.publication_status = 'published') BEGIN UPDATE registry_record_count SET records = records + 1 WHERE kind = 'entity'; END",
    "CREATE TRIGGER registry_record_count_entity_delete AFTER DELETE ON registry_entity FOR EACH ROW WHEN (OLD.publication_status = 'published') BEGIN UPDATE registry_record_count SET records = records - 1 WHERE kind = 'entity'; END",
    "CREATE TRIGGER registry_record_count_entity_update AFTER UPDATE OF publication_status ON registry_entity FOR EACH ROW WHEN ((OLD.publication_status = 'published') IS NOT (NEW.publication_status = 'published')) BEGIN UPDATE registry_record_count SET records = records + CASE WHEN NEW.publication_status = 'published' THEN 1 ELSE -1 END WHERE kind = 'entity'; END",
    "CREATE TRIGGER registry_record_count_regulator_insert AFTER INSERT ON registry_regulator FOR EACH ROW WHEN (NEW.publication_status = 'published') BEGIN UPDATE registry_record_count SET records = records + 1 WHERE kind = 'regulator'; END",
    "CREATE TRIGGER registry_record_count_regulator_delete AFTER DELETE ON registry_regulator FOR EACH ROW WHEN (OLD.publication_status = 'published') BEGIN UPDATE registry_record_count SET records = records - 1 WHERE kind = 'regulator'; END",
    "CREATE TRIGGER registry_record_count_regulator_update AFTER UPDATE OF publication_status ON registry_regulator FOR EACH ROW WHEN ((OLD.publication_status = 'published') IS NOT (NEW.publication_status = 'published')) BEGIN UPDATE registry_record_count SET records = records + CASE WHEN NEW.publication_status = 'published' THEN 1 ELSE -1 END WHERE kind = 'regulator'; END",
    "CREATE TRIGGER registry_record_count_audit_insert AFTER INSERT ON registry_audit FOR EACH ROW WHEN (NEW.public) BEGIN UPDATE registry_record_count SET records = records + 1 WHERE kind = 'audit'; END",
    "CREATE TRIGGER registry_record_count_audit_delete AFTER DELETE ON registry_audit FOR EACH ROW WHEN (OLD.public) BEGIN UPDATE registry_record_count SET records = records - 1 WHERE kind = 'audit'; END",
    "CREATE TRIGGER registry_record_count_audit_update AFTER UPDATE OF public ON registry_audit FOR EACH ROW WHEN ((OLD.public) IS NOT (NEW.public)) BEGIN UPDATE registry_record_count SET records = records + CASE WHEN NEW.public THEN 1 ELSE -1 END WHERE kind = 'audit'; END",
    "DELETE FROM registry_record_count",
    "INSERT INTO registry_record_count (kind, records) SELECT 'entity', count(*) FROM registry_entity WHERE registry_entity.publication_status = 'published' UNION ALL SELECT 'regulator', count(*) FROM registry_regulator WHERE registry_regulator.publication_status = 'published' UNION ALL SELECT 'audit', count(*) FROM registry_audit WHERE registry_audit.public",
]
POSTGRESQL = [
    "CREATE TABLE IF NOT EXISTS registry_record_count (kind varchar(16) PRIMARY KEY, records integer NOT NULL)",
    "CREATE OR REPLACE FUNCTION registry_record_count_entity_insert_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records + 1 WHERE kind = 'entity'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_entity_insert AFTER INSERT ON registry_entity FOR EACH ROW WHEN (NEW.publication_status = 'published') EXECUTE FUNCTION registry_record_count_entity_insert_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_entity_delete_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records - 1 WHERE kind = 'entity'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_entity_delete AFTER DELETE ON registry_entity FOR EACH ROW WHEN (OLD.publication_status = 'published') EXECUTE FUNCTION registry_record_count_entity_delete_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_entity_update_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records + CASE WHEN NEW.publication_status = 'published' THEN 1 ELSE -1 END WHERE kind = 'entity'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_entity_update AFTER UPDATE OF publication_status ON registry_entity FOR EACH ROW WHEN ((OLD.publication_status = 'published') IS DISTINCT FROM (NEW.publication_status = 'published')) EXECUTE FUNCTION registry_record_count_entity_update_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_entity_truncate_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = 0 WHERE kind = 'entity'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_entity_truncate AFTER TRUNCATE ON registry_entity FOR EACH STATEMENT EXECUTE FUNCTION registry_record_count_entity_truncate_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_regulator_insert_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records + 1 WHERE kind = 'regulator'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_regulator_insert AFTER INSERT ON registry_regulator FOR EACH ROW WHEN (NEW.publication_status = 'published') EXECUTE FUNCTION registry_record_count_regulator_insert_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_regulator_delete_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records - 1 WHERE kind = 'regulator'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_regulator_delete AFTER DELETE ON registry_regulator FOR EACH ROW WHEN (OLD.publication_status = 'published') EXECUTE FUNCTION registry_record_count_regulator_delete_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_regulator_update_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records + CASE WHEN NEW.publication_status = 'published' THEN 1 ELSE -1 END WHERE kind = 'regulator'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_regulator_update AFTER UPDATE OF publication_status ON registry_regulator FOR EACH ROW WHEN ((OLD.publication_status = 'published') IS DISTINCT FROM (NEW.publication_status = 'published')) EXECUTE FUNCTION registry_record_count_regulator_update_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_regulator_truncate_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = 0 WHERE kind = 'regulator'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_regulator_truncate AFTER TRUNCATE ON registry_regulator FOR EACH STATEMENT EXECUTE FUNCTION registry_record_count_regulator_truncate_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_audit_insert_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records + 1 WHERE kind = 'audit'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_audit_insert AFTER INSERT ON registry_audit FOR EACH ROW WHEN (NEW.public) EXECUTE FUNCTION registry_record_count_audit_insert_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_audit_delete_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records - 1 WHERE kind = 'audit'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_audit_delete AFTER DELETE ON registry_audit FOR EACH ROW WHEN (OLD.public) EXECUTE FUNCTION registry_record_count_audit_delete_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_audit_update_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = records + CASE WHEN NEW.public THEN 1 ELSE -1 END WHERE kind = 'audit'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_audit_update AFTER UPDATE OF public ON registry_audit FOR EACH ROW WHEN ((OLD.public) IS DISTINCT FROM (NEW.public)) EXECUTE FUNCTION registry_record_count_audit_update_fn()",
    "CREATE OR REPLACE FUNCTION registry_record_count_audit_truncate_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE registry_record_count SET records = 0 WHERE kind = 'audit'; RETURN NULL; END $$",
    "CREATE TRIGGER registry_record_count_audit_truncate AFTER TRUNCATE ON registry_audit FOR EACH STATEMENT EXECUTE FUNCTION registry_record_count_audit_truncate_fn()",
    "DELETE FROM registry_record_count",
    "INSERT INTO registry_record_count (kind, records) SELECT 'entity', count(*) FROM registry_entity WHERE registry_entity.publication_status = 'published' UNION ALL SELECT 'regulator', count(*) FROM registry_regulator WHERE registry_regulator.publication_status = 'published' UNION ALL SELECT 'audit', count(*) FROM registry_audit WHERE registry_audit.public",
]
