"""Old public addresses answer 301, forever, to where the record is now.

A record's address holds its slug. Two things retire an address the public has seen: a curator
renames the record, or a reviewer accepts a match and the licence is folded into another
(``License.superseded_by``). Each record's history (django-simple-history) keeps every slug it
was published under, so no separate table of old addresses is needed: whatever changed the slug,
the history recorded it.

A slug a record only had as a draft was never public: it stays unknown (404), so drafts' names
do not leak.
"""

from __future__ import annotations

from django.db.models import QuerySet

from registry.models import Publication

# A licence folded into one that was itself folded later: follow at most this many links (cycles are refused).
MAX_CHAIN = 20


def successor(queryset: QuerySet, slug: str):
    """The record of ``queryset`` (the public ones) that a former public ``slug`` now stands for, or None.

    The record once published under ``slug`` is found in its history, then followed along
    ``superseded_by`` (when its model has it) to the one that survives. None when that record is
    not in ``queryset`` (unpublished, deleted) or still has that slug.
    """
    model = queryset.model
    history = getattr(model, "history", None)
    if history is None:
        return None
    pk = (
        history.filter(slug=slug, publication_status=Publication.PUBLISHED)
        .order_by("-history_date", "-history_id")
        .values_list("id", flat=True)
        .first()
    )
    if pk is None:
        return None
    if any(field.name == "superseded_by" for field in model._meta.concrete_fields):
        seen = set()
        while pk not in seen and len(seen) < MAX_CHAIN:
            seen.add(pk)
            following = model._base_manager.filter(pk=pk).values_list("superseded_by", flat=True).first()
            if following is None:
                break
            pk = following
    found = queryset.filter(pk=pk).first()
    if found is None or found.slug == slug:
        return None
    return found


def with_query(url: str, request) -> str:
    """``url`` with the request's query string kept (``?format=json``, ``?as_of=…``)."""
    query = request.META.get("QUERY_STRING", "")
    return f"{url}?{query}" if query else url
