"""`manage.py import_esma FILE…`: one way in for ESMA's register files, each recognised by its header."""

import io
import shutil

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from imports import esma
from imports.esma.registers import BY_CODE
from registry.models import License, LicenseCitation, Source, WarningNotice
from tests.conftest import ESMA_DATA

DECEMBER = ESMA_DATA / "CASP20251215.csv"
JANUARY = ESMA_DATA / "CASP20260123.csv"
NCASP = ESMA_DATA / "NCASP20260129.csv"
REAL_FILES = {"CASP": JANUARY, "NCASP": NCASP}
REAL_FILES.update({code: ESMA_DATA / f"{code}20260129.csv" for code in ("OTHER", "EMT", "ART")})


def run(*args, command="import_esma"):
    out = io.StringIO()
    call_command(command, *map(str, args), stdout=out)
    return out.getvalue()


def database_rows():
    """Rows in every table of the register, history tables included: equal before and after means nothing written."""
    return {model.__name__: model.objects.count() for model in apps.get_app_config("registry").get_models()}


@pytest.mark.parametrize("code", list(REAL_FILES))
def test_each_registers_columns_are_those_of_esmas_real_file(code):
    header = REAL_FILES[code].read_bytes().decode("utf-8-sig").splitlines()[0].split(",")
    assert BY_CODE[code].columns == tuple(column for column in header if column)


def test_each_file_is_recognised_by_its_header_not_its_name(countries, tmp_path):
    # Each file under the other's name: the header decides, and the dates in the names still order them.
    casps, ncasps = tmp_path / "NCASP20260123.csv", tmp_path / "CASP20260129.csv"
    shutil.copy(JANUARY, casps)
    shutil.copy(NCASP, ncasps)
    out = run(ncasps, casps, "--publish")
    assert License.objects.count() == 146
    assert WarningNotice.objects.count() == 100
    lines = out.splitlines()
    assert lines[0].startswith("NCASP20260123.csv (snapshot 2026-01-23): created 145 entities, 146 licences")
    assert lines[1].startswith("CASP20260129.csv (snapshot 2026-01-29): created ")
    assert "100 warning notices" in lines[1]


def test_files_are_imported_oldest_snapshot_first(countries):
    out = run(JANUARY, DECEMBER, "--publish")
    assert [line.split(" ")[0] for line in out.splitlines()] == ["CASP20251215.csv", "CASP20260123.csv"]
    assert out.splitlines()[1].startswith("CASP20260123.csv (snapshot 2026-01-23): created 27 entities, 27 licences")
    # Every fact cites the newest snapshot: imported newest first, the older one would have taken most citations.
    cited = set(LicenseCitation.objects.values_list("source__slug", flat=True))
    assert cited == {"esma-mica-casps-2026-01-23"}


def test_importing_the_same_file_again_writes_nothing(countries):
    run(JANUARY, NCASP, "--publish")
    before = database_rows()
    out = run(JANUARY, NCASP, "--publish")
    assert database_rows() == before
    for line in out.splitlines():
        assert "created nothing; updated nothing;" in line


def test_a_register_without_an_importer_fails_naming_the_file_and_the_others_import(countries, monkeypatch):
    for kind in ("other", "emt", "art"):
        monkeypatch.delitem(esma.IMPORTERS, kind, raising=False)
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_esma", *(str(path) for path in REAL_FILES.values()), "--publish", stdout=out)
    message = str(raised.value)
    assert message.startswith("3 of 5 files not imported:")
    for code in ("OTHER", "EMT", "ART"):
        assert f"{code}20260129.csv: the register of {BY_CODE[code].title} ({code}) has no importer yet" in message
    assert License.objects.count() == 146 and WarningNotice.objects.count() == 100
    assert len(out.getvalue().splitlines()) == 2


def cut_mid_row(data):
    return data[: len(data) // 2]


def unterminated_quote(data):
    return data + b'AMF,FR,"Unfinished name\r\n'


def renamed_column(data):
    return data.replace(b"ac_serviceCode_cou", b"ac_host_states", 1)


def not_esma(data):
    return b"name,country\r\nAcme,FR\r\n"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (cut_mid_row, r"CASP20260123\.csv, line 81: the file does not end with a line break: it is cut short"),
        # The file has 149 lines (some rows span two); the row added is line 150.
        (unterminated_quote, r"CASP20260123\.csv, line 150: unexpected end of data"),
        (renamed_column, r"CASP20260123\.csv is not one of ESMA's MiCA register files"),
        (not_esma, r"CASP20260123\.csv is not one of ESMA's MiCA register files"),
        (lambda data: b"", r"CASP20260123\.csv is empty"),
    ],
)
def test_a_bad_file_names_itself_writes_nothing_and_the_others_import(countries, tmp_path, damage, message):
    bad = tmp_path / JANUARY.name
    bad.write_bytes(damage(JANUARY.read_bytes()))
    before = database_rows()
    with pytest.raises(CommandError, match=message):
        run(bad)
    assert database_rows() == before
    with pytest.raises(CommandError, match=r"1 of 2 files not imported:\n" + message):
        run(bad, NCASP)
    assert WarningNotice.objects.count() == 100
    assert not License.objects.exists()


def test_a_file_missing_one_of_its_registers_columns_is_refused(countries, tmp_path):
    bad = tmp_path / JANUARY.name
    bad.write_bytes(JANUARY.read_bytes().replace(b"ae_website_platform", b"ae_platform", 1))
    with pytest.raises(CommandError, match="looks like ESMA's CASP file but has no column ae_website_platform"):
        run(bad)
    assert not Source.objects.exists()


def test_the_aliases_import_through_the_same_checks(countries):
    out = run(JANUARY, command="import_esma_casps")
    assert out.startswith("CASP20260123.csv (snapshot 2026-01-23): created 145 entities, 146 licences")
    assert "all drafts" in out
    assert "created 97 entities, 100 warning notices" in run(NCASP, command="import_esma_ncasp")
    with pytest.raises(CommandError, match=r"NCASP20260129\.csv is ESMA's file of non-compliant entities \(NCASP\)"):
        run(NCASP, command="import_esma_casps")


def test_a_dry_run_writes_nothing(countries):
    before = database_rows()
    out = run(JANUARY, NCASP, "--dry-run")
    assert database_rows() == before
    assert [line.split(": ")[0] for line in out.splitlines()] == ["Dry run (nothing written)"] * 2
