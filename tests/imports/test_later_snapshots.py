"""A later snapshot of each of ESMA's five files, built from the real ones (rows added, changed and removed; a
non-empty ART file from the README's columns), imports cleanly through ``manage.py import_esma``: the official
register's history records exactly those changes, and importing the same file again writes nothing."""

import csv
import io
import itertools
import string

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from official.models import RegisterChange, RegisterSnapshot
from registry.models import Revision
from tests.conftest import ESMA_DATA

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


# The file each register's later snapshot is built from, and what its changed row changes: ESMA's comments and
# dates, an address, host states, a withdrawal (an authorisation's end date).
def noted(value):
    return f"Changed in the later snapshot. {value}".strip()


FILES = {
    "casp": (
        "CASP20260123.csv",
        {"ae_address": noted, "ac_authorisationEndDate": "10/02/2026", "ac_lastupdate": "10/02/2026"},
    ),
    "ncasp": ("NCASP20260129.csv", {"ae_reason": noted, "ae_website": "https://changed.example.com"}),
    "other": ("OTHER20260129.csv", {"wp_comments": noted, "ae_offerCode_cou": "FR|IT", "wp_lastupdate": "10/02/2026"}),
    "emt": ("EMT20260129.csv", {"wp_comments": noted, "ac_authorisationEndDate": "10/02/2026"}),
    "art": ("ART20260129.csv", {"wp_comments": noted, "wp_url_cou": "FR", "ae_credit_institution": "Yes"}),
}
LATER = "20260212"
_lei_numbers = itertools.count(1)


def new_lei() -> str:
    """A valid ISO 17442 LEI no ESMA file holds (check digits by ISO 7064 MOD 97-10)."""
    base = f"9999ZZTEST{next(_lei_numbers):08d}"
    number = int("".join(str(int(c, 36)) if c in string.ascii_uppercase else c for c in f"{base}00"))
    return f"{base}{98 - number % 97:02d}"


def read(path):
    text = path.read_bytes().decode("utf-8").lstrip("\ufeff")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    return header, [row for row in rows if any(cell.strip() for cell in row)]


def write(tmp_path, name, header, rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    path = tmp_path / name
    path.write_bytes(("\ufeff" + out.getvalue()).encode("utf-8"))
    return path


def art_rows(header, count):
    """Asset-referenced token issuers, column by column as the README defines the ART file (EMT's columns plus
    ae_credit_institution and wp_url_cou): ESMA lists none yet."""
    rows = []
    for n in range(1, count + 1):
        values = {
            "ae_competentAuthority": "Central Bank of Ireland",
            "ae_homeMemberState": "IE",
            "ae_lei_name": f"Example Reserve Issuer {n} Limited",
            "ae_lei": new_lei(),
            "ae_lei_cou_code": "IE",
            "ae_commercial_name": f"Example Reserve {n}",
            "ae_address": f"{n} Harbour Square, Dublin 2",
            "ae_website": f"https://reserve{n}.example.ie",
            "ac_authorisationNotificationDate": "15/01/2026",
            "ac_authorisationEndDate": "",
            "ae_credit_institution": "No" if n % 2 else "Yes",
            "wp_url": f"https://reserve{n}.example.ie/white-paper.pdf",
            "wp_authorisationNotificationDate": "20/01/2026",
            "wp_url_cou": "FR|DE" if n % 2 else "NL",
            "wp_comments": "",
            "wp_lastupdate": "29/01/2026",
        }
        rows.append([values.get(column, "") for column in header])
    return rows


def unique_rows(header, rows):
    """Indexes of the rows whose issuer (its name) appears on no other row: changing or removing one of them
    changes one record of the official register, whatever the register's key."""
    name = header.index("ae_lei_name")
    seen = {}
    for row in rows:
        seen[row[name].strip().casefold()] = seen.get(row[name].strip().casefold(), 0) + 1
    return [i for i, row in enumerate(rows) if row[name].strip() and seen[row[name].strip().casefold()] == 1]


def later_snapshot(header, rows, changes):
    """``rows`` with the first unique row's cells changed as ``changes`` says (a value, or a function of the old
    one), the last unique row removed, and a new firm's row (a copy of a unique row with another name, LEI and
    address) added."""
    unique = unique_rows(header, rows)
    changed, removed, model = unique[0], unique[-1], unique[len(unique) // 2]
    later = [list(row) for row in rows]
    for column, value in changes.items():
        old = later[changed][header.index(column)]
        later[changed][header.index(column)] = value(old) if callable(value) else value
    added = list(rows[model])
    added[header.index("ae_lei_name")] = "Later Snapshot Example GmbH"
    added[header.index("ae_lei")] = new_lei()
    if "wp_url" in header:
        added[header.index("wp_url")] = "https://later-snapshot.example.eu/white-paper.pdf"
    for code in ("ae_DTI", "ae_DTI_FFG"):
        if code in header:
            added[header.index(code)] = ""
    del later[removed]
    return [*later, added]


def history_rows() -> int:
    """Every row of every history table the import writes to, with the official register's and the reviews'."""
    total = RegisterChange.objects.count() + RegisterSnapshot.objects.count() + Revision.objects.count()
    for model in apps.get_app_config("registry").get_models():
        if model.__name__.startswith("Historical"):
            total += model.objects.count()
    return total


def import_esma(path, publish):
    call_command("import_esma", str(path), *(["--publish"] if publish else []), stdout=io.StringIO())


@pytest.mark.parametrize("publish", [True, False], ids=["publish", "for-review"])
@pytest.mark.parametrize("register", list(FILES))
def test_a_later_snapshot_records_its_changes_once_and_imports_again_as_a_no_op(countries, tmp_path, register, publish):
    name, changes = FILES[register]
    header, rows = read(ESMA_DATA / name)
    import_esma(ESMA_DATA / name, publish=True)
    if register == "art":
        # ESMA's file is empty: a first non-empty snapshot lists three issuers, the later one changes them.
        rows = art_rows(header, 3)
        import_esma(write(tmp_path, "ART20260205.csv", header, rows), publish=True)
    path = write(tmp_path, f"{name[: -len('20260129.csv')]}{LATER}.csv", header, later_snapshot(header, rows, changes))

    import_esma(path, publish=publish)

    snapshot = RegisterSnapshot.objects.get(register=register, date="2026-02-12")
    kinds = sorted(snapshot.changes.values_list("kind", flat=True))
    assert kinds == ["changed", "listed", "removed"]
    listed = snapshot.changes.get(kind="listed")
    assert listed.label.startswith("Later Snapshot Example GmbH")
    assert listed.entity_id or listed.license_id  # linked to the record the import made of it
    before = history_rows()
    with CaptureQueriesContext(connection) as queries:
        import_esma(path, publish=publish)
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "imports_registerfetch" not in q["sql"]  # the fetch state: when the file was last imported
    ]
    assert writes == []
    assert history_rows() == before
