"""Derived data (registry/derived/, docs/derived-data.md): the database runs the code's triggers, a rebuild
repairs drift, ``rebuild_derived_data --check`` reports it, and history rows never change today's values."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from registry import derived, search
from registry.derived import visibility
from registry.derived.version import data_version
from registry.models import Entity, License

pytestmark = pytest.mark.django_db


def published_licences():
    return set(License.objects.published().values_list("slug", flat=True))


def test_the_migrations_install_the_codes_triggers_and_fill_every_value(seed_data):
    # A later migration that changes a definition, adds a register table or makes SQLite rebuild a watched
    # table must install the triggers again, from literal SQL (docs/derived-data.md): until then this fails.
    assert derived.outdated(connection) == {}
    assert derived.differences(connection) == {}


def test_rebuild_repairs_values_written_behind_the_triggers_back(seed_data):
    public = published_licences()
    assert public
    # As a restore of the tables without their derived data would leave them.
    visibility.VISIBILITY.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_license SET public = %s, holder_name = %s", [False, "Stale"])
        cursor.execute("DELETE FROM registry_search WHERE kind = 'entity'")
    assert published_licences() == set()
    assert set(derived.differences(connection)) == {"public", "search"}

    written = derived.rebuild(connection)

    assert written["public"] >= len(public)
    assert derived.differences(connection) == {}
    assert published_licences() == public
    assert search.filter_queryset(Entity.objects.all(), "entity", "okx").exists()


def test_rebuild_raises_the_data_version(seed_data):
    before, _changed_at = data_version()
    derived.rebuild(connection, ["version"])
    assert data_version()[0] > before


def test_install_puts_back_a_derived_value_whose_triggers_were_dropped(seed_data):
    visibility.VISIBILITY.uninstall(connection)
    assert set(derived.outdated(connection)) == {"public"}
    licence = License.objects.published().first()
    licence.holder.publication_status = "draft"
    licence.holder.save()
    assert License.objects.published().filter(pk=licence.pk).exists()  # nothing kept it

    visibility.VISIBILITY.install(connection)

    assert derived.outdated(connection) == {}
    assert not License.objects.published().filter(pk=licence.pk).exists()
    licence.holder.publication_status = "published"
    licence.holder.save()
    assert License.objects.published().filter(pk=licence.pk).exists()


class TestCheckCommand:
    def test_reports_stale_rows_and_missing_triggers_until_repaired(self, seed_data):
        visibility.VISIBILITY.uninstall(connection)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE registry_license SET public = %s", [False])
        out = io.StringIO()
        with pytest.raises(CommandError, match="problem"):
            call_command("rebuild_derived_data", "--check", stdout=out)
        assert "public trigger" in out.getvalue()
        assert "public row" in out.getvalue()

        call_command("rebuild_derived_data", "--only", "public", stdout=io.StringIO())
        out = io.StringIO()
        with pytest.raises(CommandError):
            call_command("rebuild_derived_data", "--check", stdout=out)
        assert "public row" not in out.getvalue()  # the rows are right again; the triggers need a migration

        visibility.VISIBILITY.install(connection)
        out = io.StringIO()
        call_command("rebuild_derived_data", "--check", stdout=out)
        assert "in step" in out.getvalue()

    def test_a_rebuild_reports_what_it_wrote(self, seed_data):
        out = io.StringIO()
        call_command("rebuild_derived_data", stdout=out)
        assert {"public:", "search:", "version:"} <= set(out.getvalue().split())


def test_history_rows_never_change_todays_derived_data(seed_data):
    """No trigger of the stored visibility or the search index watches a history table: the past is the past."""
    public = published_licences()
    okx = Entity.objects.get(slug="okx")
    okx.history.update(name="Forgotten Former Name", publication_status="draft")
    for licence in License.objects.filter(holder=okx):
        licence.history.update(publication_status="draft", reference_number="OLD-REF-1")

    assert published_licences() == public
    assert not search.filter_queryset(Entity.objects.all(), "entity", "forgotten former").exists()
    assert not search.filter_queryset(License.objects.all(), "license", "OLD REF").exists()
    assert derived.differences(connection) == {}


def test_the_licence_tally_follows_every_kind_of_write_to_a_licence(seed_data):
    """Issue 18: the public licences counted per licence type and jurisdiction (the home page's count and charts)
    stay equal to the licences after each write that adds, removes or moves one: its own, its holder's (which
    flips its ``public`` flag through another trigger), a bulk ``update()``, raw SQL, a delete."""
    from registry.derived import tally
    from registry.models import LicenseType
    from tests import factories

    def check():
        assert tally.LICENSE_TALLY.differences(connection) == []
        assert sum(tally.licence_groups().values()) == License.objects.published().count()

    check()
    licence = License.objects.published().order_by("pk").first()
    other_type = LicenseType.objects.exclude(pk=licence.license_type_id).first()
    holder = licence.holder
    writes = [
        lambda: factories.LicenseFactory(),
        lambda: License.objects.filter(pk=licence.pk).update(jurisdiction=None),
        lambda: License.objects.filter(pk=licence.pk).update(license_type=other_type),
        lambda: Entity.objects.filter(pk=holder.pk).update(publication_status="draft"),
        lambda: Entity.objects.filter(pk=holder.pk).update(publication_status="published"),
        lambda: connection.cursor().execute(
            "UPDATE registry_license SET publication_status = 'draft' WHERE id = %s", [licence.pk]
        ),
        lambda: License.objects.published().order_by("pk").first().delete(),  # the smallest id of its group
        lambda: License.objects.filter(pk=licence.pk).update(publication_status="published"),
    ]
    for write in writes:
        write()
        check()


def test_the_record_counts_follow_every_kind_of_write(seed_data):
    """Issue 18: the published entities, regulators and audits the home page shows as counts stay equal to
    ``published()`` after each write that publishes or unpublishes one: a save, a bulk ``update()``, raw SQL, a
    subject withdrawn (which flips its audits' ``public`` through the visibility triggers), a delete."""
    from registry.derived import counts
    from registry.models import Audit, Regulator
    from tests import factories

    def check():
        assert counts.RECORD_COUNTS.differences(connection) == []
        assert counts.record_counts() == {
            "entity": Entity.objects.published().count(),
            "regulator": Regulator.objects.published().count(),
            "audit": Audit.objects.published().count(),
        }

    check()
    audit = Audit.objects.published().order_by("pk").first()
    subject = audit.subject
    unattached = factories.EntityFactory()
    writes = [
        lambda: factories.DraftEntityFactory(),
        lambda: factories.RegulatorFactory(),
        lambda: factories.AuditFactory(),
        lambda: Entity.objects.filter(pk=subject.pk).update(publication_status="draft"),
        lambda: Entity.objects.filter(pk=subject.pk).update(name="Renamed, still draft"),
        lambda: Entity.objects.filter(pk=subject.pk).update(publication_status="published"),
        lambda: connection.cursor().execute(
            "UPDATE registry_regulator SET publication_status = 'draft' WHERE id = %s",
            [Regulator.objects.published().order_by("pk").first().pk],
        ),
        lambda: Audit.objects.filter(pk=audit.pk).delete(),
        lambda: unattached.delete(),
    ]
    for write in writes:
        write()
        check()


def test_the_home_counts_are_counted_when_the_kept_ones_are_missing(seed_data):
    """Tables restored without their derived data: the counts are counted, never shown as 0, until a rebuild."""
    from registry.derived import counts

    expected = counts.published_counts()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM registry_record_count")
    assert counts.record_counts() == expected
    assert counts.RECORD_COUNTS.differences(connection)  # and the check reports it
    derived.rebuild(connection, ["counts"])
    assert counts.RECORD_COUNTS.differences(connection) == []
