"""Searching the full-text index (``registry/derived/search.py`` keeps it): the lists' and site search's ``q``.

Both backends see the same words: letters and digits, everything else a
separator (PostgreSQL's parser would otherwise keep ``okx.com`` or an e-mail
address as one token), folded to lower case, accents kept. A query matches a
record when every word of it starts a word of the record's document ("mid eas"
finds "OKX Middle East").
"""

from __future__ import annotations

import re

from django.db.models.expressions import RawSQL

from registry.derived.search import DOCUMENTS, TABLE

MAX_WORDS = 10
# A word is a run of letters and digits (underscore is punctuation, as it is to FTS5's unicode61 tokenizer).
WORD = re.compile(r"[^\W_]+")


def words(value: str) -> list[str]:
    """The words of a query, as the index splits text (at most ``MAX_WORDS``; the rest is ignored)."""
    return WORD.findall(value or "")[:MAX_WORDS]


def match_sql(kind: str, value: str, vendor: str) -> tuple[str, list] | None:
    """SQL selecting the ids of ``kind`` records matching every word of ``value``; None when it has no words."""
    terms = words(value)
    if not terms:
        return None
    code = DOCUMENTS[kind].code
    if vendor == "sqlite":
        # Each word is letters and digits only, so quoting it as an FTS5 string is safe; * makes it a prefix.
        expression = " ".join(f'"{term}"*' for term in terms)
        return (
            # Bit operations rather than / and %: a literal % would upset SQL logging's "%" formatting.
            f"SELECT rowid >> 4 FROM {TABLE} WHERE {TABLE} MATCH %s AND (rowid & 15) = {code}",  # noqa: S608
            [expression],
        )
    if vendor == "postgresql":
        expression = " & ".join(f"'{term}':*" for term in terms)
        return (
            f"SELECT object_id FROM {TABLE} WHERE document @@ to_tsquery('simple', %s) AND kind = %s",  # noqa: S608
            [expression, kind],
        )
    raise NotImplementedError(f"No search index for the {vendor} backend.")


def filter_queryset(queryset, kind: str, value: str):
    """``queryset`` narrowed to records whose document matches every word of ``value``.

    A query with no words at all ("%", "--") matches nothing. The filter is on
    ``id``, so it also narrows a history (as-of) queryset of the same records;
    their documents are today's.
    """
    from django.db import connections

    found = match_sql(kind, value, connections[queryset.db].vendor)
    if found is None:
        return queryset.none()
    sql, params = found
    # Only constants are spliced into ``sql``; the query's words travel as a parameter.
    return queryset.filter(id__in=RawSQL(sql, params))  # noqa: S611
