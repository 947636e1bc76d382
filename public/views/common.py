"""Helpers the home, search, detail and list pages share: the public querysets, facts beside their
sources, the timeline, the most recent rows of a section."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Case, Count, F, When, Window
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponsePermanentRedirect
from django.utils import timezone

from public import charts, redirects
from public.templatetags.registry_tags import url_or
from registry import prepared
from registry.models import (
    Audit,
    License,
)


def list_url(name: str, fallback: str, **params) -> str:
    """A list page's URL with filters, e.g. ``/licenses/?granted_in=MT``."""
    url = url_or(f"public:{name}", fallback)
    return f"{url}?{urlencode(params)}" if params else url


def public_licenses():
    """Published licences with everything a row or a timeline shows, in a fixed number of queries."""
    return (
        License.objects.published()
        .select_related("holder", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
        .prefetch_related("passported_to")
    )


def public_audits():
    """Published audits with subject, standard and auditor joined."""
    return Audit.objects.published().select_related("subject", "standard", "auditor")


def public_citations(model):
    """Citations of published sources, without the sources' (large) archived text."""
    return model.objects.published().select_related("source").defer("source__archived_text")


def _normalise_statement(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass
class Fact:
    """The citations supporting one fact of a record, the most authoritative source first."""

    citations: list = field(default_factory=list)

    @property
    def disagree(self) -> bool:
        """Sources disagree when they state the fact differently (27/01/2025 vs January 2025)."""
        statements = {_normalise_statement(c.states) for c in self.citations if c.states.strip()}
        return len(statements) > 1

    @property
    def lead(self):
        """The citation whose statement the record shows: the most authoritative source's."""
        return next((c for c in self.citations if c.states.strip()), None)

    @property
    def others(self) -> list:
        """Citations stating the fact differently from the lead: the page names each."""
        lead = self.lead
        if lead is None:
            return []
        return [
            c
            for c in self.citations
            if c.states.strip() and _normalise_statement(c.states) != _normalise_statement(lead.states)
        ]


def facts_by_field(citations, fact_choices) -> tuple[dict[str, Fact], list]:
    """Group citations by the fact they support, each group ordered by its sources' authority.

    Citations of the record as a whole come back separately, ordered the same way.
    """
    facts = {value: Fact() for value in fact_choices.values}
    general = []
    # sorted() is stable: sources of equal authority keep the citations' own order.
    for citation in sorted(citations, key=lambda c: c.source.authority):
        if citation.supports in facts:
            facts[citation.supports].citations.append(citation)
        else:
            general.append(citation)
    return facts, general


class FormerSlugRedirectMixin:
    """A detail page answers 301 from an address its record was public under before (``public.redirects``)."""

    def get(self, request, *args, **kwargs):
        try:
            self.object = self.get_object()
        except Http404:
            found = redirects.successor(self.get_queryset(), self.kwargs[self.slug_url_kwarg])
            if found is None:
                raise
            return HttpResponsePermanentRedirect(redirects.with_query(found.get_absolute_url(), request))
        return self.render_to_response(self.get_context_data(object=self.object))


def published_group(entity):
    """The group ``entity`` belongs to, if it is published."""
    return entity.parent if entity.parent_id and entity.parent.is_published else None


def licenses_by_jurisdiction(licenses):
    """[(jurisdiction, [licence, …]), …] by where each was granted (``License.granted_in``), by name."""
    groups: dict = {}
    for license in licenses:
        groups.setdefault(license.granted_in, []).append(license)
    return sorted(groups.items(), key=lambda pair: pair[0].name)


def timeline_for(licenses, audits, limit=None):
    """The SVG timeline of licences and audits, oldest first; None when there is nothing to draw.

    With ``limit``, only the ``limit`` most recent are drawn: those with no date at all come last. The order is
    decided from each record's span and label; only the rows drawn are built (a large group's page shows 30 of
    its 100 most recent licences and audits).
    """
    kinds = (
        (licenses, charts.license_span, charts.license_label, charts.license_timeline_item),
        (audits, charts.audit_span, charts.audit_label, charts.audit_timeline_item),
    )
    # (sort key: whether it has no date, its first day, its label; record; its item's builder)
    entries = [
        ((*span(record).sort_key, label(record)), record, build)
        for records, span, label, build in kinds
        for record in records
    ]
    if not entries:
        return None
    entries.sort(key=lambda entry: entry[0])
    if limit is not None and len(entries) > limit:
        dated = [entry for entry in entries if not entry[0][0]][-limit:]
        undated = [entry for entry in entries if entry[0][0]]
        entries = dated + undated[: limit - len(dated)]
    items = [build(record, record.get_absolute_url()) for _, record, build in entries]
    return charts.timeline(items, timezone.localdate())


def most_recent(key, model, build, start, limit, values, rows):
    """The ``limit`` rows of ``build(*values)`` (a queryset of ``model``) with the latest ``start()`` (undated
    last), in the order of ``rows()`` (a queryset of the rows' model), and how many rows there are in all. The
    SQL is compiled once per ``key`` (registry.prepared): ``build`` depends on ``values`` alone.

    The first query reads only the table's own columns: it sorts ids rather than joined rows, and counts every
    row in the same pass (a window aggregate) instead of a second scan. The second loads the rows chosen through
    ``rows()``: without ``build``'s filters, which the chosen ids already carry (a group's members need not be
    read again).
    """

    def chosen_query(*values):
        return (
            build(*values)
            .annotate(rows_in_all=Window(Count("*")))
            .order_by(start().desc(nulls_last=True), "-pk")
            .values_list("pk", "rows_in_all")[:limit]
        )

    chosen = prepared.run((key, "chosen", limit), chosen_query, values, model)
    if not chosen:
        return [], 0
    ids = [pk for pk, _ in chosen]
    found = prepared.run((key, "rows"), lambda *ids: rows().filter(pk__in=ids), prepared.padded(ids), model)
    return found, chosen[0][1]


def first_rows(key, model, build, limit, values):
    """The first ``limit`` rows of ``build(*values)`` (a queryset of ``model``) and how many it has in all, in one
    query: the count is a window aggregate over the same rows, so a section of the entity page costs one query
    rather than two scans. The SQL is compiled once per ``key`` (registry.prepared)."""
    found = prepared.run(
        (key, "first", limit), lambda *v: build(*v).annotate(rows_in_all=Window(Count("*")))[:limit], values, model
    )
    return found, (found[0].rows_in_all if found else 0)


def audit_timeline_start():
    """The date charts.audit_timeline_item places an audit at, as SQL: to pick the most recent in the database."""
    return Case(
        When(ongoing=True, then=Coalesce("period_start", "issued_on")),
        When(period_start__isnull=False, period_end__isnull=False, then=F("period_start")),
        default=F("issued_on"),
    )
