"""The changes between any two snapshots of a register, computed from the recorded chain (:mod:`official.record`).

Between a snapshot and the one before it, this is exactly what was recorded for it; the tests hold the two equal.
"""

from __future__ import annotations

from official.models import ChangeKind, RegisterChange
from official.record import differences, link_records, states_at
from registry.models import Entity, License

KIND_ORDER = {kind: i for i, kind in enumerate(ChangeKind.values)}


def compare(older, newer) -> list[RegisterChange]:
    """What changed from snapshot ``older`` to snapshot ``newer`` of one register, in the lists' order; each change
    unsaved, shown by ``newer``, linked to our record as :meth:`RegisterChangeQuerySet.with_record_link` links."""
    states = states_at(older.register, [older.date, newer.date])
    changes = link_records(older.register, differences(states[older.date], states[newer.date]))
    licences = License.objects.published().in_bulk([c.license_id for c in changes if c.license_id])
    entities = Entity.objects.published().in_bulk([c.entity_id for c in changes if c.entity_id])
    for change in changes:
        change.snapshot = newer
        change.license_public = change.license_id in licences
        change.entity_public = change.entity_id in entities
        if change.license_public:
            change.license = licences[change.license_id]
        if change.entity_public:
            change.entity = entities[change.entity_id]
    return sorted(changes, key=lambda c: (KIND_ORDER[c.kind], c.label, c.key))
