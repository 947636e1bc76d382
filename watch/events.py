"""The kinds of event a subscriber can be told about: one list, extended by adding an :class:`EventKind`.

A kind names the record type it is about (what a "whole record type" watch matches) and a label for emails
and the admin. Kinds are not database choices, so adding one needs no migration: the outbox stores the key
and :func:`kind` refuses an unknown one where events are written (watch/outbox.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    key: str
    record_type: str
    label: str


# What a watch of a whole record type names (Watch.record_type), with the label the subscribe form shows.
RECORD_TYPES = {
    "license": "Licences",
    "audit": "Certificates and audit reports",
    "warning": "Warning notices",
    "whitepaper": "Crypto-asset white papers",
}

EVENT_KINDS = {
    kind.key: kind
    for kind in (
        # A licence becomes public (published, or created already published by an operator's import).
        EventKind("license.new", "license", "New licence"),
        # A licence the public saw is taken off the register (returned to draft) or deleted.
        EventKind("license.withdrawn", "license", "Licence withdrawn from the register"),
        # A public licence's status changes (active → revoked, suspended, surrendered…).
        EventKind("license.status_changed", "license", "Licence status changed"),
        # A warning notice about an entity becomes public for the first time.
        EventKind("warning.new", "warning", "New warning notice"),
        # A later certificate or report of the same standard for the same subject went public.
        EventKind("certificate.superseded", "audit", "Certificate superseded"),
        # A certificate's validity end passed (found by `manage.py deliver_notifications`).
        EventKind("certificate.expired", "audit", "Certificate expired"),
        # A certificate was suspended, withdrawn or restored (a status change added to it).
        EventKind("certificate.status_changed", "audit", "Certificate status changed"),
        # A crypto-asset white paper becomes public (published, or its offeror is), as the change feed lists it.
        EventKind("white_paper.new", "whitepaper", "New white paper"),
    )
}


def kind(key: str) -> EventKind:
    """The :class:`EventKind` ``key`` names; a KeyError for a kind nobody declared."""
    return EVENT_KINDS[key]
