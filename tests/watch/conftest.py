import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def no_confirmation_emails_counted():
    """Each test starts with no confirmation email counted against the subscribe form's limit."""
    cache.clear()
