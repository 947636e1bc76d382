"""Recording a register file: what it lists that the register's previous snapshot did not, lists differently,
or no longer lists, column by column as ESMA published it.

Called once per import, inside the import's transaction (``imports.esma.base.BaseImporter.run``), whichever
importer reads the file: :func:`record_file` tells the register from the file's header. The same file
again (same day, same SHA-256) writes nothing. A file older than the latest is slotted into the chain:
its own changes are counted from the snapshot before it, and the next snapshot's recounted from it.

A register's state on a snapshot's day is the fold of its changes up to that day (:func:`states_at`): a
listed record's change holds all its cells, a changed one's the cells that changed, so no file is stored
twice. Cells are compared with whitespace (and a byte-order mark) collapsed; a ``|`` list with the same
items in another order is the same list (:func:`official.columns.same_value`).
"""

from __future__ import annotations

import csv
import io

from django.utils import timezone

from imports.esma.match import match_entities
from imports.esma.parse import (
    clean_text,
    name_key,
    normalise_country,
    normalise_lei,
    parse_casp_rows,
    parse_ncasp_rows,
)
from official.columns import END_DATE_COLUMN, Register, same_value
from official.models import ChangeKind, RegisterChange, RegisterSnapshot
from registry.models import License

KEY_LENGTH = 200


def register_of(snapshot) -> str | None:
    """The register a parsed file (:class:`imports.esma.parse.Snapshot`) belongs to, from its header's columns:
    the importer's own rule (:func:`imports.esma.registers.recognise`); None for a file of no register."""
    from imports.esma.registers import BadFile, recognise  # imports.esma.base imports this module

    header_line = next(csv.reader(io.StringIO(snapshot.text.lstrip("\ufeff"), newline="")), [])
    try:
        return Register(recognise([clean_text(cell) for cell in header_line], snapshot.name).code.lower())
    except BadFile:
        return None


def record_file(snapshot, source) -> RegisterSnapshot | None:
    """Record a parsed file of whichever register its header says (nothing for a file of none)."""
    register = register_of(snapshot)
    return record_snapshot(register, snapshot, source) if register else None


# ---------------------------------------------------------------------------
# Records and their keys
# ---------------------------------------------------------------------------


def cells(row) -> dict[str, str]:
    """A row's cells by ESMA's column name, whitespace collapsed (unnamed columns left out)."""
    return {column: clean_text(value) for column, value in row.items() if column and not column.startswith("_")}


def _issuer_key(row) -> str:
    """The entity a row names, as the importer keys it: its LEI, else its home state and name."""
    lei = normalise_lei(row.get("ae_lei"))[0]
    name = clean_text(row.get("ae_lei_name")) or clean_text(row.get("ae_commercial_name"))
    return lei or f"{normalise_country(row.get('ae_homeMemberState'))}:{name_key(name)}"


def _base_keys(register, rows) -> list[str]:
    """Each row's key before duplicates are told apart.

    * CASP: the key of the row's licence (``License.official_register_key``, :mod:`imports.esma.parse`): the
      LEI (else home state and name), with the authorisation date when a firm has several rows;
    * non-compliant entities: the entity, member state and decision date, as the importer keys its notices;
    * white papers and token issuers: the issuer and the token (its DTI, else its white paper's address).
    """
    if register == Register.CASP:
        return [p["key"] for p in parse_casp_rows(rows, set())]
    if register == Register.NCASP:
        return [
            f"esma-ncasp:{p['entity']['key']}|{p['home']}|"
            + (p["decided"].isoformat() if p["decided"] else clean_text(p["row"].get("ae_decision_date")))
            for p in parse_ncasp_rows(rows, set())
        ]
    return [
        f"esma-{register}:{_issuer_key(row)}|"
        + (clean_text(row.get("ae_DTI")) or clean_text(row.get("wp_url")).casefold())
        for row in rows
    ]


def keyed_rows(register, rows) -> dict[str, dict]:
    """``{key: {"values": cells, "row": n}}`` in the file's order; a key met again gets ``#2``, ``#3``…"""
    keyed = {}
    for base, row in zip(_base_keys(register, rows), rows, strict=True):
        key, n = base[:KEY_LENGTH], 2
        while key in keyed:
            suffix = f"#{n}"
            key, n = base[: KEY_LENGTH - len(suffix)] + suffix, n + 1
        keyed[key] = {"values": cells(row), "row": row["_row"]}
    return keyed


def label_of(values: dict) -> str:
    """A record's name and LEI as ESMA lists them: ``Bitpanda GmbH (5493007WZ7IFULIL8G21)``."""
    name = values.get("ae_lei_name") or values.get("ae_commercial_name") or "[Unnamed in the ESMA register]"
    lei = values.get("ae_lei", "")
    return (f"{name} ({lei})" if lei else name)[:400]


# ---------------------------------------------------------------------------
# States and differences
# ---------------------------------------------------------------------------


def states_at(register, dates) -> dict:
    """``{date: {key: {"values", "row"}}}``: the register as its snapshot of each of ``dates`` listed it.

    One query: the register's changes up to the latest of ``dates``, folded in date order.
    """
    wanted = sorted(set(dates))
    states = {}
    if not wanted:
        return states
    changes = (
        RegisterChange.objects.filter(snapshot__register=register, snapshot__date__lte=wanted[-1])
        .order_by("snapshot__date", "pk")
        .values_list("snapshot__date", "key", "kind", "after", "row")
        .iterator(chunk_size=2000)
    )
    state, pending = {}, list(wanted)
    for day, key, kind, after, row in changes:
        while pending and day > pending[0]:
            states[pending.pop(0)] = dict(state)
        if kind == ChangeKind.REMOVED:
            state.pop(key, None)
        elif kind == ChangeKind.LISTED:
            state[key] = {"values": after, "row": row}
        else:
            state[key] = {"values": {**state.get(key, {}).get("values", {}), **after}, "row": row}
    for day in pending:
        states[day] = dict(state)
    return states


def differences(old: dict, new: dict) -> list[RegisterChange]:
    """The changes (unsaved, without a snapshot) from the state ``old`` to ``new`` (:func:`states_at`'s form)."""
    changes = []
    for key, record in new.items():
        values = record["values"]
        before = old.get(key)
        if before is None:
            change = RegisterChange(key=key, kind=ChangeKind.LISTED, before={}, after=values)
        else:
            was = before["values"]
            columns = [
                c for c in dict.fromkeys([*values, *was]) if not same_value(c, was.get(c, ""), values.get(c, ""))
            ]
            if not columns:
                continue
            change = RegisterChange(
                key=key,
                kind=ChangeKind.CHANGED,
                before={c: was.get(c, "") for c in columns},
                after={c: values.get(c, "") for c in columns},
            )
        change.sets_end_date = bool(change.after.get(END_DATE_COLUMN))
        change.label, change.row = label_of(values), record["row"]
        changes.append(change)
    for key, record in old.items():
        if key not in new:
            values = record["values"]
            changes.append(
                RegisterChange(key=key, kind=ChangeKind.REMOVED, before=values, after={}, label=label_of(values))
            )
    return changes


def _entity_country(register, values) -> str:
    """The country the importer files an entity under: the LEI's country; for a CASP-like row, else the home state
    (the non-compliant-entities importer leaves it blank: ESMA's member state there is the warning's)."""
    country = normalise_country(values.get("ae_lei_cou_code"))
    if country or register == Register.NCASP:
        return country
    return normalise_country(values.get("ae_homeMemberState"))


def link_records(register, changes) -> list[RegisterChange]:
    """Point each change at our record: a CASP row's licence (by its key), another row's entity (LEI, name)."""
    if register == Register.CASP:
        licences = dict(
            License.objects.filter(official_register_key__in=[c.key for c in changes]).values_list(
                "official_register_key", "pk"
            )
        )
        for change in changes:
            change.license_id = licences.get(change.key)
        return changes
    wanted = []
    for change in changes:
        values = change.after or change.before
        wanted.append(
            {
                "key": change.key,
                "lei": normalise_lei(values.get("ae_lei"))[0],
                "name": values.get("ae_lei_name") or values.get("ae_commercial_name", ""),
                "jurisdiction": _entity_country(register, values),
            }
        )
    matches = match_entities(wanted) if wanted else {}
    for change in changes:
        entity = matches.get(change.key)
        change.entity_id = entity.pk if entity else None
    return changes


# ---------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------


def record_snapshot(register, snapshot, source) -> RegisterSnapshot | None:
    """Record ``snapshot`` (a parsed file) of ``register``, cited by ``source``; None when it is already recorded.

    A different file of a day already recorded replaces it (ESMA corrected that day's file).
    """
    same_day = RegisterSnapshot.objects.filter(register=register, date=snapshot.date).first()
    if same_day is not None and same_day.sha256 == snapshot.sha256:
        return None
    rows = keyed_rows(register, snapshot.rows)
    others = RegisterSnapshot.objects.filter(register=register).exclude(date=snapshot.date)
    previous = others.filter(date__lt=snapshot.date).order_by("-date").first()
    following = others.filter(date__gt=snapshot.date).order_by("date").first()
    # Read before anything is written: the next snapshot's state comes from the chain as it stands.
    states = states_at(register, [s.date for s in (previous, following) if s])
    fields = {
        "file_name": snapshot.name[:200],
        "sha256": snapshot.sha256,
        "row_count": len(snapshot.rows),
        "source": source,
        "previous": previous,
        "imported_at": timezone.now(),
    }
    if same_day is None:
        recorded = RegisterSnapshot.objects.create(register=register, date=snapshot.date, **fields)
    else:
        recorded = same_day
        for name, value in fields.items():
            setattr(recorded, name, value)
        recorded.save()
        recorded.changes.all().delete()
    _write(register, recorded, differences(states[previous.date] if previous else {}, rows))
    if following is not None:
        following.changes.all().delete()
        _write(register, following, differences(rows, states[following.date]))
        following.previous = recorded
        following.save(update_fields=["previous"])
    return recorded


def _write(register, snapshot, changes):
    for change in link_records(register, changes):
        change.snapshot = snapshot
    RegisterChange.objects.bulk_create(changes, batch_size=1000)
