"""The ESMA interim MiCA register importers, on ESMA's real files (defects included)."""

import datetime
import hashlib
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation import review
from imports import esma
from registry.dates import DatePrecision, PartialDate
from registry.models import (
    Entity,
    EntityCitation,
    License,
    LicenseCitation,
    MatchProposal,
    Publication,
    Regulator,
    Revision,
    Source,
    WarningNotice,
)
from tests.conftest import ESMA_DATA
from tests.factories import ReviewerFactory

ESMA = ESMA_DATA
DECEMBER = ESMA / "CASP20251215.csv"
JANUARY = ESMA / "CASP20260123.csv"
NCASP = ESMA / "NCASP20260129.csv"


def run(command, path, *flags):
    out = io.StringIO()
    call_command(command, str(path), *flags, stdout=out)
    return out.getvalue()


def casps(path, *flags):
    return run("import_esma_casps", path, *flags)


def derived_file(tmp_path, name, source, keep):
    """A copy of an ESMA file keeping the header and the data lines ``keep`` selects (bytes untouched)."""
    lines = source.read_bytes().split(b"\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    path = tmp_path / name
    path.write_bytes(b"\r\n".join([header, *keep(rows)]) + b"\r\n")
    return path


def history_count():
    models = [Entity, License, LicenseCitation, EntityCitation, Regulator, Source, WarningNotice]
    return sum(model.history.count() for model in models)


# ---------------------------------------------------------------------------
# Normalisation, one defect at a time
# ---------------------------------------------------------------------------


def test_byte_order_mark_is_dropped_from_the_header():
    snapshot = esma.read_snapshot(DECEMBER.read_bytes(), DECEMBER.name, "ac_lastupdate")
    assert "ae_competentAuthority" in snapshot.rows[0]
    assert len(snapshot.rows) == 119
    assert snapshot.date == datetime.date(2025, 12, 15)


def test_snapshot_date_falls_back_to_the_latest_update_when_the_name_has_none():
    snapshot = esma.read_snapshot(DECEMBER.read_bytes(), "register.csv", "ac_lastupdate")
    assert snapshot.date == max(
        esma.parse_date(row["ac_lastupdate"])[0].date for row in snapshot.rows if row["ac_lastupdate"]
    )


def test_archived_text_keeps_the_file_digest():
    data = DECEMBER.read_bytes()
    snapshot = esma.read_snapshot(data, DECEMBER.name, "ac_lastupdate")
    assert hashlib.sha256(snapshot.text.encode()).hexdigest() == hashlib.sha256(data).hexdigest() == snapshot.sha256


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Finansinspektionen ", "Finansinspektionen"),
        ("Austrian Financial Market Authority (FMA)\xa0", "Austrian Financial Market Authority (FMA)"),
        ("a.\tproviding custody", "a. providing custody"),
        ("\ufeffae_competentAuthority", "ae_competentAuthority"),
        ("www.skrill.com\r\nwww.neteller.com", "www.skrill.com www.neteller.com"),
    ],
)
def test_stray_spaces_tabs_and_no_break_spaces_are_collapsed(raw, clean):
    assert esma.clean_text(raw) == clean


@pytest.mark.parametrize(
    "raw",
    ["AT|BE|DE", "AT | BE | DE", "AT|BE|DE|", "AT | BE | DE ", " AT|  BE|DE||"],
)
def test_bar_lists_with_or_without_spaces_and_trailing_separators(raw):
    assert esma.split_list(raw) == ["AT", "BE", "DE"]


def test_el_is_greece_and_lower_case_codes_are_read():
    assert esma.normalise_country("EL") == "GR"
    assert esma.normalise_country(" EL") == "GR"
    assert esma.normalise_country("Fi") == "FI"
    codes, flags = esma.parse_passports("NL|AT| EL|Fi|GR", {"NL", "AT", "GR", "FI"})
    assert codes == ["AT", "FI", "GR", "NL"]
    assert flags == []


def test_a_passport_outside_the_eea_is_flagged_not_dropped_silently():
    codes, flags = esma.parse_passports("DE|AT|CH|XX", {"DE", "AT", "CH"})
    assert codes == ["AT", "DE"]
    assert [f["code"] for f in flags] == ["passport_outside_eea", "unknown_country"]
    assert "CH" in flags[0]["message"] and "XX" in flags[1]["message"]


def test_day_month_year_dates_are_read_to_the_day():
    value, flags = esma.parse_date("27/01/2025")
    assert value == PartialDate(datetime.date(2025, 1, 27), DatePrecision.DAY)
    assert str(value) == "27 January 2025"
    assert flags == []
    assert esma.parse_date(" 01/04/2025 ")[0].date == datetime.date(2025, 4, 1)
    assert esma.parse_date("") == (None, [])


def test_an_unreadable_date_is_flagged_never_guessed():
    value, flags = esma.parse_date("31/02/2025", "authorisation date")
    assert value is None
    assert flags[0]["code"] == "date_unparseable" and "31/02/2025" in flags[0]["message"]
    assert esma.parse_date("soon")[0] is None


def test_replacement_characters_are_flagged():
    flags = esma.replacement_flags({"address": "Donau-City-Stra\ufffde 7, 1220 Vienna", "name": "Bybit EU GmbH"})
    assert len(flags) == 1
    assert flags[0]["code"] == "replacement_character" and "address" in flags[0]["message"]


def test_excel_mangled_lei_is_kept_as_published_and_flagged():
    lei, as_published, flags = esma.normalise_lei("9.60E+19")
    assert (lei, as_published) == ("", "9.60E+19")
    assert flags[0]["code"] == "lei_invalid" and "ISO 17442" in flags[0]["message"]


def test_lei_with_a_trailing_dot_is_read_and_noted():
    lei, as_published, flags = esma.normalise_lei("89450036UW3ID72T1M84.")
    assert lei == "89450036UW3ID72T1M84" and as_published == ""
    assert flags[0]["code"] == "lei_normalised"


def test_lei_of_21_characters_fails_iso_17442_and_is_not_corrected():
    lei, as_published, flags = esma.normalise_lei("69940000HAL9ODW3IMO22")
    assert (lei, as_published) == ("", "69940000HAL9ODW3IMO22")
    assert "21 characters" in flags[0]["message"]


def test_valid_lei_passes_unflagged():
    assert esma.normalise_lei(" 54930069NLWEIGLHXU42 ") == ("54930069NLWEIGLHXU42", "", [])


def test_service_letters_with_descriptions_tabs_and_odd_separators():
    raw = (
        "a.\tproviding custody and administration of crypto-assets on behalf of clients |b. operation of a trading "
        "platform for crypto-assets |  f. placing of crypto-assets |h.providing advice on crypto-assets | "
        "j. providing transfer services for crypto-assets on behalf of clients."
    )
    assert esma.parse_services(raw) == (["a", "b", "f", "h", "j"], [])
    assert esma.parse_services("c. exchange of crypto-assets for funds ") == (["c"], [])
    codes, flags = esma.parse_services("placing of crypto-assets | teleportation")
    assert codes == ["f"]
    assert flags[0]["code"] == "unknown_service"


def test_authority_names_match_whatever_their_trailing_spaces():
    keys = {
        esma.parse_authority(name)[2]
        for name in (
            "Austrian Financial Market Authority (FMA)",
            "Austrian Financial Market Authority (FMA)\xa0",
            "  Austrian  Financial Market Authority (FMA) ",
        )
    }
    assert keys == {"austrian financial market authority"}
    assert esma.parse_authority("Finansinspektionen ") == ("Finansinspektionen", "", "finansinspektionen")
    assert esma.parse_authority("Commissione Nazionale per le Societa e la Borsa  (CONSOB)")[1] == "CONSOB"


def test_website_without_scheme_is_assumed_https_and_an_address_is_flagged():
    assert esma.normalise_website("www.okx.com") == ("https://www.okx.com", [])
    url, flags = esma.normalise_website(" 75012 Paris")
    assert url == "" and flags[0]["code"] == "website_invalid"


# ---------------------------------------------------------------------------
# Importing snapshots
# ---------------------------------------------------------------------------


def test_two_snapshots_counts_sources_and_history(countries):
    out = casps(DECEMBER)
    assert out.startswith(
        "CASP20251215.csv (snapshot 2025-12-15): created 118 entities, 119 licences, 15 regulators, 1 source, "
        "1 regime, 1 licence type, 10 activities; updated nothing; unchanged 0 rows; no longer listed 0 licences; "
        "flagged 12 rows; all drafts."
    )
    assert License.objects.count() == 119
    source = Source.objects.get()
    assert source.sha256 == hashlib.sha256(DECEMBER.read_bytes()).hexdigest()
    assert source.title == "ESMA interim MiCA register: CASPs (snapshot 15 December 2025)"
    assert source.kind == Source.Kind.OFFICIAL_REGISTER
    assert str(source.publication_date) == "15 December 2025"

    out = casps(JANUARY)
    # 27 firms added; Coinbase added service (f), Bitstamp-like row 485100… gained passports; nothing removed.
    assert (
        "created 27 entities, 27 licences, 3 regulators, 1 source; updated 1 entity, 2 licences; unchanged 117 rows; "
        "no longer listed 0 licences; flagged 13 rows; all drafts."
    ) in out
    assert License.objects.count() == 146

    coinbase = License.objects.get(official_register_key="esma-casp:984500F14CA4571AAC11")
    entries = list(coinbase.history.order_by("history_date", "history_id"))
    assert [e.history_change_reason for e in entries] == [
        "ESMA register snapshot 2025-12-15",
        "ESMA register snapshot 2026-01-23",
    ]
    before, after = ({a.activity.code for a in e.activities.all()} for e in entries)
    assert after - before == {"f"}
    passports = License.objects.get(official_register_key="esma-casp:485100UM87L7ILR4L484").passported_to
    assert sorted(passports.values_list("code", flat=True)) == ["HR", "SI"]
    # Every fact cites the newest snapshot listing it, with the row and what the file said.
    granted = coinbase.citations.get(supports="granted_on")
    assert granted.source.title.endswith("(snapshot 23 January 2026)")
    row = next(
        r
        for r in esma.read_snapshot(JANUARY.read_bytes(), JANUARY.name, "").rows
        if r["ae_lei"] == "984500F14CA4571AAC11"
    )
    assert granted.locator == f"row {row['_row']}"
    assert granted.states == row["ac_authorisationNotificationDate"]


def test_every_row_is_normalised_into_the_licence(countries):
    casps(JANUARY)
    okx = License.objects.get(official_register_key="esma-casp:54930069NLWEIGLHXU42")
    assert str(okx.granted) == "27 January 2025"
    assert okx.regulator.name == "Malta Financial Services Authority" and okx.regulator.abbreviation == "MFSA"
    assert okx.jurisdiction.code == "MT"
    assert sorted(okx.activities.values_list("code", flat=True)) == ["a", "b", "c", "d", "e", "f", "g", "i", "j"]
    assert "GR" in okx.passported_to.values_list("code", flat=True)
    assert okx.passported_to.count() == 29
    # The authority written with and without a trailing no-break space is one regulator.
    assert Regulator.objects.filter(jurisdiction__code="AT").count() == 1
    assert Regulator.objects.filter(name="Finansinspektionen").count() == 1
    bitpanda = License.objects.get(official_register_key="esma-casp:9845005X9B7N610K0093")
    assert "CH" not in bitpanda.passported_to.values_list("code", flat=True)
    assert any(f["code"] == "passport_outside_eea" for f in bitpanda.quality_flags)
    openbank = Entity.objects.get(name="OPEN BANK S.A.")
    assert openbank.lei == "" and openbank.lei_as_published == "9.60E+19"
    assert openbank.licenses.count() == 1
    # EUWAX is listed twice (two authorisations): one entity, two licences.
    euwax = Entity.objects.get(lei="529900032TYR45XIEW79")
    assert euwax.licenses.count() == 2
    kbc = License.objects.get(official_register_key="esma-casp:6B2PBRV1FCJDMR45RZ53")
    assert kbc.granted is None


def test_reimporting_the_same_file_changes_nothing(countries):
    casps(DECEMBER)
    before = history_count()
    out = casps(DECEMBER)
    assert "created nothing; updated nothing; unchanged 119 rows; no longer listed 0 licences;" in out
    assert history_count() == before
    assert Source.objects.count() == 1
    assert Revision.objects.count() == 0


def test_without_publish_records_are_drafts_of_a_system_account(countries):
    casps(DECEMBER)
    assert License.objects.published().count() == 0
    assert set(License.objects.values_list("publication_status", flat=True)) == {Publication.DRAFT}
    importer = get_user_model().objects.get(username="esma-importer")
    assert not importer.is_staff and not importer.has_usable_password()
    assert set(License.objects.values_list("last_edited_by", flat=True)) == {importer.pk}


def test_with_publish_every_row_is_on_the_public_site(countries, client):
    out = casps(DECEMBER, "--publish")
    assert "created 118 entities, 119 licences," in out
    assert "; all published." in out
    assert License.objects.published().count() == 119
    assert set(License.objects.values_list("published_by", flat=True)) == {None}
    assert "--publish" in License.history.first().history_change_reason
    for license in License.objects.all():
        assert client.get(license.get_absolute_url()).status_code == 200
    page = client.get("/licenses/", {"q": "OKX Europe"}).content.decode()
    assert "OKX Europe Limited" in page


def test_changes_to_published_records_wait_for_review(countries):
    casps(DECEMBER, "--publish")
    out = casps(JANUARY)
    assert "created 27 entities, 27 licences, 3 regulators, 1 source; updated nothing;" in out
    assert "new records are drafts, 3 changes to published records wait for review." in out
    coinbase = License.objects.get(official_register_key="esma-casp:984500F14CA4571AAC11")
    # The public still sees the reviewed version.
    assert "f" not in coinbase.activities.values_list("code", flat=True)
    revisions = Revision.objects.pending().for_object(coinbase)
    assert revisions.count() == 1
    # Proposing again from the same snapshot adds nothing.
    casps(JANUARY)
    assert Revision.objects.pending().for_object(coinbase).count() == 1
    review.approve(revisions.get(), reviewer=ReviewerFactory())
    assert "f" in coinbase.activities.values_list("code", flat=True)
    assert coinbase.citations.get(supports="activities").source.title.endswith("23 January 2026)")


def test_firms_missing_from_a_later_snapshot_are_marked_not_deleted(countries, client, tmp_path):
    casps(JANUARY, "--publish")
    later = derived_file(tmp_path, "CASP20260301.csv", JANUARY, lambda rows: rows[10:])
    out = casps(later, "--publish")
    assert "created 1 source; updated 10 licences;" in out and "no longer listed 10 licences" in out
    assert License.objects.count() == 146
    gone = License.objects.filter(not_listed_since=datetime.date(2026, 3, 1))
    assert gone.count() == 10
    page = client.get(gone.first().get_absolute_url()).content.decode()
    assert "No longer listed in the ESMA register as of 1 March 2026" in page
    # Importing the older snapshot afterwards does not mark the newer firms as gone.
    assert "no longer listed 0 licences" in casps(DECEMBER, "--publish")


def test_dry_run_writes_nothing(countries):
    out = casps(DECEMBER, "--dry-run")
    assert out.startswith("Dry run (nothing written): CASP20251215.csv (snapshot 2025-12-15): created 118 entities")
    assert "unchanged 0 rows; no longer listed 0 licences; flagged 12 rows; all drafts." in out
    assert License.objects.count() == Entity.objects.count() == Source.objects.count() == 0
    assert not get_user_model().objects.filter(username="esma-importer").exists()


def test_missing_file_is_reported_not_a_traceback(countries):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Cannot read"):
        casps(ESMA / "CASP19990101.csv")


def test_query_count_does_not_grow_with_rows(countries, tmp_path):
    small = derived_file(tmp_path, "CASP20260110.csv", JANUARY, lambda rows: rows[:10])
    large = derived_file(tmp_path, "CASP20260111.csv", JANUARY, lambda rows: rows[:40])
    counts = []
    for path in (small, large):
        with CaptureQueriesContext(connection) as queries:
            esma.import_file("casps", path, dry_run=True)
        counts.append(len(queries))
    # Bulk inserts are split in batches (SQLite takes at most 999 parameters a statement, ~30 history rows),
    # so a few more queries per 30 rows is expected; anything per row would add hundreds.
    assert counts[1] - counts[0] <= 12, counts


def test_importing_with_publish_puts_every_row_of_the_file_live(countries):
    # How long it takes is measured in bench/ (never a timed test): here, what it does.
    counts = esma.import_file("casps", JANUARY, publish=True)
    assert counts.created == 146
    assert License.objects.published().count() == 146


# ---------------------------------------------------------------------------
# Warning list (non-compliant entities)
# ---------------------------------------------------------------------------


def test_non_compliant_entities_are_named_on_a_warning_list(countries, client):
    casps(DECEMBER, "--publish")
    out = run("import_esma_ncasp", NCASP, "--publish")
    # 101 rows; one decision is listed twice and kept once.
    assert "created 97 entities, 100 warning notices, 2 regulators, 1 source; updated nothing; unchanged 1 row;" in out
    assert "created nothing; updated nothing; unchanged 101 rows;" in run("import_esma_ncasp", NCASP, "--publish")
    mexc = WarningNotice.objects.get(entity__name="MEXC Global")
    assert str(mexc.decided) == "16 September 2025"
    assert mexc.regulator.abbreviation == "AFM" and mexc.jurisdiction.code == "NL"
    assert "section 59 MiCAR" in mexc.reason
    # ESMA's Article 17 case (against the national authority), as published: not a finding about MEXC.
    assert mexc.esma_article_17_case == "No"
    consob = WarningNotice.objects.filter(regulator__abbreviation="CONSOB")
    assert consob.values("regulator").distinct().count() == 1
    # Dobibo was named twice (two decisions): one entity, two notices; "None" means no reason was given.
    dobibo = WarningNotice.objects.filter(entity__name="Dobibo")
    assert dobibo.values("entity").distinct().count() == 1 and dobibo.count() == 2
    assert set(dobibo.values_list("reason", flat=True)) == {""}

    def names(**params):
        page = client.get("/entities/", params)
        return {entity.name for entity in page.context["object_list"]}

    assert "MEXC Global" in names(warning="yes", q="MEXC")
    assert "Bybit EU GmbH" not in names(warning="yes", q="Bybit")
    assert "Bybit EU GmbH" in names(warning="no", q="Bybit")
    assert "MEXC Global" not in names(warning="no", q="MEXC")
    assert client.get("/entities/", {"warning": "maybe"}).status_code in (200, 400)

    page = client.get(mexc.entity.get_absolute_url()).content.decode()
    assert "Named on a warning list" in page
    assert "ESMA interim MiCA register: non-compliant entities (snapshot 29 January 2026)" in page


def test_public_pages_show_data_quality_flags(countries, client):
    casps(DECEMBER, "--publish")
    openbank = Entity.objects.get(name="OPEN BANK S.A.")
    page = client.get(openbank.get_absolute_url()).content.decode()
    assert "Data-quality note" in page and "fails the ISO 17442 check" in page
    license_page = client.get(openbank.licenses.get().get_absolute_url()).content.decode()
    assert "fails the ISO 17442 check" in license_page


# ---------------------------------------------------------------------------
# Reconciliation with the seed (OKX)
# ---------------------------------------------------------------------------


def test_okx_is_proposed_for_a_match_not_merged(seed_data):
    casps(DECEMBER, "--publish")
    proposal = MatchProposal.objects.get()
    assert proposal.status == MatchProposal.Status.PENDING
    assert proposal.imported_entity.name == "OKX Europe Limited"
    assert proposal.existing_entity.slug == "okx"
    assert proposal.existing_license.slug == "okx-mica-casp"
    seed = License.objects.get(slug="okx-mica-casp")
    assert str(seed.granted) == "February 2025"
    assert not seed.citations.filter(source__kind=Source.Kind.OFFICIAL_REGISTER).exists()
    assert proposal.imported_license.holder.name == "OKX Europe Limited"
    casps(DECEMBER, "--publish")
    assert MatchProposal.objects.count() == 1


def test_accepting_the_match_shows_both_dates_and_the_disagreement(seed_data, client):
    casps(DECEMBER, "--publish")
    proposal = MatchProposal.objects.get()
    importer = get_user_model().objects.get(username="esma-importer")
    with pytest.raises(PermissionDenied):
        esma.accept_match(proposal, reviewer=importer)
    esma.accept_match(proposal, reviewer=ReviewerFactory())

    seed = License.objects.get(slug="okx-mica-casp")
    assert seed.official_register_key == "esma-casp:54930069NLWEIGLHXU42"
    # The register's date leads (the article's is less authoritative); both are cited.
    assert str(seed.granted) == "27 January 2025"
    assert seed.regulator.abbreviation == "MFSA"
    duplicate = proposal.imported_license
    duplicate.refresh_from_db()
    assert duplicate.superseded_by == seed and duplicate.publication_status == Publication.DRAFT
    okx_europe = Entity.objects.get(lei="54930069NLWEIGLHXU42")
    assert okx_europe.parent.slug == "okx" and okx_europe.kind == Entity.Kind.AFFILIATE

    page = client.get("/licenses/okx-mica-casp/").content.decode()
    assert "27 January 2025" in page and "February 2025" in page
    assert "Sources disagree" in page
    assert "ESMA interim MiCA register: CASPs (snapshot 15 December 2025)" in page
    assert "overview" in page  # the seed article

    # The next snapshot updates the kept licence, without a new duplicate or proposal.
    count = License.objects.count()
    casps(JANUARY, "--publish")
    assert License.objects.count() == count + 27
    assert MatchProposal.objects.count() == 1
    seed.refresh_from_db()
    assert str(seed.granted) == "27 January 2025"
    assert seed.citations.get(supports="granted_on", source__kind=Source.Kind.OFFICIAL_REGISTER).source.title.endswith(
        "(snapshot 23 January 2026)"
    )


def test_a_match_cannot_be_decided_by_whoever_last_edited_the_records(seed_data):
    casps(DECEMBER)
    proposal = MatchProposal.objects.get()
    reviewer = ReviewerFactory()
    imported = proposal.imported_entity
    imported.last_edited_by = reviewer
    imported.save()
    with pytest.raises(PermissionDenied, match="last edit"):
        esma.accept_match(proposal, reviewer=reviewer)
    other = ReviewerFactory()
    esma.reject_match(proposal, reviewer=other, note="A different OKX.")
    assert MatchProposal.objects.get().status == MatchProposal.Status.REJECTED
    casps(DECEMBER)
    assert MatchProposal.objects.count() == 1


# ---------------------------------------------------------------------------
# Admin: upload with preview, flags, match queue
# ---------------------------------------------------------------------------


def test_admin_upload_previews_a_dry_run_then_imports_on_confirm(countries, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from tests.factories import CuratorFactory

    client.force_login(CuratorFactory())
    url = reverse("admin:registry_esma_import")
    assert client.get(url).status_code == 200
    upload = SimpleUploadedFile(DECEMBER.name, DECEMBER.read_bytes(), content_type="text/csv")
    page = client.post(url, {"kind": "casps", "file": upload})
    text = page.content.decode()
    assert "created 118 entities, 119 licences, 15 regulators, 1 source" in text
    assert "unchanged 0 rows; no longer listed 0 licences; flagged 12 rows; all drafts" in text
    assert "fails the ISO 17442 check" in text  # the flagged rows are listed
    assert License.objects.count() == 0  # a preview writes nothing
    # A curator cannot skip the second reviewer.
    upload = SimpleUploadedFile(DECEMBER.name, DECEMBER.read_bytes(), content_type="text/csv")
    refused = client.post(url, {"kind": "casps", "file": upload, "publish": "on"}).content.decode()
    assert "Only a reviewer can publish" in refused

    response = client.post(url, {"confirm": "1", "sha256": hashlib.sha256(DECEMBER.read_bytes()).hexdigest()})
    assert response.status_code == 302
    assert License.objects.count() == 119
    assert License.objects.published().count() == 0


def test_admin_upload_of_a_file_that_is_not_esmas_is_refused_politely(countries, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from tests.factories import CuratorFactory

    client.force_login(CuratorFactory())
    upload = SimpleUploadedFile("CASP20260101.csv", b"name,website\nAcme,acme.example\n", content_type="text/csv")
    page = client.post(reverse("admin:registry_esma_import"), {"kind": "casps", "file": upload})
    assert page.status_code == 200
    assert "CASP20260101.csv is not one of ESMA&#x27;s MiCA register files" in page.content.decode()
    assert Entity.objects.count() == 0


def test_admin_lists_flagged_records(countries, admin_client):
    from django.urls import reverse

    casps(DECEMBER)
    flagged = admin_client.get(reverse("admin:registry_entity_changelist"), {"flagged": "yes", "q": "BANK"})
    assert "OPEN BANK S.A." in flagged.content.decode()
    clean = admin_client.get(reverse("admin:registry_entity_changelist"), {"flagged": "no", "q": "BANK"})
    assert "OPEN BANK S.A." not in clean.content.decode()
    licences = admin_client.get(reverse("admin:registry_license_changelist"), {"flagged": "yes"})
    assert licences.status_code == 200
    counts = re.findall(r">(\d+) (flags?)</span>", licences.content.decode())
    assert counts and all((number == "1") == (word == "flag") for number, word in counts)
    run("import_esma_ncasp", NCASP)
    assert admin_client.get(reverse("admin:registry_warningnotice_changelist")).status_code == 200


def test_admin_match_queue_accepts_through_four_eyes(seed_data, client):
    from django.urls import reverse

    casps(DECEMBER, "--publish")
    proposal = MatchProposal.objects.get()
    client.force_login(ReviewerFactory())
    changelist = reverse("admin:registry_matchproposal_changelist")
    assert "OKX Europe Limited" in client.get(changelist).content.decode()
    client.post(changelist, {"action": "accept_selected", "_selected_action": [proposal.pk]})
    proposal.refresh_from_db()
    assert proposal.status == MatchProposal.Status.ACCEPTED
    assert License.objects.get(slug="okx-mica-casp").official_register_key == "esma-casp:54930069NLWEIGLHXU42"


def test_publish_goes_through_the_review_service_so_what_it_makes_public_is_dated(countries):
    """--publish puts records live through ``review.publish_as_operator``: a curator's published licence of a
    firm the import publishes becomes public then, and its history (the change feed, the as-of view) says so."""
    from tests.factories import DraftEntityFactory, LicenseFactory

    holder = DraftEntityFactory(name="Coinbase Europe Limited", lei="984500F14CA4571AAC11")
    licence = LicenseFactory(holder=holder)
    rows_before = licence.history.count()
    assert not License.objects.published().filter(pk=licence.pk).exists()

    casps(DECEMBER, "--publish")
    holder.refresh_from_db()
    assert holder.is_published and holder.published_by is None
    assert "--publish" in holder.history.latest().history_change_reason
    assert License.objects.published().filter(pk=licence.pk).exists()
    assert licence.history.count() == rows_before + 1
    assert licence.history.latest().history_change_reason == "Public since “Coinbase Europe Limited” was published"


def test_a_snapshot_listing_a_licence_again_moves_its_last_verified_date(countries, client):
    """The register listing a licence again verifies it: its public "last verified" date moves to the snapshot's
    date, whether its facts changed or not (a change to a published licence carries it to the reviewer), and
    never back to an older snapshot's."""
    casps(DECEMBER, "--publish")
    okx = License.objects.get(official_register_key="esma-casp:54930069NLWEIGLHXU42")  # listed unchanged in January
    coinbase = License.objects.get(official_register_key="esma-casp:984500F14CA4571AAC11")  # gains service (f)
    assert okx.last_verified_on == coinbase.last_verified_on == datetime.date(2025, 12, 15)
    version = okx.version

    casps(JANUARY)
    okx.refresh_from_db()
    assert okx.last_verified_on == datetime.date(2026, 1, 23)
    assert okx.history.latest().last_verified_on == datetime.date(2026, 1, 23)  # what the as-of view reads
    review.publish(Source.objects.get(published_on=datetime.date(2026, 1, 23)), reviewer=ReviewerFactory())
    assert client.get(f"/api/licenses/{okx.slug}/").json()["last_verified_on"] == "2026-01-23"
    # Not an edit of its facts: still published, same version, nothing waiting for review.
    assert okx.is_published and okx.version == version
    assert not Revision.objects.pending().for_object(okx).exists()
    # A changed licence is verified with its change, once a reviewer approves it.
    coinbase.refresh_from_db()
    assert coinbase.last_verified_on == datetime.date(2025, 12, 15)
    review.approve(Revision.objects.pending().for_object(coinbase).get(), reviewer=ReviewerFactory())
    coinbase.refresh_from_db()
    assert coinbase.last_verified_on == datetime.date(2026, 1, 23)

    casps(DECEMBER, "--publish")
    okx.refresh_from_db()
    assert okx.last_verified_on == datetime.date(2026, 1, 23)


def test_a_snapshot_imported_for_review_leaves_the_licences_it_lists_again_on_the_site(countries, client):
    """Importing a newer snapshot without --publish makes it a draft source: the licences it lists again keep
    their published citation (and their public page) until a reviewer publishes the snapshot; then they cite it."""
    casps(DECEMBER, "--publish")
    okx = License.objects.get(official_register_key="esma-casp:54930069NLWEIGLHXU42")  # listed unchanged in January
    assert client.get(okx.get_absolute_url()).status_code == 200

    casps(JANUARY)
    assert client.get(okx.get_absolute_url()).status_code == 200
    assert client.get(f"/api/licenses/{okx.slug}/").status_code == 200
    january = Source.objects.get(published_on=datetime.date(2026, 1, 23))
    assert not january.is_published

    review.publish(january, reviewer=ReviewerFactory())
    cited = {citation.source.published_on for citation in okx.citations.all()}
    assert datetime.date(2026, 1, 23) in cited
    count = okx.citations.count()
    casps(JANUARY)  # the same file again: nothing new to cite
    assert okx.citations.count() == count


# ---------------------------------------------------------------------------
# Admin upload: the command's checks, and the last good file for sync_esma
# ---------------------------------------------------------------------------


def upload(client, name, data, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    return client.post(
        reverse("admin:registry_esma_import"),
        {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **fields},
    )


def confirm(client, data):
    from django.urls import reverse

    return client.post(
        reverse("admin:registry_esma_import"), {"confirm": "1", "sha256": hashlib.sha256(data).hexdigest()}
    )


def everything_written():
    from django.apps import apps

    from imports.models import RegisterFetch

    counts = {model.__name__: model.objects.count() for model in apps.get_app_config("registry").get_models()}
    return {**counts, "RegisterFetch": RegisterFetch.objects.count()}


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        # A download cut short: no final line break, then a row missing its last cells.
        (lambda data: data[:-2], "the file does not end with a line break: it is cut short"),
        (lambda data: data[: data.rindex(b",", 0, len(data) - 40)] + b"\r\n", "the file is cut short"),
        # ESMA renamed a column: read as blank, it would erase what it held.
        (lambda data: data.replace(b"ac_comments", b"ac_remarks", 1), "has no column ac_comments"),
    ],
    ids=["no-final-line-break", "short-last-row", "missing-column"],
)
def test_admin_upload_refuses_what_the_command_refuses_naming_the_file(countries, client, cut, message):
    from tests.factories import CuratorFactory

    client.force_login(CuratorFactory())
    before = everything_written()
    page = upload(client, JANUARY.name, cut(JANUARY.read_bytes()))
    text = page.content.decode()
    assert page.status_code == 200
    assert f"Nothing was imported: {JANUARY.name}" in text and message in text
    assert 'name="confirm"' not in text  # nothing to confirm
    assert everything_written() == before


def test_admin_upload_recognises_the_register_by_its_header(countries, client):
    from tests.factories import CuratorFactory

    client.force_login(CuratorFactory())
    page = upload(client, NCASP.name, NCASP.read_bytes()).content.decode()
    assert 'name="confirm"' in page
    assert confirm(client, NCASP.read_bytes()).status_code == 302
    assert WarningNotice.objects.exists() and not License.objects.exists()


def test_admin_upload_of_a_register_without_an_importer_writes_nothing(countries, client, monkeypatch):
    from tests.factories import CuratorFactory

    monkeypatch.delitem(esma.IMPORTERS, "other", raising=False)
    client.force_login(CuratorFactory())
    before = everything_written()
    other = ESMA / "OTHER20260129.csv"
    text = upload(client, other.name, other.read_bytes()).content.decode()
    assert "Nothing was imported: OTHER20260129.csv: the register of white papers" in text
    assert "has no importer yet" in text
    assert everything_written() == before


def test_a_file_imported_in_the_admin_becomes_the_last_good_file_for_sync_esma(countries, client):
    from imports.models import RegisterFetch
    from tests.factories import ReviewerFactory

    client.force_login(ReviewerFactory())
    data = JANUARY.read_bytes()
    upload(client, JANUARY.name, data, publish="on")
    assert not RegisterFetch.objects.exists()  # the preview records nothing
    assert confirm(client, data).status_code == 302
    state = RegisterFetch.objects.get(register="CASP")
    assert (state.sha256, state.row_count) == (hashlib.sha256(data).hexdigest(), 146)
    assert state.last_import is not None
    assert License.objects.published().count() == License.objects.count() > 0


# ---------------------------------------------------------------------------
# The change feed agrees with the lists: an import's licences are dated when they went public
# ---------------------------------------------------------------------------


def licence_entries(record=None):
    """The change feed's entries of licences' own rows (not their citations'), newest first."""
    from history import feed

    return [
        change
        for change in feed.iterate(feed.Filters(types=("license",), record=record))
        if not any(item.field.startswith("Citation") for item in change.changes)
    ]


def test_a_published_import_lists_each_public_licence_once_in_the_change_feed(countries, client):
    esma.import_file("casps", DECEMBER, publish=True)
    public = sorted(licence.get_absolute_url() for licence in License.objects.published())
    assert len(public) == 119
    entries = licence_entries()
    assert sorted(change.url for change in entries) == public
    assert {change.action for change in entries} == {"created"}
    # As many licences in the feed as the public list and the API count.
    assert len(entries) == client.get("/api/licenses/").json()["count"] == 119
    assert "119 licences" in client.get("/licenses/").content.decode()


def test_a_later_snapshot_changes_a_published_licence_not_publishes_it(countries, tmp_path):
    esma.import_file("casps", DECEMBER, publish=True)
    esma.import_file("casps", ESMA / "CASP20251223.csv", publish=True)
    incrementum = License.objects.get(official_register_key="esma-casp:485100UM87L7ILR4L484")  # gains passports
    entries = licence_entries(incrementum)
    assert [change.action for change in entries] == ["changed", "created"]
    assert "Passported to" in {item.field for item in entries[0].changes}

    # A snapshot without a firm: its licence is marked no longer listed, a change the feed shows.
    later = derived_file(tmp_path, "CASP20251224.csv", ESMA / "CASP20251223.csv", lambda rows: rows[1:])
    esma.import_file("casps", later, publish=True)
    gone = License.objects.get(not_listed_since=datetime.date(2025, 12, 24))
    assert [change.action for change in licence_entries(gone)][0] == "changed"
    assert "published" not in [change.action for change in licence_entries(gone)]


def test_a_reviewer_publishing_a_draft_snapshot_puts_its_licences_in_the_change_feed_then(countries, tmp_path):
    from registry.models import Regime

    esma.import_file("casps", derived_file(tmp_path, DECEMBER.name, DECEMBER, lambda rows: rows[:5]))
    reviewer = ReviewerFactory()
    # Everything but the snapshot: the licences are published, and wait for their one source.
    for model in (Regime, Regulator, Entity, License):
        for record in model.objects.filter(publication_status=Publication.DRAFT):
            review.publish(record, reviewer=reviewer)
    assert License.objects.published().count() == 0 and licence_entries() == []

    source = review.publish(Source.objects.get(), reviewer=reviewer)
    entries = licence_entries()
    assert sorted(change.url for change in entries) == sorted(lic.get_absolute_url() for lic in License.objects.all())
    assert {change.action for change in entries} == {"published"}
    assert {change.reason for change in entries} == {f"Public since “{source}” was published"}
    assert min(change.date for change in entries) >= source.history.latest().history_date


def test_a_number_that_only_passes_the_lei_check_digits_is_not_an_lei():
    """ESMA's cells hold company file numbers where LEIs belong; some pass ISO 7064's check (8908983722 does)
    but are no LEI: kept as published and flagged, never written as one (the entity's LEI format constraint)."""
    lei, as_published, flags = esma.normalise_lei("8908983722")
    assert (lei, as_published) == ("", "8908983722")
    assert "10 characters, not 20" in flags[0]["message"]
