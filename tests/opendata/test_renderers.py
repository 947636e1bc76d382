"""The API and the JSON exports encode with orjson (opendata/renderers.py) and write what their encoders before it
wrote: DRF's JSONRenderer, byte for byte, and json.dumps with Django's encoder, the same JSON."""

import datetime
import decimal
import json
import uuid

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from opendata import renderers

# Floats as the register holds them (ratios, amounts): orjson writes 1e-05 as 0.00001, the json module as 1e-05.
floats = st.floats(min_value=1e-4, max_value=1e15, allow_nan=False) | st.just(0.0)
texts = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('\u2028\u2029"\\/<>&\n\t'), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | floats
    | texts
    | st.dates()
    | st.datetimes(timezones=st.sampled_from([datetime.UTC, datetime.timezone(datetime.timedelta(hours=4))]))
    | st.decimals(min_value=0, max_value=10**9, places=3, allow_nan=False)
    | st.uuids()
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4))


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_api_writes_the_bytes_drf_wrote(data):
    assert renderers.JSONRenderer().render(data) == DRFJSONRenderer().render(data)


@settings(max_examples=300, deadline=None)
@given(values)
def test_the_json_exports_write_the_json_djangos_encoder_wrote(data):
    assert json.loads(renderers.dumps(data)) == json.loads(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))


def test_an_indented_answer_is_drfs_own():
    data = {"when": datetime.date(2025, 3, 1), "id": uuid.UUID(int=1), "ratio": decimal.Decimal("105.2")}
    media = "application/json; indent=2"
    assert renderers.JSONRenderer().render(data, media) == DRFJSONRenderer().render(data, media)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/licenses/", "/api/audits/", "/api/entities/", "/api/regulators/"])
def test_each_api_list_is_what_drfs_renderer_writes_of_it(client, seed_data, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.content == DRFJSONRenderer().render(response.data)
