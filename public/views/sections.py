"""The detail pages' reads with their SQL compiled once (registry.prepared): a page's record, and the entity
page's sections (its relatives, records and sources), whose querysets the views define."""

from __future__ import annotations

from django.db import models
from django.db.models import Count, F, Prefetch
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
    WarningNotice,
    WhitePaper,
    granted_in_field,
    link_supersession,
)

# Columns no row of the entity page's sections shows: left out of the rows read, as converting them (a moment, a
# JSON document) costs more than the page's SQL (the largest groups: some 1,400 moments a page).
UNSHOWN_FIELDS = (models.DateTimeField, models.JSONField, models.TextField)


def unshown(model, *related) -> list:
    """The lookups of ``model``'s columns of the kinds in UNSHOWN_FIELDS, and of each ``related`` path's model
    (``"license_type__regime"``): for ``defer()``, on a queryset whose rows are only shown in a section's rows."""
    lookups = []
    for path in ("", *related):
        target = model
        for part in path.split("__") if path else ():
            target = target._meta.get_field(part).related_model
        prefix = f"{path}__" if path else ""
        fields = target._meta.concrete_fields
        lookups += [prefix + field.name for field in fields if isinstance(field, UNSHOWN_FIELDS)]
    return lookups


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


def warnings(entity):
    """The published warnings naming ``entity``, with what each row shows (its regulator, jurisdiction, source)."""

    def build(pk):
        found = WarningNotice.objects.published().filter(entity=pk)
        return found.select_related("regulator", "jurisdiction", "source").defer("source__archived_text")

    return prepared.run(("entity-warnings",), build, [entity.pk], WarningNotice)


def members_of(parent, excluded, limit):
    """The first ``limit`` published members of the group ``parent`` (a pk) by name, but ``excluded`` (a pk, or
    None), with their jurisdictions, and how many there are: a list and a count rather than first_rows(), as the
    count reads the parent index alone, where a window count would read every member joined to its jurisdiction
    (13 ms for the largest group, against 7)."""
    values = [parent] if excluded is None else [parent, excluded]
    key = "members-of" if excluded is None else "members-of-but"

    def members(parent, excluded=None):
        found = Entity.objects.published().filter(parent=parent)
        return found if excluded is None else found.exclude(pk=excluded)

    def first(*values):
        found = members(*values).select_related("jurisdiction").defer(*unshown(Entity))
        return found.order_by("name", "pk")[:limit]

    def total(*values):
        return members(*values).order_by().values("parent").annotate(n=Count("*")).values_list("n", flat=True)

    shown = prepared.run((key, "first", limit), first, values, Entity)
    counted = prepared.run((key, "total"), total, values, Entity) if len(shown) == limit else [len(shown)]
    return shown, (counted[0] if counted else 0)


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

    def license_rows():
        return licenses().defer(*unshown(License, "holder", "license_type", "license_type__regime"))

    def audit_rows():
        return public_audits().defer(*unshown(Audit, "subject", "standard", "auditor"))

    ids = [members.value]
    shown_licenses, license_total = most_recent(
        "entity-licences",
        License,
        lambda m: licenses().filter(holder__in=prepared.IdList(m)),
        lambda: F("granted_on"),
        view.license_limit,
        ids,
        license_rows,
    )
    shown_audits, audit_total = most_recent(
        "entity-audits",
        Audit,
        lambda m: public_audits().filter(subject__in=prepared.IdList(m)),
        audit_timeline_start,
        view.audit_limit,
        ids,
        audit_rows,
    )
    shown_performed, performed_total = most_recent(
        "entity-performed",
        Audit,
        lambda pk: public_audits().filter(auditor=pk),
        audit_timeline_start,
        view.audit_limit,
        [entity.pk],
        audit_rows,
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
