"""The home page (counts, charts, recent records) and the search page."""

from __future__ import annotations

import hashlib
from functools import cached_property, partial

from django.core.cache import cache
from django.db.models import Q
from django.http import QueryDict
from django.utils.functional import SimpleLazyObject
from django.utils.translation import ngettext
from django.views.generic import TemplateView

from public import charts, filters
from public.views.common import list_url, public_audits, public_licenses
from public.views.lists import list_cache_key
from registry import prepared
from registry import search as search_index
from registry.derived import tally
from registry.derived.counts import record_counts
from registry.derived.version import current_version
from registry.models import (
    Audit,
    Entity,
    License,
    Regime,
    Regulator,
    Source,
)


class HomeView(TemplateView):
    """The most visited page: its parts are read lazily (:class:`HomeSections`) and home.html keeps their markup,
    the counts and recent records under the data version, the charts under a digest of their rows."""

    template_name = "public/home.html"

    def get_context_data(self, **kwargs):
        home = HomeSections()
        lazy = {name: SimpleLazyObject(partial(getattr, home, name)) for name in HomeSections.parts}
        return super().get_context_data(**kwargs, home=home, **lazy)


class HomeSections:
    """The home page's counts, charts and recent records, each computed when the template first asks for it:
    a part whose cached markup is current is never computed."""

    recent_count = 10
    parts = ("counts", "recent", "by_jurisdiction", "by_regime")

    def __init__(self):
        self.version = current_version()

    @cached_property
    def licence_groups(self):
        """The public licences counted per licence type and jurisdiction, as the database keeps them
        (``registry/derived/tally.py``): a few hundred rows rather than a count of every licence."""
        return tally.licence_groups()

    @cached_property
    def counts(self):
        # Kept by the database, as the licence tally is (registry/derived/counts.py): three rows rather than a
        # count of every published entity and audit after each write.
        kept = record_counts()
        counts = [
            ("Entity", "Entities", kept["entity"], list_url("entity-list", "/entities/")),
            ("Regulator", "Regulators", kept["regulator"], list_url("regulator-list", "/regulators/")),
            ("Licence", "Licences", sum(self.licence_groups.values()), list_url("license-list", "/licenses/")),
            ("Audit or certification", "Audits and certifications", kept["audit"], list_url("audit-list", "/audits/")),
        ]
        # "1 Regulator", "2 Regulators": each label agrees with its count.
        return [(ngettext(one, many, count), count, url) for one, many, count, url in counts]

    # What each record type's line shows (its __str__ and get_absolute_url) and is ordered by: whole rows and
    # their related records were most of the part's cost, with building and compiling the six queries.
    recent_types = (
        ("Entity", Entity, (), ("name",)),
        ("Regulator", Regulator, (), ("name", "abbreviation")),
        ("Regime", Regime, (), ("short_name",)),
        (
            "Licence",
            License,
            ("holder", "license_type__regime"),
            ("holder__name", "license_type__name", "license_type__regime__short_name"),
        ),
        (
            "Audit",
            Audit,
            ("subject", "standard"),
            (
                "subject__name",
                "standard__name",
                "kind",
                "issued_on",
                "issued_on_precision",
                "ongoing",
                "period_start",
                "period_start_precision",
            ),
        ),
        ("Source", Source, (), ("title",)),
    )

    @cached_property
    def recent(self):
        """The most recently added or changed records of every type, newest first; each type's query compiled
        once (registry.prepared)."""
        latest = self.recent_count

        def build(model, related, fields):
            rows = model.objects.published().select_related(*related).only("slug", "updated_at", *related, *fields)
            return rows.order_by("-updated_at")[:latest]

        records = [
            (obj.updated_at, kind, obj)
            for kind, model, related, fields in self.recent_types
            for obj in prepared.run(("home-recent", kind, latest), partial(build, model, related, fields), [], model)
        ]
        records.sort(key=lambda record: record[0], reverse=True)
        return [{"kind": kind, "object": obj, "updated_at": when} for when, kind, obj in records[:latest]]

    # Each chart is a facet of the licence list, unfiltered: a bar counts the rows its link lists. The rows are
    # that list's own (one cache entry per data version); the markup depends on them alone.
    @cached_property
    def facets(self):
        # The list's facets are declared on its FilterSet's class; unfiltered, the list's rows are published()
        # (building a FilterSet to read them deep-copied every filter: 0.9 ms).
        path = list_url("license-list", "/licenses/")
        charted = [facet for facet in filters.LicenseFilterSet.facets if facet.param in ("granted_in", "regime")]
        keys = {facet.param: list_cache_key(path, QueryDict(), f"facet:{facet.param}") for facet in charted}
        found = cache.get_many(keys.values())
        if len(found) < len(keys):
            # Both charts from the licence tally's groups (filters.keyed_rows_together), kept where the list
            # looks for its own facets.
            rows = filters.keyed_rows_together(charted, License.objects.published(), self.licence_groups)
            found = {keys[param]: rows[param] for param in keys}
            cache.set_many(found)
        return {param: found[key] for param, key in keys.items()}

    @cached_property
    def charts_digest(self):
        return hashlib.sha256(repr(sorted(self.facets.items())).encode()).hexdigest()[:32]

    def license_facet_chart(self, param, label):
        return charts.bar_chart(
            (label(value, name), count, list_url("license-list", "/licenses/", **{param: value}))
            for value, name, count in self.facets[param]
        )

    @cached_property
    def by_jurisdiction(self):
        return self.license_facet_chart("granted_in", lambda code, name: f"{name} ({code})")

    @cached_property
    def by_regime(self):
        return self.license_facet_chart("regime", lambda slug, name: name)


class SearchView(TemplateView):
    """Search every record type at once. Each word must match somewhere in a record ("OKX MiCA").

    Entities, licences, audits and regulators are looked up in the full-text index the lists use
    (word prefixes); regimes and sources, small tables, by substring, where a word also stands for the
    current name of a firm it finds by another name (OKEx for OKX).
    """

    template_name = "public/search.html"
    max_length = 200
    max_words = 10
    max_results = 50
    # Current names a word may stand for through other names (aliases) on the substring-searched sections.
    max_names = 10

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # NUL characters are rejected by PostgreSQL; a very long query is cut rather than refused.
        q = self.request.GET.get("q", "").replace("\x00", "").strip()[: self.max_length]
        words = q.split()[: self.max_words]
        context["q"] = q
        context["searched"] = bool(words)
        if not words:
            return context

        # A firm's other names (trading, former) stand for it here too: "okex" finds the sources about OKX.
        names = {word: [word, *self.names_known_by(word)] for word in words}

        def matching(model, base, fields):
            condition = Q()
            for word in words:
                any_field = Q()
                for name in fields:
                    for text in names[word]:
                        any_field |= Q(**{f"{name}__icontains": text})
                condition &= any_field
            # Filter through a pk subquery: joins over aliases would repeat rows.
            return base.filter(pk__in=model.objects.filter(condition).values("pk"))[: self.max_results]

        def indexed(kind, base):
            # The lists' full-text index (registry/search.py): every word must start a word of the record's
            # document, as on the lists' own search, and without a join per word and field.
            return list(search_index.filter_queryset(base, kind, q)[: self.max_results])

        context["results"] = [
            ("Entities", indexed("entity", Entity.objects.published().select_related("jurisdiction", "parent"))),
            ("Licences", indexed("license", public_licenses())),
            ("Audits and certifications", indexed("audit", public_audits())),
            ("Regulators", indexed("regulator", Regulator.objects.published().select_related("jurisdiction"))),
            (
                "Regimes",
                list(
                    matching(
                        Regime,
                        Regime.objects.published().select_related("jurisdiction"),
                        ["short_name", "name", "legal_reference"],
                    )
                ),
            ),
            (
                "Sources",
                list(matching(Source, Source.objects.published().defer("archived_text"), ["title", "publisher"])),
            ),
        ]
        context["total"] = sum(len(rows) for _, rows in context["results"])
        return context

    def names_known_by(self, word):
        """Names of published entities that ``word`` finds only by another of their names (an alias) or their LEI.

        Looked up in the full-text index, as the entities section is: "okex" gives "OKX", whose former name is
        OKEx, so the substring-searched sections find what names OKX.
        """
        found = search_index.filter_queryset(Entity.objects.published(), "entity", word)
        return list(
            found.exclude(name__icontains=word).order_by("name").values_list("name", flat=True)[: self.max_names]
        )
