"""Public pages. Every query starts from a model's ``published()``."""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property, partial
from urllib.parse import urlencode

from django.core.cache import cache
from django.core.paginator import Page
from django.db.models import Case, Count, F, Prefetch, Q, When, Window
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponsePermanentRedirect, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, new_method_proxy
from django.utils.translation import ngettext
from django.views.generic import DetailView, TemplateView, View
from django_filters.views import FilterView

from history import as_of, feed
from official import history as official_history
from opendata import datasets, exports
from opendata.paging import ExportPagination
from opendata.serializers import (
    AuditSerializer,
    ChangeSerializer,
    CryptoAssetSerializer,
    EntitySerializer,
    LicenseSerializer,
    RegulatorSerializer,
    WhitePaperSerializer,
)
from opendata.tables import api_rows
from public import assurance, charts, filters, guides, redirects
from public.sections import detail_object, member_ids
from public.sections import records as section_records
from public.templatetags.registry_tags import highlight_quotes, url_or
from registry import search as search_index
from registry.derived import tally
from registry.derived.version import current_version
from registry.models import (
    Audit,
    AuditCitation,
    AuditFact,
    CryptoAsset,
    Entity,
    EntityAlias,
    EntityCitation,
    EntityFact,
    EntityKind,
    KeyPerson,
    KeyPersonCitation,
    License,
    LicenseCitation,
    LicenseFact,
    Regime,
    Regulator,
    Source,
    WhitePaper,
    WhitePaperCitation,
    WhitePaperFact,
    link_supersession,
)

# ---------------------------------------------------------------------------
# Shared helpers for the home, search and detail pages
# ---------------------------------------------------------------------------


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


def licenses_by_jurisdiction(licenses):
    """[(jurisdiction, [licence, …]), …] by where each was granted (``License.granted_in``), by name."""
    groups: dict = {}
    for license in licenses:
        groups.setdefault(license.granted_in, []).append(license)
    return sorted(groups.items(), key=lambda pair: pair[0].name)


def timeline_for(licenses, audits, limit=None):
    """The SVG timeline of licences and audits, oldest first; None when there is nothing to draw.

    With ``limit``, only the ``limit`` most recent are drawn: those with no date at all come last.
    """
    items = [charts.license_timeline_item(lic, lic.get_absolute_url()) for lic in licenses]
    items += [charts.audit_timeline_item(audit, audit.get_absolute_url()) for audit in audits]
    if not items:
        return None

    def start(item):
        when = item.start or item.point
        return (when is None, when.first_day if when else None, item.label)

    items.sort(key=start)
    if limit is not None and len(items) > limit:
        dated = [item for item in items if item.start or item.point][-limit:]
        undated = [item for item in items if not (item.start or item.point)]
        items = dated + undated[: limit - len(dated)]
    return charts.timeline(items, timezone.localdate())


def most_recent(queryset, start, limit, rows=None):
    """The ``limit`` rows of ``queryset`` with the latest ``start`` (undated last), in ``queryset``'s own order,
    and how many rows ``queryset`` has in all.

    The first query reads only the table's own columns: it sorts ids rather than joined rows, and counts every
    row in the same pass (a window aggregate) instead of a second scan. The second loads the rows chosen, through
    ``rows`` when given: ``queryset`` without its filters, which the chosen ids already carry (a group's members,
    as a subquery, need not be read again), and with its order.
    """
    chosen = list(
        queryset.annotate(rows_in_all=Window(Count("*")))
        .order_by(start.desc(nulls_last=True), "-pk")
        .values_list("pk", "rows_in_all")[:limit]
    )
    ids = [pk for pk, _ in chosen]
    if rows is None:
        rows = queryset
    rows = list(rows.filter(pk__in=ids)) if ids else []
    return rows, (chosen[0][1] if chosen else 0)


def first_rows(queryset, limit):
    """The first ``limit`` rows of ``queryset`` and how many it has in all, in one query: the count is a window
    aggregate over the same rows, so a section of the entity page costs one query rather than two scans."""
    rows = list(queryset.annotate(rows_in_all=Window(Count("*")))[:limit])
    return rows, (rows[0].rows_in_all if rows else 0)


def audit_timeline_start():
    """The date charts.audit_timeline_item places an audit at, as SQL: to pick the most recent in the database."""
    return Case(
        When(ongoing=True, then=Coalesce("period_start", "issued_on")),
        When(period_start__isnull=False, period_end__isnull=False, then=F("period_start")),
        default=F("issued_on"),
    )


# ---------------------------------------------------------------------------
# Home and search
# ---------------------------------------------------------------------------


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
        counts = [
            ("Entity", "Entities", Entity.objects.published().count(), list_url("entity-list", "/entities/")),
            (
                "Regulator",
                "Regulators",
                Regulator.objects.published().count(),
                list_url("regulator-list", "/regulators/"),
            ),
            ("Licence", "Licences", sum(self.licence_groups.values()), list_url("license-list", "/licenses/")),
            (
                "Audit or certification",
                "Audits and certifications",
                Audit.objects.published().count(),
                list_url("audit-list", "/audits/"),
            ),
        ]
        # "1 Regulator", "2 Regulators": each label agrees with its count.
        return [(ngettext(one, many, count), count, url) for one, many, count, url in counts]

    @cached_property
    def recent(self):
        """The most recently added or changed records of every type, newest first."""
        latest = self.recent_count
        querysets = [
            ("Entity", Entity.objects.published()),
            ("Regulator", Regulator.objects.published()),
            ("Regime", Regime.objects.published()),
            ("Licence", License.objects.published().select_related("holder", "license_type__regime")),
            ("Audit", public_audits()),
            ("Source", Source.objects.published().defer("archived_text")),
        ]
        records = [(obj.updated_at, kind, obj) for kind, qs in querysets for obj in qs.order_by("-updated_at")[:latest]]
        records.sort(key=lambda record: record[0], reverse=True)
        return [{"kind": kind, "object": obj, "updated_at": when} for when, kind, obj in records[:latest]]

    # Each chart is a facet of the licence list, unfiltered: a bar counts the rows its link lists. The rows are
    # that list's own (one cache entry per data version); the markup depends on them alone.
    @cached_property
    def facets(self):
        filterset = filters.LicenseFilterSet(None, queryset=License.objects.published())
        path = list_url("license-list", "/licenses/")
        charted = [facet for facet in filterset.facets if facet.param in ("granted_in", "regime")]
        keys = {facet.param: list_cache_key(path, QueryDict(), f"facet:{facet.param}") for facet in charted}
        found = cache.get_many(keys.values())
        if len(found) < len(keys):
            # Both charts from the licence tally's groups (filters.keyed_rows_together), kept where the list
            # looks for its own facets.
            rows = filters.keyed_rows_together(charted, filterset.filtered_without(None), self.licence_groups)
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


# ---------------------------------------------------------------------------
# Detail pages
# ---------------------------------------------------------------------------


# How an entity's page introduces each kind of other name, in the order shown.
OTHER_NAME_LABELS = {
    EntityAlias.Kind.FORMER: "Formerly known as",
    EntityAlias.Kind.TRADING: "Trading as",
    EntityAlias.Kind.OTHER: "Also known as",
}


def other_names(entity):
    """``[(label, [alias, …]), …]``: the entity's other names by kind ("Formerly known as OKEx")."""
    by_kind = defaultdict(list)
    for alias in entity.aliases.all():
        by_kind[alias.kind].append(alias)
    return [(label, by_kind[kind]) for kind, label in OTHER_NAME_LABELS.items() if by_kind[kind]]


class EntityDetailView(FormerSlugRedirectMixin, DetailView):
    """An entity with its group, affiliates, licences, audits, key people and sources.

    A group's page covers its affiliates' licences and audits too. A group can
    have thousands of them, so each section shows a bounded number of rows,
    states the true total and links to the list page that has them all. The
    number of queries does not depend on the group's size, nor does the work
    in Python; only the database's counting grows with it.
    """

    template_name = "public/entity_detail.html"
    context_object_name = "entity"
    # 50, as on a list page's first page, which the links lead to.
    affiliate_limit = 50
    license_limit = 50
    audit_limit = 50
    key_person_limit = 50
    white_paper_limit = 50
    source_limit = 50
    # The timeline draws the most recent of the licences and audits shown, so it must not exceed their limits;
    # more than 30 bars are hard to follow anyway.
    timeline_limit = 30

    def get_queryset(self):
        return (
            Entity.objects.published()
            .select_related("jurisdiction", "parent")
            .prefetch_related(
                "aliases",
                Prefetch("citations", queryset=public_citations(EntityCitation), to_attr="public_citations"),
            )
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        entity = self.object
        facts, general = facts_by_field(entity.public_citations, EntityFact)
        sections = EntitySections(self, entity)
        context.update(
            group=sections.group,
            other_names=other_names(entity),
            facts=facts,
            general_citations=general,
            sections_key=sections.key,
            **sections.lazy(),
        )
        return context

    def limits(self) -> tuple:
        """The sections' limits: the markup cached for one set of limits is not another's."""
        names = ("affiliate", "license", "audit", "key_person", "white_paper", "source", "timeline")
        return tuple(getattr(self, f"{name}_limit") for name in names)

    def relatives(self, entity):
        """Its group, the first of its affiliates and of its group's other members (by name), and their totals."""
        group = published_group(entity)
        affiliates = Entity.objects.published().filter(parent=entity).select_related("jurisdiction")
        siblings = (
            Entity.objects.published().filter(parent=group).exclude(pk=entity.pk) if group else Entity.objects.none()
        )
        # A list and a count rather than first_rows(): the count reads the parent index alone, where a window
        # count would read every affiliate joined to its jurisdiction (13 ms for the largest group, against 7).
        return {
            "group": group,
            "affiliates": list(affiliates.order_by("name", "pk")[: self.affiliate_limit]),
            "affiliate_total": affiliates.count(),
            # The entity list's ?group= filter accepts groups only.
            "affiliates_listed": entity.kind == Entity.Kind.GROUP,
            "siblings": list(siblings.order_by("name", "pk")[: self.affiliate_limit]),
            "sibling_total": siblings.count(),
            "siblings_listed": group is not None and group.kind == Entity.Kind.GROUP,
        }

    def sources(self, members, records):
        """The first sources of the records this page shows (of all of them, when nothing is cut), and their total.

        Not those of every licence of the group: the largest group's are 12,000 citations, too many for one page.
        """
        licenses = [licence.pk for licence in records["licenses"]]
        audits = [audit.pk for audit in records["audits"] + records["audits_performed"]]
        cited = (
            Q(pk__in=LicenseCitation.objects.filter(license__in=licenses).values("source"))
            | Q(pk__in=AuditCitation.objects.filter(audit__in=audits).values("source"))
            | Q(pk__in=EntityCitation.objects.filter(entity__in=members).values("source"))
            | Q(pk__in=KeyPersonCitation.objects.filter(key_person__in=records["key_people"]).values("source"))
        )
        sources = Source.objects.published().filter(cited).defer("archived_text")
        shown, total = first_rows(sources.order_by("title", "pk"), self.source_limit)
        return {"sources": shown, "source_total": total}


def published_group(entity):
    """The group ``entity`` belongs to, if it is published."""
    return entity.parent if entity.parent_id and entity.parent.is_published else None


class LazyValue(SimpleLazyObject):
    """A value computed when first used, a number included (``intcomma`` asks for ``int()``)."""

    __int__ = new_method_proxy(int)


class EntitySections:
    """The entity page's sections below its facts, each computed when the page first reads it: on a page whose
    sections' markup is cached (entity_detail.html keeps it under :attr:`key`, the data version, the day and the
    entity), none is. The first visit after a write computes them all, in a fixed number of queries.

    Only a group's and an audit firm's are kept (their sections count thousands of records; a company's read a
    few): a worker's cache then holds a few hundred pages of up to 100 KB, not one per entity.
    """

    cached_kinds = (EntityKind.GROUP, EntityKind.AUDITOR)

    parts = {
        "relatives": (
            "affiliates",
            "affiliate_total",
            "affiliates_listed",
            "siblings",
            "sibling_total",
            "siblings_listed",
        ),
        "records": (
            "licenses",
            "license_total",
            "licenses_by_jurisdiction",
            "audits",
            "audit_total",
            "audits_performed",
            "audits_performed_total",
            "key_people",
            "key_person_total",
            "white_papers",
            "white_paper_total",
            "white_papers_filed",
            "white_papers_filed_total",
        ),
        "sources": ("sources", "source_total"),
        "others": ("timeline", "timeline_total", "changes", "reserves"),
    }

    def __init__(self, view, entity):
        self.view = view
        self.entity = entity
        self.group = published_group(entity)
        self.key = None
        if entity.kind in self.cached_kinds:
            limits = hashlib.sha256(repr(view.limits()).encode()).hexdigest()[:12]
            self.key = f"{current_version()}:{timezone.localdate().isoformat()}:{entity.pk}:{limits}"

    def lazy(self) -> dict:
        """Each section's context variables, as lazy values."""
        return {
            name: LazyValue(partial(self.value, part, name)) for part, names in self.parts.items() for name in names
        }

    def value(self, part, name):
        return getattr(self, part)[name]

    @cached_property
    def members(self):
        # The published members' ids, as one parameter: every section is then a query of one table. A draft
        # member's records are public nowhere, and its published affiliates still count (with_affiliates).
        return member_ids(self.entity)

    @cached_property
    def relatives(self):
        return self.view.relatives(self.entity)

    @cached_property
    def records(self):
        return section_records(self.view, self.entity, self.members)

    @cached_property
    def sources(self):
        return self.view.sources(self.members, self.records)

    @cached_property
    def others(self):
        records = self.records
        return {
            "timeline": timeline_for(records["licenses"], records["audits"], self.view.timeline_limit),
            "timeline_total": records["license_total"] + records["audit_total"],
            "changes": feed.changes_for(self.entity),
            "reserves": assurance.entity_reserves(self.members),
        }


class LicenseDetailView(FormerSlugRedirectMixin, DetailView):
    """A licence, each fact beside the citations that support it."""

    template_name = "public/license_detail.html"
    context_object_name = "license"

    def get_object(self, queryset=None):
        return detail_object(self, License) if queryset is None else super().get_object(queryset)

    def get_queryset(self):
        return (
            License.objects.published()
            .select_related("holder__parent", "license_type__regime__jurisdiction", "regulator", "jurisdiction")
            .prefetch_related(
                "passported_to",
                "activities",
                Prefetch("citations", queryset=public_citations(LicenseCitation), to_attr="public_citations"),
            )
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        license = self.object
        facts, general = facts_by_field(license.public_citations, LicenseFact)
        holder = license.holder
        context.update(
            facts=facts,
            general_citations=general,
            group=holder.parent if holder.parent_id and holder.parent.is_published else None,
            in_force=license.is_in_force(),
            sources=_distinct_sources(license.public_citations),
        )
        context["changes"] = feed.changes_for(self.object)
        context["esma_history"] = official_history.for_license(license)
        return context


class AuditDetailView(FormerSlugRedirectMixin, DetailView):
    """An audit or certification, each fact beside the citations that support it."""

    template_name = "public/audit_detail.html"
    context_object_name = "audit"

    def get_queryset(self):
        return (
            Audit.objects.published()
            .select_related("subject__parent", "standard", "auditor")
            .prefetch_related(
                Prefetch("citations", queryset=public_citations(AuditCitation), to_attr="public_citations"),
            )
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        audit = self.object
        # Its status today, and the reports it superseded or was superseded by (the list's and API's rule).
        link_supersession([audit])
        facts, general = facts_by_field(audit.public_citations, AuditFact)
        subject = audit.subject
        parts = assurance.audit_assurance(audit, facts, general)
        context.update(
            **parts,
            facts=facts,
            general_citations=general,
            group=subject.parent if subject.parent_id and subject.parent.is_published else None,
            sources=_distinct_sources([*audit.public_citations, *parts["row_citations"]]),
        )
        context["changes"] = feed.changes_for(self.object)
        return context


def _distinct_sources(citations):
    sources = {}
    for citation in citations:
        sources.setdefault(citation.source.pk, citation.source)
    return sorted(sources.values(), key=lambda source: source.title)


# A regulator's or regime's page lists this many licences, as a list page does; its list page has them all.
DETAIL_LICENSE_LIMIT = 50


def first_licenses(licenses):
    """The first licences of ``licenses`` in the list's order, with their total (a regime may have thousands)."""
    shown = list(licenses[:DETAIL_LICENSE_LIMIT])
    total = len(shown) if len(shown) < DETAIL_LICENSE_LIMIT else licenses.count()
    return {"licenses": shown, "license_total": total}


class RegulatorDetailView(FormerSlugRedirectMixin, DetailView):
    template_name = "public/regulator_detail.html"
    context_object_name = "regulator"

    def get_queryset(self):
        return Regulator.objects.published().select_related("jurisdiction")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        regulator = self.object
        context.update(
            regimes=list(Regime.objects.published().filter(regulators=regulator).select_related("jurisdiction")),
            **first_licenses(public_licenses().filter(regulator=regulator)),
        )
        context["changes"] = feed.changes_for(self.object)
        return context


class RegimeDetailView(FormerSlugRedirectMixin, DetailView):
    template_name = "public/regime_detail.html"
    context_object_name = "regime"

    def get_queryset(self):
        return Regime.objects.published().select_related("jurisdiction").prefetch_related("license_types")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        regime = self.object
        context.update(
            regulators=list(Regulator.objects.published().filter(regimes=regime).select_related("jurisdiction")),
            activities=list(regime.activities.all()),
            **first_licenses(public_licenses().filter(license_type__regime=regime)),
        )
        context["changes"] = feed.changes_for(self.object)
        return context


class SourceDetailView(FormerSlugRedirectMixin, DetailView):
    """A source's metadata and archived text, with every quote cited from it highlighted."""

    template_name = "public/source_detail.html"
    context_object_name = "source"

    def get_queryset(self):
        return Source.objects.published()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        source = self.object
        # Only citations of records the public may see: a draft licence's quote stays unlisted.
        license_citations = list(
            LicenseCitation.objects.filter(source=source, license__in=License.objects.published()).select_related(
                "license__holder", "license__license_type__regime"
            )
        )
        audit_citations = list(
            AuditCitation.objects.filter(source=source, audit__in=Audit.objects.published()).select_related(
                "audit__subject", "audit__standard"
            )
        )
        entity_citations = list(
            EntityCitation.objects.filter(source=source, entity__in=Entity.objects.published()).select_related("entity")
        )
        person_citations = list(
            KeyPersonCitation.objects.filter(
                source=source, key_person__in=KeyPerson.objects.published()
            ).select_related("key_person__entity")
        )
        citing = [
            *[(c, c.license, "Licence") for c in license_citations],
            *[(c, c.audit, "Audit") for c in audit_citations],
            *[(c, c.entity, "Entity") for c in entity_citations],
            *[(c, c.key_person.entity, f"Key person: {c.key_person.name}") for c in person_citations],
            *assurance.sourced_rows_citing(source),
        ]
        quotes = [c.quote for c, _, _ in citing if c.quote.strip()]
        highlighted, missing = highlight_quotes(source.archived_text, quotes)
        missing_keys = {_normalise_statement(q) for q in missing}
        context.update(
            citing=[
                {
                    "citation": c,
                    "record": record,
                    "kind": kind,
                    "found": bool(c.quote.strip()) and _normalise_statement(c.quote) not in missing_keys,
                }
                for c, record, kind in citing
            ],
            highlighted_text=highlighted,
            missing_quotes=missing,
        )
        context["changes"] = feed.changes_for(self.object)
        return context


# --- Lists and exports ---


def _facet_key(value):
    """The query-string form of a cleaned filter value (a jurisdiction's code, a record's slug)."""
    if value is None or value == "":
        return None
    return getattr(value, "code", None) or getattr(value, "slug", None) or str(value)


def _query_url(params, **changes):
    """``?query`` from ``params`` with ``changes`` applied (None removes a key); always drops ``page``."""
    params = params.copy()
    params.pop("page", None)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return f"?{params.urlencode()}" if params else "?"


def list_cache_key(path, params, part, *, without=()):
    """A key for data derived from a list's query string ``params`` (a QueryDict), at the current data version and
    date, leaving out the parameters ``without`` names (what the data does not depend on).

    Exact rather than timed: any write raises the data version (registry/derived/version.py), after which no
    request asks for the old keys again; they age out of the cache.
    """
    items = sorted((key, value) for key in params if key not in without for value in params.getlist(key))
    digest = hashlib.sha256(repr((path, items)).encode()).hexdigest()[:32]
    return f"public:list:{part}:{current_version()}:{timezone.localdate().isoformat()}:{digest}"


def facet_rows(filterset, facet, key):
    """``facet.rows()`` of ``filterset``'s rows but for the facet's own filter, cached under ``key``."""
    rows = cache.get(key)
    if rows is None:
        base = filterset.filtered_without(facet.param)
        # As-of pages count history snapshots, whose model the key mappings do not cover.
        rows = facet.rows(base, keyed=base.model is filterset._meta.model)
        cache.set(key, rows)
    return rows


class RegistryListView(FilterView):
    """A public list: FilterSet-filtered, sortable, faceted and paginated, with its state in the URL.

    ``strict = False``: an invalid parameter is reported beside its field and
    ignored, while the valid ones still apply (django-filter only keeps the
    valid fields in ``cleaned_data``).
    """

    strict = False
    paginate_by = 50
    facet_size = 30
    export_name = ""
    heading = ""

    def get(self, request, *args, **kwargs):
        # A parameter's former name (the licence list's ?jurisdiction=) moves to the current one for good,
        # so every list URL has one spelling: the FilterSet says which names were renamed.
        canonical = getattr(self.filterset_class, "canonical", None)
        if canonical is not None and (data := canonical(request.GET)) is not request.GET:
            return HttpResponsePermanentRedirect(f"{request.path}?{data.urlencode()}")
        return super().get(request, *args, **kwargs)

    def get_filterset(self, filterset_class):
        # ``?as_of=`` swaps the rows for the change history's snapshot (history.as_of).
        return as_of.filterset_for(filterset_class, **self.get_filterset_kwargs(filterset_class))

    def cache_key(self, part, *, without=()):
        """A key for data derived from this list's query string: :func:`list_cache_key`."""
        return list_cache_key(self.request.path, self.request.GET, part, without=without)

    def paginate_queryset(self, queryset, page_size):
        """Like Django's, but a bad or out-of-range ``page`` shows page 1 with a message, never a 404.

        The count and each page's ids are cached per data version: sorting tens of thousands of rows
        by a joined column (the holder's name) is most of a cold page's cost, and the first pages of
        the unfiltered lists are what most visitors ask for.
        """
        paginator = self.get_paginator(queryset, page_size, allow_empty_first_page=True)
        paginator.count = self.cached_count(queryset.count)  # a cached_property: the count query is not run again
        page = paginator.page(self.page_number(paginator.num_pages))
        if self.filterset.as_of:
            # History rows: the page's records as they stood that day (history.as_of).
            records = as_of.records(self.filterset_class._meta.model, self.filterset.as_of, page.object_list)
            page.object_list = self.snapshot_rows(records)
            return paginator, page, page.object_list, page.has_other_pages()
        ids_key = self.cache_key(f"ids:{page.number}", without=("page",))
        ids = cache.get(ids_key)
        if ids is None:
            ids = list(page.object_list.values_list("pk", flat=True))
            cache.set(ids_key, ids)
        # Read by id through the list's base queryset (published()), not the filtered one: the ids already
        # carry the filters (running a search's MATCH again for 50 known ids cost 10 ms), and the base still
        # leaves out a record unpublished since its id was cached.
        page.object_list = self.page_rows(self.filterset.queryset, ids) if ids else []
        return paginator, page, page.object_list, page.has_other_pages()

    def cached_count(self, count):
        """``count()``, cached per data version for this list's filters (any ``page`` and ``sort``)."""
        key = self.cache_key("count", without=("page", "sort"))
        value = cache.get(key)
        if value is None:
            value = count()
            cache.set(key, value)
        return value

    def page_number(self, num_pages):
        """The ``page`` asked for; 1, with a message in ``page_error``, when it is not a page of ``num_pages``."""
        raw = self.request.GET.get("page", "")
        self.page_error = ""
        number = 1
        if raw:
            try:
                number = int(raw)
            except ValueError:
                number = 0
            if not 1 <= number <= num_pages:
                self.page_error = f"Page must be a whole number from 1 to {num_pages}; showing page 1 instead."
                number = 1
        return number

    def snapshot_rows(self, records):
        """The rows a page shows of records as they stood on a past day (history.as_of)."""
        return records

    def page_rows(self, queryset, ids):
        """The records ``ids`` names, in that order, read through ``queryset`` (its rule, not its order)."""
        by_id = {row.pk: row for row in queryset.order_by().filter(pk__in=ids)}
        return [by_id[pk] for pk in ids if pk in by_id]

    def get_facets(self):
        params = self.request.GET
        cleaned = self.filterset.form.cleaned_data if self.filterset.is_bound else {}
        facets = []
        for facet in self.filterset.facets:
            selected = _facet_key(cleaned.get(facet.param))
            values = []
            # Counted without the facet's own filter: every ?granted_in= of a list shares its "Granted in" counts.
            key = self.cache_key(f"facet:{facet.param}", without=("page", "sort", facet.param))
            rows = facet_rows(self.filterset, facet, key)
            # The most frequent values, as Datasette shows them, and the selected one wherever it ranks: a
            # jurisdiction facet has two hundred values, and a link each cost more than the rest of the page.
            shown = [row for i, row in enumerate(rows) if i < self.facet_size or row[0] == selected]
            for value, label, count in shown:
                is_selected = value == selected
                values.append(
                    {
                        "value": value,
                        "label": label,
                        "count": count,
                        "selected": is_selected,
                        "url": _query_url(params, **{facet.param: None if is_selected else value}),
                    }
                )
            facets.append(
                {"param": facet.param, "label": facet.label, "values": values, "more": len(rows) - len(shown)}
            )
        return facets

    def get_sort_links(self):
        params = self.request.GET
        current = ""
        if self.filterset.is_bound:
            current = self.filterset.form.cleaned_data.get("sort") or ""
        links = {}
        for sort in self.filterset.sorts:
            state = "ascending" if current == sort.param else "descending" if current == f"-{sort.param}" else ""
            target = f"-{sort.param}" if state == "ascending" else sort.param
            links[sort.param] = {"label": sort.label, "url": _query_url(params, sort=target), "state": state}
        return links

    def active_filter_count(self) -> int:
        """How many of the form's filters the URL sets (the sort order is not a filter): "Filters (2 active)"."""
        params = self.request.GET
        return sum(
            1 for name in self.filterset.form.fields if name != "sort" and any(v.strip() for v in params.getlist(name))
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        suffix = f"?{query.urlencode()}" if query else ""
        export = f"public:{self.export_name}-export"
        context.update(
            heading=self.heading,
            facets=self.get_facets(),
            sort_links=self.get_sort_links(),
            page_error=self.page_error,
            csv_url=reverse(export, kwargs={"format": "csv"}) + suffix,
            json_url=reverse(export, kwargs={"format": "json"}) + suffix,
            has_filters=any(key != "page" for key in self.request.GET),
            active_filters=self.active_filter_count(),
            as_of=self.filterset.as_of,
            as_of_display=as_of.display_day(self.filterset.as_of) if self.filterset.as_of else "",
        )
        return context


def audit_list_queryset():
    return Audit.objects.published().select_related("subject", "standard", "auditor")


def entity_list_queryset():
    return (
        Entity.objects.published()
        .select_related("parent", "jurisdiction")
        .prefetch_related("aliases")
        .order_by("name", "slug")
    )


def regulator_list_queryset():
    return (
        Regulator.objects.published()
        .select_related("jurisdiction")
        .prefetch_related(Prefetch("regimes", queryset=Regime.objects.published()))
        .order_by("name", "slug")
    )


class ApiRecord(dict):
    """A record as the API represents it, also read by attribute (``row.slug``), as the lists of model
    instances are."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# The licence list's row: these of the licence's one serializer's fields, as the API gives them. Read with
# ``values()`` (opendata.tables.ApiRows), or from instances on as-of pages; a page of model instances meant 300
# of them (each licence and its four related records) and a related manager per passport lookup: half of the
# page's 17 ms. Links are site paths (``datasets.Site``), as on every other page.
LICENSE_ROW = LicenseSerializer.only(
    "url",
    "slug",
    "holder",
    "regime",
    "license_type",
    "regulator",
    "granted_in",
    "granted_in_stated",
    "passported_to",
    "status",
    "status_display",
    "granted",
)


class LicenseListView(RegistryListView):
    filterset_class = filters.LicenseFilterSet
    template_name = "public/license_list.html"
    export_name = "license"
    heading = "Licences"

    def get_queryset(self):
        return License.objects.published()

    def page_rows(self, queryset, ids):
        return [ApiRecord(row) for row in api_rows(LICENSE_ROW).read(datasets.Site(), queryset, ids)]

    def snapshot_rows(self, records):
        return [ApiRecord(row) for row in LICENSE_ROW(records, many=True).data]


class AuditListView(RegistryListView):
    filterset_class = filters.AuditFilterSet
    template_name = "public/audit_list.html"
    export_name = "audit"
    heading = "Audits and certifications"

    def get_queryset(self):
        return audit_list_queryset()

    def page_rows(self, queryset, ids):
        # Kept per data version and day, as the ids are: each row's status and its links (link_supersession) are
        # most of a repeat visit's work otherwise.
        digest = hashlib.sha256(repr(ids).encode()).hexdigest()[:32]
        key = f"public:list:audit-rows:{current_version()}:{timezone.localdate().isoformat()}:{digest}"
        rows = cache.get(key)
        if rows is None:
            rows = link_supersession(super().page_rows(queryset, ids))
            cache.set(key, rows)
        return rows


class EntityListView(RegistryListView):
    filterset_class = filters.EntityFilterSet
    template_name = "public/entity_list.html"
    export_name = "entity"
    heading = "Entities"

    def get_queryset(self):
        return entity_list_queryset()


class RegulatorListView(RegistryListView):
    filterset_class = filters.RegulatorFilterSet
    template_name = "public/regulator_list.html"
    export_name = "regulator"
    heading = "Regulators"

    def get_queryset(self):
        return regulator_list_queryset()


class ExportView(View):
    """``/<records>.csv`` and ``/<records>.json``: the rows the same query string selects on the list page.

    Strict where the HTML page is lenient: any bad parameter answers 400 with a JSON body naming it,
    since a script cannot read a message beside a field. The rows are the record type's serializer's
    table (``opendata.serializers``); JSON pages as the API does (``page``, ``page_size``; docs/api.md),
    the CSV holds every row and ignores them.
    """

    filterset_class = None
    serializer_class = None
    filename = ""

    def get_queryset(self):
        raise NotImplementedError

    def get(self, request, format):
        filterset = as_of.filterset_for(
            self.filterset_class, request.GET or None, queryset=self.get_queryset(), request=request
        )
        errors = dict(filterset.errors) if filterset.is_bound else {}
        if format == "json":
            errors.update(ExportPagination.errors(request.GET))
        if errors:
            return exports.invalid_parameters(errors)
        source = self.listing(filterset)
        # Named after what it holds: licenses-MT-regime-mica-2026-12-05.csv (the as-of day for a past register).
        day = filterset.as_of or timezone.localdate()
        name = "-".join([self.filename, *filters.export_name(filterset), day.isoformat()])
        table = self.serializer_class.table()
        if format == "csv":
            return exports.csv_response(request, source, table, f"{name}.csv")
        return exports.json_response(request, source, table, f"{name}.json")

    def listing(self, filterset):
        """What the export reads: the filtered QuerySet, or on a past day the records as they stood then."""
        if not filterset.as_of:
            return filterset.qs
        model, day, history_rows = self.filterset_class._meta.model, filterset.as_of, filterset.qs
        return exports.Listing(
            page=partial(as_of.page, model, day, history_rows),
            iterate=partial(as_of.iterate, model, day, history_rows),
        )


def export_view(filterset_class, serializer_class, filename, records):
    """The export of one list: its FilterSet, its serializer's table, its file name and its ``records()``."""
    return type(
        f"{serializer_class.Meta.model.__name__}ExportView",
        (ExportView,),
        {
            "__module__": __name__,
            "filterset_class": filterset_class,
            "serializer_class": serializer_class,
            "filename": filename,
            "get_queryset": lambda self: records(),
        },
    )


LicenseExportView = export_view(filters.LicenseFilterSet, LicenseSerializer, "licenses", public_licenses)
AuditExportView = export_view(filters.AuditFilterSet, AuditSerializer, "audits", audit_list_queryset)
EntityExportView = export_view(filters.EntityFilterSet, EntitySerializer, "entities", entity_list_queryset)
RegulatorExportView = export_view(
    filters.RegulatorFilterSet, RegulatorSerializer, "regulators", regulator_list_queryset
)


# --- White papers and crypto-assets (ESMA's MiCA register, Titles II to IV) ---


def white_paper_list_queryset():
    return (
        WhitePaper.objects.published()
        .select_related("offeror", "filed_by", "regulator", "jurisdiction", "crypto_asset")
        .prefetch_related("host_states")
        .order_by("-listed_on", "slug")
    )


class WhitePaperListView(RegistryListView):
    filterset_class = filters.WhitePaperFilterSet
    template_name = "public/white_paper_list.html"
    export_name = "white-paper"
    heading = "White papers"

    def get_queryset(self):
        return white_paper_list_queryset()

    def page_rows(self, queryset, ids):
        return super().page_rows(white_paper_list_queryset(), ids)


class WhitePaperExportView(ExportView):
    filterset_class = filters.WhitePaperFilterSet
    serializer_class = WhitePaperSerializer
    filename = "white-papers"

    def get_queryset(self):
        return white_paper_list_queryset()


class AsOfDetailMixin:
    """A detail page that answers ``?as_of=YYYY-MM-DD`` with the record as it stood at the end of that day, by the
    lists' rule (history.as_of): 404 when it was not public then. A malformed day is named on the page, which
    then shows the record as it is today."""

    def as_of_day(self):
        raw = self.request.GET.get("as_of", "")
        day = as_of.parse_as_of(self.request.GET)
        self.as_of_error = ""
        if day is None and raw.strip():
            self.as_of_error = "The as-of date must be YYYY-MM-DD: showing it as it is today."
        return day

    def get_object(self, queryset=None):
        day = self.day = self.as_of_day()
        if day is None:
            return super().get_object(queryset)
        model = self.get_queryset().model
        found = as_of.records(model, day, as_of.rows(model, day).filter(slug=self.kwargs["slug"])[:1])
        if not found:
            raise Http404(f"No {model._meta.verbose_name} was public under this address on that day.")
        return found[0]

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs,
            as_of=self.day,
            as_of_display=as_of.display_day(self.day) if self.day else "",
            as_of_error=self.as_of_error,
        )


class WhitePaperDetailView(AsOfDetailMixin, DetailView):
    """A white paper: its crypto-asset, offeror or issuer, filing CASP and authority, each fact beside its sources."""

    template_name = "public/white_paper_detail.html"
    context_object_name = "paper"

    def get_queryset(self):
        return white_paper_list_queryset().prefetch_related(
            Prefetch("citations", queryset=public_citations(WhitePaperCitation), to_attr="public_citations")
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        paper = self.object
        if self.day:
            # As it stood: its citations then (history.as_of), its crypto-asset if public then too.
            citations = list(paper.citations.all())
            shown = as_of.rows(CryptoAsset, self.day).filter(id=paper.crypto_asset_id)
            token = paper.crypto_asset if paper.crypto_asset_id and shown.exists() else None
        else:
            citations = paper.public_citations
            token = paper.crypto_asset if paper.crypto_asset_id and paper.crypto_asset.is_published else None
        facts, general = facts_by_field(citations, WhitePaperFact)
        context.update(facts=facts, general_citations=general, token=token, changes=feed.changes_for(paper))
        return context


class CryptoAssetDetailView(AsOfDetailMixin, DetailView):
    """A crypto-asset: its identifiers, and the white papers that describe it with their offerors or issuers."""

    template_name = "public/crypto_asset_detail.html"
    context_object_name = "token"
    paper_limit = 50

    def get_queryset(self):
        return CryptoAsset.objects.published()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.day:
            papers = as_of.rows(WhitePaper, self.day).filter(crypto_asset_id=self.object.pk)
            shown = as_of.records(WhitePaper, self.day, papers[: self.paper_limit])
        else:
            papers = white_paper_list_queryset().filter(crypto_asset=self.object)
            shown = list(papers[: self.paper_limit])
        offerors = {paper.offeror.pk: paper.offeror for paper in shown if paper.offeror_id}
        context.update(papers=shown, paper_total=papers.count(), offerors=list(offerors.values()))
        return context


# --- Changes ---


class ChangeListView(RegistryListView):
    """``/changes/``: the latest public changes across the register, newest first (see history.feed)."""

    filterset_class = filters.ChangeFilterSet
    template_name = "public/change_list.html"
    context_object_name = "change_feed"  # a feed has no single model to name it after
    export_name = "change"
    heading = "Changes"

    def get_queryset(self):
        return None  # no QuerySet: the FilterSet's qs is the feed's filters (history.feed.Filters)

    def paginate_queryset(self, changes, page_size):
        """A page of the changes ``changes`` (history.feed.Filters) selects: counted as the other lists are."""
        paginator = self.get_paginator([], page_size, allow_empty_first_page=True)
        paginator.count = self.cached_count(partial(feed.count, changes))
        number = self.page_number(paginator.num_pages)
        page = Page(feed.select(changes, (number - 1) * page_size, page_size), number, paginator)
        return paginator, page, page.object_list, page.has_other_pages()

    def get_template_names(self):
        # Django would derive a second name from the object list's model, which a feed lacks.
        return [self.template_name]

    # "Last 7 days" runs from six days ago to today: seven calendar days, today included.
    periods = (("Last 7 days", 6), ("Last 30 days", 29))

    def get_periods(self):
        """Quick links setting ``since`` (the URL keeps the state); the one the URL matches is selected."""
        params = self.request.GET
        since, until = params.get("since", ""), params.get("until", "")
        links = []
        for label, days in self.periods:
            day = (timezone.localdate() - datetime.timedelta(days=days)).isoformat()
            url = _query_url(params, since=day, until=None)
            links.append({"label": label, "url": url, "selected": since == day and not until})
        url = _query_url(params, since=None, until=None)
        links.append({"label": "All dates", "url": url, "selected": not (since or until)})
        return links

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs, periods=self.get_periods())


class ChangeExportView(ExportView):
    filterset_class = filters.ChangeFilterSet
    serializer_class = ChangeSerializer
    filename = "changes"

    def get_queryset(self):
        return None  # see ChangeListView

    def listing(self, filterset):
        return exports.Listing(page=partial(feed.page, filterset.qs), iterate=partial(feed.iterate, filterset.qs))


# --- Open data ---


def _live_exports():
    """The always-current exports of the lists, beside the frozen releases."""
    names = [
        ("Licences", "license-export"),
        ("Audits and certifications", "audit-export"),
        ("Entities", "entity-export"),
        ("Regulators", "regulator-export"),
        ("White papers", "white-paper-export"),
        ("Crypto-assets", "crypto-asset-export"),
    ]
    return [
        (
            title,
            reverse(f"public:{name}", kwargs={"format": "csv"}),
            reverse(f"public:{name}", kwargs={"format": "json"}),
        )
        for title, name in names
    ]


class DataReleaseListView(TemplateView):
    """``/data/``: the dataset releases written by ``export_dataset``, newest first, and the live exports."""

    template_name = "public/data_releases.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs,
            releases=datasets.list_releases(),
            live_exports=_live_exports(),
            data_license=datasets.LICENSE,
            esma_attribution=datasets.ESMA_ATTRIBUTION,
        )


class DataDictionaryView(TemplateView):
    """``/data/dictionary/``: every field of every file, from the definitions the package schema is built from."""

    template_name = "public/data_dictionary.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            **kwargs,
            record_types=datasets.RECORD_TYPES,
            dump_filename=datasets.DUMP_FILENAME,
            data_license=datasets.LICENSE,
            esma_attribution=datasets.ESMA_ATTRIBUTION,
        )


class DataReleaseFileView(View):
    """``/data/<version>/<file>``: one file of a release, if that release's datapackage.json lists it."""

    def get(self, request, version, filename):
        found = datasets.release_file_path(version, filename)
        if found is None:
            raise Http404("This release has no such file.")
        path, content_type = found
        # The descriptor opens in the browser (tools fetch it by URL); data files download under a telling name.
        return FileResponse(
            path.open("rb"),
            content_type=content_type,
            as_attachment=filename != datasets.DESCRIPTOR_FILENAME,
            filename=f"{datasets.PACKAGE_NAME}-{version}-{filename}",
        )


# --- Documentation ---


class ApiGuideView(TemplateView):
    """``/about/api/``: the API guide (docs/api.md) as a page, linked from the API's schema and its docs."""

    template_name = "public/api_guide.html"

    def get_context_data(self, **kwargs):
        title, body = guides.api_guide()
        return super().get_context_data(**kwargs, title=title, body=body)


# --- The crypto-asset list (after the white papers': the same register, read by token) ---


def crypto_asset_list_queryset():
    return CryptoAsset.objects.published().order_by(*CryptoAsset._meta.ordering)


class CryptoAssetListView(RegistryListView):
    filterset_class = filters.CryptoAssetFilterSet
    template_name = "public/crypto_asset_list.html"
    export_name = "crypto-asset"
    heading = "Crypto-assets"

    def get_queryset(self):
        return crypto_asset_list_queryset()


CryptoAssetExportView = export_view(
    filters.CryptoAssetFilterSet, CryptoAssetSerializer, "crypto-assets", crypto_asset_list_queryset
)
