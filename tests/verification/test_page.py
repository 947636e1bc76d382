"""``/verify/``: paste or upload counterparties, a verdict per row, bad rows reported, results as CSV."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings

from tests.verification.conftest import post

pytestmark = pytest.mark.django_db

PASTED = "\n".join(
    [
        "name,lei,domain",
        "OKX SG Pte Ltd,,",
        "OKX,5299005V5GBSN2A4C304,",
        "Too,many,cells,here,and,more,cells",
        "Nobody Ltd,,",
    ]
)


def table(response):
    """Each results row's number and verdict (or "Not checked")."""
    assert response.status_code == 200, response.content[:300]
    return [
        (line.number, line.result.decision.verdict.value if line.result and line.result.decision else None)
        for line in response.context["lines"]
    ]


def test_the_empty_page_offers_the_form(client):
    response = client.get("/verify/")
    assert response.status_code == 200
    assert b'name="rows"' in response.content and b'type="file"' in response.content


def test_pasted_rows_each_get_a_verdict_and_bad_rows_their_own_errors(client, seed_data):
    response = client.post("/verify/", {"rows": PASTED})
    assert table(response) == [(2, "authorised"), (3, None), (4, None), (5, "not_listed")]
    html = response.content.decode()
    assert "is not a valid LEI" in html
    assert "7 cells, but only 3 columns" in html
    assert 'href="/entities/okx-sg/"' in html and 'href="/licenses/okx-sg-mpi/"' in html


def test_an_uploaded_csv_is_read_by_its_header(client, seed_data):
    upload = SimpleUploadedFile("firms.csv", "Website;Name;Country\nhttps://www.okx.com;;FR\n".encode("utf-8-sig"))
    response = client.post("/verify/", {"upload": upload, "rows": ""})
    assert table(response) == [(2, "authorised")]
    assert response.context["lines"][0].item == {"domain": "https://www.okx.com", "jurisdiction": "FR"}


def test_the_form_fills_jurisdiction_and_service_into_rows_that_name_none(client, seed_data):
    response = client.post("/verify/", {"rows": "OKX Middle East\nOKX SG,,,SG", "jurisdiction": "FR"})
    assert table(response) == [(1, "authorised_elsewhere"), (2, "authorised")]


def test_results_download_as_csv_with_formulas_neutralised(client, seed_data):
    response = client.post("/verify/", {"rows": "OKX SG\n=HYPERLINK(1)", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["row"], row["name"], row["verdict"]) for row in rows] == [
        ("1", "OKX SG", "authorised"),
        ("2", "'=HYPERLINK(1)", "not_listed"),
    ]
    assert rows[0]["entity_url"] == "http://testserver/entities/okx-sg/"
    assert rows[0]["licences_usable"] == "http://testserver/licenses/okx-sg-mpi/"


def test_the_page_and_the_api_give_the_same_verdicts(client, seed_data):
    names = ["OKX", "OKX SG Pte Ltd", "OKX Middle East", "OKX S G", "Nobody Ltd"]
    page = client.post("/verify/", {"rows": "\n".join(names), "jurisdiction": "AE"})
    api = post(client, [{"name": name, "jurisdiction": "AE"} for name in names])
    assert [verdict for _, verdict in table(page)] == [result["verdict"] for result in api.json()["results"]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rows": ""}, "Paste or upload at least one counterparty."),
        ({"rows": "\n".join(f"Firm {n}" for n in range(1001))}, "At most 1000 counterparties at a time"),
        ({"rows": "OKX", "as_of": "2999-01-01"}, "Give a day in the past"),
        ({"rows": "OKX", "as_of": "yesterday"}, "Enter a valid date."),
    ],
)
def test_a_bad_form_is_explained_on_the_page(client, data, message):
    response = client.post("/verify/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "lines" not in response.context


def test_a_link_to_a_check_answers_a_get(client, seed_data):
    response = client.get("/verify/", {"rows": "OKX SG"})
    assert table(response) == [(1, "authorised")]


@override_settings(VERIFY_THROTTLE="1/minute")
def test_the_page_is_rate_limited_as_the_api_is(client, seed_data):
    assert client.post("/verify/", {"rows": "OKX"}).status_code == 200
    refused = client.post("/verify/", {"rows": "OKX"})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "Too many checks from your address" in refused.content.decode()


def test_other_public_pages_still_refuse_post(client, seed_data):
    assert client.post("/entities/", {"rows": "OKX"}).status_code == 405
    assert client.post("/search/", {"q": "OKX"}).status_code == 405
