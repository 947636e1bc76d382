"""schemathesis: every API operation, every check, against the app's own OpenAPI schema.

A filter that names a record which does not exist (a slug is any slug-shaped
string to the schema) is a documented 400, so 400 also counts as accepting
valid data; every other check runs with its defaults.
"""

import datetime

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from registry.dates import DatePrecision
from tests import factories

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404"]},
        },
    }
)

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=CONFIG)


@pytest.fixture
def wsgi_in_test_transaction():
    """Keep the test's database connection across WSGI requests, as Django's test client does.

    The WSGI handler closes a connection that is not in autocommit at the end of each request,
    which would drop the test transaction on PostgreSQL.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_data(db, wsgi_in_test_transaction, settings):
    """A little of everything, drafts included, so responses have content to check against the schema."""
    # Many calls to POST /api/verify/ in a row: its rate limit has tests of its own (tests/verification/).
    settings.VERIFY_THROTTLE = None
    area = factories.AreaFactory(code="EEA")
    malta = factories.JurisdictionFactory(code="MT", name="Malta")
    area.members.add(malta)
    group = factories.GroupFactory(slug="okx")
    holder = factories.AffiliateFactory(slug="okx-europe", parent=group, jurisdiction=malta)
    factories.EntityAliasFactory(entity=holder, name="OKX EU")
    regime = factories.RegimeFactory(slug="mica", jurisdiction=area)
    regulator = factories.RegulatorFactory(slug="mfsa", jurisdiction=malta)
    regulator.regimes.add(regime)
    licence = factories.LicenseFactory(
        slug="okx-mica",
        holder=holder,
        license_type=factories.LicenseTypeFactory(regime=regime, slug="casp"),
        regulator=regulator,
        jurisdiction=malta,
        ended_on=datetime.date(2030, 1, 1),
        ended_on_precision=DatePrecision.YEAR,
        last_verified_on=datetime.date(2025, 6, 1),
    )
    licence.passported_to.add(area)
    licence.activities.add(factories.ActivityFactory(slug="custody"))
    factories.AuditFactory(slug="okx-iso", subject=group, auditor=factories.AuditorFactory(slug="auditor"))
    factories.OngoingAuditFactory(slug="okx-ongoing", subject=holder)
    factories.DraftLicenseFactory(slug="draft-licence", holder=holder)
    factories.DraftEntityFactory(slug="draft-entity")
    factories.SourceFactory(slug="article", published_on=datetime.date(2025, 3, 1), published_on_precision="month")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_schema(case, api_data):
    case.call_and_validate()
