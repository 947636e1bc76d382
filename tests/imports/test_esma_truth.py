"""After an ESMA import and a reviewer's decision, what the public sees is true (issue 13: points 5, 7, 15, 16).

Runs on ESMA's real January 2026 file and the seed's OKX records: the register lists OKX Europe Limited,
authorised on 27/01/2025 by the MFSA; the seed's article says "In February 2025" and names no authority.
"""

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse

from imports import esma
from registry.dates import DatePrecision
from registry.models import (
    Entity,
    License,
    LicenseCitation,
    MatchProposal,
    Publication,
    Source,
    SourceKind,
    WarningNotice,
)
from tests.conftest import ESMA_DATA
from tests.factories import CuratorFactory, DraftLicenseFactory, ReviewerFactory, SourceFactory

ESMA = ESMA_DATA
JANUARY = ESMA / "CASP20260123.csv"
NCASP = ESMA / "NCASP20260129.csv"
SEED_CONDITIONS = "The source names neither the authorising authority nor the licensed legal entity"


def run(command, path, *flags):
    out = io.StringIO()
    call_command(command, str(path), *flags, stdout=out)
    return out.getvalue()


@pytest.fixture
def proposal(seed_data):
    run("import_esma_casps", JANUARY, "--publish")
    return MatchProposal.objects.get()


def granted_box(page: str) -> str:
    """The Granted fact's box, as text."""
    box = re.search(r"<dt>Granted</dt><dd>(.*?)</dd></div>", page, re.S).group(1)
    return re.sub(r"<[^>]+>", "", box)


# ---------------------------------------------------------------------------
# Point 5: old URLs answer 301 to the surviving record
# ---------------------------------------------------------------------------


def test_the_folded_licence_s_old_urls_answer_301_to_the_survivor(proposal, client):
    old = proposal.imported_license.slug
    assert client.get(f"/licenses/{old}/").status_code == 200  # public before the match was accepted
    esma.accept_match(proposal, reviewer=ReviewerFactory())

    page = client.get(f"/licenses/{old}/")
    assert page.status_code == 301 and page["Location"] == "/licenses/okx-mica-casp/"
    api = client.get(f"/api/licenses/{old}/")
    assert api.status_code == 301 and api["Location"] == "/api/licenses/okx-mica-casp/"
    assert client.get(api["Location"]).json()["slug"] == "okx-mica-casp"
    # Still out of the lists.
    assert old not in {row["slug"] for row in client.get("/api/licenses/", {"page_size": 500}).json()["results"]}


def test_a_chain_of_folded_licences_leads_to_the_one_that_survives(proposal, client):
    esma.accept_match(proposal, reviewer=ReviewerFactory())
    kept = License.objects.get(slug="okx-mica-casp")
    # The survivor is later folded into another licence in turn (a second duplicate found by curators).
    final = License.objects.get(slug="okx-mifid-ii-investment-firm")
    License.objects.filter(pk=kept.pk).update(superseded_by=final, publication_status=Publication.DRAFT)
    old = proposal.imported_license.slug
    assert client.get(f"/licenses/{old}/")["Location"] == "/licenses/okx-mifid-ii-investment-firm/"
    assert client.get("/licenses/okx-mica-casp/")["Location"] == "/licenses/okx-mifid-ii-investment-firm/"


def test_a_renamed_published_licence_redirects_from_its_old_slug(seed_data, client):
    licence = License.objects.get(slug="okx-mica-casp")
    licence.slug = "okx-europe-mica-casp"
    licence.save()
    assert client.get("/licenses/okx-mica-casp/")["Location"] == "/licenses/okx-europe-mica-casp/"
    assert client.get("/api/licenses/okx-mica-casp/")["Location"] == "/api/licenses/okx-europe-mica-casp/"
    # A name the record had only as a draft was never public: it stays unknown.
    draft = DraftLicenseFactory(slug="working-title")
    draft.slug, draft.publication_status = "final-title", Publication.PUBLISHED
    draft.save()
    assert client.get("/licenses/final-title/").status_code == 200
    assert client.get("/licenses/working-title/").status_code == 404
    assert client.get("/api/licenses/working-title/").status_code == 404


# ---------------------------------------------------------------------------
# Point 5: the most authoritative source leads
# ---------------------------------------------------------------------------


def test_source_kinds_rank_official_register_first():
    ranked = sorted(SourceKind, key=lambda kind: kind.authority)
    assert ranked == [
        SourceKind.OFFICIAL_REGISTER,
        SourceKind.REGULATOR_NOTICE,
        SourceKind.COMPANY_STATEMENT,
        SourceKind.REPORT,
        SourceKind.ARTICLE,
        SourceKind.OTHER,
    ]


def test_accepting_takes_the_register_s_facts_and_keeps_the_article_s_statements(proposal, client):
    esma.accept_match(proposal, reviewer=ReviewerFactory())
    kept = License.objects.get(slug="okx-mica-casp")
    assert str(kept.granted) == "27 January 2025" and kept.granted_on_precision == DatePrecision.DAY
    assert kept.regulator.abbreviation == "MFSA" and kept.jurisdiction.code == "MT"
    assert kept.holder.name == "OKX Europe Limited" and kept.holder.parent.slug == "okx"
    assert sorted(a.code for a in kept.activities.all()) == list("abcdefgij")
    assert len(kept.passported_to.all()) == 29 and "MT" not in {j.code for j in kept.passported_to.all()}
    article = kept.citations.get(supports="granted_on", source__kind=SourceKind.ARTICLE)
    assert article.states == "February 2025"

    page = client.get("/licenses/okx-mica-casp/").content.decode()
    box = granted_box(page)
    assert box.startswith("27 January 2025")
    assert "The article says “February 2025”" in box
    # The register's citation comes first, then the article's.
    cited = re.findall(r"Source: ([^,(]*)", box)
    assert cited[0].startswith("ESMA interim MiCA register") and "overview" in cited[1]
    assert "The article says “28 EEA member countries”" in page


def test_later_snapshots_follow_the_register_too(seed_data):
    december = ESMA / "CASP20251215.csv"
    run("import_esma_casps", december, "--publish")
    esma.accept_match(MatchProposal.objects.get(), reviewer=ReviewerFactory())
    License.objects.filter(slug="okx-mica-casp").update(granted_on="2025-02-01", granted_on_precision="month")
    run("import_esma_casps", JANUARY, "--publish")
    assert str(License.objects.get(slug="okx-mica-casp").granted) == "27 January 2025"


def test_a_fact_an_equally_authoritative_source_supports_keeps_its_value(proposal):
    kept = proposal.existing_license
    register = SourceFactory(kind=SourceKind.OFFICIAL_REGISTER, title="MFSA Financial Services Register")
    LicenseCitation.objects.create(license=kept, source=register, supports="granted_on", states="26/01/2025")
    License.objects.filter(pk=kept.pk).update(granted_on="2025-01-26", granted_on_precision="day")
    esma.accept_match(proposal, reviewer=ReviewerFactory())
    kept.refresh_from_db()
    assert str(kept.granted) == "26 January 2025"
    assert kept.regulator.abbreviation == "MFSA"  # no other register states it: ESMA's value


# ---------------------------------------------------------------------------
# Point 5: text written for the article
# ---------------------------------------------------------------------------


def flag_codes(licence):
    licence.refresh_from_db()
    return {flag["code"] for flag in licence.quality_flags}


def test_conditions_written_for_the_article_are_flagged_and_withheld(proposal, client, admin_client):
    esma.accept_match(proposal, reviewer=ReviewerFactory())
    kept = License.objects.get(slug="okx-mica-casp")
    assert kept.conditions.startswith(SEED_CONDITIONS)
    assert "text_predates_official_source" in flag_codes(kept)
    page = client.get("/licenses/okx-mica-casp/").content.decode()
    assert SEED_CONDITIONS not in page
    assert "written from" in page and "before the official register" in page
    # Curators find it in the admin.
    listed = admin_client.get(reverse("admin:registry_license_changelist"), {"flagged": "text"}).content.decode()
    assert str(kept.pk) in re.findall(r"/admin/registry/license/(\d+)/change/", listed)
    # A later snapshot keeps the curators' flag.
    run("import_esma_casps", JANUARY, "--publish")
    assert "text_predates_official_source" in flag_codes(kept)
    # Editing the text clears it.
    kept.refresh_from_db()
    kept.conditions = "Authorised by the MFSA; passported to the other EEA states."
    kept.save()
    assert "text_predates_official_source" not in flag_codes(kept)
    assert "Authorised by the MFSA" in client.get("/licenses/okx-mica-casp/").content.decode()


@pytest.mark.parametrize("text", ["", "Serves the EEA from Malta (ESMA register)."])
def test_the_reviewer_may_revise_or_clear_the_text_when_accepting(proposal, text):
    esma.accept_match(proposal, reviewer=ReviewerFactory(), texts={"conditions": text})
    kept = License.objects.get(slug="okx-mica-casp")
    assert kept.conditions == text
    assert "text_predates_official_source" not in flag_codes(kept)


def test_the_preview_lists_every_change_acceptance_makes(proposal):
    rows = {row.label: row for row in esma.preview_match(proposal).rows}
    assert (rows["Date granted"].now, rows["Date granted"].after) == ("February 2025", "27 January 2025")
    assert rows["Regulator"].now == "—" and "MFSA" in rows["Regulator"].after
    assert rows["Holder"].after == "OKX Europe Limited"
    texts = esma.preview_match(proposal).texts
    assert [t.field for t in texts] == ["conditions"] and texts[0].text.startswith(SEED_CONDITIONS)
    # A preview changes nothing.
    assert str(License.objects.get(slug="okx-mica-casp").granted) == "February 2025"


# ---------------------------------------------------------------------------
# Point 16: Accept and Reject on the proposal's page
# ---------------------------------------------------------------------------


def change_url(proposal):
    return reverse("admin:registry_matchproposal_change", args=[proposal.pk])


def test_the_proposal_page_previews_and_accepts(proposal, client):
    client.force_login(ReviewerFactory())
    page = client.get(change_url(proposal)).content.decode()
    assert 'value="accept"' in page and 'value="reject"' in page
    assert "27 January 2025" in page and "February 2025" in page and SEED_CONDITIONS in page
    response = client.post(
        change_url(proposal),
        {"decision": "accept", "conditions_action": "revise", "conditions": "Authorised by the MFSA.", "note": ""},
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == MatchProposal.Status.ACCEPTED
    kept = License.objects.get(slug="okx-mica-casp")
    assert kept.conditions == "Authorised by the MFSA." and str(kept.granted) == "27 January 2025"


def test_the_proposal_page_rejects_only_with_a_note(proposal, client):
    client.force_login(ReviewerFactory())
    client.post(change_url(proposal), {"decision": "reject", "note": ""})
    proposal.refresh_from_db()
    assert proposal.status == MatchProposal.Status.PENDING
    client.post(change_url(proposal), {"decision": "reject", "note": "A different OKX."})
    proposal.refresh_from_db()
    assert proposal.status == MatchProposal.Status.REJECTED and proposal.review_note == "A different OKX."
    page = client.get(change_url(proposal)).content.decode()
    assert f"Rejected — by {proposal.reviewer}" in page
    assert "<dt>Reviewer's note</dt><dd>A different OKX.</dd>" in page


@pytest.mark.parametrize("who", ["curator", "last editor"])
def test_the_proposal_page_keeps_four_eyes(proposal, client, who):
    user = CuratorFactory() if who == "curator" else ReviewerFactory()
    if who == "last editor":
        Entity.objects.filter(pk=proposal.imported_entity_id).update(last_edited_by=user)
    client.force_login(user)
    page = client.get(change_url(proposal)).content.decode()
    assert 'value="accept"' not in page
    refusal = "Only a reviewer can accept or reject" if who == "curator" else "You made the last edit"
    assert refusal in page
    client.post(change_url(proposal), {"decision": "accept", "conditions_action": "keep"})
    proposal.refresh_from_db()
    assert proposal.status == MatchProposal.Status.PENDING
    assert str(License.objects.get(slug="okx-mica-casp").granted) == "February 2025"


def test_accept_match_refuses_an_unknown_text_field(proposal):
    with pytest.raises(ValidationError):
        esma.accept_match(proposal, reviewer=ReviewerFactory(), texts={"slug": "x"})
    with pytest.raises(PermissionDenied):
        esma.accept_match(proposal, reviewer=esma.importer_user())


# ---------------------------------------------------------------------------
# Point 7: ESMA's ae_infrigment is about the national authority
# ---------------------------------------------------------------------------


def test_entity_pages_never_say_infringement_found(proposal, client):
    run("import_esma_ncasp", NCASP, "--publish")
    notices = WarningNotice.objects.published()
    assert notices.count() == 100
    for entity in Entity.objects.filter(warnings__isnull=False).distinct()[:20]:
        page = client.get(entity.get_absolute_url()).content.decode()
        assert "Named on a warning list" in page
        assert "nfringement found" not in page
    # Stored as published (every row says "No"), under a name that says what it is.
    assert set(notices.values_list("esma_article_17_case", flat=True)) == {"No"}


def test_an_article_17_case_is_shown_in_esma_s_words_as_about_the_authority(proposal, client):
    run("import_esma_ncasp", NCASP, "--publish")
    notice = WarningNotice.objects.get(entity__name="MEXC Global")
    WarningNotice.objects.filter(pk=notice.pk).update(esma_article_17_case="Yes")
    page = client.get(notice.entity.get_absolute_url()).content.decode()
    assert (
        "Case of infringement identified by ESMA in accordance with Article 17 of Regulation (EU) No 1095/2010" in page
    )
    assert "national authority" in page and "not a finding about" in page
    field = WarningNotice._meta.get_field("esma_article_17_case")
    assert "Article 17 of Regulation (EU) No 1095/2010" in field.help_text


# ---------------------------------------------------------------------------
# Point 15: the command says what it created, by type
# ---------------------------------------------------------------------------


def test_the_command_summary_counts_records_by_type(seed_data):
    out = run("import_esma_casps", JANUARY)
    assert out.startswith(
        "CASP20260123.csv (snapshot 2026-01-23): created 145 entities, 146 licences, 18 regulators, 1 source, "
        "10 activities; updated nothing; unchanged 0 rows; no longer listed 0 licences; flagged 13 rows; "
        "1 match proposal to decide; all drafts"
    )
    again = run("import_esma_casps", JANUARY, "--publish")
    assert "created nothing; updated 145 entities, 146 licences, 18 regulators, 1 source;" in again
    assert again.rstrip().endswith("s.") and "all published" in again
    ncasp = run("import_esma_ncasp", NCASP, "--dry-run")
    assert ncasp.startswith("Dry run (nothing written): NCASP20260129.csv (snapshot 2026-01-29): created ")
    assert "100 warning notices" in ncasp and "unchanged 1 row;" in ncasp


def test_the_admin_upload_reports_counts_by_type(countries_fixture, seed_data, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(CuratorFactory())
    upload = SimpleUploadedFile(JANUARY.name, JANUARY.read_bytes(), content_type="text/csv")
    page = client.post(reverse("admin:registry_esma_import"), {"kind": "casps", "file": upload}).content.decode()
    assert "created 145 entities, 146 licences, 18 regulators, 1 source" in page


def test_the_imports_are_documented():
    root = Path(settings.BASE_DIR)
    doc = (root / "docs" / "imports.md").read_text()
    assert "docs/imports.md" in (root / "README.md").read_text()
    for words in ["import_esma_casps", "import_esma_ncasp", "--dry-run", "--publish", "four-eyes", "Accept", "Reject"]:
        assert words in doc
    assert "Import an ESMA register file" in doc  # the admin upload
    assert "Source" in doc and Source.Kind.OFFICIAL_REGISTER.label in doc
