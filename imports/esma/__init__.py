"""Import ESMA's interim MiCA register: authorised CASPs and the list of non-compliant entities.

The importer normalises what can be read without guessing and flags the rest on
the record (``quality_flags``) for curators and the public; it never drops a row.
Every run cites one :class:`~registry.models.Source` per file (same SHA-256,
same Source) from every fact it writes.

Four-eyes: new records are drafts; changes to drafts are saved directly;
changes to published records become pending revisions (``review.propose``),
unless the operator passes ``publish=True``: then every record the import
writes is put live through ``review.publish_as_operator`` (the review
service's operator path: no reviewer, so no ``published_by``, as for
``loaddata``; the history's reason says ``--publish``; records that become
public through them get a history row, as when a reviewer publishes).

The parts, in the order an import runs them:

* :mod:`~imports.esma.parse`: the file and its rows, one defect at a time;
* :mod:`~imports.esma.base`, :mod:`~imports.esma.casps`,
  :mod:`~imports.esma.ncasps`: what each file's rows become;
* :mod:`~imports.esma.match`: identity across snapshots, and proposed matches
  with curated entities; :mod:`~imports.esma.facts`: which source's value a
  licence shows;
* :mod:`~imports.esma.write`: bulk writes with their history, through
  :mod:`curation.review`;
* :mod:`~imports.esma.reconcile`: a reviewer accepts or rejects a proposed match.
"""

from __future__ import annotations

from pathlib import Path

from .base import BaseImporter
from .casps import CaspImporter
from .facts import held_facts
from .ncasps import NcaspImporter
from .parse import (
    NotAnEsmaFile,
    Snapshot,
    clean_text,
    name_key,
    normalise_country,
    normalise_lei,
    normalise_website,
    parse_authority,
    parse_date,
    parse_passports,
    parse_services,
    read_snapshot,
    replacement_flags,
    split_list,
)
from .reconcile import MatchPlan, accept_match, decision_refusal, preview_match, reject_match
from .tokens import ArtImporter, EmtImporter, OtherImporter
from .write import Counts, importer_user

__all__ = [
    "ArtImporter",
    "EmtImporter",
    "OtherImporter",
    "BaseImporter",
    "CaspImporter",
    "IMPORTERS",
    "Counts",
    "MatchPlan",
    "NcaspImporter",
    "NotAnEsmaFile",
    "Snapshot",
    "accept_match",
    "clean_text",
    "decision_refusal",
    "held_facts",
    "import_file",
    "importer_user",
    "name_key",
    "normalise_country",
    "normalise_lei",
    "normalise_website",
    "parse_authority",
    "parse_date",
    "parse_passports",
    "parse_services",
    "preview_match",
    "read_snapshot",
    "reject_match",
    "replacement_flags",
    "split_list",
]


# The importer of each kind of file; imports/esma/registers.py names the kind of each of ESMA's registers.
IMPORTERS: dict[str, type[BaseImporter]] = {
    "casps": CaspImporter,
    "ncasps": NcaspImporter,
    "other": OtherImporter,
    "emt": EmtImporter,
    "art": ArtImporter,
}


def import_file(kind: str, path_or_bytes, name: str | None = None, **options) -> Counts:
    """Import a file of the kind named in :data:`IMPORTERS` (casps, ncasps, other, emt, art)."""
    if isinstance(path_or_bytes, bytes | bytearray):
        data = bytes(path_or_bytes)
    else:
        data = Path(path_or_bytes).read_bytes()
        name = name or Path(path_or_bytes).name
    return IMPORTERS[kind](data, name or "upload.csv", **options).run()
