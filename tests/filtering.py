"""Test support: the published records a list's FilterSet selects, as slugs, read straight from the FilterSet."""

from django.http import QueryDict

from public import filters
from registry.models import Audit, Entity, License, Regulator

# A list's name: its FilterSet and the model whose published rows it filters.
LISTS = {
    "licences": (filters.LicenseFilterSet, License),
    "audits": (filters.AuditFilterSet, Audit),
    "entities": (filters.EntityFilterSet, Entity),
    "regulators": (filters.RegulatorFilterSet, Regulator),
}


def selected(kind, query):
    """The slugs of the published records of list ``kind`` (a key of LISTS) that ``query`` selects: a query string
    such as ``"status=active&regime=mica"``, or a QueryDict. Fails the test if the FilterSet finds the query invalid."""
    filterset_class, model = LISTS[kind]
    filterset = filterset_class(
        QueryDict(query) if isinstance(query, str) else query, queryset=model.objects.published()
    )
    assert filterset.is_valid(), filterset.errors
    return set(filterset.qs.values_list("slug", flat=True))


def searched(kind, words):
    """As :func:`selected`, for the search box holding ``words`` as typed (no query string to encode)."""
    data = QueryDict(mutable=True)
    data["q"] = words
    return selected(kind, data)
