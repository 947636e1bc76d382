"""Verify counterparties: check each item asked about, match it, read the evidence in bulk, give verdicts.

The one entry point for the API (verification/api.py) and the page (verification/views.py): :func:`verify`.
A bad item (an LEI whose check digits fail, an unknown jurisdiction) gets its own errors; the others are
answered as usual.
"""

from __future__ import annotations

import datetime
import gc
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from registry.models import WarningNotice, validate_lei
from verification import register as registers
from verification.matching import Candidate, Query, candidates, registrable_domain
from verification.verdicts import Decision, decide

MAX_ITEMS = 1000
FIELDS = ("lei", "name", "domain", "jurisdiction", "service", "reference")
MAX_LENGTHS = {"lei": 40, "name": 300, "domain": 253, "jurisdiction": 10, "service": 300, "reference": 100}


@dataclass(frozen=True)
class Asked:
    """One counterparty as asked, checked: whom (``query``), where (a jurisdiction code), for what (activities)."""

    query: Query
    jurisdiction: str = ""
    service: str = ""
    activities: frozenset[int] | None = None
    reference: str = ""
    given: dict = field(default_factory=dict)


@dataclass
class Match:
    candidate: Candidate
    licences: list[tuple[registers.Licence, bool]]  # in force, usable as asked or not
    warnings: list[WarningNotice]


@dataclass
class Result:
    index: int
    given: dict
    reference: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    decision: Decision | None = None
    matches: list[Match] = field(default_factory=list)


@dataclass
class Report:
    register: registers.Register
    results: list[Result]


def verify(items: list, day: datetime.date | None = None) -> Report:
    """Answer every item of ``items`` (dicts of :data:`FIELDS`), from the register today or at the end of ``day``."""
    register = registers.read(day)
    checked = [check(item, register) for item in items]
    found = {n: candidates(register.index, asked.query) for n, (asked, errors) in enumerate(checked) if not errors}
    entities = {candidate.entity.pk for listed in found.values() for candidate in listed}
    codes = {asked.jurisdiction for asked, errors in checked if not errors and asked.jurisdiction}
    held = registers.licences(register, entities, codes)
    named = registers.warnings(register, entities)

    results = []
    for n, (asked, errors) in enumerate(checked):
        if errors:
            given = asked.given if asked else {}
            results.append(Result(n, given, asked.reference if asked else "", errors=errors))
            continue

        def evidence(candidate, asked=asked):
            pk = candidate.entity.pk
            licences = [(licence, _usable(asked, licence)) for licence in held.get(pk, ())]
            return licences, named.get(pk, [])

        matches = [Match(candidate, *evidence(candidate)) for candidate in found[n]]
        decision = decide(found[n], evidence, _asked_in_words(asked, register))
        results.append(Result(n, asked.given, asked.reference, decision=decision, matches=matches))
    return Report(register, results)


_collector = {"paused": 0, "was_enabled": True}
_collector_lock = threading.Lock()


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the block (reference counting still frees what it drops).

    A call of 1,000 items makes some 500,000 objects (matches, evidence, the answer's dicts); with the collector
    on, they set off about 170 young collections and a full one per call, and a full one walks every object the
    worker keeps, its name index's 200,000 included: 130-200 ms of a 750 ms call (N = 20,000, SQLite, measured
    2026-12-06). Off, what the call keeps is freed with it and none of it reaches the old generation. Blocks
    in threads nest: the collector is back on when the last ends."""
    with _collector_lock:
        if not _collector["paused"]:
            _collector["was_enabled"] = gc.isenabled()
            gc.disable()
        _collector["paused"] += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector["paused"] -= 1
            if not _collector["paused"] and _collector["was_enabled"]:
                gc.enable()


def _usable(asked: Asked, licence: registers.Licence) -> bool:
    if asked.jurisdiction and asked.jurisdiction not in licence.usable_in:
        return False
    return asked.activities is None or any(activity[0] in asked.activities for activity in licence.activities)


def _asked_in_words(asked: Asked, register) -> str:
    words = []
    if asked.jurisdiction:
        words.append(f"in {register.jurisdictions[asked.jurisdiction]} ({asked.jurisdiction})")
    if asked.activities is not None:
        words.append(f"for “{asked.service}”")
    return " ".join(words)


def malformed(item) -> dict[str, list[str]]:
    """How ``item`` breaks the shape every item has (the API's schema): not an object, a value that is not text,
    text too long. The API refuses a body with such an item (400); the page reports it on its row."""
    if not isinstance(item, dict):
        return {"non_field_errors": ["Each item is an object with any of: lei, name, domain."]}
    errors = {}
    for name, value in item.items():
        if name in MAX_LENGTHS and value is not None and not isinstance(value, str):
            errors[name] = ["Give text."]
        elif name in MAX_LENGTHS and len((value or "").strip()) > MAX_LENGTHS[name]:
            errors[name] = [f"At most {MAX_LENGTHS[name]} characters."]
    return errors


def check(item, register) -> tuple[Asked | None, dict[str, list[str]]]:
    """``(asked, errors)`` for one item: errors by field name, ``non_field_errors`` for the item as a whole."""
    errors = malformed(item)
    if not isinstance(item, dict):
        return None, errors
    values = {name: (value or "").strip() for name, value in item.items() if name in FIELDS and name not in errors}
    for name in item:
        if name not in FIELDS:
            errors.setdefault(name, []).append(f"Unknown field; the fields are {', '.join(FIELDS)}.")
    given = {name: values[name] for name in FIELDS[:-1] if values.get(name)}
    lei = values.get("lei", "").replace(" ", "").upper()
    if lei:
        try:
            validate_lei(lei)
        except ValidationError as error:
            errors.setdefault("lei", []).extend(error.messages)
    domain = ""
    if values.get("domain"):
        domain = registrable_domain(values["domain"])
        if not domain:
            errors.setdefault("domain", []).append("Not a web address or domain name (okx.com).")
    if not (lei or values.get("name") or values.get("domain")) and not errors:
        errors["non_field_errors"] = ["Give an LEI, a name or a domain."]
    jurisdiction = values.get("jurisdiction", "").upper()
    if jurisdiction and jurisdiction not in register.jurisdictions:
        errors.setdefault("jurisdiction", []).append(f"No jurisdiction has the code “{jurisdiction}” (ISO 3166).")
    service, activities = values.get("service", ""), None
    if service:
        activities = register.activities.get(service.casefold()) or register.activities.get(
            service.casefold().strip("().")
        )
        if not activities:
            errors.setdefault("service", []).append(
                "Unknown service: give a MiCA service code (a to j), or an activity's slug or name."
            )
    query = Query(lei=lei, name=values.get("name", ""), domain=domain)
    asked = Asked(query, jurisdiction, service, activities, values.get("reference", ""), given)
    return asked, errors
