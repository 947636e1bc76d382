"""The benchmark's URL lists: many distinct URLs per page type, read from the database being measured.

    DATABASE_URL=... .venv/bin/python bench/urllists.py [--limit 200] [--deep 600]

Prints one JSON object: the data set's size and, per page type, its paths and the natural keys they were
made from (country codes, page numbers, licence slugs), from which bench/run.py writes Datasette's
equivalent paths against its own copy of the data. Only what the public sees is chosen (``published()``).

Each list is ordered and deterministic: the same data gives the same list.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db.models import Count  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402

from registry.models import Audit, Entity, EntityKind, License, Standard, granted_in_field  # noqa: E402

LIST_PAGE_SIZE = 50  # the HTML lists' page size (Datasette is started with the same)


def spread(items, limit):
    """At most ``limit`` of ``items``, evenly spaced, first and last included."""
    items = list(items)
    if len(items) <= limit:
        return items
    step = (len(items) - 1) / (limit - 1)
    return [items[round(i * step)] for i in range(limit)]


def countries():
    """The values of the licence list's "Granted in" facet (a subdivision counts under its country), most first."""
    rows = (
        License.objects.published()
        .order_by()
        .values(code=granted_in_field("parent__code", "code"))
        .annotate(n=Count("pk"))
        .order_by("-n", "code")
    )
    return [row["code"] for row in rows if row["code"]]


def licence_filters(limit):
    """One facet value each: a country (``granted_in``), then regimes when there are fewer countries than ``limit``."""
    values = [("granted_in", code) for code in countries()]
    if len(values) < limit:
        regimes = (
            License.objects.published()
            .order_by()
            .values("license_type__regime__slug")
            .annotate(n=Count("pk"))
            .order_by("-n", "license_type__regime__slug")
        )
        values += [("regime", row["license_type__regime__slug"]) for row in regimes]
    return values[:limit]


def entity_filters(limit):
    """A country each (the "Jurisdiction" facet's values: a subdivision counts under its country), then a kind
    within each country."""
    rows = (
        Entity.objects.published()
        .exclude(jurisdiction=None)
        .order_by()
        .values(code=Coalesce("jurisdiction__parent__code", "jurisdiction__code"))
        .annotate(n=Count("pk"))
        .order_by("-n", "code")
    )
    codes = [row["code"] for row in rows if row["code"]]
    values = [{"jurisdiction": code} for code in codes]
    values += [{"kind": kind, "jurisdiction": code} for code in codes for kind in EntityKind.values]
    return values[:limit]


def audit_filters(limit):
    """An auditor each, then a standard each, then each auditor with each standard it audits to."""
    auditors = list(
        Audit.objects.published()
        .exclude(auditor=None)
        .order_by()
        .values("auditor__slug")
        .annotate(n=Count("pk"))
        .order_by("-n", "auditor__slug")
        .values_list("auditor__slug", flat=True)
    )
    standards = list(Standard.objects.order_by("slug").values_list("slug", flat=True))
    pairs = set(Audit.objects.published().values_list("auditor__slug", "standard__slug").distinct())
    standards = [slug for slug in standards if any(pair[1] == slug for pair in pairs)]
    values = [{"auditor": slug} for slug in auditors] + [{"standard": slug} for slug in standards]
    values += [
        {"auditor": auditor, "standard": standard}
        for auditor in auditors
        for standard in standards
        if (auditor, standard) in pairs
    ]
    return values[:limit]


def largest_groups(limit):
    return list(
        Entity.objects.published()
        .filter(kind=EntityKind.GROUP)
        .annotate(n=Count("affiliates"))
        .order_by("-n", "slug")
        .values("slug", "n")[:limit]
    )


def path(base, params):
    return f"{base}?{urlencode(params)}" if params else base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=200, help="URLs per page type.")
    parser.add_argument("--deep", type=int, default=600, help="Distinct deep pages of the licence list.")
    options = parser.parse_args()
    limit = options.limit
    published = License.objects.published()
    total = published.count()
    last_page = max(1, -(-total // LIST_PAGE_SIZE))
    licence_values = licence_filters(limit)
    deep = spread(range(2, last_page + 1), options.deep) or [1]
    groups = largest_groups(limit)
    licences = spread(published.order_by("pk").values_list("slug", flat=True), limit)
    entities = entity_filters(limit)
    audits = audit_filters(limit)
    pages = {
        "home": {"paths": ["/"]},
        "licences": {
            "paths": [path("/licenses/", {k: v}) for k, v in licence_values],
            "keys": licence_values,
        },
        "deep": {"paths": [path("/licenses/", {"page": n}) for n in deep], "keys": deep},
        "entities": {"paths": [path("/entities/", values) for values in entities]},
        "audits": {"paths": [path("/audits/", values) for values in audits]},
        "json": {
            "paths": [path("/licenses.json", {k: v, "page_size": 100}) for k, v in licence_values],
            "keys": licence_values,
        },
        "api": {
            "paths": [path("/api/licenses/", {k: v, "page_size": 100}) for k, v in licence_values],
            "keys": licence_values,
        },
        "group": {
            "paths": [f"/entities/{quote(group['slug'])}/" for group in groups],
            "affiliates": [group["n"] for group in groups],
        },
        "licence": {"paths": [f"/licenses/{quote(slug)}/" for slug in licences], "keys": licences},
    }
    print(
        json.dumps(
            {
                "entities": Entity.objects.count(),
                "licences": License.objects.count(),
                "public_licences": total,
                "audits": Audit.objects.count(),
                "pages": pages,
            }
        )
    )


if __name__ == "__main__":
    main()
