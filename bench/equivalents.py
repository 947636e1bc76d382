"""Datasette's equivalent of each of our URLs: the same rows, under the same filters, in (nearly) the same order.

Made from the natural keys bench/urllists.py gives (country codes, regime and licence slugs, page numbers),
looked up in the SQLite file Datasette serves, so the lists stay equivalent when our side runs on PostgreSQL.

- Licence lists, JSON and API: Datasette's ``registry_license`` table with ``_where=public`` (what ``published()``
  reads; written as ``_where`` so SQLite can use the partial indexes ``WHERE public``), our filter on its
  columns (``granted_in=MT``: ``jurisdiction_id__in`` MT and its subdivisions; ``regime``: ``license_type_id__in``
  its licence types), sorted by ``holder_name`` as ours is (ours breaks ties by regime and slug, Datasette by
  id), 50 rows a page, facets on ``status``, ``license_type_id`` and ``jurisdiction_id`` where ours shows facets;
  JSON with ``_size=100&_labels=on``.
- Deep pages: Datasette pages by key (``_next``, the last row before the page), ours by number.
- Licence detail: Datasette's row page, the nearest it has (the row, its labels and the counts of rows pointing
  at it; none of our joined sections).
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlencode

TABLE = "/datasette/registry_license"
PAGE_SIZE = 50
BASE = [("_where", "public"), ("_sort", "holder_name")]
FACETS = [("_facet", "status"), ("_facet", "license_type_id"), ("_facet", "jurisdiction_id")]
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def tilde_encode(text):
    """Datasette's encoding of a key component in ``_next`` (datasette.utils.tilde_encode)."""
    return "".join(chr(b) if b in _SAFE else "+" if b == 32 else f"~{b:02X}" for b in str(text).encode("utf-8"))


# Our filter's key: Datasette's ``__in`` filter and the query giving its ids from our filter's value (``?1``).
_FILTERS = {
    "granted_in": (
        "jurisdiction_id__in",
        "SELECT id FROM registry_jurisdiction WHERE code = ?1"
        " OR parent_id IN (SELECT id FROM registry_jurisdiction WHERE code = ?1) ORDER BY id",
    ),
    "regime": (
        "license_type_id__in",
        "SELECT t.id FROM registry_licensetype t JOIN registry_regime g ON g.id = t.regime_id"
        " WHERE g.slug = ?1 ORDER BY t.id",
    ),
}


def _filter(db, key, value):
    if key not in _FILTERS:
        raise ValueError(key)
    column, sql = _FILTERS[key]
    rows = db.execute(sql, (value,))
    return [(column, ",".join(str(row[0]) for row in rows))]


def _path(base, params):
    return f"{base}?{urlencode(params)}"


def _deep(db, page):
    """``_next``: the key of page ``page`` in Datasette's order, the last row of the page before it."""
    if page <= 1:
        return []
    row = db.execute(
        "SELECT holder_name, id FROM registry_license WHERE public ORDER BY holder_name, id LIMIT 1 OFFSET ?",
        ((page - 1) * PAGE_SIZE - 1,),
    ).fetchone()
    return [("_next", f"{tilde_encode(row[0])},{tilde_encode(row[1])}")]


def datasette_paths(db_path, pages):
    """``{page key: [path, ...]}`` aligned with ours, for the page types Datasette has an equivalent of;
    and notes on where the equivalence is not exact."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    notes = []
    try:
        orphans = db.execute(
            "SELECT COUNT(*) FROM registry_license WHERE public AND jurisdiction_id IS NULL"
        ).fetchone()[0]
        if orphans:
            notes.append(
                f"{orphans} public licences name no jurisdiction: ours counts them under their regime's, "
                "Datasette's filter on `jurisdiction_id` misses them."
            )
        licences = [BASE + _filter(db, k, v) for k, v in pages["licences"]["keys"]]
        result = {
            "licences": [_path(TABLE, params + FACETS) for params in licences],
            "deep": [_path(TABLE, [*BASE, *_deep(db, n), *FACETS]) for n in pages["deep"]["keys"]],
        }
        rows = [BASE + _filter(db, k, v) + [("_size", 100), ("_labels", "on")] for k, v in pages["json"]["keys"]]
        result["json"] = result["api"] = [_path(TABLE + ".json", params) for params in rows]
        ids = dict(db.execute("SELECT slug, id FROM registry_license"))
        result["licence"] = [f"{TABLE}/{ids[slug]}" for slug in pages["licence"]["keys"]]
    finally:
        db.close()
    return result, notes
