"""Template helpers for facts taken from official registers (ESMA's MiCA register)."""

from django import template

from imports.esma import parse_date

register = template.Library()


@register.filter
def as_stated_date(text):
    """A date as a source wrote it (``27/01/2025``), read as "27 January 2025"; other text unchanged."""
    value, flags = parse_date(text)
    return str(value) if value and not flags else text
