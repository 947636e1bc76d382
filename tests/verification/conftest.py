import json

import pytest
from django.core.cache import cache

from registry import models
from tests import factories
from tests.conftest import load_seed_and_esma
from verification import register


@pytest.fixture(autouse=True)
def fresh_limits_and_index():
    """Each test starts with no request counted against the rate limits, and no index kept from another test."""
    cache.clear()
    register.forget()
    yield
    register.forget()


@pytest.fixture
def esma_register(db, countries_fixture, esma_dir):
    """The seed (OKX) plus ESMA's CASP register and its list of non-compliant entities, published."""
    load_seed_and_esma(countries_fixture, esma_dir)


def warn(entity, websites="", jurisdiction="IT", **fields):
    """A published warning notice naming ``entity`` (as ESMA's list of non-compliant entities does)."""
    place = models.Jurisdiction.objects.filter(code=jurisdiction).first() or factories.JurisdictionFactory(
        code=jurisdiction
    )
    return models.WarningNotice.objects.create(
        slug=f"warning-{entity.slug}-{place.code.lower()}",
        entity=entity,
        jurisdiction=place,
        websites=websites,
        source=factories.SourceFactory(),
        publication_status=models.Publication.PUBLISHED,
        **fields,
    )


def post(client, items, path="/api/verify/", **headers):
    return client.post(path, json.dumps(items), content_type="application/json", **headers)


def verdicts(response):
    assert response.status_code == 200, response.content[:500]
    return [result["verdict"] for result in response.json()["results"]]
