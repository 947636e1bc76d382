"""Bulk import of entities, licences and audits (imports.bulk): preview, whole-file rejection, four-eyes."""

import datetime
import io
import re

import openpyxl
import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from curation import review
from imports.bulk import AuditResource, EntityResource, LicenseResource, error_messages
from registry import models
from registry.dates import DatePrecision, PartialDate
from tests import factories

pytestmark = pytest.mark.django_db

LICENCE_HEADER = (
    "slug,holder,regime,license_type,regulator,jurisdiction,status,granted,ended,activities,passported_to,"
    "serves_retail,serves_professional,serves_institutional,reference_number,conditions,source,quote,last_verified_on"
)
GOOD_1 = (
    "okx-mt-mica,okx-europe,mica,casp,mfsa,mt,active,2025-03,,custody; transfer,DE; FR,yes,yes,no,"
    "C-123,,okx-press,OKX obtained its MiCA licence in March 2025,2025-06-30"
)
GOOD_2 = "okx-mt-mica-2,okx-europe,mica,casp,,MT,applied,2025,,,,no,no,no,,,okx-press,,"


def licence_csv(*rows, header=LICENCE_HEADER):
    return "\n".join([header, *rows]) + "\n"


def dataset(text):
    return tablib.Dataset().load(text, format="csv")


def run(resource_class, text, user, dry_run=False, file_name="licences.csv"):
    return resource_class().import_data(dataset(text), dry_run=dry_run, user=user, file_name=file_name)


def history_count():
    return sum(
        model.history.count()
        for model in (models.License, models.LicenseCitation, models.Entity, models.EntityAlias, models.Audit)
    )


def written_state():
    """Everything an import may write, to compare before and after."""
    return (
        models.License.objects.count(),
        models.LicenseCitation.objects.count(),
        models.Entity.objects.count(),
        models.Audit.objects.count(),
        models.Revision.objects.count(),
        history_count(),
        list(models.License.objects.values_list("slug", "version", "status").order_by("slug")),
    )


@pytest.fixture
def world():
    """The reference data the rows point at: a holder, a regime and type, a regulator, activities, a source."""
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    factories.JurisdictionFactory(code="DE", name="Germany")
    factories.JurisdictionFactory(code="FR", name="France")
    mica = factories.RegimeFactory(slug="mica", short_name="MiCA", jurisdiction=malta)
    casp = factories.LicenseTypeFactory(regime=mica, slug="casp", name="CASP authorisation")
    factories.RegulatorFactory(slug="mfsa", name="Malta Financial Services Authority", jurisdiction=malta)
    factories.ActivityFactory(slug="custody", name="Custody")
    factories.ActivityFactory(slug="transfer", name="Transfer services")
    holder = factories.EntityFactory(slug="okx-europe", name="OKX Europe Ltd")
    source = factories.SourceFactory(slug="okx-press", title="OKX press release")
    return {"holder": holder, "license_type": casp, "source": source, "mica": mica}


# ---------------------------------------------------------------------------
# Through the Resource API
# ---------------------------------------------------------------------------


def test_dry_run_previews_the_rows_and_writes_nothing(world, curator):
    before = written_state()
    result = run(LicenseResource, licence_csv(GOOD_1, GOOD_2), curator, dry_run=True)
    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["new"] == 2
    assert [row.import_type for row in result.rows] == ["new", "new"]
    assert written_state() == before


def test_new_rows_become_drafts_edited_by_the_importer_with_the_reason_in_history(world, curator):
    result = run(LicenseResource, licence_csv(GOOD_1, GOOD_2), curator, file_name="mica-march.csv")
    assert result.totals["new"] == 2, error_messages(result)

    licence = models.License.objects.get(slug="okx-mt-mica")
    assert licence.publication_status == models.Publication.DRAFT
    assert licence.last_edited_by == curator
    assert not models.License.objects.published().filter(pk=licence.pk).exists()
    assert licence.holder == world["holder"]
    assert licence.license_type == world["license_type"]
    assert licence.regulator.slug == "mfsa"
    assert licence.jurisdiction.code == "MT"
    assert licence.granted == PartialDate(datetime.date(2025, 3, 1), DatePrecision.MONTH)
    assert str(licence.granted) == "March 2025"
    assert sorted(licence.activities.values_list("slug", flat=True)) == ["custody", "transfer"]
    assert sorted(licence.passported_to.values_list("code", flat=True)) == ["DE", "FR"]
    assert (licence.serves_retail, licence.serves_professional, licence.serves_institutional) == (True, True, False)
    assert licence.last_verified_on == datetime.date(2025, 6, 30)

    reason = f"Bulk import of mica-march.csv by {curator.username}"
    assert licence.history.earliest("history_date").history_type == "+"
    assert {entry.history_change_reason for entry in licence.history.all()} == {reason}
    assert {entry.history_user for entry in licence.history.all()} == {curator}

    citation = licence.citations.get()
    assert citation.source == world["source"]
    assert citation.quote == "OKX obtained its MiCA licence in March 2025"
    assert citation.history.get().history_change_reason == reason

    second = models.License.objects.get(slug="okx-mt-mica-2")
    assert str(second.granted) == "2025"
    assert second.regulator is None


# Each bad row is the second good row with one value changed (its text before and after) and its slug "bad".
@pytest.mark.parametrize(
    ("good", "bad", "expected"),
    [
        pytest.param("okx-europe", "okx-eu", "row 3: holder 'okx-eu' does not exist", id="unknown-holder"),
        pytest.param(",2025,", ",2025-13,", "row 3: granted '2025-13' is not a valid date", id="bad-date"),
        pytest.param(",applied,", ",granted,", "row 3: status 'granted' is not one of", id="bad-status"),
        pytest.param(",okx-press,", ",,", "every licence cites a source", id="missing-source"),
        pytest.param(",casp,", ",emi,", "row 3: license_type 'emi' does not exist in regime 'mica'", id="unknown-type"),
        pytest.param(",MT,", ",XX,", "row 3: jurisdiction 'XX' does not exist", id="unknown-jurisdiction"),
        pytest.param(",,,no,", ",lending,,no,", "row 3: activities 'lending' does not exist", id="unknown-activity"),
        pytest.param(",no,no,no,", ",maybe,no,no,", "row 3: serves_retail 'maybe' is not yes or no", id="bad-yes-no"),
        pytest.param(
            ",2025,,", ",2025-06,2025-01,", "A licence cannot end before it was granted", id="ended-before-granted"
        ),
    ],
)
def test_one_bad_row_rejects_the_whole_file_with_its_row_number_and_reason(world, curator, good, bad, expected):
    bad_row = GOOD_2.replace(good, bad).replace("okx-mt-mica-2", "bad")
    other_good = GOOD_2.replace("okx-mt-mica-2", "okx-mt-mica-3")
    before = written_state()
    result = run(LicenseResource, licence_csv(GOOD_1, other_good, bad_row), curator)
    assert result.has_validation_errors()
    assert [row.number for row in result.invalid_rows] == [3]
    lines = error_messages(result)
    assert any(expected in line for line in lines), lines
    assert all(line.startswith("row 3") for line in lines), lines
    assert written_state() == before


def test_every_bad_row_is_reported_not_only_the_first(world, curator):
    rows = [GOOD_2.replace("okx-europe", "nobody").replace("okx-mt-mica-2", f"bad-{n}") for n in (1, 2)]
    result = run(LicenseResource, licence_csv(GOOD_1, *rows), curator)
    assert [row.number for row in result.invalid_rows] == [2, 3]


def test_a_slug_given_twice_rejects_the_file(world, curator):
    result = run(LicenseResource, licence_csv(GOOD_1, GOOD_2, GOOD_1.replace(",active,", ",revoked,")), curator)
    assert error_messages(result) == ["row 3: slug 'okx-mt-mica' is already in row 1"]
    assert not models.License.objects.exists()


def test_a_file_without_a_source_column_is_rejected(world, curator):
    header = LICENCE_HEADER.replace(",source,quote", "")
    row = GOOD_2.replace(",okx-press,,", ",")
    before = written_state()
    result = run(LicenseResource, licence_csv(row, header=header), curator)
    assert any("row 1: source is empty: every licence cites a source" in line for line in error_messages(result))
    assert written_state() == before


def test_an_unknown_column_rejects_the_file(world, curator):
    before = written_state()
    result = run(LicenseResource, licence_csv(GOOD_1 + ",x", header=LICENCE_HEADER + ",holdr"), curator)
    assert result.has_errors()
    assert any("Unknown column: holdr" in line for line in error_messages(result))
    assert written_state() == before


def test_an_import_needs_the_importing_user_and_their_permission(world):
    before = written_state()
    assert result_rejected(run(LicenseResource, licence_csv(GOOD_1), None))
    assert result_rejected(run(LicenseResource, licence_csv(GOOD_1), factories.UserFactory()))
    assert written_state() == before


def result_rejected(result):
    return result.has_errors() and not result.rows


def test_reimporting_the_same_file_changes_nothing(world, curator):
    text = licence_csv(GOOD_1, GOOD_2)
    run(LicenseResource, text, curator)
    before = written_state()
    result = run(LicenseResource, text, curator)
    assert result.totals["skip"] == 2
    assert result.totals["new"] == result.totals["update"] == 0
    assert written_state() == before


def test_a_change_to_a_published_licence_becomes_a_pending_revision_and_the_public_record_stays(world, curator):
    licence = factories.LicenseFactory(
        slug="okx-mt-mica",
        holder=world["holder"],
        license_type=world["license_type"],
        status=models.LicenseStatus.ACTIVE,
        citations=[world["source"]],
    )
    factories.ActivityFactory(slug="staking", name="Staking")
    licence.activities.add(models.Activity.objects.get(slug="custody"))
    row = "okx-mt-mica,okx-europe,mica,casp,,,suspended,2025-03,,custody; staking,,no,no,no,,,okx-press,,"
    before_version = licence.version
    before_history = licence.history.count()

    result = run(LicenseResource, licence_csv(row), curator, file_name="suspensions.csv")

    assert result.totals["update"] == 1, error_messages(result)
    assert result.rows[0].proposed
    licence.refresh_from_db()
    assert licence.status == models.LicenseStatus.ACTIVE
    assert licence.version == before_version
    assert licence.history.count() == before_history
    assert list(licence.activities.values_list("slug", flat=True)) == ["custody"]
    public = models.License.objects.published().get(pk=licence.pk)
    assert public.status == models.LicenseStatus.ACTIVE

    revision = models.Revision.objects.pending().for_object(licence).get()
    assert revision.author == curator
    assert revision.reason == f"Bulk import of suspensions.csv by {curator.username}"
    assert revision.base_version == before_version
    assert revision.changes["fields"] == {"status": "suspended"}
    staking = models.Activity.objects.get(slug="staking")
    custody = models.Activity.objects.get(slug="custody")
    assert sorted(revision.changes["m2m"]["activities"]) == sorted([custody.pk, staking.pk])
    assert revision.changes["inlines"] == {}

    # A reviewer approves it: only then does the public record change.
    review.approve(revision, reviewer=factories.ReviewerFactory())
    licence.refresh_from_db()
    assert licence.status == models.LicenseStatus.SUSPENDED
    assert sorted(licence.activities.values_list("slug", flat=True)) == ["custody", "staking"]


def test_reimporting_a_change_already_waiting_for_review_adds_no_second_revision(world, curator):
    factories.LicenseFactory(
        slug="okx-mt-mica", holder=world["holder"], license_type=world["license_type"], citations=[world["source"]]
    )
    text = licence_csv("okx-mt-mica,okx-europe,mica,casp,,,revoked,2025-03,,,,no,no,no,,,okx-press,,")
    run(LicenseResource, text, curator)
    result = run(LicenseResource, text, factories.CuratorFactory())
    assert result.totals["skip"] == 1
    assert models.Revision.objects.pending().count() == 1


def test_a_new_source_for_a_published_licence_is_proposed_as_a_citation(world, curator):
    licence = factories.LicenseFactory(
        slug="okx-mt-mica", holder=world["holder"], license_type=world["license_type"], citations=[world["source"]]
    )
    factories.SourceFactory(slug="mfsa-register")
    row = "okx-mt-mica,okx-europe,mica,casp,,,active,2025-03,,,,no,no,no,,,mfsa-register,Listed as authorised,"
    run(LicenseResource, licence_csv(row), curator)
    assert licence.citations.count() == 1
    revision = models.Revision.objects.pending().for_object(licence).get()
    assert revision.changes["fields"] == {}
    created = revision.changes["inlines"]["registry.LicenseCitation"]["create"]
    assert created == [
        {"source_id": models.Source.objects.get(slug="mfsa-register").pk, "quote": "Listed as authorised"}
    ]


def test_a_change_to_a_draft_is_saved_as_the_importers_edit(world, curator):
    draft = factories.DraftLicenseFactory(
        slug="okx-mt-mica", holder=world["holder"], license_type=world["license_type"], citations=[world["source"]]
    )
    row = "okx-mt-mica,okx-europe,mica,casp,,,revoked,2025-03,2025-09-14,,,no,no,no,,,okx-press,,"
    result = run(LicenseResource, licence_csv(row), curator, file_name="drafts.csv")
    assert result.totals["update"] == 1 and not result.rows[0].proposed
    draft.refresh_from_db()
    assert draft.status == models.LicenseStatus.REVOKED
    assert str(draft.ended) == "14 September 2025"
    assert draft.publication_status == models.Publication.DRAFT
    assert draft.last_edited_by == curator
    assert draft.history.first().history_change_reason == f"Bulk import of drafts.csv by {curator.username}"
    assert not models.Revision.objects.exists()


def test_entities_with_parent_aliases_and_normalised_values(world, curator):
    text = (
        "\ufeffSlug,Name,Kind,Parent,Jurisdiction,LEI,Website,Description,Aliases\n"
        "okx-group,OKX Group,group,,,,okx.com,,OKX; OKEx\n"
        "okx-malta,OKX Malta Ltd,affiliate,okx-group,mt,,,,\n"
    )
    result = run(EntityResource, text, curator, file_name="entities.csv")
    assert result.totals["new"] == 2, error_messages(result)
    group = models.Entity.objects.get(slug="okx-group")
    assert group.website == "https://okx.com"
    assert sorted(group.aliases.values_list("name", flat=True)) == ["OKEx", "OKX"]
    assert group.publication_status == models.Publication.DRAFT
    malta = models.Entity.objects.get(slug="okx-malta")
    assert (malta.parent, malta.jurisdiction.code) == (group, "MT")


def test_an_affiliate_without_its_group_is_a_row_error(world, curator):
    text = "slug,name,kind,parent\nlonely,Lonely Ltd,affiliate,\n"
    result = run(EntityResource, text, curator)
    assert any(line.startswith("row 1: parent: An affiliate must name its group") for line in error_messages(result))
    assert not models.Entity.objects.filter(slug="lonely").exists()


def test_alias_changes_to_a_published_entity_are_proposed(world, curator):
    entity = world["holder"]
    factories.EntityAliasFactory(entity=entity, name="OKX EU")
    text = "slug,aliases\nokx-europe,OKX Europe; OKX.eu\n"
    run(EntityResource, text, curator)
    assert list(entity.aliases.values_list("name", flat=True)) == ["OKX EU"]
    revision = models.Revision.objects.pending().for_object(entity).get()
    operations = revision.changes["inlines"]["registry.EntityAlias"]
    assert sorted(row["name"] for row in operations["create"]) == ["OKX Europe", "OKX.eu"]
    assert len(operations["delete"]) == 1


def test_audits_with_partial_dates_and_a_citation(world, curator):
    factories.StandardFactory(slug="iso-27001", name="ISO/IEC 27001")
    factories.AuditorFactory(slug="slowmist", name="SlowMist")
    text = (
        "slug,subject,kind,standard,auditor,scope,issued,period_start,period_end,valid_until,ongoing,reference,"
        "source,quote,last_verified_on\n"
        "okx-iso,okx-europe,certification,iso-27001,,Exchange operations,2024-05,,,2027-05,no,,okx-press,certified,\n"
        "okx-slowmist,okx-europe,Security audit,,slowmist,,,2023,,,yes,,okx-press,,\n"
    )
    result = run(AuditResource, text, curator, file_name="audits.csv")
    assert result.totals["new"] == 2, error_messages(result)
    iso = models.Audit.objects.get(slug="okx-iso")
    assert (str(iso.issued), str(iso.valid_until_date)) == ("May 2024", "May 2027")
    assert iso.citations.get().quote == "certified"
    ongoing = models.Audit.objects.get(slug="okx-slowmist")
    assert ongoing.ongoing and ongoing.kind == models.AuditKind.SECURITY_AUDIT
    assert str(ongoing.period_started) == "2023"
    assert ongoing.publication_status == models.Publication.DRAFT


def test_an_audit_without_a_source_is_rejected(world, curator):
    text = "slug,subject,kind,source,quote\nokx-iso,okx-europe,certification,,\n"
    result = run(AuditResource, text, curator)
    assert any("every audit cites a source" in line for line in error_messages(result))
    assert not models.Audit.objects.exists()


def xlsx_bytes(rows):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


XLSX_ROWS = [
    LICENCE_HEADER.split(","),
    # A spreadsheet gives a typed date, a number for a year and empty cells as None.
    [
        "okx-mt-mica",
        "okx-europe",
        "mica",
        "casp",
        "mfsa",
        "MT",
        "Active",
        datetime.datetime(2025, 3, 14),
        None,
        "custody",
    ]
    + [None, "yes", None, None, 12345, None, "okx-press", "obtained its licence", datetime.datetime(2025, 6, 30)],
    ["okx-mt-mica-2", "okx-europe", "mica", "casp", None, None, "applied", 2024, None, None]
    + [None, None, None, None, None, None, "okx-press", None, None],
    [None] * 19,
]


def test_xlsx_rows_are_imported_like_csv(world, curator):
    data = tablib.Dataset().load(xlsx_bytes(XLSX_ROWS), format="xlsx")
    result = LicenseResource().import_data(data, user=curator, file_name="licences.xlsx")
    assert result.totals["new"] == 2, error_messages(result)
    licence = models.License.objects.get(slug="okx-mt-mica")
    assert str(licence.granted) == "14 March 2025"
    assert licence.reference_number == "12345"
    assert licence.status == models.LicenseStatus.ACTIVE
    assert str(models.License.objects.get(slug="okx-mt-mica-2").granted) == "2024"


# ---------------------------------------------------------------------------
# Through the admin: upload → preview → confirm
# ---------------------------------------------------------------------------


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


def upload(client, name, content, fmt="0", model="license"):
    url = reverse(f"admin:registry_{model}_import")
    return client.post(url, {"import_file": SimpleUploadedFile(name, content), "format": fmt, "resource": "0"})


def confirm(client, response, model="license"):
    form = response.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    return client.post(reverse(f"admin:registry_{model}_process_import"), data)


def page_text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def test_admin_upload_shows_a_preview_and_writes_only_on_confirm(world, curator_client, curator):
    published = factories.LicenseFactory(
        slug="okx-published", holder=world["holder"], license_type=world["license_type"], citations=[world["source"]]
    )
    unchanged = factories.DraftLicenseFactory(
        slug="okx-unchanged",
        holder=world["holder"],
        license_type=world["license_type"],
        status=models.LicenseStatus.APPLIED,
        granted_on=None,
        granted_on_precision="",
        citations=[world["source"]],
    )
    text = licence_csv(
        GOOD_1,
        "okx-published,okx-europe,mica,casp,,,suspended,2025-03,,,,no,no,no,,,okx-press,,",
        "okx-unchanged,okx-europe,mica,casp,,,applied,,,,,no,no,no,,,okx-press,,",
    )
    before = written_state()
    response = upload(curator_client, "licences.csv", ("\ufeff" + text).encode())
    assert response.status_code == 200
    assert response.context["confirm_form"] is not None
    content = page_text(response)
    assert "New draft" in content
    assert "Change for review" in content
    assert "Unchanged" in content
    assert written_state() == before

    response = confirm(curator_client, response)
    assert response.status_code == 302
    new = models.License.objects.get(slug="okx-mt-mica")
    assert new.publication_status == models.Publication.DRAFT and new.last_edited_by == curator
    assert {e.history_change_reason for e in new.history.all()} == {
        f"Bulk import of licences.csv by {curator.username}"
    }
    published.refresh_from_db()
    assert published.status == models.LicenseStatus.ACTIVE
    assert models.Revision.objects.pending().for_object(published).get().changes["fields"] == {"status": "suspended"}
    unchanged_version = unchanged.version
    unchanged.refresh_from_db()
    assert unchanged.version == unchanged_version
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("1 new draft," in m and "1 change to published licences sent for review" in m for m in messages)


def test_admin_preview_of_a_bad_file_names_the_row_and_offers_no_confirmation(world, curator_client):
    bad = GOOD_2.replace("okx-europe", "okx-eu").replace("okx-mt-mica-2", "bad")
    before = written_state()
    response = upload(curator_client, "licences.csv", licence_csv(GOOD_1, GOOD_2, bad).encode())
    assert response.status_code == 200
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    content = page_text(response)
    assert "nothing was imported" in content
    assert "row 3: holder &#x27;okx-eu&#x27; does not exist" in content
    assert written_state() == before


def test_admin_confirm_rejects_the_whole_file_when_it_went_bad_after_the_preview(world, curator_client):
    response = upload(curator_client, "licences.csv", licence_csv(GOOD_1, GOOD_2).encode())
    assert response.context["confirm_form"] is not None
    # Between preview and confirmation someone deletes the source the rows cite.
    models.Source.objects.filter(slug="okx-press").delete()
    before = written_state()
    response = confirm(curator_client, response)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:registry_license_import")
    assert written_state() == before
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("Nothing was imported" in m for m in messages)
    assert any("row 1: source 'okx-press' does not exist" in m for m in messages)


def test_admin_imports_xlsx(world, curator_client):
    response = upload(curator_client, "licences.xlsx", xlsx_bytes(XLSX_ROWS), fmt="1")
    assert response.status_code == 200
    assert response.context["confirm_form"] is not None, page_text(response)
    confirm(curator_client, response)
    assert models.License.objects.filter(slug__in=["okx-mt-mica", "okx-mt-mica-2"]).count() == 2


def test_admin_imports_entities_and_audits(world, curator_client):
    response = upload(
        curator_client, "entities.csv", b"slug,name,kind\nnew-firm,New Firm Ltd,company\n", model="entity"
    )
    confirm(curator_client, response, model="entity")
    assert models.Entity.objects.get(slug="new-firm").publication_status == models.Publication.DRAFT

    text = b"slug,subject,kind,source,quote\nnew-audit,new-firm,proof_of_reserves,okx-press,verified\n"
    response = upload(curator_client, "audits.csv", text, model="audit")
    confirm(curator_client, response, model="audit")
    assert models.Audit.objects.get(slug="new-audit").citations.get().quote == "verified"


def test_admin_refuses_a_garbage_file_without_a_server_error(world, curator_client):
    response = upload(curator_client, "licences.xlsx", b"this is not a spreadsheet", fmt="1")
    assert response.status_code == 200
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    assert not models.License.objects.exists()


def test_a_stale_confirmation_is_refused_without_a_server_error(curator_client):
    data = {"import_file_name": "gone.csv", "original_file_name": "x.csv", "format": "0", "resource": "0"}
    response = curator_client.post(reverse("admin:registry_license_process_import"), data)
    assert response.status_code == 302
    assert not models.License.objects.exists()


def test_staff_without_a_role_cannot_import(world, client):
    client.force_login(factories.UserFactory())
    response = client.get(reverse("admin:registry_license_import"))
    assert response.status_code == 403


def test_the_change_list_offers_import_to_curators(curator_client):
    response = curator_client.get(reverse("admin:registry_license_changelist"))
    assert reverse("admin:registry_license_import") in response.content.decode()
    response = curator_client.get(reverse("admin:registry_license_import"))
    assert response.status_code == 200
    assert "One bad row rejects the whole file" in page_text(response)


def test_messages_say_one_or_many_in_words(world, curator, curator_client):
    result = run(LicenseResource, licence_csv(GOOD_1 + ",x,y", header=LICENCE_HEADER + ",holdr,regim"), curator)
    assert any(line.startswith("Unknown columns: holdr, regim. ") for line in error_messages(result))
    result = run(LicenseResource, licence_csv(GOOD_1 + ",x", header=LICENCE_HEADER + ",quote"), curator)
    assert "Column given more than once: quote." in error_messages(result)
    result = run(LicenseResource, licence_csv(GOOD_1.replace("custody; transfer", "nope; nada")), curator)
    assert "row 1: activities 'nope', 'nada' do not exist" in error_messages(result)

    response = confirm(curator_client, upload(curator_client, "licences.csv", licence_csv(GOOD_1, GOOD_2).encode()))
    messages = [str(m) for m in response.wsgi_request._messages]
    assert (
        "Import finished: 2 new drafts, 0 drafts changed, 0 changes to published licences sent for review, "
        "0 unchanged rows skipped."
    ) in messages
