"""The verdict on one counterparty: a word from a small fixed vocabulary, and why.

The rules, in order (docs/api.md, "Verify counterparties"):

1. No candidate: ``not_listed``.
2. No candidate scores :data:`CONFIDENT` (only similar names, or a contradicted LEI), or another scores within
   :data:`MARGIN` of the best on as many kinds of identifier (LEI, domain, name), without an LEI to decide:
   ``ambiguous``; every candidate is returned.
3. The one entity matched has a published warning notice: ``warning_listed`` (its licences are returned too).
4. It holds a licence in force (``LicenseQuerySet.in_force``) usable in the jurisdiction asked
   (``LicenseQuerySet.usable_in``) and permitting the service asked: ``authorised``.
5. It holds a licence in force, but none usable there or for that service: ``authorised_elsewhere``.
6. Otherwise (no licence in force): ``not_listed``, with the entity it matched.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from verification.matching import Candidate

# A candidate needs a matching identifier (an LEI, a domain, an exact name or alias) to carry a verdict.
CONFIDENT = 75
MARGIN = 10


class Verdict(models.TextChoices):
    AUTHORISED = "authorised", "Authorised"
    AUTHORISED_ELSEWHERE = "authorised_elsewhere", "Authorised, but not where or for what was asked"
    WARNING_LISTED = "warning_listed", "On a warning list"
    NOT_LISTED = "not_listed", "Not listed as authorised"
    AMBIGUOUS = "ambiguous", "Ambiguous: several candidates"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    explanation: str
    chosen: Candidate | None = None


def decide(candidates: list[Candidate], evidence, asked: str) -> Decision:
    """The verdict on ``candidates`` (best first). ``evidence(candidate)`` gives ``(licences, warnings)`` of its
    entity, each licence as ``(licence, usable)``: in force, and usable as asked or not. ``asked`` says what was
    asked in words ("in France (FR) for custody"), empty when nothing was."""
    if not candidates:
        return Decision(Verdict.NOT_LISTED, "No entity in the register matches.")
    best = candidates[0]
    if best.score < CONFIDENT:
        return Decision(
            Verdict.AMBIGUOUS,
            "No entity matches by LEI, domain or exact name; similar names are listed: check each.",
        )
    # A close candidate is a rival unless the best matches on more kinds of identifier (a name and a domain
    # against a domain alone) or by LEI.
    rivals = [c for c in candidates[1:] if best.score - c.score < MARGIN and len(signals(c)) >= len(signals(best))]
    if rivals and "lei" not in signals(best):
        return Decision(
            Verdict.AMBIGUOUS, f"{len(rivals) + 1} entities match about as well; each is listed with its licences."
        )
    licences, warnings = evidence(best)
    name = best.entity.name
    if warnings:
        count = len(warnings)
        noun = "warning notice" if count == 1 else "warning notices"
        return Decision(Verdict.WARNING_LISTED, f"{name} is named in {count} published {noun}.", best)
    usable = [licence for licence, is_usable in licences if is_usable]
    if usable:
        where = f" usable {asked}" if asked else ""
        return Decision(Verdict.AUTHORISED, f"{name} holds {_licences(len(usable))} in force{where}.", best)
    if licences:
        return Decision(
            Verdict.AUTHORISED_ELSEWHERE,
            f"{name} holds {_licences(len(licences))} in force, none usable {asked}.",
            best,
        )
    return Decision(Verdict.NOT_LISTED, f"{name} is in the register but holds no licence in force.", best)


def signals(candidate: Candidate) -> set[str]:
    """The kinds of identifier a candidate matched on: ``lei``, ``domain``, ``name`` (any of its names)."""
    kinds = {"lei": "lei", "domain": "domain", "name": "name", "alias": "name", "former_name": "name"}
    return {kinds[reason.kind] for reason in candidate.reasons if reason.kind in kinds}


def _licences(count: int) -> str:
    return "1 licence" if count == 1 else f"{count} licences"
