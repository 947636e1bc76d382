"""Identity across snapshots, and matches a reviewer decides on.

* entities match on LEI, then on legal name + home member state (case and
  spacing ignored) (:func:`match_entities`);
* a firm whose name matches a curated entity other than by LEI is never merged
  silently: the import creates its own records and a :class:`MatchProposal`
  (:func:`propose_matches`) that a reviewer accepts or rejects
  (:mod:`imports.esma.reconcile`).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q

from registry.models import Entity, EntityAlias, EntityCitation, License, MatchProposal

from .parse import CASP_TITLE, PUBLISHER, name_key


def match_entities(wanted: list[dict]) -> dict[str, Entity | None]:
    """Existing entities for each wanted one (by its ``key``): by LEI, then by legal name and home state."""
    leis = {w["lei"] for w in wanted if w["lei"]}
    by_lei = {e.lei: e for e in Entity.objects.filter(lei__in=leis)} if leis else {}
    homes = {w["jurisdiction"] for w in wanted if w["jurisdiction"]}
    candidates = Entity.objects.filter(
        Q(jurisdiction__code__in=homes) | Q(jurisdiction__isnull=True, citations__source__publisher=PUBLISHER)
    ).distinct()
    by_name = {}
    for entity in candidates.select_related("jurisdiction"):
        code = entity.jurisdiction.code if entity.jurisdiction_id else ""
        by_name.setdefault((name_key(entity.name), code), entity)
    matches = {}
    for w in wanted:
        entity = by_lei.get(w["lei"]) if w["lei"] else None
        if entity is None:
            entity = by_name.get((name_key(w["name"]), w["jurisdiction"]))
        matches[w["key"]] = entity
    return matches


def propose_matches(parsed, entities, *, license_type, jurisdictions, source, author) -> int:
    """Propose (never apply) a link between each imported firm and a curated entity of the same name.

    ``parsed`` are the CASP file's rows (:func:`~imports.esma.parse.parse_casp_rows`, each with its
    ``license``), ``entities`` the imported entities by key. A pair is proposed once, whatever its fate.
    Returns how many proposals were made.
    """
    imported = {}
    for p in parsed:
        entity = entities[p["entity"]["key"]]
        names = {name_key(p["entity"]["name"]), *(name_key(a) for a in p["entity"]["aliases"])}
        imported.setdefault(entity.pk, (entity, set(), p))[1].update(names)
    names_of = _curated_names(imported)
    if not names_of:
        return 0
    candidates = list(Entity.objects.filter(pk__in=list(names_of)))
    seen = set(
        MatchProposal.objects.filter(imported_entity__in=list(imported)).values_list(
            "imported_entity_id", "existing_entity_id"
        )
    )
    unmatched = _unmatched_licences({c.pk for c in candidates}, license_type)
    new = []
    for entity, names, p in imported.values():
        home = jurisdictions.get(p["home"])
        for candidate in candidates:
            common = names & names_of[candidate.pk]
            if not common or (entity.pk, candidate.pk) in seen or entity.parent_id == candidate.pk:
                continue
            same_home = [lic for lic in unmatched.get(candidate.pk, []) if home and lic.jurisdiction_id == home.pk]
            legal = name_key(p["entity"]["name"]) in names_of[candidate.pk]
            new.append(
                MatchProposal(
                    imported_entity=entity,
                    existing_entity=candidate,
                    imported_license=p.get("license"),
                    existing_license=same_home[0] if same_home else None,
                    score=Decimal("0.800") if legal else Decimal("0.600"),
                    reason=_reason(p, candidate, common, legal, same_home, home),
                    source=source,
                    author=author,
                )
            )
            seen.add((entity.pk, candidate.pk))
    MatchProposal.objects.bulk_create(new)
    return len(new)


def _curated_names(imported) -> dict[int, set[str]]:
    """{pk: names} of the entities not of ESMA's register whose name or alias is one of the ``imported``
    firms' names."""
    all_names = set().union(*(names for _, names, _ in imported.values())) if imported else set()
    if not all_names:
        return {}
    esma_cited = EntityCitation.objects.filter(
        entity=OuterRef("pk"), source__publisher=PUBLISHER, source__title__startswith=CASP_TITLE
    )
    # Names compared in Python: casefold() is Unicode-aware on every database.
    names_of = defaultdict(set)
    curated = Entity.objects.exclude(pk__in=list(imported)).exclude(Exists(esma_cited))
    for pk, name in curated.values_list("pk", "name"):
        names_of[pk].add(name_key(name))
    for pk, name in EntityAlias.objects.filter(entity__in=curated).values_list("entity_id", "name"):
        names_of[pk].add(name_key(name))
    return {pk: names for pk, names in names_of.items() if names & all_names}


def _unmatched_licences(group_ids, license_type) -> dict[int, list[License]]:
    """Curated licences of ``license_type`` no register lists yet, by holder and by the holder's group."""
    found = defaultdict(list)
    for license in License.objects.filter(
        Q(holder__in=group_ids) | Q(holder__parent__in=group_ids),
        license_type=license_type,
        official_register_key="",
        superseded_by__isnull=True,
    ).select_related("holder"):
        found[license.holder_id].append(license)
        if license.holder.parent_id:
            found[license.holder.parent_id].append(license)
    return found


def _reason(p, candidate, common, legal, same_home, home) -> str:
    """Why the firm of row ``p`` may be ``candidate``, for the reviewer: the names they share, and the curated
    licence it would fold into."""
    written = {name_key(n): n for n in [*p["entity"]["aliases"], p["entity"]["name"]]}
    reason = (
        f"ESMA lists {p['entity']['name']} ({p['row'].get('ae_lei') or 'no LEI'}), "
        f"{'legal' if legal else 'commercial'} name “{written[sorted(common)[0]]}”, which is the name of "
        f"{candidate.name} in the register; the LEI does not confirm it."
    )
    if same_home:
        reason += f" {candidate.name} already has a MiCA licence granted in {home.code}: {same_home[0].slug}."
    return reason
