"""White papers and crypto-assets on the public site: list, filters, detail pages, exports, API, entity page."""

import csv
import io
import re

import pytest
from django.core.management import call_command
from django.db.models import Count

from imports import esma
from registry.models import CryptoAsset, Entity, Publication, WhitePaper
from tests.conftest import ESMA_DATA

OTHER = ESMA_DATA / "OTHER20260129.csv"


def body(response):
    return b"".join(response.streaming_content).decode("utf-8-sig")


@pytest.fixture
def papers(db, countries_fixture):
    call_command("loaddata", str(countries_fixture), verbosity=0)
    esma.import_file("other", OTHER, publish=True)
    esma.import_file("emt", ESMA_DATA / "EMT20260129.csv", publish=True)


def test_surfaces_agree_on_a_filtered_white_paper_list(client, papers):
    query = "kind=other&home_state=LI"
    expected = WhitePaper.objects.published().filter(kind="other", jurisdiction__code="LI").count()
    assert expected == 71

    page = client.get(f"/white-papers/?{query}")
    api = client.get(f"/api/white-papers/?{query}").json()
    rows = list(csv.DictReader(io.StringIO(body(client.get(f"/white-papers.csv?{query}")))))

    assert page.status_code == 200
    assert page.context["paginator"].count == api["count"] == len(rows) == expected
    kind = next(f for f in page.context["facets"] if f["param"] == "kind")
    assert [(v["value"], v["count"], v["selected"]) for v in kind["values"]] == [("other", 71, True)]


def test_facets_count_each_value_with_a_toggle_url(client, papers):
    page = client.get("/white-papers/")
    facets = {f["param"]: f for f in page.context["facets"]}
    kinds = {v["value"]: v["count"] for v in facets["kind"]["values"]}
    assert kinds == {"other": 692, "emt": 30}
    casps = {v["label"]: v for v in facets["filed_by"]["values"]}
    lcx = casps["LCX AG"]
    assert lcx["url"] == f"?filed_by={lcx['value']}"
    assert client.get(f"/white-papers/{lcx['url']}").context["paginator"].count == lcx["count"]


def test_bad_parameters_are_a_message_on_the_page_and_a_400_elsewhere(client, papers):
    assert client.get("/white-papers/?notified_after=soon").status_code == 200
    assert client.get("/white-papers.csv?notified_after=soon").status_code == 400
    assert client.get("/api/white-papers/?home_state=XX").status_code == 400


def test_a_white_paper_page_shows_its_parties_and_sources(client, papers):
    paper = WhitePaper.objects.get(url__startswith="https://www.biogena.com/biox")
    page = client.get(paper.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200
    assert "Tangany GmbH" in html and "Biogena GmbH &amp; Co KG" in html
    assert "OTHER20260129.csv, row 9" in html or "row 9" in html


def test_a_crypto_asset_page_lists_its_white_papers(client, papers):
    paper = WhitePaper.objects.get(url="https://www.circle.com/fr/legal/mica-eurc-whitepaper")
    page = client.get(paper.crypto_asset.get_absolute_url())
    assert page.status_code == 200
    assert page.context["paper_total"] == 1
    assert "Circle Internet Financial Europe SAS" in page.content.decode()


def test_the_entity_page_shows_papers_offered_and_filed(client, papers, django_assert_max_num_queries):
    bitstamp = Entity.objects.get(lei="549300XIBGTJ0PLIEO72")
    page = client.get(bitstamp.get_absolute_url())
    assert page.context["white_paper_total"] == 20
    assert page.context["white_papers_filed_total"] == 20
    payward = Entity.objects.get(lei="9845003D98SCC2851458")
    # 112 rows give its LEI; 2 more give one of the same names without it (the same firm: one entity).
    assert client.get(payward.get_absolute_url()).context["white_papers_filed_total"] == 114


def test_a_draft_offerors_papers_are_public_nowhere(client, papers):
    offeror = Entity.objects.get(lei="984500BBFE52FE449926")
    Entity.objects.filter(pk=offeror.pk).update(publication_status=Publication.DRAFT)
    paper = WhitePaper.objects.get(offeror=offeror)

    assert client.get(paper.get_absolute_url()).status_code == 404
    assert client.get(f"/api/white-papers/{paper.slug}/").status_code == 404
    listed = body(client.get("/white-papers.csv?home_state=AT"))
    assert paper.slug not in listed
    assert paper.slug not in str(client.get("/api/white-papers/?home_state=AT").json())


def sitemap_paths(client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    return {loc.split("testserver", 1)[-1] for loc in re.findall(r"<loc>([^<]+)</loc>", response.content.decode())}


def test_the_sitemap_lists_published_white_papers_and_crypto_assets_and_no_draft(client, papers):
    published, draft = WhitePaper.objects.published().exclude(crypto_asset=None).order_by("pk")[:2]
    WhitePaper.objects.filter(pk=draft.pk).update(publication_status=Publication.DRAFT)
    CryptoAsset.objects.filter(white_papers=draft).exclude(white_papers=published).update(
        publication_status=Publication.DRAFT
    )

    listed = sitemap_paths(client)

    assert published.get_absolute_url() in listed
    assert published.crypto_asset.get_absolute_url() in listed
    assert draft.get_absolute_url() not in listed
    papers_listed = {path for path in listed if path.startswith("/white-papers/")}
    assert papers_listed == {paper.get_absolute_url() for paper in WhitePaper.objects.published()}
    assets_listed = {path for path in listed if path.startswith("/crypto-assets/")}
    assert assets_listed == {asset.get_absolute_url() for asset in CryptoAsset.objects.published()}


def test_a_draft_offerors_white_paper_is_in_no_change_history_or_feed(client, db):
    from tests import factories

    ireland = factories.JurisdictionFactory(code="IE", name="Ireland")
    public = factories.WhitePaperFactory(slug="public-paper", jurisdiction=ireland)
    hidden = factories.WhitePaperFactory(
        slug="paper-of-draft-offeror", offeror=factories.DraftEntityFactory(slug="draft-offeror"), jurisdiction=ireland
    )
    surfaces = {
        "/changes/": client.get("/changes/").content,
        "/changes.json": client.get("/changes.json", {"page_size": 1000}).content,
        "/changes.csv": b"".join(client.get("/changes.csv").streaming_content),
        "/feeds/changes.atom": client.get("/feeds/changes.atom").content,
        "/jurisdictions/IE/changes.atom": client.get("/jurisdictions/IE/changes.atom").content,
        "entity feed": client.get(f"/entities/{public.offeror.slug}/changes.atom").content,
    }
    for name, content in surfaces.items():
        assert hidden.get_absolute_url().encode() not in content, name
        assert b"draft-offeror" not in content, name
    for name in ("/changes/", "/changes.json", "/feeds/changes.atom"):
        assert public.get_absolute_url().encode() in surfaces[name], name
    assert client.get("/entities/draft-offeror/changes.atom").status_code == 404


def test_the_crypto_asset_list_agrees_with_its_api_and_exports(client, papers):
    # The member state notified of the most white papers that identify their token.
    identified = WhitePaper.objects.published().exclude(crypto_asset=None).filter(kind="other")
    state = identified.values("jurisdiction__code").annotate(n=Count("pk")).order_by("-n").first()
    query = f"kind=other&home_state={state['jurisdiction__code']}"
    papers_there = WhitePaper.objects.published().filter(jurisdiction__code=state["jurisdiction__code"])
    expected = set(
        CryptoAsset.objects.published()
        .filter(kind="other", pk__in=papers_there.values("crypto_asset"))
        .values_list("slug", flat=True)
    )
    assert expected

    page = client.get(f"/crypto-assets/?{query}")
    api = client.get(f"/api/crypto-assets/?{query}&page_size=100").json()
    rows = list(csv.DictReader(io.StringIO(body(client.get(f"/crypto-assets.csv?{query}")))))
    exported = client.get(f"/crypto-assets.json?{query}&page_size=100").json()

    assert page.status_code == 200
    assert {token.slug for token in page.context["object_list"]} == expected
    assert {row["slug"] for row in api["results"]} == {row["slug"] for row in rows} == expected
    assert {row["slug"] for row in exported["results"]} == expected
    assert page.context["paginator"].count == api["count"] == len(rows) == len(expected)


def test_crypto_asset_facets_count_the_tokens_each_toggle_lists(client, papers):
    page = client.get("/crypto-assets/")
    facets = {f["param"]: f for f in page.context["facets"]}
    assert set(facets) == {"kind", "home_state", "authority", "host_state", "offeror"}
    kinds = {v["value"]: v["count"] for v in facets["kind"]["values"]}
    assert kinds == {"other": 16, "emt": CryptoAsset.objects.published().filter(kind="emt").count()}
    for param in ("home_state", "authority", "offeror", "host_state"):
        value = facets[param]["values"][0]
        assert value["url"] == f"?{param}={value['value']}"
        toggled = client.get(f"/crypto-assets/{value['url']}")
        assert toggled.context["paginator"].count == value["count"], param
        selected = next(f for f in toggled.context["facets"] if f["param"] == param)
        chosen = next(v for v in selected["values"] if v["value"] == value["value"])
        assert chosen["selected"] and chosen["url"] == "?"


def test_a_draft_offerors_token_is_public_nowhere(client, papers):
    # A crypto-asset whose public papers all come from one offeror: hiding the offeror hides the token.
    token = next(
        t
        for t in CryptoAsset.objects.published()
        if len({p.offeror_id for p in WhitePaper.objects.published().filter(crypto_asset=t)} - {None}) == 1
        and not WhitePaper.objects.published().filter(crypto_asset=t, offeror=None).exists()
    )
    offeror = WhitePaper.objects.published().filter(crypto_asset=token).first().offeror
    assert client.get(f"/crypto-assets/?offeror={offeror.slug}").context["paginator"].count >= 1
    Entity.objects.filter(pk=offeror.pk).update(publication_status=Publication.DRAFT)

    assert client.get(token.get_absolute_url()).status_code == 404
    assert client.get(f"/api/crypto-assets/{token.slug}/").status_code == 404
    assert token.slug not in body(client.get("/crypto-assets.csv"))
    assert token.slug not in str(client.get("/api/crypto-assets/?page_size=100").json())
    assert token.get_absolute_url() not in {path for path in sitemap_paths(client)}
    listed = client.get("/crypto-assets/?page=1")
    assert token.slug not in {t.slug for t in listed.context["object_list"]}
    # Its offeror, a draft, is no filter value either: the page says so, the export refuses it.
    assert client.get(f"/crypto-assets.csv?offeror={offeror.slug}").status_code == 400


def test_the_crypto_asset_list_is_linked_from_every_page_and_the_data_page(client, papers):
    assert 'href="/crypto-assets/"' in client.get("/").content.decode()
    data = client.get("/data/").content.decode()
    assert "/crypto-assets.csv" in data and "/white-papers.csv" in data
