"""The official register's history on the site: pages, diff, CSV/JSON and Atom feed agree, bad input is explained."""

import csv
import io
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse

from official.models import ChangeKind, RegisterChange
from registry.models import Publication
from tests.factories import DraftSourceFactory, LicenseFactory
from tests.official.conftest import CASP_FILES, derived_casp, record

ATOM = "{http://www.w3.org/2005/Atom}"
BYBIT, BITPANDA, COINBASE = "5299005V5GBSN2A4C303", "5493007WZ7IFULIL8G21", "984500F14CA4571AAC11"


@pytest.fixture
def history(casp_history):
    """The five snapshots and a sixth: Bybit dropped, Bitpanda given an end date."""
    later = record(*derived_casp(drop={BYBIT}, end=(BITPANDA, "31/01/2026")))
    return {**casp_history, "CASP20260130.csv": later}


def json_rows(client, url, **params):
    response = client.get(url, {**params, "page_size": 1000})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def csv_rows(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def keyed(rows):
    return {(row["key"], row["kind"]) for row in rows}


def test_the_index_counts_equal_the_lists_they_link_to(client, history):
    page = client.get(reverse("official:index")).content.decode()
    for snapshot in history.values():
        for kind in ChangeKind.values:
            expected = snapshot.changes.filter(kind=kind).count()
            url = f"{snapshot.get_absolute_url()}?kind={kind}"
            assert f'<a href="{url}">{expected}</a>' in page
            listed = json_rows(
                client, reverse("official:snapshot-export", args=["casp", snapshot.date, "json"]), kind=kind
            )
            assert len(listed) == expected


def test_a_snapshots_page_csv_and_json_list_the_same_changes(client, history):
    snapshot = history["CASP20260130.csv"]
    page = client.get(snapshot.get_absolute_url()).content.decode()
    as_json = json_rows(client, reverse("official:snapshot-export", args=["casp", snapshot.date, "json"]))
    as_csv = csv_rows(client, reverse("official:snapshot-export", args=["casp", snapshot.date, "csv"]))
    expected = {(c.key, c.kind) for c in snapshot.changes.all()}
    assert (
        keyed(as_json)
        == keyed(as_csv)
        == expected
        == {
            (f"esma-casp:{BYBIT}", "removed"),
            (f"esma-casp:{BITPANDA}", "changed"),
        }
    )
    assert "Bybit EU GmbH (5299005V5GBSN2A4C303)" in page and "No longer listed" in page
    assert "“(blank)” → “31/01/2026”" in page
    ended = next(row for row in as_json if row["kind"] == "changed")
    assert ended["changes"] == [{"field": "ac_authorisationEndDate", "old": "", "new": "31/01/2026"}]
    assert ended["sets_end_date"] is True and ended["snapshot"] == "2026-01-30"


def test_the_diff_of_two_consecutive_snapshots_is_what_was_recorded(client, history):
    snapshots = list(history.values())
    for older, newer in zip(snapshots, snapshots[1:], strict=False):
        url = reverse("official:diff-export", args=["casp", "json"])
        rows = json_rows(client, url, **{"from": older.date, "to": newer.date})
        stored = json_rows(client, reverse("official:snapshot-export", args=["casp", newer.date, "json"]))
        assert rows == stored


def test_the_diff_of_any_two_snapshots_is_their_files_difference(client, history):
    page = client.get(reverse("official:diff", args=["casp"]), {"from": "2025-12-15", "to": "2026-01-30"})
    assert page.status_code == 200
    rows = json_rows(
        client, reverse("official:diff-export", args=["casp", "json"]), **{"from": "2025-12-15", "to": "2026-01-30"}
    )
    kinds = {kind: {r["key"] for r in rows if r["kind"] == kind} for kind in ChangeKind.values}
    # 14 + 9 + 4 firms listed since, less Bybit (listed in December, dropped); three changed records and Bitpanda.
    assert len(kinds["listed"]) == 27 and kinds["removed"] == {f"esma-casp:{BYBIT}"}
    assert f"esma-casp:{COINBASE}" in kinds["changed"] and f"esma-casp:{BITPANDA}" in kinds["changed"]
    assert page.content.decode().count("<tr>") == len(rows) + 1


def test_the_feed_the_news_page_and_its_exports_list_the_same_changes(client, history):
    feed = ET.fromstring(client.get(reverse("official:feed")).content)  # noqa: S314 - our own response
    titles = [entry.find(f"{ATOM}title").text for entry in feed.iter(f"{ATOM}entry")]
    news = json_rows(client, reverse("official:news-export", args=["json"]))
    as_csv = csv_rows(client, reverse("official:news-export", args=["csv"]))
    page = client.get(reverse("official:news")).content.decode()
    expected = set(RegisterChange.objects.authorisation_news().values_list("key", "kind"))
    assert keyed(news) == keyed(as_csv) == expected
    # 14 + 9 + 4 listed after the first snapshot, Bybit dropped, Bitpanda's end date: the first snapshot left out.
    assert len(titles) == len(news) == 29
    assert "Bybit EU GmbH (5299005V5GBSN2A4C303): no longer listed" in titles
    assert "Bitpanda GmbH (5493007WZ7IFULIL8G21): authorisation end date 31/01/2026 published" in titles
    for row in news:
        assert row["record"] in page


def test_a_licence_page_shows_its_history_in_esmas_register(client, history):
    licence = LicenseFactory(official_register_key=f"esma-casp:{COINBASE}")
    gone = LicenseFactory(official_register_key=f"esma-casp:{BYBIT}")
    page = client.get(licence.get_absolute_url()).content.decode()
    assert "In ESMA&#x27;s register" in page or "In ESMA's register" in page
    assert "First listed" in page and "15 December 2025" in page and "the first snapshot we hold" in page
    assert "23 January 2026" in page and "added f. placing of crypto-assets" in page
    assert "No longer listed" not in page.split("In ESMA")[1]
    dropped = client.get(gone.get_absolute_url()).content.decode().split("In ESMA")[1]
    assert "No longer listed" in dropped and "30 January 2026" in dropped
    newcomer = LicenseFactory(
        official_register_key=history["CASP20260123.csv"].changes.filter(kind="listed").first().key
    )
    page = client.get(newcomer.get_absolute_url()).content.decode().split("In ESMA")[1]
    assert "First listed" in page and "23 January 2026" in page and "the first snapshot we hold" not in page


def test_a_licence_outside_esmas_register_has_no_such_section(client, history):
    page = client.get(LicenseFactory().get_absolute_url()).content.decode()
    assert "In ESMA" not in page


def test_a_change_links_our_record_only_while_it_is_public(client, db):
    public = LicenseFactory(official_register_key=f"esma-casp:{BYBIT}")
    draft = LicenseFactory(official_register_key=f"esma-casp:{BITPANDA}", publication_status=Publication.DRAFT)
    snapshot = record("CASP20251215.csv")
    page = client.get(snapshot.get_absolute_url()).content.decode()
    assert f'<a href="{public.get_absolute_url()}">' in page
    assert draft.get_absolute_url() not in page
    rows = {
        row["key"]: row["url"]
        for row in json_rows(client, reverse("official:snapshot-export", args=["casp", snapshot.date, "json"]))
    }
    assert rows[f"esma-casp:{BYBIT}"].endswith(public.get_absolute_url()) and rows[f"esma-casp:{BITPANDA}"] == ""


def test_a_snapshot_whose_source_is_a_draft_is_not_public(client, db):
    snapshot = record("CASP20251215.csv", source=DraftSourceFactory())
    assert client.get(snapshot.get_absolute_url()).status_code == 404
    assert "CASP20251215.csv" not in client.get(reverse("official:index")).content.decode()
    assert client.get(reverse("official:snapshot-export", args=["casp", snapshot.date, "json"])).status_code == 404
    assert snapshot.get_absolute_url() not in client.get("/sitemap.xml").content.decode()


def test_the_sitemap_lists_the_public_snapshots(client, history):
    sitemap = client.get("/sitemap.xml").content.decode()
    assert all(s.get_absolute_url() in sitemap for s in history.values())
    assert reverse("official:index") in sitemap


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ({"from": "2026-13-45", "to": "2026-01-23"}, "from", "is not the day of a snapshot"),
        ({"from": "2026-01-10", "to": "2026-01-23"}, "from", "is not the day of a snapshot"),
        ({"from": "2026-01-23", "to": "2025-12-15"}, "to", "newer than the first"),
        ({"from": "2025-12-15", "to": "2026-01-23", "kind": "gone"}, "kind", "not one of the available choices"),
        ({"from": "2025-12-15"}, "to", "required"),
    ],
)
def test_bad_diff_parameters_are_explained_on_the_page_and_a_400_on_the_export(
    client, casp_history, query, parameter, message
):
    page = client.get(reverse("official:diff", args=["casp"]), query)
    assert page.status_code == 200 and message in page.content.decode()
    for format in ("csv", "json"):
        response = client.get(reverse("official:diff-export", args=["casp", format]), query)
        assert response.status_code == 400
        assert message in response.json()["parameters"][parameter][0]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("official:snapshot", {"kind": "gone"}),
        ("official:news", {"kind": "gone"}),
    ],
)
def test_a_bad_kind_is_explained_and_the_list_still_shows(client, casp_history, path, query):
    args = ["casp", "2026-01-23"] if path == "official:snapshot" else []
    page = client.get(reverse(path, args=args), query)
    assert page.status_code == 200 and "not one of the available choices" in page.content.decode()
    export = client.get(
        reverse(f"{path.replace('news', 'news-export').replace('snapshot', 'snapshot-export')}", args=[*args, "json"]),
        query,
    )
    assert export.status_code == 400 and "kind" in export.json()["parameters"]


@pytest.mark.parametrize(
    "url",
    [
        "/official/esma/nothing/",
        "/official/esma/casp/2026-02-30/",
        "/official/esma/casp/not-a-date/",
        "/official/esma/casp/2026-01-10/",
        "/official/esma/casp/not-a-date/changes.json",
        "/official/esma/nothing/changes.csv",
    ],
)
def test_an_address_of_no_snapshot_is_a_404_never_a_500(client, casp_history, url):
    assert client.get(url).status_code == 404


def test_a_bad_page_number_is_explained(client, casp_history):
    page = client.get(casp_history["CASP20251215.csv"].get_absolute_url(), {"page": "x"})
    assert page.status_code == 200 and "Page must be a whole number from 1 to 2" in page.content.decode()
    export = client.get(reverse("official:snapshot-export", args=["casp", "2025-12-15", "json"]), {"page_size": "0"})
    assert export.status_code == 400 and "page_size" in export.json()["parameters"]


def test_with_one_snapshot_the_diff_page_says_there_is_nothing_to_compare(client, db):
    record(CASP_FILES[0])
    page = client.get(reverse("official:diff", args=["casp"]))
    assert page.status_code == 200 and "nothing to compare yet" in page.content.decode()
