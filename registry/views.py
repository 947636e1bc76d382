"""Public pages. Every query starts from a model's ``published()``."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Count, Prefetch, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.views.generic import DetailView, TemplateView

from . import charts
from .models import (
    Audit,
    AuditCitation,
    AuditFact,
    Entity,
    EntityCitation,
    EntityFact,
    KeyPerson,
    KeyPersonCitation,
    License,
    LicenseCitation,
    LicenseFact,
    Regime,
    Regulator,
    Source,
)
from .templatetags.registry_tags import highlight_quotes, url_or

# ---------------------------------------------------------------------------
# Shared helpers for the home, search and detail pages
# ---------------------------------------------------------------------------


def list_url(name: str, fallback: str, **params) -> str:
    """A list page's URL with filters, e.g. ``/licenses/?jurisdiction=MT``."""
    url = url_or(f"registry:{name}", fallback)
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
    """The citations supporting one fact of a record."""

    citations: list = field(default_factory=list)

    @property
    def disagree(self) -> bool:
        """Sources disagree when they state the fact differently (27/01/2025 vs January 2025)."""
        statements = {_normalise_statement(c.states) for c in self.citations if c.states.strip()}
        return len(statements) > 1


def facts_by_field(citations, fact_choices) -> tuple[dict[str, Fact], list]:
    """Group citations by the fact they support; citations of the record as a whole come back separately."""
    facts = {value: Fact() for value in fact_choices.values}
    general = []
    for citation in citations:
        if citation.supports in facts:
            facts[citation.supports].citations.append(citation)
        else:
            general.append(citation)
    return facts, general


def licenses_by_jurisdiction(licenses):
    """[(jurisdiction, [licence, …]), …] by jurisdiction name; a licence with no home state goes under its regime's."""
    groups: dict = {}
    for license in licenses:
        where = license.jurisdiction or license.license_type.regime.jurisdiction
        groups.setdefault(where, []).append(license)
    return sorted(groups.items(), key=lambda pair: pair[0].name)


def timeline_for(licenses, audits):
    """The SVG timeline of licences and audits, oldest first; None when there is nothing to draw."""
    items = [charts.license_timeline_item(lic, lic.get_absolute_url()) for lic in licenses]
    items += [charts.audit_timeline_item(audit, audit.get_absolute_url()) for audit in audits]
    if not items:
        return None

    def start(item):
        when = item.start or item.point
        return (when is None, when.first_day if when else None, item.label)

    items.sort(key=start)
    return charts.timeline(items, timezone.localdate())


# ---------------------------------------------------------------------------
# Home and search
# ---------------------------------------------------------------------------


class HomeView(TemplateView):
    template_name = "registry/home.html"
    recent_count = 10

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = [
            ("Entities", Entity.objects.published().count(), list_url("entity-list", "/entities/")),
            ("Regulators", Regulator.objects.published().count(), list_url("regulator-list", "/regulators/")),
            ("Licences", License.objects.published().count(), list_url("license-list", "/licenses/")),
            ("Audits and certifications", Audit.objects.published().count(), list_url("audit-list", "/audits/")),
        ]
        context["recent"] = self.recent()
        context["by_jurisdiction"] = self.chart_by_jurisdiction()
        context["by_regime"] = self.chart_by_regime()
        return context

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

    def chart_by_jurisdiction(self):
        # Where a licence was granted; one with no stated home state counts under its regime's jurisdiction.
        rows = (
            License.objects.published()
            .annotate(
                where_code=Coalesce("jurisdiction__code", "license_type__regime__jurisdiction__code"),
                where_name=Coalesce("jurisdiction__name", "license_type__regime__jurisdiction__name"),
            )
            .values("where_code", "where_name")
            .annotate(count=Count("pk"))
            .order_by("-count", "where_name")
        )
        return charts.bar_chart(
            (
                f"{row['where_name']} ({row['where_code']})",
                row["count"],
                list_url("license-list", "/licenses/", jurisdiction=row["where_code"]),
            )
            for row in rows
        )

    def chart_by_regime(self):
        rows = (
            License.objects.published()
            .values("license_type__regime__slug", "license_type__regime__short_name")
            .annotate(count=Count("pk"))
            .order_by("-count", "license_type__regime__short_name")
        )
        return charts.bar_chart(
            (
                row["license_type__regime__short_name"],
                row["count"],
                list_url("license-list", "/licenses/", regime=row["license_type__regime__slug"]),
            )
            for row in rows
        )


class SearchView(TemplateView):
    """Search every record type at once. Each word must match somewhere in a record ("OKX MiCA")."""

    template_name = "registry/search.html"
    max_length = 200
    max_words = 10
    max_results = 50

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # NUL characters are rejected by PostgreSQL; a very long query is cut rather than refused.
        q = self.request.GET.get("q", "").replace("\x00", "").strip()[: self.max_length]
        words = q.split()[: self.max_words]
        context["q"] = q
        context["searched"] = bool(words)
        if not words:
            return context

        def matching(model, base, fields):
            condition = Q()
            for word in words:
                any_field = Q()
                for name in fields:
                    any_field |= Q(**{f"{name}__icontains": word})
                condition &= any_field
            # Filter through a pk subquery: joins over aliases would repeat rows.
            return base.filter(pk__in=model.objects.filter(condition).values("pk"))[: self.max_results]

        entity_fields = ["name", "aliases__name", "lei", "parent__name"]
        context["results"] = [
            (
                "Entities",
                list(
                    matching(Entity, Entity.objects.published().select_related("jurisdiction", "parent"), entity_fields)
                ),
            ),
            (
                "Licences",
                list(
                    matching(
                        License,
                        public_licenses(),
                        [f"holder__{name}" for name in entity_fields]
                        + [
                            "reference_number",
                            "license_type__name",
                            "license_type__regime__short_name",
                            "license_type__regime__name",
                            "regulator__name",
                            "regulator__abbreviation",
                            "jurisdiction__name",
                            "jurisdiction__code",
                        ],
                    )
                ),
            ),
            (
                "Audits and certifications",
                list(
                    matching(
                        Audit,
                        public_audits(),
                        [f"subject__{name}" for name in entity_fields]
                        + ["standard__name", "auditor__name", "scope", "reference", "kind"],
                    )
                ),
            ),
            (
                "Regulators",
                list(
                    matching(
                        Regulator,
                        Regulator.objects.published().select_related("jurisdiction"),
                        ["name", "abbreviation", "jurisdiction__name", "jurisdiction__code"],
                    )
                ),
            ),
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


# ---------------------------------------------------------------------------
# Detail pages
# ---------------------------------------------------------------------------


class EntityDetailView(DetailView):
    """An entity with its group, affiliates, licences, audits, key people and sources.

    A group's page covers its affiliates' licences and audits too. The number
    of queries does not depend on how many records the entity has.
    """

    template_name = "registry/entity_detail.html"
    context_object_name = "entity"
    max_depth = 5

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
        group = entity.parent if entity.parent_id and entity.parent.is_published else None
        affiliates = list(Entity.objects.published().filter(parent=entity))
        # Affiliates of affiliates belong to the group too; one query per level, not per record.
        members, frontier, seen = [entity, *affiliates], affiliates, {entity.pk}
        seen.update(a.pk for a in affiliates)
        for _ in range(self.max_depth):
            if not frontier:
                break
            frontier = [e for e in Entity.objects.published().filter(parent__in=frontier) if e.pk not in seen]
            seen.update(e.pk for e in frontier)
            members += frontier
        siblings = list(Entity.objects.published().filter(parent=group).exclude(pk=entity.pk)) if group else []

        licenses = list(public_licenses().filter(holder__in=members))
        audits = list(public_audits().filter(subject__in=members))
        audits_performed = list(public_audits().filter(auditor=entity))
        key_people = list(
            KeyPerson.objects.published()
            .filter(entity__in=members)
            .select_related("entity")
            .prefetch_related(
                Prefetch("citations", queryset=public_citations(KeyPersonCitation), to_attr="public_citations")
            )
        )
        member_ids = [m.pk for m in members]
        audit_ids = [a.pk for a in audits + audits_performed]
        sources = (
            Source.objects.published()
            .filter(
                Q(pk__in=LicenseCitation.objects.filter(license__in=[lic.pk for lic in licenses]).values("source"))
                | Q(pk__in=AuditCitation.objects.filter(audit__in=audit_ids).values("source"))
                | Q(pk__in=EntityCitation.objects.filter(entity__in=member_ids).values("source"))
                | Q(pk__in=KeyPersonCitation.objects.filter(key_person__in=[p.pk for p in key_people]).values("source"))
            )
            .defer("archived_text")
        )
        facts, general = facts_by_field(entity.public_citations, EntityFact)
        context.update(
            group=group,
            affiliates=affiliates,
            siblings=siblings,
            members=members,
            licenses=licenses,
            licenses_by_jurisdiction=licenses_by_jurisdiction(licenses),
            audits=audits,
            audits_performed=audits_performed,
            key_people=key_people,
            sources=list(sources),
            facts=facts,
            general_citations=general,
            timeline=timeline_for(licenses, audits),
        )
        return context


class LicenseDetailView(DetailView):
    """A licence, each fact beside the citations that support it."""

    template_name = "registry/license_detail.html"
    context_object_name = "license"

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
        return context


class AuditDetailView(DetailView):
    """An audit or certification, each fact beside the citations that support it."""

    template_name = "registry/audit_detail.html"
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
        facts, general = facts_by_field(audit.public_citations, AuditFact)
        subject = audit.subject
        context.update(
            facts=facts,
            general_citations=general,
            group=subject.parent if subject.parent_id and subject.parent.is_published else None,
            current=audit.is_valid(),
            sources=_distinct_sources(audit.public_citations),
        )
        return context


def _distinct_sources(citations):
    sources = {}
    for citation in citations:
        sources.setdefault(citation.source.pk, citation.source)
    return sorted(sources.values(), key=lambda source: source.title)


class RegulatorDetailView(DetailView):
    template_name = "registry/regulator_detail.html"
    context_object_name = "regulator"

    def get_queryset(self):
        return Regulator.objects.published().select_related("jurisdiction")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        regulator = self.object
        licenses = list(public_licenses().filter(regulator=regulator))
        context.update(
            regimes=list(Regime.objects.published().filter(regulators=regulator).select_related("jurisdiction")),
            licenses=licenses,
            licenses_by_jurisdiction=licenses_by_jurisdiction(licenses),
        )
        return context


class RegimeDetailView(DetailView):
    template_name = "registry/regime_detail.html"
    context_object_name = "regime"

    def get_queryset(self):
        return Regime.objects.published().select_related("jurisdiction").prefetch_related("license_types")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        regime = self.object
        licenses = list(public_licenses().filter(license_type__regime=regime))
        context.update(
            regulators=list(Regulator.objects.published().filter(regimes=regime).select_related("jurisdiction")),
            activities=list(regime.activities.all()),
            licenses=licenses,
            licenses_by_jurisdiction=licenses_by_jurisdiction(licenses),
        )
        return context


class SourceDetailView(DetailView):
    """A source's metadata and archived text, with every quote cited from it highlighted."""

    template_name = "registry/source_detail.html"
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
        return context
