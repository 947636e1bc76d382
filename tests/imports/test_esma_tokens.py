"""ESMA's white-paper files (other crypto-assets, EMTs, ARTs), imported from the real files."""

import csv
import datetime
import hashlib
import io

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from stdnum import lei as stdnum_lei

from imports import esma
from registry.models import (
    CryptoAsset,
    Entity,
    EntityCitation,
    MatchProposal,
    Publication,
    Regulator,
    Source,
    WhitePaper,
    WhitePaperCitation,
)
from tests.conftest import ESMA_DATA
from tests.factories import EntityFactory

OTHER = ESMA_DATA / "OTHER20260129.csv"
EMT = ESMA_DATA / "EMT20260129.csv"
ART = ESMA_DATA / "ART20260129.csv"


def history_count():
    models = [Entity, EntityCitation, Regulator, Source, WhitePaper, WhitePaperCitation, CryptoAsset]
    host_states = apps.get_model("registry", "HistoricalWhitePaper_host_states")
    return sum(model.history.count() for model in models) + host_states.objects.count()


def read_rows(path):
    text = path.read_bytes().decode("utf-8").lstrip("\ufeff")  # line ends inside cells kept as published
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def write_rows(tmp_path, name, header, rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    path = tmp_path / name
    path.write_bytes(out.getvalue().encode("utf-8"))
    return path


def test_the_white_papers_file_imports_one_paper_per_row(countries):
    counts = esma.import_file("other", OTHER)

    header, rows = read_rows(OTHER)
    # 694 rows; two repeat another row cell for cell (VeChain, Ape Foundation): the same paper, flagged.
    assert len(rows) == counts.created + counts.unchanged == 694
    assert counts.created == WhitePaper.objects.count() == 692
    assert WhitePaper.objects.filter(kind="other", publication_status=Publication.DRAFT).count() == 692
    assert WhitePaper.objects.filter(quality_flags__icontains="listed_twice").count() == 2
    named = {row[3].strip() for row in rows if row[3].strip()}
    with_lei = WhitePaper.objects.exclude(offeror__lei="").exclude(offeror=None)
    # 73 names appear with an LEI; ESMA gives 70 distinct LEI cells, 67 of them valid ISO 17442 LEIs.
    assert len({row[2].strip() for row in rows if row[3].strip()}) == 73
    assert with_lei.values("offeror").distinct().count() == 67
    assert len(named) == 70
    assert WhitePaper.objects.filter(offeror=None).count() == sum(
        1 for row in rows if row[2].strip().casefold() in ("", "not available")
    )  # no unnamed row is repeated
    # Filed by a CASP for the offeror: the CASP's LEI or name.
    assert WhitePaper.objects.exclude(filed_by=None).count() == sum(1 for row in rows if row[5].strip())
    # Every paper cites the file's one source.
    source = Source.objects.get(title__startswith="ESMA interim MiCA register: white papers")
    assert WhitePaperCitation.objects.filter(source=source, supports="").count() == 692


def test_a_white_paper_reads_the_columns_as_esma_defines_them(countries):
    esma.import_file("other", OTHER)

    paper = WhitePaper.objects.get(url__startswith="https://www.biogena.com/biox")
    assert paper.offeror.lei == "52990050KC7YUM8VD941"
    assert paper.filed_by.name == "Tangany GmbH" and paper.filed_by.lei == "529900WKXS5ZPJY9W498"
    assert paper.regulator.name == "Austrian Financial Market Authority"
    assert paper.jurisdiction.code == "AT"
    assert str(paper.listed) == "4 November 2025"
    assert paper.notified_on is None  # the Title II file gives no notification date
    hosted = WhitePaper.objects.get(url="https://timberchain.io/TIMBER2026_Whitepaper.pdf")
    assert sorted(hosted.host_states.values_list("code", flat=True)) == ["CZ", "DE", "FR", "SK"]
    assert hosted.comments == "WP link pending"
    bare = WhitePaper.objects.get(url="https://www.desertgreener.io")
    assert [f["code"] for f in bare.quality_flags] == ["url_scheme_assumed"]
    file_name = WhitePaper.objects.get(url_as_published="xl1-mica-white-paper.pdf")
    assert file_name.url == "" and "url_invalid" in [f["code"] for f in file_name.quality_flags]


def test_tokens_are_identified_by_their_ffg_and_dtis(countries):
    esma.import_file("other", OTHER)

    token = CryptoAsset.objects.get(ffg="5RJT6339X")
    # Listed twice, once with "I" between the DTIs: one token, its three DTIs.
    assert sorted(token.dti_list) == ["46P3KPLQX", "6SSGLNPPP", "JKMF5L4KM"]
    assert token.white_papers.count() == 2
    flagged = token.white_papers.filter(quality_flags__icontains="dti_separator")
    assert flagged.count() == 1
    truncated = CryptoAsset.objects.get(ffg="6C7F2WVZH")
    assert "JVMWS68W1" in truncated.dti_list and "JVMWS68W" not in truncated.dti_list
    assert CryptoAsset.objects.count() == 16


def test_the_emt_file_imports_its_issuers_and_dates(countries):
    counts = esma.import_file("emt", EMT)

    # 31 rows, one of them repeating another cell for cell (StablR).
    assert counts.created == WhitePaper.objects.filter(kind="emt").count() == 30
    paper = WhitePaper.objects.get(url="https://www.circle.com/fr/legal/mica-eurc-whitepaper")
    assert paper.offeror.name == "Circle Internet Financial Europe SAS"
    assert str(paper.notified) == "1 July 2024"
    assert paper.issuer_authorisation == "Electronic money institution"
    assert paper.exemption_48_4 is False
    assert paper.crypto_asset.ffg == "13XTMPZT3" and paper.crypto_asset.kind == "emt"
    no_paper = WhitePaper.objects.filter(url_as_published="EMT_NO_WP")
    assert no_paper.count() == 2
    assert all("no_white_paper" in [f["code"] for f in p.quality_flags] for p in no_paper)


def test_the_empty_art_file_imports_nothing_but_its_source(countries):
    counts = esma.import_file("art", ART)

    assert counts.created == 0 and WhitePaper.objects.count() == 0
    assert Source.objects.filter(title__startswith="ESMA interim MiCA register: asset-referenced").count() == 1


def test_importing_the_same_file_again_writes_nothing(countries):
    esma.import_file("other", OTHER)
    esma.import_file("emt", EMT)
    before = history_count()

    with CaptureQueriesContext(connection) as queries:
        again = esma.import_file("other", OTHER)
    assert again.created == again.updated == 0
    assert history_count() == before
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert esma.import_file("emt", EMT).updated == 0
    assert history_count() == before


def test_a_later_snapshot_changes_removes_and_adds_papers(countries, tmp_path):
    esma.import_file("other", OTHER)
    header, rows = read_rows(OTHER)
    moved = rows[0][10]
    removed = rows[1][10].strip()
    later = [list(row) for row in rows]
    later[0][10] = "https://www.skygatetoken.at/white-paper-v2.pdf"
    del later[1]
    later.append([*rows[2][:10], "https://example.eu/new-token-white-paper.pdf", "", "28/01/2026", "", "", "", ""])
    path = write_rows(tmp_path, "OTHER20260205.csv", header, later)

    counts = esma.import_file("other", path)

    assert (counts.created, counts.updated, counts.not_listed) == (1, 1, 1)
    assert WhitePaper.objects.count() == 693
    changed = WhitePaper.objects.get(url="https://www.skygatetoken.at/white-paper-v2.pdf")
    assert changed.history.filter(url=moved).exists()
    assert WhitePaper.objects.get(url=f"https://{removed}").not_listed_since == datetime.date(2026, 2, 5)
    before = history_count()
    again = esma.import_file("other", path)
    assert (again.created, again.updated) == (0, 0)
    assert history_count() == before


def test_offerors_match_existing_entities_by_lei(countries):
    existing = EntityFactory(name="Bitstamp Europe", lei="549300XIBGTJ0PLIEO72")

    esma.import_file("other", OTHER)

    assert WhitePaper.objects.filter(offeror=existing).count() == 20
    assert WhitePaper.objects.filter(filed_by=existing).count() == 20
    assert Entity.objects.filter(lei="549300XIBGTJ0PLIEO72").count() == 1


def test_an_offeror_named_like_a_curated_entity_is_proposed_not_merged(countries):
    curated = EntityFactory(name="Skygate Network GmbH", lei="")

    counts = esma.import_file("other", OTHER)

    proposal = MatchProposal.objects.get(existing_entity=curated)
    assert proposal.imported_entity.lei == "984500BBFE52FE449926"
    assert counts.matches >= 1


def test_publish_puts_the_papers_live(countries):
    esma.import_file("other", OTHER, publish=True)

    assert WhitePaper.objects.published().count() == 692
    assert CryptoAsset.objects.published().count() == 16


def test_emt_issuers_match_curated_entities_by_lei_and_are_proposed_by_name(countries):
    """An issuer whose LEI a curated entity has is that entity; one whose name only is the same is proposed for a
    reviewer to decide (imports/esma/reconcile.py), never merged."""
    by_lei = EntityFactory(name="Paxos (curated)", lei="743700KYSSTKZYGEUF50")
    by_name = EntityFactory(name="Circle Internet Financial Europe SAS", lei="")

    counts = esma.import_file("emt", EMT)

    assert WhitePaper.objects.filter(kind="emt", offeror=by_lei).count() == 3
    assert Entity.objects.filter(lei="743700KYSSTKZYGEUF50").count() == 1
    proposal = MatchProposal.objects.get(existing_entity=by_name)
    assert proposal.imported_entity.lei == "969500OYUDADGZKCR583"
    assert WhitePaper.objects.filter(offeror=proposal.imported_entity).count() == 2
    assert counts.matches == 1


def import_queries(path, **options):
    """The statements an import of ``path`` runs: ``(inserts, others)``."""
    with CaptureQueriesContext(connection) as queries:
        esma.import_file("other", path, **options)
    inserts = [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    return len(inserts), len(queries) - len(inserts)


def other_lei(lei: str, n: int) -> str:
    """A valid LEI standing for ``lei`` in copy ``n`` (check digits by ISO 7064 MOD 97-10); not one if not one."""
    if not stdnum_lei.is_valid(lei.strip()):
        return f"{lei}{n}" if lei.strip() else lei
    base = hashlib.sha256(f"{lei}/{n}".encode()).hexdigest()[:18].upper()
    number = int("".join(str(int(c, 36)) for c in f"{base}00"))
    return f"{base}{98 - number % 97:02d}"


def copies(header, rows, times):
    """``rows`` again ``times`` times, each copy's firms renamed (each LEI replaced by another) and papers at new
    addresses: other firms' papers, as alike among themselves as the originals, so each copy meets the register
    as the originals do."""
    renamed = [header.index(column) for column in ("ae_lei_name", "ae_lei_name_casp")]
    leis = [header.index(column) for column in ("ae_lei", "ae_lei_casp")]
    url = header.index("wp_url")
    made = []
    for n in range(2, times + 2):
        for row in rows:
            row = list(row)
            for i in renamed:
                row[i] = f"{row[i]} {n}" if row[i].strip() and row[i].strip().casefold() != "not available" else row[i]
            for i in leis:
                row[i] = other_lei(row[i], n)
            row[url] = f"{row[url]}?copy={n}" if row[url].strip() else row[url]
            made.append(row)
    return made


@pytest.mark.slow
@pytest.mark.parametrize("publish", [False, True], ids=["drafts", "publish"])
def test_the_import_runs_the_same_queries_for_a_file_three_times_as_long(countries, tmp_path, publish):
    """Only the inserts' batches grow with the file (SQLite's bound on parameters cuts them): every other
    statement runs once per import, and a re-import (nothing to write) runs the same statements at either size."""
    header, rows = read_rows(OTHER)
    small = write_rows(tmp_path, "OTHER20260129.csv", header, rows[:200])
    (tmp_path / "large").mkdir()
    large = write_rows(tmp_path / "large", "OTHER20260129.csv", header, [*rows[:200], *copies(header, rows[:200], 2)])
    counted = {}
    for name, path in (("small", small), ("large", large)):
        with transaction.atomic():
            first = import_queries(path, publish=publish)
            again = import_queries(path, publish=publish)
            counted[name] = (first, again)
            transaction.set_rollback(True)
    (small_inserts, small_others), small_again = counted["small"]
    (large_inserts, large_others), large_again = counted["large"]
    assert large_others == small_others
    # One INSERT per table on PostgreSQL; on SQLite, batches its bound on parameters cuts, so at most 3 times as many.
    assert small_inserts <= large_inserts <= 3 * small_inserts
    assert large_again == small_again == (0, small_again[1])


def test_an_import_with_publish_tells_watchers_of_every_new_paper_and_licence(countries):
    """Once the register shows something, each record an import makes public is an event: a paper or a licence is
    public only with its citation, which the import writes after it."""
    from watch.models import Event

    esma.import_file("other", OTHER, publish=True)
    assert not Event.objects.exists()  # a first load on an empty register announces nothing

    esma.import_file("casps", ESMA_DATA / "CASP20260123.csv", publish=True)
    esma.import_file("emt", EMT, publish=True)

    new = dict(Event.objects.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    assert new["license.new"] == esma_public_licences()
    assert new["white_paper.new"] == WhitePaper.objects.published().filter(kind="emt").count() > 0


def esma_public_licences():
    from registry.models import License

    return License.objects.published().count()


def test_the_summary_line_counts_the_papers_and_tokens_it_created(countries):
    summary = esma.import_file("other", OTHER).summary()

    assert "692 white papers" in summary
    assert f"{CryptoAsset.objects.count()} crypto-assets" in summary
