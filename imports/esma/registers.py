"""ESMA's five register files: which is which, where ESMA publishes each, and the checks every file passes.

A file's register is recognised from its header, never from its name: ESMA's own names (``CASPS.csv``) carry no
date, a mirror's may differ, and a header names the columns the importer will read. :func:`prepare` is the one way
in for every file (``manage.py import_esma``, its aliases and ``sync_esma``): it refuses, naming the file and the
line where the parser knows it, a file that does not parse completely, whose header is not one of the registers'
or lacks a column the register has, before anything is written.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from imports.models import RegisterFetch

from . import IMPORTERS
from .base import BaseImporter
from .parse import clean_text, read_snapshot
from .write import Counts

# Where ESMA publishes the interim MiCA register (its MiCA page, "Interim MiCA Register"). The folder's date is when
# ESMA first put the files there; ESMA republishes them under the same names.
ESMA_FOLDER = "https://www.esma.europa.eu/sites/default/files/2024-12/"

_ENTITY = ("ae_competentAuthority", "ae_homeMemberState", "ae_lei_name", "ae_lei", "ae_lei_cou_code")
_ISSUER = (*_ENTITY, "ae_commercial_name", "ae_address", "ae_website")


@dataclass(frozen=True)
class Register:
    """One of ESMA's register files, as ESMA publishes it (columns as in the files of January 2026)."""

    code: str  # what operators and the fetch state call it
    title: str
    kind: str  # its importer in imports.esma.IMPORTERS
    prefix: str  # a snapshot's file name: CASP20260123.csv
    stem: str  # ESMA's name for the file it republishes: CASPS.csv
    identifying: tuple[str, ...]  # columns only this register's header has
    columns: tuple[str, ...]  # every named column of its header
    date_column: str  # the rows' last-update date (a file whose name has no date is dated by it)

    def __str__(self):
        return self.code

    @property
    def default_url(self) -> str:
        return f"{ESMA_FOLDER}{self.stem}.csv"

    def url(self, base_url: str | None = None) -> str:
        """Where to fetch it: ``base_url`` (a mirror, files named by stem), the setting, else ESMA's address."""
        if base_url:
            return f"{base_url.rstrip('/')}/{self.stem}.csv"
        return settings.ESMA_REGISTER_URLS.get(self.code) or self.default_url

    @property
    def importer(self) -> type[BaseImporter] | None:
        return IMPORTERS.get(self.kind)

    def snapshot_name(self, day: datetime.date) -> str:
        return f"{self.prefix}{day:%Y%m%d}.csv"


REGISTERS = (
    Register(
        "CASP",
        "authorised crypto-asset service providers",
        "casps",
        "CASP",
        "CASPS",
        ("ac_serviceCode", "ac_serviceCode_cou"),
        (
            *_ISSUER,
            "ae_website_platform",
            "ac_authorisationNotificationDate",
            "ac_authorisationEndDate",
            "ac_serviceCode",
            "ac_serviceCode_cou",
            "ac_comments",
            "ac_lastupdate",
        ),
        "ac_lastupdate",
    ),
    Register(
        "NCASP",
        "non-compliant entities",
        "ncasps",
        "NCASP",
        "NCASP",
        ("ae_infrigment", "ae_reason", "ae_decision_date"),
        (
            *_ENTITY,
            "ae_commercial_name",
            "ae_website",
            "ae_infrigment",
            "ae_reason",
            "ae_decision_date",
            "ae_comments",
            "ae_lastupdate",
        ),
        "ae_lastupdate",
    ),
    Register(
        "OTHER",
        "white papers for other crypto-assets",
        "other",
        "OTHER",
        "OTHER",
        ("ae_lei_casp", "ae_offerCode_cou"),
        (
            *_ENTITY,
            "ae_lei_name_casp",
            "ae_lei_casp",
            "ae_offerCode_cou",
            "ae_DTI_FFG",
            "ae_DTI",
            "wp_url",
            "wp_comments",
            "wp_lastupdate",
        ),
        "wp_lastupdate",
    ),
    Register(
        "EMT",
        "e-money token issuers",
        "emt",
        "EMT",
        "EMTWP",
        ("ae_exemption48_4", "ae_exemption48_5", "ae_authorisation_other_emt"),
        (
            *_ISSUER,
            "ac_authorisationNotificationDate",
            "ac_authorisationEndDate",
            "ae_exemption48_4",
            "ae_exemption48_5",
            "ae_authorisation_other_emt",
            "ae_DTI_FFG",
            "ae_DTI",
            "wp_url",
            "wp_authorisationNotificationDate",
            "wp_comments",
            "wp_lastupdate",
        ),
        "wp_lastupdate",
    ),
    Register(
        "ART",
        "asset-referenced token issuers",
        "art",
        "ART",
        "ARTZZ",
        ("ae_credit_institution", "wp_url_cou"),
        (
            *_ISSUER,
            "ac_authorisationNotificationDate",
            "ac_authorisationEndDate",
            "ae_credit_institution",
            "wp_url",
            "wp_authorisationNotificationDate",
            "wp_url_cou",
            "wp_comments",
            "wp_lastupdate",
        ),
        "wp_lastupdate",
    ),
)
BY_CODE = {register.code: register for register in REGISTERS}


class BadFile(ValueError):
    """A file refused before anything is written; the message names the file (and the line, when known)."""


class NoImporter(LookupError):
    """A register the project reads no file of yet: the file is fine, but nothing can import it."""


@dataclass
class Prepared:
    """A file that passed the checks, with its register, its snapshot date and (when there is one) its importer."""

    name: str
    register: Register
    date: datetime.date
    rows: int
    sha256: str
    importer: BaseImporter | None

    def run(self) -> Counts:
        """Import the file; unless a dry run, it becomes its register's last good file for ``sync_esma``."""
        if self.importer is None:
            raise NoImporter(
                f"{self.name}: the register of {self.register.title} ({self.register.code}) has no importer yet; "
                "nothing was imported."
            )
        with transaction.atomic():
            counts = self.importer.run()
            if not self.importer.dry_run:
                self._record()
        return counts

    def _record(self):
        """Its digest and row count are what the next fetched file is compared with. The validators of the file
        the sync last fetched no longer describe what was imported last: dropped, so the next run fetches again."""
        state, _ = RegisterFetch.objects.get_or_create(register=self.register.code)
        state.sha256, state.row_count, state.last_import = self.sha256, self.rows, timezone.now()
        state.etag = state.last_modified = ""
        state.save()


def prepare(data: bytes, name: str, *, expected: Register | None = None, **options) -> Prepared:
    """Check a file and ready its import (``options`` go to the importer: publish, dry_run, progress).

    Raises :class:`BadFile` when it does not parse completely, its header is no register's (or not ``expected``'s)
    or lacks one of its register's columns. Writes nothing.
    """
    name = Path(name).name
    header = _parse_completely(data, name)
    register = recognise(header, name)
    if expected is not None and register != expected:
        raise BadFile(
            f"{name} is ESMA's file of {register.title} ({register.code}), not of {expected.title} "
            f"({expected.code}); `manage.py import_esma` recognises each file by itself."
        )
    missing = [column for column in register.columns if column not in header]
    if missing:
        raise BadFile(
            f"{name} looks like ESMA's {register.code} file but has no column {', '.join(missing)}: "
            "its columns changed, so it is not imported (a column read as blank would erase what it held)."
        )
    importer = None
    if register.importer is not None:
        try:
            importer = register.importer(data, name, **options)
        except ValueError as error:  # NotAnEsmaFile: the importer's own columns
            raise BadFile(str(error)) from error
        snapshot = importer.snapshot
    else:
        snapshot = read_snapshot(data, name, register.date_column)
    return Prepared(name, register, snapshot.date, len(snapshot.rows), hashlib.sha256(data).hexdigest(), importer)


def recognise(header: list[str], name: str) -> Register:
    """The register whose identifying columns the header has (exactly one), else :class:`BadFile`."""
    found = [register for register in REGISTERS if all(column in header for column in register.identifying)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise BadFile(
            f"{name} is not one of ESMA's MiCA register files: its header has none of the columns that identify "
            + "; ".join(f"{r.code} ({', '.join(r.identifying)})" for r in REGISTERS)
            + "."
        )
    raise BadFile(f"{name} has the columns of several registers ({', '.join(r.code for r in found)}).")


def _parse_completely(data: bytes, name: str) -> list[str]:
    """The header of a file that parses as CSV to its end, else :class:`BadFile`.

    ESMA's files end with a line break and every row has the header's cells: a file without the final line break
    or whose last row is short was cut off (a truncated download); an unterminated quote is found by the parser.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    header, last, rows = None, None, 0
    try:
        for cells in reader:
            if header is None:
                header = [clean_text(cell) for cell in cells]
            elif any(cell.strip() for cell in cells):
                last, rows = cells, rows + 1
    except csv.Error as error:
        raise BadFile(f"{name}, line {reader.line_num}: {error}: the file is cut short or not CSV.") from error
    if header is None:
        raise BadFile(f"{name} is empty.")
    if not text.endswith(("\n", "\r")):
        raise BadFile(f"{name}, line {reader.line_num}: the file does not end with a line break: it is cut short.")
    named = len([column for column in header if column])
    if last is not None and len(last) < named:
        raise BadFile(
            f"{name}, line {reader.line_num} (row {rows}): {len(last)} cells where the header names {named}: "
            "the file is cut short."
        )
    return header
