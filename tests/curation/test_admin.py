"""The curation admin: every page answers, lists stay cheap, dates are entered as the source gives them."""

import datetime

import pytest
from django import forms
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.db import models as django_models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from curation.admin import CuratedAdmin
from curation.forms import PartialDateField, PartialDateModelForm, PartialDateWidget
from registry import models
from registry.dates import DatePrecision, PartialDate
from tests import factories
from tests.forms import form_data, licence_add_data

pytestmark = pytest.mark.django_db


def make_jurisdiction():
    return factories.SubdivisionFactory()


def make_regime():
    return factories.RegimeFactory()


def make_license_type():
    return factories.LicenseTypeFactory()


def make_activity():
    return factories.ActivityFactory(regime=factories.RegimeFactory())


def make_regulator():
    regulator = factories.RegulatorFactory()
    regulator.regimes.add(factories.RegimeFactory())
    return regulator


def make_entity():
    return factories.AffiliateFactory(jurisdiction=factories.JurisdictionFactory())


def make_alias():
    return factories.EntityAliasFactory()


def make_source():
    return factories.SourceFactory(published_on=datetime.date(2025, 3, 1), published_on_precision=DatePrecision.MONTH)


def make_license():
    return factories.LicenseFactory(
        regulator=factories.RegulatorFactory(), jurisdiction=factories.JurisdictionFactory()
    )


def make_audit():
    return factories.AuditFactory(auditor=factories.AuditorFactory())


def make_key_person():
    person = factories.KeyPersonFactory(started_on=datetime.date(2024, 9, 1), started_on_precision=DatePrecision.MONTH)
    models.KeyPersonCitation.objects.create(key_person=person, source=factories.SourceFactory(), quote="appointed")
    return person


_warning_numbers = iter(range(1, 1_000_000))


def make_warning():
    return models.WarningNotice.objects.create(
        slug=f"warning-{next(_warning_numbers)}",
        entity=factories.EntityFactory(),
        regulator=make_regulator(),
        jurisdiction=factories.JurisdictionFactory(),
        source=factories.SourceFactory(),
        decided_on=datetime.date(2025, 9, 16),
        decided_on_precision=DatePrecision.DAY,
        reason="Provides crypto-asset services without authorisation.",
    )


# Every registered model: its admin URL name and a way to make a realistic row (foreign keys filled in).
ADMIN_MODELS = {
    "jurisdiction": make_jurisdiction,
    "standard": factories.StandardFactory,
    "regime": make_regime,
    "licensetype": make_license_type,
    "activity": make_activity,
    "regulator": make_regulator,
    "entity": make_entity,
    "entityalias": make_alias,
    "source": make_source,
    "license": make_license,
    "audit": make_audit,
    "keyperson": make_key_person,
    "warningnotice": make_warning,
}


def test_every_model_has_an_admin():
    registered = {model._meta.model_name for model in admin.site._registry if model._meta.app_label == "registry"}
    assert {*ADMIN_MODELS, "revision"} <= registered


def test_every_curated_model_is_edited_under_four_eyes():
    """Each publishable model's admin saves through curation.review (drafts, revisions, reviewers publish)."""
    curated = [model for model in apps.get_app_config("registry").get_models() if issubclass(model, models.Curated)]
    assert len(curated) >= 7
    for model in curated:
        assert isinstance(admin.site._registry[model], CuratedAdmin), model


# Aliases are added on their entity's page (see test_alias_admin_is_read_only).
PAGES = [
    (model_name, page)
    for model_name in sorted(ADMIN_MODELS)
    for page in ["changelist", "add", "change"]
    if (model_name, page) != ("entityalias", "add")
]


@pytest.mark.parametrize(("model_name", "page"), PAGES)
def test_admin_pages_answer(admin_client, model_name, page):
    obj = ADMIN_MODELS[model_name]()
    args = [obj.pk] if page == "change" else []
    response = admin_client.get(reverse(f"admin:registry_{model_name}_{page}", args=args))
    assert response.status_code == 200
    if page == "change":
        assert str(obj) in response.content.decode()


@pytest.mark.parametrize("model_name", sorted(ADMIN_MODELS))
def test_admin_search_answers(admin_client, model_name):
    ADMIN_MODELS[model_name]()
    response = admin_client.get(reverse(f"admin:registry_{model_name}_changelist"), {"q": "ex"})
    assert response.status_code == 200


@pytest.mark.parametrize("model_name", sorted(ADMIN_MODELS))
def test_changelist_queries_do_not_grow_with_rows(admin_client, django_assert_max_num_queries, model_name):
    url = reverse(f"admin:registry_{model_name}_changelist")
    for _ in range(3):
        ADMIN_MODELS[model_name]()
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    for _ in range(27):
        ADMIN_MODELS[model_name]()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 30


def test_site_header(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert "Compliance Registry administration" in response.content.decode()


# ---------------------------------------------------------------------------
# Entering a licence
# ---------------------------------------------------------------------------


def licence_post(parts, citations=1, **overrides):
    quote = "In March 2025, cryptocurrency exchange OKX successfully obtained the MiFID II"
    data = licence_add_data(parts, citations, quote=quote, locator="section 1")
    return data | {"serves_institutional": "on", "publication_status": models.Publication.DRAFT} | overrides


def form_errors(response):
    """Every error the admin shows on the re-displayed add page, as text."""
    errors = [str(error) for error in response.context["errors"]]
    errors += [
        str(error) for formset in response.context["inline_admin_formsets"] for error in formset.non_form_errors()
    ]
    return " ".join(errors)


def test_add_licence_with_month_precision_and_citation(admin_client, licence_parts):
    response = admin_client.post(reverse("admin:registry_license_add"), licence_post(licence_parts))

    assert response.status_code == 302, form_errors(response)
    licence = models.License.objects.get()
    assert licence.publication_status == models.Publication.DRAFT
    assert licence.history.get().history_change_reason == "Entered from the OKX compliance overview"
    assert licence.granted_on == datetime.date(2025, 3, 1)
    assert licence.granted_on_precision == DatePrecision.MONTH
    assert str(licence.granted) == "March 2025"
    assert licence.ended_on is None and licence.ended_on_precision == ""
    assert licence.serves_institutional is True
    assert licence.slug == "okx-europe-mifid-ii-investment-firm"
    citation = licence.citations.get()
    assert citation.source == licence_parts["source"]
    assert citation.supports == models.LicenseFact.GRANTED


def test_generated_slug_is_never_reused(admin_client, licence_parts):
    factories.LicenseFactory(slug="okx-europe-mifid-ii-investment-firm")
    response = admin_client.post(reverse("admin:registry_license_add"), licence_post(licence_parts))

    assert response.status_code == 302, form_errors(response)
    assert models.License.objects.filter(holder=licence_parts["holder"]).get().slug.endswith("-2")


def test_add_licence_with_blank_citation_row_is_refused(admin_client, licence_parts):
    data = licence_post(licence_parts) | {"citations-0-source": "", "citations-0-quote": "", "citations-0-states": ""}
    response = admin_client.post(reverse("admin:registry_license_add"), data)

    assert response.status_code == 200
    assert not models.License.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"citations": 0}, "Cite at least one source", id="without_citation"),
        pytest.param({"granted_on_1": "", "granted_on_2": "14"}, "Give a month for the day", id="day_without_month"),
        pytest.param(
            {"ended_on_0": "2024", "ended_on_1": "11", "status": models.LicenseStatus.REVOKED},
            "A licence cannot end before it was granted.",
            id="ended_before_granted",
        ),
    ],
)
def test_add_licence_is_refused_with_its_message(admin_client, licence_parts, overrides, message):
    response = admin_client.post(reverse("admin:registry_license_add"), licence_post(licence_parts, **overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not models.License.objects.exists()


def test_ended_in_the_month_granted_is_accepted(admin_client, licence_parts):
    data = licence_post(licence_parts, ended_on_0="2025", ended_on_1="3", status=models.LicenseStatus.REVOKED)
    response = admin_client.post(reverse("admin:registry_license_add"), data)

    assert response.status_code == 302, form_errors(response)
    assert str(models.License.objects.get().ended) == "March 2025"


def test_key_person_constraint_shows_its_message(admin_client):
    """The date-order rule's message reaches the form: a role ending before it started is not a 500."""
    entity = factories.EntityFactory()
    data = {
        "entity": entity.pk,
        "name": "Gracie Lin",
        "role": "Chief Executive Officer",
        "started_on_0": "2024",
        "started_on_1": "9",
        "started_on_2": "2",
        "ended_on_0": "2023",
        "ended_on_1": "",
        "ended_on_2": "",
        "notes": "",
        "publication_status": models.Publication.DRAFT,
        "change_reason": "From the press release",
        **no_rows("citations"),
    }
    response = admin_client.post(reverse("admin:registry_keyperson_add"), data)

    assert response.status_code == 200
    assert "A role cannot end before it started." in response.content.decode()
    assert not models.KeyPerson.objects.exists()


def no_rows(*prefixes):
    """The management forms of inlines posted without rows."""
    data = {}
    for prefix in prefixes:
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return data


# An audit's inlines besides its citations (issue 17).
AUDIT_PARTS = ("status_changes", "scope_items", "findings", "reserve_snapshots")


def test_audit_expiring_before_issue_shows_an_error(admin_client):
    subject = factories.EntityFactory(slug="okx")
    data = {
        "subject": subject.pk,
        "kind": models.AuditKind.CERTIFICATION,
        "standard": factories.StandardFactory(slug="iso-iec-27001").pk,
        "auditor": "",
        "scope": "",
        "reference": "",
        "issued_on_0": "2025",
        "issued_on_1": "5",
        "issued_on_2": "",
        "period_start_0": "",
        "period_start_1": "",
        "period_start_2": "",
        "period_end_0": "",
        "period_end_1": "",
        "period_end_2": "",
        "valid_until_0": "2024",
        "valid_until_1": "",
        "valid_until_2": "",
        "slug": "",
        "publication_status": models.Publication.DRAFT,
        "change_reason": "From the ISO certificate",
        **no_rows(*AUDIT_PARTS),
        "citations-TOTAL_FORMS": "1",
        "citations-INITIAL_FORMS": "0",
        "citations-MIN_NUM_FORMS": "1",
        "citations-MAX_NUM_FORMS": "1000",
        "citations-0-source": factories.SourceFactory().pk,
        "citations-0-supports": "",
        "citations-0-quote": "In May 2025, OKX obtained ISO 27001 certification",
        "citations-0-locator": "",
        "citations-0-states": "",
    }
    response = admin_client.post(reverse("admin:registry_audit_add"), data)

    assert response.status_code == 200
    assert "A certificate cannot expire before it was issued." in response.content.decode()

    data |= {"valid_until_0": ""}
    response = admin_client.post(reverse("admin:registry_audit_add"), data)
    assert response.status_code == 302, form_errors(response)
    audit = models.Audit.objects.get()
    assert str(audit.issued) == "May 2025"
    assert audit.slug == "okx-iso-iec-27001-2025-05"
    assert audit.citations.count() == 1


def test_licence_form_has_one_date_input_group_and_no_precision_input(admin_client):
    response = admin_client.get(reverse("admin:registry_license_add"))
    html = response.content.decode()

    assert 'name="granted_on_0"' in html and 'name="granted_on_1"' in html and 'name="granted_on_2"' in html
    assert "granted_on_precision" not in html
    assert 'aria-label="Granted on: year"' in html
    assert "registry/admin/partial_date.css" in html


def test_change_page_shows_the_date_as_stored(admin_client):
    licence = factories.LicenseFactory()
    html = admin_client.get(reverse("admin:registry_license_change", args=[licence.pk])).content.decode()

    assert 'name="granted_on_0" value="2025"' in html
    assert '<option value="3" selected>March</option>' in html
    assert 'name="granted_on_2" class' in html  # day left empty: no value attribute
    assert 'name="granted_on_2" value' not in html


def test_licence_changelist_shows_dates_as_written(admin_client):
    factories.LicenseFactory()
    factories.LicenseFactory(granted_on=datetime.date(2024, 1, 16), granted_on_precision=DatePrecision.DAY)
    html = admin_client.get(reverse("admin:registry_license_changelist")).content.decode()

    assert "March 2025" in html
    assert "1 March 2025" not in html
    assert "16 January 2024" in html


def test_group_page_lists_its_affiliates(admin_client):
    affiliate = factories.AffiliateFactory(name="OKX Middle East")
    html = admin_client.get(reverse("admin:registry_entity_change", args=[affiliate.parent.pk])).content.decode()

    assert "OKX Middle East" in html
    assert reverse("admin:registry_entity_change", args=[affiliate.pk]) in html


def test_publish_action(admin_client):
    draft = factories.DraftEntityFactory()
    data = {"action": "publish", "_selected_action": [draft.pk]}
    url = reverse("admin:registry_entity_changelist")

    confirmation = admin_client.post(url, data)
    assert confirmation.status_code == 200
    draft.refresh_from_db()
    assert draft.publication_status == models.Publication.DRAFT

    response = admin_client.post(url, {**data, "confirm": "yes"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.publication_status == models.Publication.PUBLISHED


def test_alias_admin_is_read_only(admin_client):
    """Aliases are public facts of their entity: edited on its page, under its review, never alone."""
    alias = factories.EntityAliasFactory()
    assert admin_client.get(reverse("admin:registry_entityalias_add")).status_code == 403
    page = admin_client.get(reverse("admin:registry_entityalias_change", args=[alias.pk]))
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()
    response = admin_client.post(
        reverse("admin:registry_entityalias_change", args=[alias.pk]), {"name": "Renamed", "kind": "trading"}
    )
    assert response.status_code == 403
    alias.refresh_from_db()
    assert alias.name != "Renamed"


# ---------------------------------------------------------------------------
# Autocomplete
# ---------------------------------------------------------------------------


def autocomplete(admin_client, model_name, field_name, term):
    response = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "registry", "model_name": model_name, "field_name": field_name, "term": term},
    )
    assert response.status_code == 200
    return [result["text"] for result in response.json()["results"]]


def test_holder_autocomplete_finds_entities_by_name_and_alias(admin_client):
    factories.EntityFactory(name="OKX Europe Ltd")
    factories.EntityAliasFactory(entity=factories.EntityFactory(name="Aux Cayman Ltd"), name="OKX")
    factories.EntityFactory(name="Binance")

    assert sorted(autocomplete(admin_client, "license", "holder", "ok")) == ["Aux Cayman Ltd", "OKX Europe Ltd"]


def test_licence_type_autocomplete_searches_by_regime(admin_client):
    factories.LicenseTypeFactory(name="CASP authorisation", regime=factories.RegimeFactory(short_name="MiCA"))
    factories.LicenseTypeFactory(name="Major Payment Institution licence")

    assert autocomplete(admin_client, "license", "license_type", "mica") == ["MiCA: CASP authorisation"]


def test_citation_source_autocomplete(admin_client):
    factories.SourceFactory(title="OKX compliance licences overview")

    assert autocomplete(admin_client, "licensecitation", "source", "overview") == ["OKX compliance licences overview"]


def test_jurisdiction_autocomplete_puts_exact_code_first(admin_client):
    factories.JurisdictionFactory(code="MT", name="Malta")
    factories.JurisdictionFactory(code="ME", name="Montenegro")
    factories.SubdivisionFactory(parent=models.Jurisdiction.objects.get(code="ME"), code="ME-MT", name="Amtown")

    results = autocomplete(admin_client, "license", "passported_to", "mt")
    assert results[0] == "Malta (MT)"
    assert "Amtown (ME-MT)" in results


# ---------------------------------------------------------------------------
# PartialDateField
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (["2023", "", ""], PartialDate(datetime.date(2023, 1, 1), DatePrecision.YEAR)),
        (["2025", "3", ""], PartialDate(datetime.date(2025, 3, 1), DatePrecision.MONTH)),
        (["2024", "1", "16"], PartialDate(datetime.date(2024, 1, 16), DatePrecision.DAY)),
        (["", "", ""], None),
    ],
)
def test_partial_date_field_cleans(parts, expected):
    assert PartialDateField(required=False).clean(parts) == expected


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (["2025", "2", "31"], "31 February 2025 is not a date."),
        (["2025", "", "14"], "Give a month for the day"),
        (["25", "3", ""], "Give a year between 1900 and 2100."),
        (["20255", "", ""], "Give a year between 1900 and 2100."),
        (["", "3", ""], "Give a year"),
        (["twenty", "", ""], "Write the year as a number"),
        (["2025", "13", ""], "Select a valid choice"),
    ],
)
def test_partial_date_field_refuses(parts, message):
    with pytest.raises(forms.ValidationError) as caught:
        PartialDateField(required=False).clean(parts)
    assert any(message in text for text in caught.value.messages)


def test_required_partial_date_field_refuses_empty():
    with pytest.raises(forms.ValidationError):
        PartialDateField(required=True).clean(["", "", ""])


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        (PartialDate(datetime.date(2023, 1, 1), DatePrecision.YEAR), [2023, None, None]),
        (PartialDate(datetime.date(2025, 3, 1), DatePrecision.MONTH), [2025, 3, None]),
        (datetime.date(2024, 1, 16), [2024, 1, 16]),
        ("2025-03", [2025, 3, None]),
        ("not a date", [None, None, None]),
        (None, [None, None, None]),
    ],
)
def test_partial_date_widget_decompresses(value, parts):
    assert PartialDateWidget().decompress(value) == parts


def test_partial_date_widget_renders_accessibly_without_inline_script_or_style():
    html = PartialDateWidget(label="Granted on").render("granted_on", [2025, 3, None], attrs={"id": "id_granted_on"})

    assert 'role="group" aria-label="Granted on"' in html
    for part in ("year", "month", "day"):
        assert f'aria-label="Granted on: {part}"' in html
    assert '<option value="" selected>—</option>' not in html
    assert '<option value="3" selected>March</option>' in html
    assert "style=" not in html
    assert "<script" not in html
    assert " on" + "change=" not in html


class SourceForm(PartialDateModelForm):
    class Meta:
        model = models.Source
        fields = ["title", "slug", "kind", "published_on", "published_on_precision", "retrieved_on"]


def test_model_form_replaces_each_date_pair_with_one_field():
    form = SourceForm()

    assert isinstance(form.fields["published_on"], PartialDateField)
    assert "published_on_precision" not in form.fields
    # A plain date with no precision column stays a plain date.
    assert not isinstance(form.fields["retrieved_on"], PartialDateField)


def test_model_form_writes_both_columns_and_reads_them_back():
    data = {
        "title": "OKX compliance overview",
        "slug": "okx-overview",
        "kind": models.SourceKind.ARTICLE,
        "published_on_0": "2025",
        "published_on_1": "",
        "published_on_2": "",
        "retrieved_on": "2025-06-01",
    }
    form = SourceForm(data)
    assert form.is_valid(), form.errors
    source = form.save()
    source.refresh_from_db()

    assert (source.published_on, source.published_on_precision) == (datetime.date(2025, 1, 1), DatePrecision.YEAR)
    assert form.cleaned_data["published_on"] == PartialDate(datetime.date(2025, 1, 1), DatePrecision.YEAR)
    assert SourceForm(instance=source).initial["published_on"] == source.publication_date


def test_model_form_clears_a_date():
    source = factories.SourceFactory(published_on=datetime.date(2025, 3, 1), published_on_precision=DatePrecision.MONTH)
    data = {"title": source.title, "slug": source.slug, "kind": source.kind}
    data |= {"published_on_0": "", "published_on_1": "", "published_on_2": "", "retrieved_on": ""}
    form = SourceForm(data, instance=source)
    assert form.is_valid(), form.errors
    form.save()
    source.refresh_from_db()

    assert source.published_on is None
    assert source.published_on_precision == ""


def test_date_drill_down_stops_at_months(admin_client):
    factories.LicenseFactory()
    url = reverse("admin:registry_license_changelist")

    by_year = admin_client.get(url, {"granted_on__year": "2025"}).content.decode()
    assert "granted_on__month=3" in by_year
    by_month = admin_client.get(url, {"granted_on__year": "2025", "granted_on__month": "3"}).content.decode()
    assert "granted_on__day=" not in by_month
    assert "1 March" not in by_month


# ---------------------------------------------------------------------------
# The seed article, as curators entered it
# ---------------------------------------------------------------------------


@pytest.fixture
def seed():
    call_command("load_fixtures", "jurisdictions", "seed", verbosity=0)


SEEDED = [models.Regime, models.LicenseType, models.Regulator, models.Entity, models.Source]
SEEDED += [models.License, models.Audit, models.KeyPerson, models.Standard, models.Activity]


def test_every_seeded_record_saves_back_unchanged(admin_client, seed):
    """Opening and saving each record of the seed article changes nothing: dates keep their precision."""
    dated = {"granted_on", "ended_on", "issued_on", "period_start", "valid_until", "started_on", "published_on"}
    checked = 0
    for model in SEEDED:
        for obj in model.objects.all():
            url = reverse(f"admin:registry_{model._meta.model_name}_change", args=[obj.pk])
            page = admin_client.get(url)
            assert page.status_code == 200
            data = form_data(page.context["adminform"].form)
            data["change_reason"] = "Checked against the seed article"
            for inline in page.context["inline_admin_formsets"]:
                formset = inline.formset
                management = formset.management_form
                data |= {bound.html_name: str(bound.value()) for bound in management}
                for form in formset.forms:
                    form_data(form, data)
            before = {
                name: (getattr(obj, name), getattr(obj, f"{name}_precision")) for name in dated if hasattr(obj, name)
            }
            response = admin_client.post(url, data)
            assert response.status_code == 302, f"{model.__name__} {obj}: {form_errors(response)}"
            obj.refresh_from_db()
            assert before == {name: (getattr(obj, name), getattr(obj, f"{name}_precision")) for name in before}
            checked += 1
    assert checked >= 30
    assert str(models.License.objects.get(license_type__regime__short_name="MiFID II").granted) == "March 2025"
    # Saving a published record untouched proposes nothing for review.
    assert not models.Revision.objects.exists()


def test_licence_changelist_names_where_each_licence_was_granted_as_the_public_site_does(admin_client, client):
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    eu = factories.JurisdictionFactory(code="EU", name="European Union", kind=models.JurisdictionKind.SUPRANATIONAL)
    stated = factories.LicenseFactory(jurisdiction=malta, license_type__regime__jurisdiction=eu)
    factories.LicenseFactory(jurisdiction=None, license_type__regime__jurisdiction=eu)

    listed = admin_client.get(reverse("admin:registry_license_changelist")).content.decode()
    assert "Malta (MT)" in listed
    assert "Malta (MT)" in client.get(stated.get_absolute_url()).content.decode()
    # No jurisdiction stated: the regime's stands in, as on the public pages, and says so.
    assert "European Union (EU), not stated by the source: the regime&#x27;s" in listed


def url_fields_of_every_admin_form():
    """(form owner, URL field) for every registered admin page and each of its inlines."""
    for model_admin in admin.site._registry.values():
        owners = [model_admin, *(inline(model_admin.model, admin.site) for inline in model_admin.inlines)]
        for owner in owners:
            for field in owner.model._meta.concrete_fields:
                if isinstance(field, django_models.URLField):
                    yield pytest.param(owner, field, id=f"{type(owner).__name__}.{field.name}")


@pytest.mark.parametrize(("owner", "db_field"), list(url_fields_of_every_admin_form()))
def test_an_address_pasted_without_a_scheme_is_read_as_https_on_every_admin_form(rf, owner, db_field):
    form_field = owner.formfield_for_dbfield(db_field, rf.get("/admin/"))
    assert form_field.clean("okx.com") == "https://okx.com"
