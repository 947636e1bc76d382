"""A reviewer's decision on a proposed match: preview it, accept it (fold the duplicate) or reject it.

Accepting changes publication state only through :mod:`curation.review`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from curation import review
from registry.dates import PartialDate
from registry.models import (
    TEXT_PREDATES_OFFICIAL_SOURCE,
    EntityKind,
    License,
    LicenseCitation,
    LicenseFact,
    MatchProposal,
    MatchStatus,
    Source,
    SourceKind,
)

from .facts import REGISTER_FACT_FIELDS, REGISTER_FACT_SETS, esma_casp_citations, held_facts


@dataclass
class Change:
    """One line of what accepting a match changes: the value now and after."""

    label: str
    now: str
    after: str


@dataclass
class TextToReview:
    """Free text on the kept licence written from less authoritative sources than the register."""

    field: str
    label: str
    text: str
    sources: str  # the sources it was written from, for the reviewer and the flag's message


@dataclass
class MatchPlan:
    """What :func:`accept_match` will do, computed once: shown on the proposal's page, then applied."""

    rows: list[Change] = field(default_factory=list)
    texts: list[TextToReview] = field(default_factory=list)
    entity: dict = field(default_factory=dict)  # attname -> value for the imported entity
    license: dict = field(default_factory=dict)  # attname -> value for the kept licence
    sets: dict = field(default_factory=dict)  # many-to-many name -> pks for the kept licence


def _shown(license, attnames) -> str:
    """A licence fact as the public page shows it."""
    attname = attnames[0]
    if attname.endswith("_on"):
        return str(PartialDate.from_columns(getattr(license, attname), getattr(license, attnames[1])) or "—")
    target = getattr(license, attname.removesuffix("_id"))
    return str(target) if target is not None else "—"


def _listed(objs) -> str:
    return ", ".join(str(obj) for obj in objs) or "—"


def preview_match(proposal: MatchProposal) -> MatchPlan:
    """Every change accepting ``proposal`` makes, field by field, and the free text it puts under review.

    The kept licence takes the register's value for each fact it states, unless a source at least
    as authoritative supports the current value (:func:`held_facts`, as every later snapshot does);
    a fact the register leaves blank keeps its value. The holder and regulator are taken only once
    published, so the licence stays public.
    """
    plan = MatchPlan()
    imported, existing = proposal.imported_entity, proposal.existing_entity
    if existing.kind == EntityKind.GROUP and imported.parent_id is None:
        plan.entity = {"parent_id": existing.pk, "kind": EntityKind.AFFILIATE}
        plan.rows.append(Change(f"Group of {imported}", "—", str(existing)))
    duplicate, kept = proposal.imported_license, proposal.existing_license
    if duplicate is None or kept is None or duplicate.pk == kept.pk:
        return plan
    held = held_facts([kept.pk], SourceKind.OFFICIAL_REGISTER.authority, esma_casp_citations()).get(kept.pk, set())
    labels = {"": "Granted in", **dict(LicenseFact.choices)}
    for fact, attnames in REGISTER_FACT_FIELDS.items():
        stated = getattr(duplicate, attnames[0])
        if fact in held or stated is None:
            continue
        target = getattr(duplicate, attnames[0].removesuffix("_id"), None)
        if attnames[0].endswith("_id") and not (target is not None and getattr(target, "is_published", True)):
            continue
        if all(getattr(kept, a) == getattr(duplicate, a) for a in attnames):
            continue
        plan.license.update({a: getattr(duplicate, a) for a in attnames})
        plan.rows.append(Change(labels[fact], _shown(kept, attnames), _shown(duplicate, attnames)))
    for name in REGISTER_FACT_SETS:
        now, after = list(getattr(kept, name).all()), list(getattr(duplicate, name).all())
        if name in held or not after or {o.pk for o in now} == {o.pk for o in after}:
            continue
        plan.sets[name] = [o.pk for o in after]
        plan.rows.append(Change(labels[name], _listed(now), _listed(after)))
    plan.rows.append(
        Change("Official-register key", kept.official_register_key or "—", duplicate.official_register_key or "—")
    )
    plan.rows.append(
        Change(f"Licence {duplicate.slug}", "its own record", "folded into this one; its address redirects")
    )
    if "" not in held:
        weaker = (
            Source.objects.filter(licensecitations__license=kept)
            .exclude(kind=SourceKind.OFFICIAL_REGISTER)
            .distinct()
            .order_by("title")
        )
        sources = "; ".join(f"{s.get_kind_display().lower()} “{s.title}”" for s in weaker) or "no cited source"
        for name in License.CURATED_TEXT_FIELDS:
            text = getattr(kept, name)
            if text.strip():
                label = str(License._meta.get_field(name).verbose_name)
                plan.texts.append(TextToReview(name, label, text, sources))
    return plan


def _check_decider(proposal, reviewer):
    if not review.can_review(reviewer):
        raise PermissionDenied("Only a reviewer can accept or reject a proposed match.")
    if proposal.status != MatchStatus.PENDING:
        raise ValidationError("This match has already been decided.")
    if proposal.author_id == reviewer.pk:
        raise PermissionDenied("You proposed this match: another reviewer must decide on it.")
    touched = [proposal.imported_entity, proposal.existing_license, proposal.imported_license]
    if any(obj is not None and obj.last_edited_by_id == reviewer.pk for obj in touched):
        raise PermissionDenied("You made the last edit to one of these records: another reviewer must decide.")


def decision_refusal(proposal, user) -> str:
    """Why ``user`` may not accept or reject ``proposal`` (the four-eyes rules), or "" when they may."""
    try:
        _check_decider(proposal, user)
    except (PermissionDenied, ValidationError) as exc:
        return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return ""


def _save(obj, reason, user):
    obj._change_reason = reason
    obj._history_user = user
    obj.save()


def accept_match(proposal: MatchProposal, *, reviewer, note: str = "", texts: dict | None = None) -> MatchProposal:
    """Link an imported firm with the curated entity it matches, and fold the duplicate licence.

    * the imported entity becomes an affiliate of the existing group (when the
      existing entity is a group);
    * the imported licence's citations move to the existing licence, which
      takes over its official-register key, so later snapshots update it, and
      the register's values where they rest on less authoritative sources
      (:func:`preview_match` lists them); the other sources' citations stay, so
      the page shows where they disagree;
    * free text written from those weaker sources (the conditions) is replaced
      by ``texts[field]`` when the reviewer revised or cleared it; kept as is,
      it is flagged ``text_predates_official_source`` and withheld from the
      public page until a curator edits it;
    * the imported licence stays, unpublished, marked ``superseded_by`` the
      existing one: nothing is deleted, and its old address answers 301.

    The proposer (the importer) counts as the editor and the reviewer as the
    publisher, as in ``review.approve``.
    """
    texts = texts or {}
    unknown = set(texts) - set(License.CURATED_TEXT_FIELDS)
    if unknown:
        raise ValidationError(f"Only {', '.join(License.CURATED_TEXT_FIELDS)} can be revised here, not {unknown}.")
    _check_decider(proposal, reviewer)
    now = timezone.now()
    with transaction.atomic():
        # Decided once, on the records as they are now (not as the caller loaded them).
        proposal = MatchProposal.objects.select_for_update().get(pk=proposal.pk)
        _check_decider(proposal, reviewer)
        # History reasons hold 100 characters.
        reason = f"Match {proposal.pk} accepted: {proposal.imported_entity} is {proposal.existing_entity}"[:100]
        plan = preview_match(proposal)
        imported = proposal.imported_entity
        if plan.entity:
            for attname, value in plan.entity.items():
                setattr(imported, attname, value)
            review.mark_decided(imported, author=proposal.author, reviewer=reviewer, at=now)
            _save(imported, reason, reviewer)
        duplicate, kept = proposal.imported_license, proposal.existing_license
        if duplicate is not None and kept is not None and duplicate.pk != kept.pk:
            _fold(duplicate, kept, plan, texts, reason=reason, reviewer=reviewer, author=proposal.author, now=now)
        proposal.status = MatchStatus.ACCEPTED
        proposal.reviewer = reviewer
        proposal.decided_at = now
        proposal.review_note = note
        proposal.save()
    return proposal


def _fold(duplicate, kept, plan, texts, *, reason, reviewer, author, now):
    """Move the duplicate's citations and register key to ``kept``, apply ``plan`` and retire the duplicate."""
    taken = set(LicenseCitation.objects.filter(license=kept).values_list("source_id", "supports"))
    for citation in LicenseCitation.objects.filter(license=duplicate):
        if (citation.source_id, citation.supports) in taken:
            continue
        citation.license = kept
        _save(citation, reason, reviewer)
    key = duplicate.official_register_key
    duplicate.official_register_key = ""
    duplicate.superseded_by = kept
    # Retired: a draft the reviewer last edited, whether it was public or not.
    duplicate._history_user = reviewer
    if duplicate.is_published:
        review.unpublish(duplicate, reviewer=reviewer, reason=reason)
    else:
        review.save_edit(duplicate, user=reviewer, reason=reason)
    kept.official_register_key = key
    kept.not_listed_since = duplicate.not_listed_since
    flags = [*kept.quality_flags, *(f for f in duplicate.quality_flags if f not in kept.quality_flags)]
    for attname, value in plan.license.items():
        setattr(kept, attname, value)
    for text in plan.texts:
        if text.field in texts:
            setattr(kept, text.field, texts[text.field])
            continue
        flag_ = {
            "code": TEXT_PREDATES_OFFICIAL_SOURCE,
            "field": text.field,
            "message": (
                f"The {text.label} were written from the {text.sources} before the official register was "
                "cited; they are withheld until a curator has checked them against it."
            ),
        }
        flags = [f for f in flags if not (f.get("code") == flag_["code"] and f.get("field") == text.field)]
        flags.append(flag_)
    kept.quality_flags = flags
    review.mark_decided(kept, author=author, reviewer=reviewer, at=now)
    # The sets first, so the history row the save writes holds them.
    for name, pks in plan.sets.items():
        getattr(kept, name).set(pks)
    _save(kept, reason, reviewer)


def reject_match(proposal: MatchProposal, *, reviewer, note: str) -> MatchProposal:
    """Record that the two are not the same; the pair is never proposed again."""
    _check_decider(proposal, reviewer)
    if not note:
        raise ValidationError("Say why they are not the same, for the next curator.")
    with transaction.atomic():
        proposal = MatchProposal.objects.select_for_update().get(pk=proposal.pk)
        _check_decider(proposal, reviewer)
        proposal.status = MatchStatus.REJECTED
        proposal.reviewer = reviewer
        proposal.decided_at = timezone.now()
        proposal.review_note = note
        proposal.save()
    return proposal
