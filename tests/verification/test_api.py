"""``POST /api/verify/``: a verdict per counterparty, its evidence, per-item errors, as_of, limits and keys."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from registry import models
from tests import factories
from tests.history.test_as_of import on
from tests.verification.conftest import post, verdicts, warn
from verification.models import APIKey

pytestmark = pytest.mark.django_db

BYBIT_LEI = "5299005V5GBSN2A4C303"  # Bybit EU GmbH: authorised in Austria for services a, c, d, f, j
DADAT_LEI = "529900KTP3Y86BZKY754"  # DADAT Krypto GmbH: authorised in Austria, passported nowhere


# (item, verdict, the entity listed first): the seed's OKX entities and ESMA's registers. ESMA's OKX Europe Limited
# trades as "OKX" at www.okx.com, as the seed's OKX group does: asked by that name or domain alone, either may be meant.
VERDICTS = [
    ({"name": "OKX Europe Ltd", "jurisdiction": "FR"}, "authorised", "okx-europe-limited"),
    ({"name": "OKX SG Pte. Ltd.", "jurisdiction": "SG", "service": "spot-trading"}, "authorised", "okx-sg"),
    ({"name": "OKX Middle East", "jurisdiction": "FR"}, "authorised_elsewhere", "okx-middle-east"),
    ({"name": "OKX SG", "service": "derivatives"}, "authorised_elsewhere", "okx-sg"),
    ({"lei": BYBIT_LEI, "jurisdiction": "FR", "service": "a"}, "authorised", "bybit-eu-gmbh"),
    ({"lei": DADAT_LEI, "jurisdiction": "NO"}, "authorised_elsewhere", None),
    ({"lei": BYBIT_LEI, "service": "b"}, "authorised_elsewhere", "bybit-eu-gmbh"),
    ({"name": "Bybit EU Limited", "jurisdiction": "DE"}, "authorised", "bybit-eu-gmbh"),
    ({"name": "Dobibo"}, "warning_listed", "dobibo"),
    ({"domain": "https://www.dobibo2.com/login"}, "warning_listed", "dobibo"),
    ({"name": "Nothing Like It Trading Ltd", "domain": "nothing-like-it.com"}, "not_listed", ""),
    ({"name": "OKX"}, "ambiguous", "okx"),
    ({"domain": "okx.com"}, "ambiguous", None),
    ({"name": "OKX S G"}, "ambiguous", "okx-sg"),
    # ESMA lists no Malta passport for Bybit EU and none at all for DADAT: MiCA being the EU's is not enough.
    ({"lei": BYBIT_LEI, "jurisdiction": "MT"}, "authorised_elsewhere", "bybit-eu-gmbh"),
    ({"lei": DADAT_LEI, "jurisdiction": "DE"}, "authorised_elsewhere", None),
]


def test_each_verdict_on_the_seed_and_esma_registers(client, esma_register):
    response = post(client, [item for item, _, _ in VERDICTS])
    results = response.json()["results"]
    assert verdicts(response) == [verdict for _, verdict, _ in VERDICTS]
    for (item, _, slug), result in zip(VERDICTS, results, strict=True):
        if slug:
            assert result["matches"][0]["entity"]["slug"] == slug, item
        if slug == "":
            assert result["matches"] == []
    bybit = results[4]["matches"][0]
    assert bybit["entity"]["lei"] == BYBIT_LEI
    assert bybit["reasons"][0]["kind"] == "lei" and bybit["score"] == 100
    assert [licence["usable"] for licence in bybit["licenses"]] == [True]
    dadat = results[5]["matches"][0]
    assert [licence["usable"] for licence in dadat["licenses"]] == [False]
    assert dadat["licenses"][0]["passported_to"] == []
    assert {match["entity"]["slug"] for match in results[11]["matches"]} == {"okx", "okx-europe-limited"}
    assert {match["entity"]["slug"] for match in results[12]["matches"]} == {"okx", "okx-europe-limited"}
    counts = response.json()["verdicts"]
    assert counts == {v: sum(1 for _, verdict, _ in VERDICTS if verdict == v) for v in counts}


def test_evidence_cites_licences_and_warnings_with_urls_and_sources(client, esma_register):
    response = post(client, [{"name": "OKX", "jurisdiction": "MT"}, {"name": "Dobibo"}])
    okx, dobibo = (result["matches"][0] for result in response.json()["results"])
    licence = next(item for item in okx["licenses"] if item["slug"] == "okx-mica-casp")
    assert licence["url"] == "http://testserver/licenses/okx-mica-casp/"
    assert licence["api_url"] == "http://testserver/api/licenses/okx-mica-casp/"
    assert licence["granted_in"] == {"code": "MT", "name": "Malta"}
    assert licence["sources"] and all(
        source["url"].startswith("http://testserver/sources/") for source in licence["sources"]
    )
    # The evidence says what the licence's own record in the API says.
    full = client.get(licence["api_url"]).json()
    assert {source["slug"] for source in licence["sources"]} == {c["source"]["slug"] for c in full["citations"]}
    assert licence["passported_to"] == [place["code"] for place in full["passported_to"]]
    for name in ("status", "granted", "ended", "regime", "license_type", "regulator", "granted_in", "reference_number"):
        assert licence[name] == full[name], name
    assert okx["entity"]["url"] == "http://testserver/entities/okx/"
    notice = dobibo["warnings"][0]
    assert notice["url"] == f"http://testserver/entities/{dobibo['entity']['slug']}/"
    assert notice["source"]["url"].startswith("http://testserver/sources/")
    assert any("https://dobibo2.com" in notice["websites"] for notice in dobibo["warnings"])
    assert notice["jurisdiction"]["code"] == "IT"


@pytest.mark.parametrize(
    ("asked", "reason"),
    [
        ("OKX Europe Ltd", "name"),
        ("OKX Europe Limited", "name"),
        ("okx europe ltd.", "name"),
        ("OKX EUROPE LIMITED", "name"),
        ("OKX Malta Limited", "former_name"),
        ("OKX EU", "alias"),
    ],
)
def test_legal_form_case_and_former_names_match_the_same_entity(client, asked, reason):
    europe = factories.AffiliateFactory(slug="okx-europe", name="OKX Europe Limited")
    factories.EntityAliasFactory(entity=europe, name="OKX Malta Ltd", kind=models.AliasKind.FORMER)
    factories.EntityAliasFactory(entity=europe, name="OKX EU")
    factories.LicenseFactory(holder=europe)
    [result] = post(client, [{"name": asked}]).json()["results"]
    assert result["verdict"] == "authorised"
    assert result["matches"][0]["entity"]["slug"] == "okx-europe"
    assert result["matches"][0]["reasons"][0]["kind"] == reason


def test_a_name_the_entity_was_published_under_before_is_a_former_name(client):
    entity = factories.EntityFactory(slug="renamed", name="Old Name Exchange Ltd")
    factories.LicenseFactory(holder=entity)
    entity.name = "New Name Exchange Ltd"
    entity.save()
    [result] = post(client, [{"name": "Old Name Exchange Limited"}]).json()["results"]
    assert result["verdict"] == "authorised"
    assert result["matches"][0]["reasons"] == [
        {"kind": "former_name", "matched": "Old Name Exchange Ltd", "detail": "formerly named Old Name Exchange Ltd"}
    ]


def test_a_draft_entity_is_never_matched(client):
    factories.DraftEntityFactory(name="Hidden Exchange Ltd", lei="5493001KJTIIGC8Y1R12")
    response = post(client, [{"name": "Hidden Exchange Ltd"}, {"lei": "5493001KJTIIGC8Y1R12"}])
    assert verdicts(response) == ["not_listed", "not_listed"]


def test_two_entities_matching_alike_are_ambiguous_and_both_returned(client):
    group = factories.GroupFactory(slug="acme", name="Acme", website="https://acme-exchange.com")
    affiliate = factories.AffiliateFactory(
        slug="acme-eu", parent=group, name="Acme EU", website="https://eu.acme-exchange.com"
    )
    factories.LicenseFactory(holder=affiliate)
    [by_domain, by_lei] = post(
        client, [{"domain": "acme-exchange.com"}, {"domain": "acme-exchange.com", "lei": "5493001KJTIIGC8Y1R12"}]
    ).json()["results"]
    assert by_domain["verdict"] == "ambiguous"
    assert {match["entity"]["slug"] for match in by_domain["matches"]} == {"acme", "acme-eu"}
    # An LEI the register records for neither does not decide; one it records for a third entity would.
    assert by_lei["verdict"] == "ambiguous"


def test_a_different_lei_contradicts_a_name_match(client):
    entity = factories.EntityFactory(name="Clone Target Ltd", lei="5493001KJTIIGC8Y1R12")
    factories.LicenseFactory(holder=entity)
    [result] = post(client, [{"name": "Clone Target Ltd", "lei": "529900T8BM49AURSDO55"}]).json()["results"]
    assert result["verdict"] == "ambiguous"
    assert result["matches"][0]["score"] == 50
    assert result["matches"][0]["reasons"][-1]["kind"] == "lei_differs"


def test_a_domain_and_a_name_outrank_a_domain_alone(client):
    group = factories.GroupFactory(slug="okx", name="OKX", website="https://www.okx.com")
    europe = factories.AffiliateFactory(
        slug="okx-europe", name="OKX Europe Ltd", parent=group, website="https://okx.com/eu"
    )
    factories.LicenseFactory(holder=europe)
    [result] = post(client, [{"name": "OKX Europe Limited", "domain": "okx.com"}]).json()["results"]
    assert result["verdict"] == "authorised"
    assert [(m["entity"]["slug"], m["score"]) for m in result["matches"]] == [("okx-europe", 98), ("okx", 90)]


def test_a_warned_firm_is_warning_listed_even_with_a_licence(client):
    entity = factories.EntityFactory(slug="warned", name="Warned Exchange Ltd")
    factories.LicenseFactory(holder=entity)
    warn(entity, websites="https://warned.example\nhttps://warned2.example")
    response = post(client, [{"name": "Warned Exchange"}, {"domain": "warned2.example"}])
    assert verdicts(response) == ["warning_listed", "warning_listed"]
    assert len(response.json()["results"][0]["matches"][0]["licenses"]) == 1


def test_a_licence_not_in_force_does_not_authorise(client):
    entity = factories.EntityFactory(name="Revoked Exchange Ltd")
    factories.LicenseFactory(holder=entity, status=models.LicenseStatus.REVOKED)
    [result] = post(client, [{"name": "Revoked Exchange Ltd"}]).json()["results"]
    assert result["verdict"] == "not_listed"
    assert result["matches"][0]["licenses"] == []


def test_a_bad_lei_is_an_error_for_that_item_only(client, seed_data):
    items = [{"name": "OKX"}, {"lei": "5299005V5GBSN2A4C304", "name": "OKX"}, {"name": "OKX", "jurisdiction": "ZZ"}, {}]
    response = post(client, items)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["verdict"] for r in results] == ["authorised", None, None, None]
    assert "not a valid LEI" in results[1]["errors"]["lei"][0]
    assert list(results[2]["errors"]) == ["jurisdiction"]
    assert results[3]["errors"] == {"non_field_errors": ["Give an LEI, a name or a domain."]}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"name": "OKX"}', 400),
        ("[]", 400),
        ("not json", 400),
        ('[{"name": "OKX"}, "OKX"]', 400),
        ('[{"name": "OKX"}, {"name": 5}]', 400),
        ('[{"name": "OKX", "reference": "%s"}]' % ("x" * 101), 400),
        ('[{"name": "OKX"}, {"name": null, "lei": "5299005V5GBSN2A4C304"}]', 200),
    ],
)
def test_only_a_malformed_body_is_a_400(client, seed_data, body, status):
    response = client.post("/api/verify/", body, content_type="application/json")
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"] in {"invalid body", "parse error"}


def test_a_400_names_the_items_that_break_the_schema(client, seed_data):
    response = post(client, [{"name": "OKX"}, ["OKX"], {"name": "OKX", "lei": 42}])
    assert response.status_code == 400
    assert response.json()["items"] == {
        "1": {"non_field_errors": ["Each item is an object with any of: lei, name, domain."]},
        "2": {"lei": ["Give text."]},
    }


def test_a_thousand_items_are_answered_and_more_are_refused(client, seed_data):
    response = post(client, [{"name": "OKX"}] * 1000)
    assert response.status_code == 200 and response.json()["count"] == 1000
    response = post(client, [{"name": "OKX"}] * 1001)
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid body",
        "detail": "At most 1000 counterparties per request; this one has 1001.",
    }


def items(count):
    pool = [
        {"name": "OKX", "jurisdiction": "FR"},
        {"name": "OKX SG Pte Ltd", "service": "spot-trading"},
        {"domain": "okx.com", "jurisdiction": "SG"},
        {"name": "OKX Middle East", "jurisdiction": "AE"},
        {"name": "Unknown Firm Ltd"},
        {"name": "OKX S G"},
        {"lei": "5299005V5GBSN2A4C304"},
    ]
    return [pool[n % len(pool)] for n in range(count)]


@pytest.mark.parametrize("as_of", ["", "?as_of=2099-01-01"], ids=["today", "as_of"])
def test_queries_do_not_grow_with_the_number_of_items(client, seed_data, as_of):
    from verification import register

    counts = []
    for count in (10, 100):
        register.forget()
        with CaptureQueriesContext(connection) as queries:
            response = post(client, items(count), path=f"/api/verify/{as_of}")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_as_of_answers_as_the_register_stood_that_day(client):
    jan, mar, jun = datetime.date(2025, 1, 10), datetime.date(2025, 3, 15), datetime.date(2025, 6, 1)
    with on(jan):
        other = factories.EntityFactory()
        other.save()  # history rows and records are numbered apart: an answer must not confuse them
        entity = factories.EntityFactory(slug="later", name="Early Name Ltd")
    with on(mar):
        licence = factories.LicenseFactory(holder=entity)
    with on(jun):
        entity.name = "Later Name Ltd"
        entity.save()
        licence.status = models.LicenseStatus.REVOKED
        licence.save()
    asked = [{"name": "Early Name Ltd"}, {"name": "Later Name Ltd"}]

    def answer(day):
        response = post(client, asked, path=f"/api/verify/?as_of={day}")
        assert response.json()["as_of"]["day"] == day and response.json()["as_of"]["historical"]
        return verdicts(response)

    assert answer("2025-01-09") == ["not_listed", "not_listed"]
    assert answer("2025-02-01") == ["not_listed", "not_listed"]  # known, no licence yet
    assert answer("2025-04-01") == ["authorised", "not_listed"]
    assert answer("2025-07-01") == ["not_listed", "not_listed"]  # revoked; renamed
    assert verdicts(post(client, asked)) == ["not_listed", "not_listed"]
    assert post(client, asked).json()["results"][0]["matches"][0]["reasons"][0]["kind"] == "former_name"
    response = post(client, asked, path="/api/verify/?as_of=2025-13-01")
    assert response.status_code == 400 and list(response.json()["parameters"]) == ["as_of"]


@pytest.mark.django_db(transaction=True)  # PostgreSQL raises the version once per transaction
def test_the_answer_names_the_data_version(client, seed_data):
    first = post(client, [{"name": "OKX"}]).json()["as_of"]
    factories.EntityFactory(name="Another Ltd")
    second = post(client, [{"name": "Another Ltd"}]).json()
    assert second["as_of"]["data_version"] > first["data_version"]
    assert verdicts_of(second) == ["not_listed"]
    assert second["results"][0]["matches"][0]["entity"]["name"] == "Another Ltd"  # the new version's index


def verdicts_of(body):
    return [result["verdict"] for result in body["results"]]


@override_settings(VERIFY_THROTTLE="2/minute")
def test_clients_without_a_key_are_rate_limited_with_retry_after(client, seed_data):
    assert [post(client, [{"name": "OKX"}]).status_code for _ in range(2)] == [200, 200]
    refused = post(client, [{"name": "OKX"}])
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["error"] == "throttled"
    # Another address has its own count.
    assert post(client, [{"name": "OKX"}], REMOTE_ADDR="192.0.2.7").status_code == 200


@override_settings(VERIFY_THROTTLE="2/minute", VERIFY_KEY_THROTTLE="5/minute")
def test_an_api_key_raises_the_limit(client, seed_data):
    _, key = APIKey.issue("Compliance team at Example Bank")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert [post(client, [{"name": "OKX"}], **auth).status_code for _ in range(6)] == [200] * 5 + [429]
    own, own_key = APIKey.issue("Partner", rate="7/minute")
    assert [post(client, [{"name": "OKX"}], HTTP_AUTHORIZATION=f"Bearer {own_key}").status_code for _ in range(7)] == [
        200
    ] * 7


def test_an_unknown_or_revoked_key_is_refused(client, seed_data):
    record, key = APIKey.issue("Former partner")
    assert post(client, [{"name": "OKX"}], HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    record.revoked_at = datetime.datetime.now(datetime.UTC)
    record.save()
    for header in (f"Bearer {key}", "Bearer crk_not-a-key"):
        response = post(client, [{"name": "OKX"}], HTTP_AUTHORIZATION=header)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_keys_are_stored_only_as_digests(seed_data):
    record, key = APIKey.issue("Auditor")
    stored = APIKey.objects.filter(pk=record.pk).values().get()
    assert key not in {str(value) for value in stored.values()}
    assert APIKey.objects.for_key(key) == record


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_the_endpoint_only_answers_post(client, method):
    response = getattr(client, method)("/api/verify/")
    assert response.status_code == 405


def test_the_schema_documents_the_endpoint_with_examples(client):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/verify/"]["post"]
    assert {"200", "400", "401", "429"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"]["type"] == "array"
    assert body["examples"]
    assert any(parameter["name"] == "as_of" for parameter in operation["parameters"])
