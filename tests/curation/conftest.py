import pytest

from tests import factories


@pytest.fixture
def licence_parts():
    """What a licence entered in the admin names: its holder, its licence type and the source it cites."""
    return {
        "holder": factories.EntityFactory(name="OKX Europe Ltd", slug="okx-europe"),
        "license_type": factories.LicenseTypeFactory(
            name="Investment firm authorisation",
            slug="investment-firm",
            regime=factories.RegimeFactory(slug="mifid-ii", short_name="MiFID II"),
        ),
        "source": factories.SourceFactory(title="OKX compliance licences overview"),
    }
