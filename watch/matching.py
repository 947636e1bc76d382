"""Which subscriptions an event reaches: what their watchlists name, by the register's own rules.

* an entity: the event is about it or one of its affiliates (``EntityQuerySet.with_affiliates``, the rule of the
  entity's page, which lists its affiliates' licences and audits too);
* a jurisdiction: a licence usable there (``LicenseQuerySet.usable_in``, the rule of the jurisdiction's Atom
  feed and of ``/licenses/?usable_in=``), a warning from there (the authority's member state, or a
  subdivision of it), a certificate of an entity established there (or in a subdivision of it), a white paper
  notified there (its home member state) or offered there (a host member state);
* a record type: every event of that type (watch/events.py names each kind's type).

A subscription is only told of events that happened after it began.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q

from registry.models import Audit, Entity, License, WarningNotice, WhitePaper
from watch.events import kind
from watch.models import Subscription, Watch


def subscriptions_for(events) -> dict[int, set[int]]:
    """``{event pk: {subscription pk}}``: the subscriptions (active or paused) that watch each of ``events``.

    A fixed number of queries per batch of events, plus one per jurisdiction watched.
    """
    events = list(events)
    watches = Watch.objects.filter(subscription__in=Subscription.objects.receiving()).select_related(
        "subscription", "jurisdiction"
    )
    by_entity, by_code, by_type = defaultdict(list), defaultdict(list), defaultdict(list)
    for watch in watches:
        if watch.entity_id:
            by_entity[watch.entity_id].append(watch.subscription)
        elif watch.jurisdiction_id:
            by_code[watch.jurisdiction.code].append(watch.subscription)
        else:
            by_type[watch.record_type].append(watch.subscription)
    found = defaultdict(set)
    for event in events:
        found[event.pk].update(s.pk for s in by_type.get(kind(event.kind).record_type, ()) if _began(s, event))
    if by_entity:
        for event, watched in _entity_matches(events, by_entity):
            found[event.pk].update(s.pk for s in by_entity[watched] if _began(s, event))
    for code, subscriptions in by_code.items():
        for event in _in_jurisdiction(events, code):
            found[event.pk].update(s.pk for s in subscriptions if _began(s, event))
    return found


def _began(subscription, event) -> bool:
    return subscription.created_at <= event.created_at


def _entity_matches(events, by_entity):
    """``(event, watched entity pk)`` for each event about a watched entity or one of its affiliates.

    The affiliates rule reaches down from a group; an event's entity can only be reached from itself or the
    groups above it, so those are the only watched entities asked about.
    """
    entities = {event.entity_id for event in events} - {None}
    parents = dict(Entity._base_manager.filter(pk__in=entities).values_list("pk", "parent_id"))
    grandparents = dict(
        Entity._base_manager.filter(pk__in={p for p in parents.values() if p}).values_list("pk", "parent_id")
    )
    for watched in {e for e in entities | set(parents.values()) | set(grandparents.values()) if e in by_entity}:
        reached = set(
            Entity.objects.with_affiliates(Entity(pk=watched)).filter(pk__in=entities).values_list("pk", flat=True)
        )
        for event in events:
            if event.entity_id in reached:
                yield event, watched


def _in_jurisdiction(events, code):
    """The events of ``events`` that a watch of jurisdiction ``code`` covers (see the module docstring)."""
    ids = defaultdict(set)
    for event in events:
        ids[event.record_type].add(event.record_id)
    place = Q(jurisdiction__code=code) | Q(jurisdiction__parent__code=code)
    covered = {
        "license": set(License.objects.usable_in(code).filter(pk__in=ids["license"]).values_list("pk", flat=True))
        if ids["license"]
        else set(),
        "warning": set(WarningNotice.objects.filter(place, pk__in=ids["warning"]).values_list("pk", flat=True))
        if ids["warning"]
        else set(),
        "audit": set(
            Audit.objects.filter(
                Q(subject__jurisdiction__code=code) | Q(subject__jurisdiction__parent__code=code),
                pk__in=ids["audit"],
            ).values_list("pk", flat=True)
        )
        if ids["audit"]
        else set(),
        "whitepaper": set(
            WhitePaper.objects.filter(
                Q(jurisdiction__code=code) | Q(host_states__code=code), pk__in=ids["whitepaper"]
            ).values_list("pk", flat=True)
        )
        if ids["whitepaper"]
        else set(),
    }
    return [event for event in events if event.record_id in covered.get(event.record_type, set())]
