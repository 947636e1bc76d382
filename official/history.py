"""A licence's history in ESMA's register, for its page: first listed, every change ESMA made, no longer listed."""

from __future__ import annotations

from dataclasses import dataclass

from official.models import ChangeKind, RegisterChange
from registry import prepared
from registry.models import License


@dataclass(frozen=True)
class LicenseHistory:
    changes: list  # RegisterChange, oldest first, each with its snapshot

    @property
    def first_listed(self):
        """The change of the snapshot that first listed the licence."""
        return next((c for c in self.changes if c.kind == ChangeKind.LISTED), None)

    @property
    def listed_since_first_snapshot(self) -> bool:
        """First listed in the first snapshot we hold: listed then, perhaps long before."""
        first = self.first_listed
        return first is not None and first.snapshot.previous_id is None

    @property
    def no_longer_listed_since(self):
        """The snapshot that dropped it, when the latest one shows it no longer listed."""
        last = self.changes[-1] if self.changes else None
        return last.snapshot if last is not None and last.kind == ChangeKind.REMOVED else None


def for_license(license) -> LicenseHistory | None:
    """What the published snapshots of ESMA's CASP register show of ``license`` (None when they hold none)."""
    key = license.official_register_key
    if not key:
        return None  # of_license() reads none: not a shape to compile
    # Its SQL compiled once (registry.prepared): building it cost more than running it, on every licence page.
    changes = prepared.run(("esma-licence-history",), _changes_of, [key], RegisterChange)
    return LicenseHistory(changes) if changes else None


def _changes_of(key):
    return RegisterChange.objects.published().of_license(License(official_register_key=key)).select_related("snapshot")
