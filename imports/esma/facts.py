"""Which source's value a licence shows: the most authoritative one's (``SourceKind.authority``).

Where another source (a curator's article) supports a licence fact, the
importer leaves that fact's value alone only when that source is at least as
authoritative as the register; it always writes its own citation, so the page
shows both statements and that they disagree.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q

from registry.models import TEXT_PREDATES_OFFICIAL_SOURCE, LicenseCitation, SourceKind

from .parse import CASP_TITLE, PUBLISHER

# The licence fields holding each fact an official register states ("": the listing itself, which gives the home
# state). The many-to-many facts are REGISTER_FACT_SETS.
REGISTER_FACT_FIELDS = {
    "": ("jurisdiction_id",),
    "holder": ("holder_id",),
    "regulator": ("regulator_id",),
    "granted_on": ("granted_on", "granted_on_precision"),
    "ended_on": ("ended_on", "ended_on_precision"),
}
REGISTER_FACT_SETS = ("activities", "passported_to")
# Flags curators act on, kept when a snapshot replaces the register's own flags.
CURATOR_FLAG_CODES = frozenset({TEXT_PREDATES_OFFICIAL_SOURCE})


def esma_casp_citations() -> Q:
    """Citations of any snapshot of ESMA's CASP register."""
    return Q(source__publisher=PUBLISHER, source__title__startswith=CASP_TITLE)


def held_facts(license_ids, authority: int, exclude: Q) -> dict[int, set[str]]:
    """Facts of each licence whose value a source at least as authoritative as ``authority`` supports.

    Those keep their value when the register says otherwise; every other fact takes the register's
    value, so a licence shows what its most authoritative source states (``SourceKind.authority``).
    A fact no citation supports by name rests on the licence's citations as a whole. ``exclude``
    leaves out the register's own citations.
    """
    resting = defaultdict(lambda: defaultdict(list))
    rows = LicenseCitation.objects.filter(license__in=license_ids).exclude(exclude)
    for license_id, supports, kind in rows.values_list("license_id", "supports", "source__kind"):
        resting[license_id][supports].append(SourceKind(kind).authority)
    held = defaultdict(set)
    for license_id, facts in resting.items():
        for fact in [*REGISTER_FACT_FIELDS, *REGISTER_FACT_SETS]:
            ranks = facts.get(fact) or facts.get("", [])
            if ranks and min(ranks) <= authority:
                held[license_id].add(fact)
    return held


def curator_flags(flags) -> list[dict]:
    return [f for f in flags or [] if isinstance(f, dict) and f.get("code") in CURATOR_FLAG_CODES]
