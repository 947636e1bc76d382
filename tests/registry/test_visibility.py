"""The stored visibility (``public``) behind ``published()``: every write keeps it equal to the rule.

The rule is stated as a query in ``by_rule()``; the triggers of registry/derived/visibility.py store it. Each test
makes one kind of write and checks both the expected answer and that nothing anywhere disagrees.
"""

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from registry.derived import visibility
from registry.models import Audit, AuditCitation, License, LicenseCitation, Publication
from tests import factories

pytestmark = pytest.mark.django_db

DRAFT = Publication.DRAFT
PUBLISHED = Publication.PUBLISHED


def is_public(record):
    """The stored answer, and the rule's, which must agree."""
    model = type(record)
    stored = model.objects.published().filter(pk=record.pk).exists()
    assert stored == model.objects.by_rule().filter(pk=record.pk).exists()
    assert visibility.VISIBILITY.differences() == []
    return stored


def test_the_database_runs_the_codes_triggers():
    # A later migration that makes SQLite rebuild one of the watched tables drops its triggers: then this
    # fails, until a migration installs them again (docs/derived-data.md).
    assert visibility.VISIBILITY.outdated(connection) == []


def test_published_reads_only_the_stored_column():
    sql = str(License.objects.published().query)
    assert "registry_licensecitation" not in sql
    assert '"public"' in sql


class TestLicence:
    def test_a_published_cited_licence_is_public_and_a_draft_is_not(self):
        assert is_public(factories.LicenseFactory())
        assert not is_public(factories.DraftLicenseFactory())
        assert not is_public(factories.UncitedLicenseFactory())

    @pytest.mark.parametrize("through", ["save", "update"])
    def test_unpublishing_and_republishing_the_holder(self, through):
        licence = factories.LicenseFactory()
        holder = licence.holder
        for status, expected in ((DRAFT, False), (PUBLISHED, True)):
            if through == "save":
                holder.publication_status = status
                holder.save()
            else:
                type(holder).objects.filter(pk=holder.pk).update(publication_status=status)
            assert is_public(licence) is expected

    def test_the_regime_and_a_move_to_a_draft_regime(self):
        licence = factories.LicenseFactory()
        regime = licence.license_type.regime
        regime.publication_status = DRAFT
        regime.save()
        assert not is_public(licence)
        regime.publication_status = PUBLISHED
        regime.save()
        assert is_public(licence)
        licence_type = licence.license_type
        licence_type.regime = factories.DraftRegimeFactory()
        licence_type.save()
        assert not is_public(licence)

    def test_a_named_regulator_must_be_published(self):
        licence = factories.LicenseFactory(regulator=factories.DraftRegulatorFactory())
        assert not is_public(licence)
        licence.regulator.publication_status = PUBLISHED
        licence.regulator.save()
        assert is_public(licence)
        licence.regulator = None
        licence.save()
        assert is_public(licence)

    def test_citations_and_their_sources(self):
        licence = factories.LicenseFactory(citations=False)
        assert not is_public(licence)
        source = factories.DraftSourceFactory()
        citation = LicenseCitation.objects.create(license=licence, source=source, quote="obtained its licence")
        assert not is_public(licence)
        source.publication_status = PUBLISHED
        source.save()
        assert is_public(licence)
        citation.source = factories.DraftSourceFactory()
        citation.save()
        assert not is_public(licence)
        citation.source = source
        citation.save()
        assert is_public(licence)
        other = factories.LicenseFactory(citations=False)
        citation.license = other
        citation.save()
        assert not is_public(licence)
        assert is_public(other)
        citation.delete()
        assert not is_public(other)

    def test_a_save_from_a_stale_instance_cannot_make_a_licence_public(self):
        licence = factories.LicenseFactory()
        stale = License.objects.get(pk=licence.pk)
        licence.holder.publication_status = DRAFT
        licence.holder.save()
        stale.conditions = "Edited from an instance loaded before the holder was withdrawn."
        stale.save()  # writes public=True back, as loaded
        assert not is_public(licence)

    def test_writing_the_column_directly_is_corrected(self):
        licence = factories.DraftLicenseFactory()
        License.objects.filter(pk=licence.pk).update(public=True)
        assert not is_public(licence)

    def test_a_fixture_cannot_make_a_draft_public(self, tmp_path):
        licence = factories.DraftLicenseFactory()
        out = io.StringIO()
        call_command("dumpdata", "registry.license", "--natural-foreign", "--natural-primary", stdout=out)
        records = json.loads(out.getvalue())
        for record in records:
            record["fields"]["public"] = True
        fixture = tmp_path / "licences.json"
        fixture.write_text(json.dumps(records), encoding="utf-8")
        call_command("loaddata", str(fixture), verbosity=0)
        assert not is_public(licence)


class TestAudit:
    def test_subject_auditor_and_citations(self):
        audit = factories.OngoingAuditFactory()
        assert is_public(audit)
        audit.auditor.publication_status = DRAFT
        audit.auditor.save()
        assert not is_public(audit)
        audit.auditor.publication_status = PUBLISHED
        audit.auditor.save()
        audit.subject.publication_status = DRAFT
        audit.subject.save()
        assert not is_public(audit)
        audit.subject.publication_status = PUBLISHED
        audit.subject.save()
        assert is_public(audit)
        AuditCitation.objects.filter(audit=audit).delete()
        assert not is_public(audit)

    def test_unpublishing_a_source_hides_what_only_it_supports(self):
        source = factories.SourceFactory()
        audit = factories.AuditFactory(citations=[source])
        licence = factories.LicenseFactory(citations=[source])
        backed = factories.LicenseFactory(citations=[source, factories.SourceFactory()])
        source.publication_status = DRAFT
        source.save()
        assert not is_public(audit)
        assert not is_public(licence)
        assert is_public(backed)

    def test_a_draft_audit_is_not_public(self):
        audit = factories.DraftAuditFactory()
        assert not is_public(audit)
        Audit.objects.filter(pk=audit.pk).update(publication_status=PUBLISHED)
        assert is_public(audit)


def test_rebuild_repairs_a_column_written_behind_the_triggers_back():
    licence = factories.LicenseFactory()
    # Written while the triggers were away: as a restore from an old dump might leave it.
    visibility.VISIBILITY.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE registry_license SET public = %s WHERE id = %s", [False, licence.pk])
    assert visibility.VISIBILITY.differences() == [("license", licence.pk, False)]
    visibility.VISIBILITY.install(connection)
    assert is_public(licence)


class TestSortKeys:
    """``holder_name`` and ``regime_name``: copies the list's default order is served from."""

    def keys(self, licence):
        return tuple(License.objects.filter(pk=licence.pk).values_list("holder_name", "regime_name").get())

    def test_copied_on_insert_and_kept_on_renames_and_moves(self):
        licence = factories.LicenseFactory()
        regime = licence.license_type.regime
        assert self.keys(licence) == (licence.holder.name, regime.short_name)
        licence.holder.name = "Renamed Holder Ltd"
        licence.holder.save()
        regime.short_name = "Renamed regime"
        regime.save()
        assert self.keys(licence) == ("Renamed Holder Ltd", "Renamed regime")
        other = factories.LicenseTypeFactory()
        licence.license_type = other
        licence.holder = factories.EntityFactory(name="Another Holder")
        licence.save()
        assert self.keys(licence) == ("Another Holder", other.regime.short_name)
        licence_type = licence.license_type
        licence_type.regime = factories.RegimeFactory(short_name="Moved")
        licence_type.save()
        assert self.keys(licence) == ("Another Holder", "Moved")
        License.objects.filter(pk=licence.pk).update(holder_name="Forged")
        assert self.keys(licence) == ("Another Holder", "Moved")
        assert visibility.VISIBILITY.differences() == []

    def test_the_default_order_is_by_holder_then_regime(self):
        zeta = factories.LicenseFactory(holder=factories.EntityFactory(name="Zeta"))
        alpha_b = factories.LicenseFactory(
            holder=factories.EntityFactory(name="Alpha"),
            license_type=factories.LicenseTypeFactory(regime=factories.RegimeFactory(short_name="B regime")),
        )
        alpha_a = factories.LicenseFactory(
            holder=alpha_b.holder,
            license_type=factories.LicenseTypeFactory(regime=factories.RegimeFactory(short_name="A regime")),
        )
        assert list(License.objects.published()) == [alpha_a, alpha_b, zeta]
