"""The detail pages' reads with their SQL compiled once (registry.prepared): a page's record, and the entity
page's sections (its relatives, records and sources), whose querysets the views define."""

from __future__ import annotations

from django.db.models import F, Prefetch
from django.http import Http404

from public.views.common import (
    audit_timeline_start,
    first_rows,
    licenses_by_jurisdiction,
    most_recent,
    public_audits,
    public_citations,
)
from public.views.tokens import white_paper_list_queryset
from registry import prepared
from registry.models import (
    Audit,
    Entity,
    KeyPerson,
    KeyPersonCitation,
    License,
    WhitePaper,
    granted_in_field,
    link_supersession,
)


def detail_object(view, model):
    """``view.get_object()`` for a detail view whose ``get_queryset()`` depends on nothing but its class: the
    record of the URL's slug, with its ``select_related`` and ``prefetch_related``; Http404 when none."""
    slug = view.kwargs[view.slug_url_kwarg]
    queryset = view.get_queryset  # built only when the SQL is compiled

    def build(value):
        return queryset().filter(**{view.slug_field: value})

    found = prepared.run(("detail", type(view).__module__, type(view).__qualname__), build, [slug], model)
    if not found:
        raise Http404
    return found[0]


def member_ids(entity):
    """The ids of the published members of ``entity``'s group (``with_affiliates``), read once, as one parameter
    (registry.prepared.IdList) for each section's query: a thousand ids bound one by one would cost more to build
    and parse than the query takes, and as a subquery PostgreSQL expects ten times the members and reads whole
    tables (a group's licences: 24 ms, against 2 by the index on their holder)."""

    def build(pk):
        return Entity.objects.published().with_affiliates(Entity(pk=pk)).order_by().values_list("pk", flat=True)

    return prepared.id_list(prepared.run(("members",), build, [entity.pk], Entity), Entity)


def records(view, entity, members):
    """The most recent licences and audits of ``members`` (an IdList), the audits ``entity`` performed and the
    first key people and white papers, with their totals, within ``view``'s limits. Licences are shown by
    jurisdiction, audits by subject, as every entity's are."""

    def licenses():
        # Only what the licence table and the timeline show: not the regulators and passports of public_licenses().
        return (
            License.objects.published()
            .select_related("holder", "license_type__regime__jurisdiction", "jurisdiction")
            .order_by(granted_in_field("name"), *License._meta.ordering)
        )

    ids = [members.value]
    shown_licenses, license_total = most_recent(
        "entity-licences",
        License,
        lambda m: licenses().filter(holder__in=prepared.IdList(m)),
        lambda: F("granted_on"),
        view.license_limit,
        ids,
        licenses,
    )
    shown_audits, audit_total = most_recent(
        "entity-audits",
        Audit,
        lambda m: public_audits().filter(subject__in=prepared.IdList(m)),
        audit_timeline_start,
        view.audit_limit,
        ids,
        public_audits,
    )
    shown_performed, performed_total = most_recent(
        "entity-performed",
        Audit,
        lambda pk: public_audits().filter(auditor=pk),
        audit_timeline_start,
        view.audit_limit,
        [entity.pk],
        public_audits,
    )
    link_supersession(shown_audits + shown_performed)
    return {
        "licenses": shown_licenses,
        "license_total": license_total,
        "licenses_by_jurisdiction": licenses_by_jurisdiction(shown_licenses),
        "audits": shown_audits,
        "audit_total": audit_total,
        "audits_performed": shown_performed,
        "audits_performed_total": performed_total,
        **_people_and_papers(view, ids),
    }


def _people_and_papers(view, ids):
    """The first key people of the members (``ids``: the encoded IdList) and their white papers, with totals."""

    def key_people(ids):
        citations = public_citations(KeyPersonCitation)
        return (
            KeyPerson.objects.published()
            .filter(entity__in=prepared.IdList(ids))
            .select_related("entity")
            .prefetch_related(Prefetch("citations", queryset=citations, to_attr="public_citations"))
            .order_by("entity__name", "name", "pk")
        )

    shown_people, key_person_total = first_rows("entity-people", KeyPerson, key_people, view.key_person_limit, ids)

    def papers(field):
        # The white papers the members offer, or filed for others: one query shape each.
        def build(m):
            return white_paper_list_queryset().filter(**{f"{field}__in": prepared.IdList(m)})

        return first_rows(f"entity-papers-{field}", WhitePaper, build, view.white_paper_limit, ids)

    shown_papers, paper_total = papers("offeror")
    shown_filed, filed_total = papers("filed_by")
    return {
        "key_people": shown_people,
        "key_person_total": key_person_total,
        "white_papers": shown_papers,
        "white_paper_total": paper_total,
        "white_papers_filed": shown_filed,
        "white_papers_filed_total": filed_total,
    }
