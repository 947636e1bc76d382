"""The shipped fixtures: they load, reload without change, round-trip, and fail atomically."""

import io
import json

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from registry import models
from registry.management.commands.generate_jurisdictions import build_records, render
from tests.conftest import FIXTURES
from tests.factories import EntityFactory, LicenseFactory
from tests.registry.test_models import _delete_everything

pytestmark = pytest.mark.django_db


def dump():
    """The register's records with natural keys.

    History rows are left out: they refer to records by database id, so they
    travel with backups (``manage.py backup``), not with natural-key fixtures.
    """
    out = io.StringIO()
    labels = [
        model._meta.label
        for model in apps.get_app_config("registry").get_models()
        if not model._meta.model_name.startswith("historical")
    ]
    call_command(
        "dumpdata",
        *labels,
        natural_foreign=True,
        natural_primary=True,
        indent=1,
        stdout=out,
    )
    return out.getvalue()


def seed_records():
    return json.loads((FIXTURES / "seed.json").read_text(encoding="utf-8"))


def changed_seed(tmp_path, name, slug, field, value, model=None):
    """The seed written to ``tmp_path / name`` with ``field`` of the record ``slug`` (of ``model``, when given) set
    to ``value``; returns its path."""
    records = seed_records()
    for record in records:
        if record["fields"].get("slug") == slug and model in (None, record["model"]):
            record["fields"][field] = value
    path = tmp_path / name
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_jurisdictions_fixture_is_generated_from_pycountry():
    """The shipped fixture is exactly what the generator writes: nothing hand-edited, nothing stale."""
    assert (FIXTURES / "jurisdictions.json").read_text(encoding="utf-8") == render(build_records())


def test_jurisdictions_fixture_loads_with_hierarchy_and_areas():
    call_command("load_fixtures", "jurisdictions", verbosity=0)
    dubai = models.Jurisdiction.objects.get(code="AE-DU")
    assert dubai.name == "Dubai"
    assert dubai.parent.code == "AE"
    assert dubai.kind == models.JurisdictionKind.SUBDIVISION
    eea = models.Jurisdiction.objects.get(code="EEA")
    eea_codes = set(eea.members.values_list("code", flat=True))
    assert len(eea_codes) == 30
    assert {"MT", "GR", "IS", "LI", "NO"} <= eea_codes
    assert set(models.Jurisdiction.objects.get(code="EU").members.values_list("code", flat=True)) < eea_codes
    assert models.Jurisdiction.objects.filter(kind="country").count() == 249


def test_seed_holds_every_fact_of_the_article(seed_data):
    assert models.License.objects.published().count() == 4
    assert models.Audit.objects.published().count() == 5
    assert set(models.Regulator.objects.values_list("abbreviation", flat=True)) == {"VARA", "MAS"}
    assert set(models.Regime.objects.values_list("short_name", flat=True)) == {
        "MiCA",
        "MiFID II",
        "PS Act",
        "Dubai VA regime",
    }
    granted = {lic.slug: str(lic.granted) for lic in models.License.objects.all()}
    assert granted == {
        "okx-mica-casp": "February 2025",
        "okx-mifid-ii-investment-firm": "March 2025",
        "okx-middle-east-vara-vasp": "16 January 2024",
        "okx-sg-mpi": "2 September 2024",
    }
    mica = models.License.objects.get(slug="okx-mica-casp")
    assert mica.regulator is None  # the article names no MiCA authority: never invent one
    assert list(mica.passported_to.values_list("code", flat=True)) == ["EEA"]
    audits = {audit.slug: audit for audit in models.Audit.objects.all()}
    assert str(audits["okx-soc-2-type-ii-2023-09"].issued) == "September 2023"
    assert str(audits["okx-soc-2-type-ii-2024-07"].issued) == "July 2024"
    assert str(audits["okx-iso-iec-27001-2025-05"].issued) == "May 2025"
    slowmist = audits["okx-slowmist-security-audits"]
    assert slowmist.ongoing and str(slowmist.period_started) == "2023" and slowmist.auditor.slug == "slowmist"
    hacken = audits["okx-hacken-proof-of-reserves"]
    assert hacken.ongoing and str(hacken.period_started) == "January 2025" and hacken.auditor.slug == "hacken"
    person = models.KeyPerson.objects.published().get()
    assert (person.name, person.role, person.entity.slug) == ("Gracie Lin", "CEO", "okx-sg")
    assert {e.slug for e in models.Entity.objects.get(slug="okx").affiliates.all()} == {"okx-middle-east", "okx-sg"}


def test_every_seed_citation_quotes_the_archived_article_verbatim(seed_data):
    source = models.Source.objects.get()
    citation_models = [models.LicenseCitation, models.AuditCitation, models.EntityCitation, models.KeyPersonCitation]
    citations = [c for model in citation_models for c in model.objects.all()]
    assert citations
    for citation in citations:
        assert citation.quote and citation.quote in source.archived_text, citation
    for record in [*models.License.objects.all(), *models.Audit.objects.all()]:
        assert record.citations.exists(), record


def test_seed_source_digest_matches_its_archived_text(seed_data):
    source = models.Source.objects.get()
    digest = source.sha256
    source.save()
    assert source.sha256 == digest


def test_loading_the_seed_twice_changes_nothing(seed_data):
    before = dump()
    call_command("load_fixtures", "seed", verbosity=0)
    assert dump() == before


def test_seed_loads_into_a_database_that_already_has_other_data(countries_fixture):
    other = LicenseFactory(slug="other-licence")
    existing_entity = EntityFactory(slug="another-exchange")
    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)
    assert models.License.objects.count() == 5
    assert models.License.objects.filter(pk=other.pk).exists()
    assert models.Entity.objects.filter(pk=existing_entity.pk).exists()


def test_dump_then_load_into_an_empty_database_gives_the_same_data(seed_data, tmp_path):
    before = dump()
    path = tmp_path / "dump.json"
    path.write_text(before, encoding="utf-8")
    _delete_everything()
    assert models.Jurisdiction.objects.count() == models.License.objects.count() == 0
    call_command("load_fixtures", str(path), verbosity=0)
    assert dump() == before


@pytest.mark.parametrize(
    ("model", "slug", "field", "value", "rule"),
    [
        ("registry.license", "okx-mica-casp", "granted_on", "2025-02-15", "first day of that month"),
        # Each value breaks exactly one rule: PostgreSQL and SQLite may report a different one first.
        ("registry.license", "okx-sg-mpi", "ended_on", "2030-01-01", "precision"),
        ("registry.license", "okx-sg-mpi", "status", "licensed", "Status must be one of"),
        ("registry.audit", "okx-iso-iec-27001-2025-05", "valid_until", "2030-01-01", "precision"),
        ("registry.entity", "okx-sg", "parent", None, "An affiliate must name its group"),
        ("registry.entity", "hacken", "lei", "not-an-lei", "LEI"),
    ],
)
def test_a_bad_fixture_names_the_record_and_loads_nothing(countries_fixture, tmp_path, model, slug, field, value, rule):
    call_command("load_fixtures", str(countries_fixture), verbosity=0)
    path = changed_seed(tmp_path, "bad.json", slug, field, value, model=model)
    before = models.Entity.objects.count(), models.License.objects.count(), models.Source.objects.count()

    with pytest.raises(CommandError) as excinfo:
        call_command("load_fixtures", str(path), verbosity=0)

    message = str(excinfo.value)
    assert slug in message
    assert rule in message
    after = models.Entity.objects.count(), models.License.objects.count(), models.Source.objects.count()
    assert after == before == (0, 0, 0)


def test_a_fixture_with_an_impossible_date_fails_cleanly(countries_fixture, tmp_path):
    path = changed_seed(tmp_path, "bad.json", "okx-sg-mpi", "granted_on", "2024-02-30")
    with pytest.raises(CommandError, match="invalid date"):
        call_command("load_fixtures", str(countries_fixture), str(path), verbosity=0)
    assert models.Entity.objects.count() == 0


def test_loaded_records_get_one_initial_history_entry(seed_data):
    for model in (models.License, models.Audit, models.Entity, models.Source, models.LicenseCitation):
        assert model.history.filter(history_type="+").count() == model.objects.count() > 0
        assert model.history.exclude(history_type="+").count() == 0
    entry = models.License.history.get(slug="okx-mica-casp")
    assert entry.history_change_reason.startswith("Loaded from fixture")
    assert list(entry.passported_to.values_list("jurisdiction__code", flat=True)) == ["EEA"]


def test_reloading_the_seed_adds_no_history(seed_data):
    before = models.License.history.count(), models.LicenseCitation.history.count()
    call_command("load_fixtures", "seed", verbosity=0)
    assert (models.License.history.count(), models.LicenseCitation.history.count()) == before


def test_a_fixture_that_changes_a_record_leaves_a_change_entry(seed_data, tmp_path):
    path = changed_seed(tmp_path, "correction.json", "okx-sg-mpi", "reference_number", "PS20200001")
    call_command("load_fixtures", str(path), verbosity=0)
    latest = models.License.history.filter(slug="okx-sg-mpi").order_by("-history_date", "-history_id").first()
    assert latest.history_type == "~"
    assert latest.history_change_reason == "Loaded from fixture correction.json"
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes] == [("reference_number", "", "PS20200001")]


def test_loaddata_is_djangos_own_and_load_fixtures_is_the_registers():
    """``manage.py loaddata`` does what Django documents (restore relies on it adding no history); the register's
    additions (history, the failing record named) go by their own name."""
    from django.core.management import get_commands

    commands = get_commands()
    assert commands["loaddata"] == "django.core"
    assert commands["load_fixtures"] == "registry"


def test_the_seeds_security_audit_lists_the_areas_its_scope_citation_states(seed_data):
    """SlowMist's areas, in the article's words, each supported by the audit's citation of its scope."""
    audit = models.Audit.objects.get(slug="okx-slowmist-security-audits")
    items = list(audit.scope_items.values_list("name", flat=True))
    assert items == ["private key security", "wallet modules", "AA smart contract accounts"]
    (scope,) = audit.citations.filter(supports=models.AuditFact.SCOPE)
    assert scope.quote in models.Source.objects.get().archived_text
    assert all(item in scope.states and item in scope.quote for item in items)


def test_the_seed_invents_no_status_change_accreditation_finding_or_reserve_figure(seed_data):
    """The article names no accreditation body, no finding and no figure: the seed holds none."""
    for model in (
        models.AuditStatusChange,
        models.AccreditationBody,
        models.Accreditation,
        models.AuditFinding,
        models.ReserveSnapshot,
    ):
        assert not model.objects.exists(), model
    statuses = dict(models.Audit.objects.with_status().values_list("slug", "status"))
    assert statuses["okx-soc-2-type-ii-2023-09"] == "superseded"
    assert set(statuses.values()) == {"current", "superseded"}


# ---------------------------------------------------------------------------
# Watchers: a register's first load is silent, a later load announces what it makes public
# ---------------------------------------------------------------------------


def licence_fixture(tmp_path, name, change):
    """A fixture of the seed's licence ``okx-sg-mpi`` and its citations, the licence passed through ``change``
    (its fields dict)."""
    records = seed_records()
    (licence,) = [r for r in records if r["fields"].get("slug") == "okx-sg-mpi"]
    change(licence["fields"])
    citations = [
        r for r in records if r["model"] == "registry.licensecitation" and r["fields"]["license"] == ["okx-sg-mpi"]
    ]
    for citation in citations:
        citation["fields"]["license"] = [licence["fields"]["slug"]]
    path = tmp_path / name
    path.write_text(json.dumps([licence, *citations]), encoding="utf-8")
    return path


def test_the_first_load_of_a_fresh_register_notifies_nobody(countries_fixture):
    from watch.models import Event

    call_command("load_fixtures", str(countries_fixture), "seed", verbosity=0)
    assert models.License.objects.published().exists()
    assert not Event.objects.exists()


def test_a_later_load_announces_what_it_makes_public_by_the_feeds_rule(seed_data, tmp_path):
    from watch.models import Event

    suspended = licence_fixture(tmp_path, "suspension.json", lambda fields: fields.update(status="suspended"))
    call_command("load_fixtures", str(suspended), verbosity=0)
    okx = models.License.objects.get(slug="okx-sg-mpi")
    assert list(Event.objects.values_list("kind", "record_id")) == [("license.status_changed", okx.pk)]

    new = licence_fixture(tmp_path, "new.json", lambda fields: fields.update(slug="okx-sg-dpt", reference_number="X1"))
    call_command("load_fixtures", str(new), verbosity=0)
    added = models.License.objects.get(slug="okx-sg-dpt")
    assert Event.objects.filter(kind="license.new", record_id=added.pk).count() == 1

    draft = licence_fixture(
        tmp_path, "draft.json", lambda fields: fields.update(slug="okx-sg-draft", publication_status="draft")
    )
    call_command("load_fixtures", str(draft), str(new), verbosity=0)  # a draft, and a load again: nothing new
    assert Event.objects.count() == 2
    call_command("load_fixtures", "seed", verbosity=0)  # the seed's status again: announced as a change
    assert Event.objects.filter(kind="license.status_changed", record_id=okx.pk).count() == 2
