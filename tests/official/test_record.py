"""Recording ESMA's files into the official register's history (official/record.py), on ESMA's real files."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from imports import esma
from official.models import ChangeKind, RegisterChange, RegisterSnapshot
from official.record import register_of
from registry.models import License
from tests.conftest import ESMA_DATA
from tests.factories import SourceFactory
from tests.official.conftest import CASP_FILES, derived_casp, parsed, record

LIST_COLUMNS = {"ac_serviceCode", "ac_serviceCode_cou", "ae_website"}


def esma_rows(name):
    """{(LEI, authorisation date): cells}: a firm listed twice has one row per authorisation."""
    text = (ESMA_DATA / name).read_bytes().decode("utf-8").lstrip("\ufeff")
    rows = {}
    for row in csv.DictReader(io.StringIO(text, newline="")):
        cells = {column: " ".join(value.split()) for column, value in row.items() if column}
        rows[(cells["ae_lei"], cells["ac_authorisationNotificationDate"])] = cells
    return rows


def same(column, a, b):
    if column in LIST_COLUMNS:
        return {item.strip() for item in a.split("|") if item.strip()} == {
            item.strip() for item in b.split("|") if item.strip()
        }
    return a == b


def expected_counts():
    """Per file: (listed, changed, no longer listed), by set differences on the files themselves."""
    counts, before = {}, {}
    for name in CASP_FILES:
        now = esma_rows(name)
        changed = sum(
            1 for key in now.keys() & before.keys() if not all(same(c, before[key][c], now[key][c]) for c in now[key])
        )
        counts[name] = (len(now.keys() - before.keys()), changed, len(before.keys() - now.keys()))
        before = now
    return counts


def counts_of(snapshot):
    got = RegisterSnapshot.objects.with_counts().get(pk=snapshot.pk)
    return got.listed, got.changed, got.removed


def chain():
    """Every recorded change, as what it says (independent of ids and of the order files came in)."""
    return {
        (c.snapshot.date, c.key, c.kind, repr(sorted(c.before.items())), repr(sorted(c.after.items())), c.row)
        for c in RegisterChange.objects.select_related("snapshot")
    }


def test_the_five_casp_snapshots_in_date_order_give_what_the_files_show(casp_history):
    expected = expected_counts()
    assert {name: counts_of(s) for name, s in casp_history.items()} == expected
    # What the files hold (checked by hand once): new firms each time, three changes, nobody dropped yet.
    assert expected == {
        "CASP20251215.csv": (119, 0, 0),
        "CASP20251223.csv": (14, 1, 0),
        "CASP20260106.csv": (9, 1, 0),
        "CASP20260115.csv": (0, 0, 0),
        "CASP20260123.csv": (4, 1, 0),
    }
    assert [s.previous for s in casp_history.values()] == [None, *list(casp_history.values())[:-1]]


def test_a_republished_identical_file_is_a_snapshot_without_changes(casp_history):
    republished = casp_history["CASP20260115.csv"]
    assert republished.sha256 == casp_history["CASP20260106.csv"].sha256
    assert republished.row_count == 142
    assert not republished.changes.exists()


def test_a_change_holds_esmas_cells_before_and_after(casp_history):
    change = casp_history["CASP20260123.csv"].changes.get(kind=ChangeKind.CHANGED)
    assert change.label == "Coinbase Luxembourg S.A. (984500F14CA4571AAC11)"
    # The passports were re-ordered and re-spaced, with the same states: not a change.
    assert set(change.after) == {"ae_website", "ac_serviceCode", "ac_lastupdate"}
    assert change.before["ae_website"] == "https://www.coinbase.com"
    assert change.after["ae_website"] == "https.//coinbase.com"
    services = next(f for f in change.fields if f.column == "ac_serviceCode")
    assert services.added == ("f. placing of crypto-assets",) and services.removed == ()


def test_recording_the_same_file_again_writes_nothing(casp_history):
    before = chain(), RegisterSnapshot.objects.count()
    source = SourceFactory()
    with CaptureQueriesContext(connection) as queries:
        assert record("CASP20260123.csv", source=source) is None
    assert (chain(), RegisterSnapshot.objects.count()) == before
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


@pytest.mark.parametrize(
    "order",
    [
        [4, 0, 2, 1, 3],
        [3, 1, 4, 0, 2],
        [0, 4, 1, 3, 2],
    ],
)
def test_files_recorded_out_of_order_give_the_same_chain(db, order):
    for i in order:
        record(CASP_FILES[i])
    shuffled = chain()
    previous = {s.date: s.previous.date if s.previous else None for s in RegisterSnapshot.objects.all()}
    RegisterChange.objects.all().delete()
    RegisterSnapshot.objects.all().delete()
    for name in CASP_FILES:
        record(name)
    assert shuffled == chain()
    assert previous == {s.date: s.previous.date if s.previous else None for s in RegisterSnapshot.objects.all()}


def test_a_firm_dropped_is_no_longer_listed_and_an_end_date_is_recorded(casp_history):
    bybit, bitpanda = "5299005V5GBSN2A4C303", "5493007WZ7IFULIL8G21"
    snapshot = record(*derived_casp(drop={bybit}, end=(bitpanda, "31/01/2026")))
    removed = snapshot.changes.get(kind=ChangeKind.REMOVED)
    assert removed.key == f"esma-casp:{bybit}" and removed.before["ae_lei_name"] == "Bybit EU GmbH"
    ended = snapshot.changes.get(kind=ChangeKind.CHANGED)
    assert ended.sets_end_date and ended.end_date == "31/01/2026" and ended.before == {"ac_authorisationEndDate": ""}
    news = RegisterChange.objects.authorisation_news()
    assert set(news.filter(snapshot=snapshot)) == {removed, ended}
    # The first snapshot's rows say where the history starts, not that 119 firms were authorised that day.
    assert not news.filter(snapshot=casp_history["CASP20251215.csv"]).exists()


@pytest.mark.parametrize(
    ("name", "register", "rows"),
    [
        ("CASP20260123.csv", "casp", 146),
        ("NCASP20260129.csv", "ncasp", 101),
        ("OTHER20260129.csv", "other", 694),
        ("EMT20260129.csv", "emt", 31),
        ("ART20260129.csv", "art", 0),
    ],
)
def test_each_esma_file_is_recorded_under_its_register_with_a_key_per_row(db, name, register, rows):
    assert register_of(parsed(name)) == register
    snapshot = record(name)
    assert (snapshot.register, snapshot.row_count) == (register, rows)
    # The first snapshot of a register lists every row, each under its own key (duplicates told apart).
    assert snapshot.changes.filter(kind=ChangeKind.LISTED).count() == rows
    assert not RegisterChange.objects.filter(key="").exists()


def test_queries_stay_flat_as_the_file_grows(db):
    """The same queries for 10 rows as for 60 (within one batch of inserts), first snapshot or the next."""
    lines = (ESMA_DATA / "CASP20251215.csv").read_bytes().split(b"\r\n")

    def queries_for(rows):
        RegisterChange.objects.all().delete()
        RegisterSnapshot.objects.all().delete()
        counts = []
        for name in ("CASP20251215.csv", "CASP20251223.csv"):
            source = SourceFactory()
            with CaptureQueriesContext(connection) as queries:
                record(name, b"\r\n".join(lines[: rows + 1]) + b"\r\n", source=source)
            counts.append(len(queries))
        return counts

    assert queries_for(10) == queries_for(60)


def test_a_file_of_a_day_corrected_by_esma_replaces_that_days_snapshot(casp_history):
    name, data = derived_casp("CASP20260123.csv", drop={"5299005V5GBSN2A4C303"})
    snapshot = record(name, data)
    assert snapshot.pk == casp_history["CASP20260123.csv"].pk
    assert counts_of(snapshot) == (4, 1, 1)
    assert RegisterSnapshot.objects.filter(register="casp").count() == 5


@pytest.mark.slow
def test_the_importer_records_each_file_in_its_transaction(db, countries_fixture):
    """Through ESMA's importer: the history links our licences, a dry run and a re-import write none of it."""
    from django.core.management import call_command

    call_command("loaddata", str(countries_fixture), verbosity=0)
    for name in CASP_FILES[:2]:
        esma.import_file("casps", ESMA_DATA / name, publish=True)
    snapshot = RegisterSnapshot.objects.get(date="2025-12-23")
    assert counts_of(snapshot) == (14, 1, 0)
    assert snapshot.source.sha256 == snapshot.sha256
    linked = snapshot.changes.filter(license__isnull=False)
    assert linked.count() == 15
    assert all(c.license == License.objects.get(official_register_key=c.key) for c in linked)
    before = chain(), RegisterSnapshot.objects.count()
    esma.import_file("casps", ESMA_DATA / CASP_FILES[1], publish=True)
    esma.import_file("casps", ESMA_DATA / CASP_FILES[2], dry_run=True)
    assert (chain(), RegisterSnapshot.objects.count()) == before
    esma.import_file("ncasps", ESMA_DATA / "NCASP20260129.csv")
    ncasp = RegisterSnapshot.objects.get(register="ncasp")
    assert counts_of(ncasp) == (101, 0, 0)
    assert ncasp.changes.filter(entity__isnull=False).count() == 101
