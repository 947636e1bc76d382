"""An entity's page: its group, affiliates, licences, audits, key people, white papers and sources."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from functools import cached_property, partial

from django.db.models import Q
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, new_method_proxy
from django.views.generic import DetailView

from history import feed
from public import assurance
from public.views import sections
from public.views.common import (
    FormerSlugRedirectMixin,
    facts_by_field,
    first_rows,
    public_citations,
    published_group,
    timeline_for,
)
from registry import prepared
from registry.derived.version import current_version
from registry.models import (
    AuditCitation,
    Entity,
    EntityAlias,
    EntityCitation,
    EntityFact,
    EntityKind,
    KeyPersonCitation,
    LicenseCitation,
    Source,
)
from registry.prepared import IdList, id_list

# How an entity's page introduces each kind of other name, in the order shown.
OTHER_NAME_LABELS = {
    EntityAlias.Kind.FORMER: "Formerly known as",
    EntityAlias.Kind.TRADING: "Trading as",
    EntityAlias.Kind.OTHER: "Also known as",
}


def other_names(aliases):
    """``[(label, [alias, …]), …]``: an entity's other names (``aliases``) by kind ("Formerly known as OKEx")."""
    by_kind = defaultdict(list)
    for alias in aliases:
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

    def get_object(self, queryset=None):
        """The entity with its other names (``other_aliases``) and the citations of published sources
        (``public_citations``), each query's SQL compiled once (registry.prepared)."""
        if queryset is not None:
            return super().get_object(queryset)
        entity = sections.detail_object(self, Entity)
        entity.public_citations = prepared.run(
            ("entity-citations",), lambda pk: public_citations(EntityCitation).filter(entity=pk), [entity.pk], Entity
        )
        entity.other_aliases = prepared.run(
            ("entity-aliases",), lambda pk: EntityAlias.objects.filter(entity=pk), [entity.pk], Entity
        )
        return entity

    def get_queryset(self):
        return Entity.objects.published().select_related("jurisdiction", "parent")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        entity = self.object
        facts, general = facts_by_field(entity.public_citations, EntityFact)
        sections = EntitySections(self, entity)
        context.update(
            group=sections.group,
            other_names=other_names(entity.other_aliases),
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
        affiliates, affiliate_total = sections.members_of(entity.pk, None, self.affiliate_limit)
        siblings, sibling_total = sections.members_of(group.pk, entity.pk, self.affiliate_limit) if group else ([], 0)
        return {
            "group": group,
            "affiliates": affiliates,
            "affiliate_total": affiliate_total,
            # The entity list's ?group= filter accepts groups only.
            "affiliates_listed": entity.kind == Entity.Kind.GROUP,
            "siblings": siblings,
            "sibling_total": sibling_total,
            "siblings_listed": group is not None and group.kind == Entity.Kind.GROUP,
        }

    def sources(self, members, records):
        """The first sources of the records this page shows (of all of them, when nothing is cut), and their total.

        Not those of every licence of the group: the largest group's are 12,000 citations, too many for one page.
        """

        def build(licenses, audits, members, people):
            cited = (
                Q(pk__in=LicenseCitation.objects.filter(license__in=IdList(licenses)).values("source"))
                | Q(pk__in=AuditCitation.objects.filter(audit__in=IdList(audits)).values("source"))
                | Q(pk__in=EntityCitation.objects.filter(entity__in=IdList(members)).values("source"))
                | Q(pk__in=KeyPersonCitation.objects.filter(key_person__in=IdList(people)).values("source"))
            )
            return Source.objects.published().filter(cited).defer(*sections.unshown(Source)).order_by("title", "pk")

        shown = (records["licenses"], records["audits"] + records["audits_performed"], records["key_people"])
        licenses, audits, people = (id_list([row.pk for row in section], Source).value for section in shown)
        sources, total = first_rows(
            "entity-sources", Source, build, self.source_limit, [licenses, audits, members.value, people]
        )
        return {"sources": sources, "source_total": total}


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
        "warnings": ("warnings",),
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
    def warnings(self):
        return {"warnings": sections.warnings(self.entity)}

    @cached_property
    def members(self):
        # The published members' ids, as one parameter: every section is then a query of one table. A draft
        # member's records are public nowhere, and its published affiliates still count (with_affiliates).
        return sections.member_ids(self.entity)

    @cached_property
    def relatives(self):
        return self.view.relatives(self.entity)

    @cached_property
    def records(self):
        return sections.records(self.view, self.entity, self.members)

    @cached_property
    def sources(self):
        return self.view.sources(self.members, self.records)

    @cached_property
    def others(self):
        records = self.records
        return {
            "timeline": timeline_for(records["licenses"], records["audits"], self.view.timeline_limit),
            "timeline_total": records["license_total"] + records["audit_total"],
            "changes": feed.changes_for(self.entity, published=True),
            "reserves": assurance.entity_reserves(self.members),
        }
