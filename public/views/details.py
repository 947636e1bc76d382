"""The licence, audit, regulator, regime and source pages."""

from __future__ import annotations

from django.core.cache import cache
from django.core.cache.utils import make_template_fragment_key
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.generic import DetailView

from history import feed
from official import history as official_history
from public import assurance
from public.templatetags.registry_tags import highlight_quotes
from public.views import sections
from public.views.common import (
    FormerSlugRedirectMixin,
    _normalise_statement,
    facts_by_field,
    public_citations,
    public_licenses,
    published_group,
)
from registry import prepared
from registry.derived.version import current_version, keeps_pages
from registry.models import (
    Activity,
    Audit,
    AuditCitation,
    AuditFact,
    Entity,
    EntityCitation,
    Jurisdiction,
    KeyPerson,
    KeyPersonCitation,
    License,
    LicenseCitation,
    LicenseFact,
    Regime,
    Regulator,
    Source,
    link_supersession,
)


class RecordDetailView(FormerSlugRedirectMixin, DetailView):
    """A published record's page: what its ``record_context`` gives, then the record's changes (history.feed), which
    every record's page lists.

    The page's content (``public/includes/record_body.html``) is kept in the cache under ``record_key``: the data
    version, the day (a status "today") and the record. When it is there, the view reads it first and computes
    nothing else: a page seen since the last write costs the record's own query and the cache's read (a licence
    page, in process at N = 20,000, p50: 6.4 -> 2.0 ms on SQLite, 9.8 -> 2.5 ms on PostgreSQL). Not within a
    transaction, where PostgreSQL raises the version at its first write only (``keeps_pages``).
    """

    def record_context(self, record):
        return {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        record = self.object
        if keeps_pages(type(record)):
            key = f"{record._meta.label_lower}:{record.pk}:{current_version()}:{timezone.localdate().isoformat()}"
            body = cache.get(make_template_fragment_key("record-page", [key]))
            if body is not None:
                return {**context, "record_body": mark_safe(body)}  # noqa: S308 - the markup this template rendered
            context["record_key"] = key
        context.update(self.record_context(record))
        context["changes"] = feed.changes_for(record, published=True)
        return context


class LicenseDetailView(RecordDetailView):
    """A licence, each fact beside the citations that support it."""

    template_name = "public/license_detail.html"
    context_object_name = "license"

    def get_object(self, queryset=None):
        return sections.detail_object(self, License) if queryset is None else super().get_object(queryset)

    def get_queryset(self):
        # The passports, activities and citations are read by related(), each its SQL compiled once.
        return License.objects.published().select_related(
            "holder__parent", "license_type__regime__jurisdiction", "regulator", "jurisdiction"
        )

    def record_context(self, license):
        citations, passports, activities = _license_parts(license.pk)
        facts, general = facts_by_field(citations, LicenseFact)
        return dict(
            facts=facts,
            general_citations=general,
            group=published_group(license.holder),
            in_force=license.is_in_force(),
            sources=_distinct_sources(citations),
            passports=passports,
            activities=activities,
            esma_history=official_history.for_license(license),
        )


def _license_parts(pk):
    """A licence's public citations (with their sources), the places it is passported to, and its activities, each
    in its model's order: what ``prefetch_related`` would read, without building three querysets per page (a
    licence page's largest cost in Python was the prefetches' building)."""
    return (
        prepared.run(
            ("licence-citations",),
            lambda license: public_citations(LicenseCitation).filter(license=license),
            [pk],
            LicenseCitation,
        ),
        prepared.run(
            ("licence-passports",),
            lambda license: Jurisdiction.objects.filter(passported_licenses=license),
            [pk],
            Jurisdiction,
        ),
        prepared.run(
            ("licence-activities",), lambda license: Activity.objects.filter(licenses=license), [pk], Activity
        ),
    )


class AuditDetailView(RecordDetailView):
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

    def record_context(self, audit):
        # Its status today, and the reports it superseded or was superseded by (the list's and API's rule).
        link_supersession([audit])
        facts, general = facts_by_field(audit.public_citations, AuditFact)
        parts = assurance.audit_assurance(audit, facts, general)
        return dict(
            **parts,
            facts=facts,
            general_citations=general,
            group=published_group(audit.subject),
            sources=_distinct_sources([*audit.public_citations, *parts["row_citations"]]),
        )


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


class RegulatorDetailView(RecordDetailView):
    template_name = "public/regulator_detail.html"
    context_object_name = "regulator"

    def get_queryset(self):
        return Regulator.objects.published().select_related("jurisdiction")

    def record_context(self, regulator):
        return dict(
            regimes=list(Regime.objects.published().filter(regulators=regulator).select_related("jurisdiction")),
            **first_licenses(public_licenses().filter(regulator=regulator)),
        )


class RegimeDetailView(RecordDetailView):
    template_name = "public/regime_detail.html"
    context_object_name = "regime"

    def get_queryset(self):
        return Regime.objects.published().select_related("jurisdiction").prefetch_related("license_types")

    def record_context(self, regime):
        return dict(
            regulators=list(Regulator.objects.published().filter(regimes=regime).select_related("jurisdiction")),
            activities=list(regime.activities.all()),
            **first_licenses(public_licenses().filter(license_type__regime=regime)),
        )


class SourceDetailView(RecordDetailView):
    """A source's metadata and archived text, with every quote cited from it highlighted."""

    template_name = "public/source_detail.html"
    context_object_name = "source"

    def get_queryset(self):
        return Source.objects.published()

    def record_context(self, source):
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
        return dict(
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
