"""``manage.py generate_demo_data``: a deterministic, synthetic register that never mixes with real data."""

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from operations.demo import DEMO_SOURCE_SLUG, PREFIX
from operations.demo.plan import new_tables
from registry import derived
from registry.models import (
    Audit,
    AuditCitation,
    Entity,
    EntityCitation,
    Jurisdiction,
    License,
    LicenseCitation,
    Publication,
    Regime,
    Regulator,
    Source,
)
from tests.factories import EntityFactory

pytestmark = pytest.mark.django_db

N = 60


@pytest.fixture
def countries(countries_fixture):
    call_command("load_fixtures", str(countries_fixture), verbosity=0)


def generate(entities=N, seed=7, *args):
    out = StringIO()
    call_command("generate_demo_data", "--entities", str(entities), "--seed", str(seed), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo(countries):
    return generate()


def snapshot():
    """The register's content by natural values (primary keys may differ between databases)."""
    return {
        "entities": list(
            Entity.objects.order_by("slug").values_list(
                "slug", "name", "kind", "parent__slug", "jurisdiction__code", "lei", "publication_status"
            )
        ),
        "licences": list(
            License.objects.order_by("slug").values_list(
                "slug",
                "holder__slug",
                "license_type__regime__slug",
                "regulator__slug",
                "status",
                "granted_on",
                "granted_on_precision",
                "ended_on",
                "ended_on_precision",
                "publication_status",
                "updated_at",
            )
        ),
        "audits": list(
            Audit.objects.order_by("slug").values_list(
                "slug", "subject__slug", "auditor__slug", "standard__slug", "kind", "issued_on", "valid_until"
            )
        ),
        "citations": sorted(LicenseCitation.objects.values_list("license__slug", "source__slug", "quote")),
        "passports": sorted(License.passported_to.through.objects.values_list("license__slug", "jurisdiction__code")),
    }


def test_the_same_seed_gives_the_same_register_and_another_seed_a_different_one(countries):
    with transaction.atomic():
        generate(seed=7)
        first = snapshot()
        transaction.set_rollback(True)
    with transaction.atomic():
        generate(seed=8)
        other = snapshot()
        transaction.set_rollback(True)
    generate(seed=7)
    assert snapshot() == first
    assert other != first
    assert len(first["licences"]) == 3 * N


def test_counts_and_ratios_per_entity(demo):
    assert Entity.objects.count() == N
    assert License.objects.count() == 3 * N
    assert Audit.objects.count() == 2 * N
    kinds = set(Entity.objects.values_list("kind", flat=True))
    assert kinds == {"group", "affiliate", "company", "auditor"}
    # Groups have affiliates, spread over many jurisdictions; every regulator supervises a regime.
    assert (
        Entity.objects.filter(kind="affiliate", parent__kind="group").count()
        == Entity.objects.filter(kind="affiliate").count()
    )
    assert Entity.objects.values("jurisdiction").distinct().count() >= 10
    assert Regime.objects.count() >= 200
    assert not Regulator.objects.filter(regimes=None).exists()
    assert "Generated" in demo


def test_every_record_satisfies_the_models_validation(demo):
    """Choices, LEIs, URLs and the models' clean() rules, as the admin would check them.

    The database constraints (partial dates, four-eyes, date order) were checked when the rows went in.
    """
    for model in (Entity, License, Audit, Source, Regulator, Regime):
        for record in model.objects.all():
            record.full_clean(validate_unique=False, validate_constraints=False)


def test_dates_come_in_every_precision(demo):
    precisions = set(License.objects.exclude(granted_on=None).values_list("granted_on_precision", flat=True))
    assert precisions == {"day", "month", "year"}
    assert License.objects.filter(granted_on=None, status="applied").exists()
    assert Audit.objects.filter(ongoing=True, period_end=None).exclude(period_start=None).exists()


def test_every_licence_and_audit_cites_a_source_with_a_quote_found_in_its_text(demo):
    assert not License.objects.filter(citations=None).exists()
    assert not Audit.objects.filter(citations=None).exists()
    for model in (LicenseCitation, AuditCitation, EntityCitation):
        for citation in model.objects.select_related("source"):
            assert citation.quote
            assert citation.quote in citation.source.archived_text
    for source in Source.objects.all():
        saved_digest = source.sha256
        source.save()
        assert source.sha256 == saved_digest


def test_every_record_is_marked_synthetic(demo):
    demo_source = Source.objects.get(slug=DEMO_SOURCE_SLUG)
    assert demo_source.title == "Synthetic demo data"
    assert demo_source.kind == Source.Kind.OTHER
    for model, citation in ((Entity, EntityCitation), (License, LicenseCitation), (Audit, AuditCitation)):
        cited = citation.objects.filter(source=demo_source).values(citation.TARGET_FIELD)
        assert not model.objects.exclude(pk__in=cited).exists()
        assert not model.objects.exclude(slug__startswith=PREFIX).exists()


def test_eu_licences_are_passported_to_the_eea(demo):
    passported = License.objects.filter(passported_to__code="EEA")
    assert passported.exists()
    assert not passported.exclude(license_type__regime__jurisdiction__code="EU").exists()
    eu_members = Jurisdiction.objects.get(code="EU").members.all()
    assert not passported.exclude(jurisdiction__in=eu_members).exists()


def test_drafts_exist_and_published_hides_them(demo):
    for model in (License, Audit):
        drafts = model.objects.filter(publication_status=Publication.DRAFT)
        assert drafts.exists()
        assert not model.objects.published().filter(pk__in=drafts).exists()
        assert model.objects.published().exists()
    # About 5%, not more.
    assert License.objects.filter(publication_status=Publication.DRAFT).count() < 0.15 * 3 * N


def test_refuses_a_database_holding_real_records(countries):
    real = EntityFactory(name="Real Exchange Ltd")
    with pytest.raises(CommandError, match="not synthetic"):
        generate()
    assert not Source.objects.filter(slug=DEMO_SOURCE_SLUG).exists()
    assert Entity.objects.count() == 1

    generate(N, 7, "--allow-mixed")
    assert Entity.objects.count() == N + 1
    real.refresh_from_db()
    assert real.name == "Real Exchange Ltd"
    assert not EntityCitation.objects.filter(entity=real).exists()


def test_refuses_to_generate_twice_into_the_same_database(demo):
    with pytest.raises(CommandError, match="already holds synthetic demo data"):
        generate()
    assert Entity.objects.count() == N


def test_loads_the_jurisdictions_fixture_when_none_exist(countries_fixture, monkeypatch):
    from operations import demo

    loaded = []

    def loaddata(command, *labels, **options):
        # The full fixture (5,000 subdivisions) is slow to load; the countries-only copy stands in for it.
        loaded.append(labels)
        call_command(command, str(countries_fixture), **options)

    monkeypatch.setattr(demo, "call_command", loaddata)
    generate(5, 1)
    assert loaded == [("jurisdictions",)]
    assert Jurisdiction.objects.filter(code="MT").exists()
    assert Entity.objects.count() == 5


def fingerprint():
    """Rows per table and a digest of every column of every generated row, history included.

    Keys are replaced by the natural key of the record they name, so the digest is the same on every database.
    """
    natural = {}

    def key(model, pk):
        if pk is None:
            return None
        if model not in natural:
            natural[model] = {record.pk: record.natural_key() for record in model._default_manager.all()}
        return natural[model][pk]

    generated = [table.model for table in new_tables(history=False).values()]  # in the order they are written
    models = [*generated, *(model.history.model for model in generated if hasattr(model, "history"))]
    counts, digest = {}, hashlib.sha256()
    for model in models:
        original = getattr(model, "instance_type", model)
        rows = []
        for values in model._default_manager.values_list(*(f.attname for f in model._meta.concrete_fields)):
            row = []
            for field, value in zip(model._meta.concrete_fields, values, strict=True):
                if field.is_relation:
                    value = key(field.related_model, value)
                elif field.primary_key or (field.name == "id" and original is not model):
                    value = key(original, value) if hasattr(original, "natural_key") else None
                row.append((field.name, value))
            rows.append(json.dumps(row, default=str, sort_keys=True))
        counts[model._meta.label] = len(rows)
        digest.update("\n".join(sorted(rows)).encode())
    return counts, digest.hexdigest()


@pytest.mark.parametrize(
    ("entities", "seed", "args", "expected"),
    [
        (30, 3, (), "2eb67a1b6014d94aca4ceec67e1ae099c87a907a097ed165d15bdc019422afea"),
        (30, 3, ("--no-history",), "6e2955617c0daba683536583779ff54c77c4361e7c0e13c03f15c6407085cd24"),
        (4, 1, (), "0dcc196bf58f635b8985dc8b207221c07641ddf0d36f26eb295ce51104a45aec"),
    ],
)
def test_the_same_seed_gives_the_same_rows_as_before(countries, entities, seed, args, expected):
    """The generated register is fixed for a seed: a restructured generator must write exactly the same rows."""
    generate(entities, seed, *args)
    counts, digest = fingerprint()
    assert counts["registry.License"] == 3 * entities
    assert digest == expected


def test_the_derived_data_agrees_with_the_generated_rows(countries):
    """Search documents, the stored public flag, sort keys and data version are in step once generation ends."""
    generate(30, 3)
    assert derived.differences(connection) == {}
    assert derived.outdated(connection) == {}
