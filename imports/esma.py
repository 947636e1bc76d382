"""Import ESMA's interim MiCA register: authorised CASPs and the list of non-compliant entities.

ESMA publishes the register as CSV files with real defects: a byte-order mark,
stray spaces, tabs and no-break spaces, ``|`` lists with and without spaces and
with trailing separators, ``EL`` for Greece, day/month/year dates, characters
lost in encoding (U+FFFD) and LEIs mangled by a spreadsheet. The importer
normalises what can be read without guessing and flags the rest on the record
(``quality_flags``) for curators and the public; it never drops a row.

Every run cites one :class:`~registry.models.Source` per file (same SHA-256,
same Source) from every fact it writes. Identity across snapshots:

* entities match on LEI, then on legal name + home member state (case and
  spacing ignored); competent authorities on their normalised name within the
  member state;
* a licence is recognised by ``official_register_key`` (``esma-casp:<LEI>``, or
  the home state and name when the LEI is unusable; a firm listed twice gets
  the authorisation date appended).

Four-eyes: new records are drafts; changes to drafts are saved directly;
changes to published records become pending revisions (``review.propose``),
unless the operator passes ``publish=True``: then every record the import
writes is put live through ``review.publish_as_operator`` (the review
service's operator path: no reviewer, so no ``published_by``, as for
``loaddata``; the history's reason says ``--publish``; records that become
public through them get a history row, as when a reviewer publishes).

Where another source (a curator's article) supports a licence fact, the
importer leaves that fact's value alone and only writes its own citation, so
the page shows both statements and that they disagree.

A firm whose name matches an existing entity other than by LEI is never merged
silently: the import creates its own records and a :class:`MatchProposal`
that a reviewer accepts or rejects (:func:`accept_match`).

All writes are bulk (a fixed number of queries whatever the row count), except
for revisions of published records, proposed one by one through
``review.propose`` because each locks and checks its record's version.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.text import slugify
from simple_history.models import HistoricalRecords
from simple_history.utils import bulk_create_with_history
from stdnum import lei as stdnum_lei

from curation import review
from registry.dates import DatePrecision, PartialDate
from registry.models import (
    TEXT_PREDATES_OFFICIAL_SOURCE,
    Activity,
    Entity,
    EntityAlias,
    EntityCitation,
    EntityKind,
    Jurisdiction,
    License,
    LicenseCitation,
    LicenseFact,
    LicenseStatus,
    LicenseType,
    MatchProposal,
    MatchStatus,
    Publication,
    Regime,
    Regulator,
    Revision,
    Source,
    SourceKind,
    WarningNotice,
)

PUBLISHER = "European Securities and Markets Authority (ESMA)"
CASP_TITLE = "ESMA interim MiCA register: CASPs"
NCASP_TITLE = "ESMA interim MiCA register: non-compliant entities"
IMPORTER_USERNAME = "esma-importer"
KEY_PREFIX = "esma-casp:"

# MiCA Article 3(1)(16), points (a) to (j), as the Regulation words them.
MICA_SERVICES = {
    "a": "Providing custody and administration of crypto-assets on behalf of clients",
    "b": "Operation of a trading platform for crypto-assets",
    "c": "Exchange of crypto-assets for funds",
    "d": "Exchange of crypto-assets for other crypto-assets",
    "e": "Execution of orders for crypto-assets on behalf of clients",
    "f": "Placing of crypto-assets",
    "g": "Reception and transmission of orders for crypto-assets on behalf of clients",
    "h": "Providing advice on crypto-assets",
    "i": "Providing portfolio management on crypto-assets",
    "j": "Providing transfer services for crypto-assets on behalf of clients",
}

# The EEA member states: the only places a MiCA authorisation can be passported to.
EEA = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IS IE IT LV LI LT LU MT NL NO PL PT RO SK SI ES SE".split())
# EU usage differs from ISO 3166-1 for two countries.
COUNTRY_ALIASES = {"EL": "GR", "UK": "GB"}

REPLACEMENT_CHARACTER = "\ufffd"


# ---------------------------------------------------------------------------
# Normalisation (pure functions: unit-tested one defect at a time)
# ---------------------------------------------------------------------------


def flag(code: str, message: str) -> dict:
    return {"code": code, "message": message}


def clean_text(value: str | None) -> str:
    """Collapse every run of whitespace (tabs, no-break spaces, newlines) to one space; drop a BOM."""
    if not value:
        return ""
    return " ".join(value.replace("\ufeff", "").split())


def split_list(value: str | None) -> list[str]:
    """Items of a ``|`` list, with or without spaces around the bars, ignoring empty and trailing items."""
    return [item for item in (clean_text(part) for part in (value or "").split("|")) if item]


def normalise_country(value: str | None) -> str:
    """An ISO 3166-1 alpha-2 code: upper case, ``EL`` read as ``GR``."""
    code = clean_text(value).upper()
    return COUNTRY_ALIASES.get(code, code)


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def parse_date(value: str | None, label: str = "date") -> tuple[PartialDate | None, list[dict]]:
    """A day/month/year date (``27/01/2025``) to the day; an unreadable one is flagged, never guessed."""
    text = clean_text(value)
    if not text:
        return None, []
    match = _DMY.match(text)
    parts = (match.group(3), match.group(2), match.group(1)) if match else None
    if parts is None and (match := _YMD.match(text)):
        parts = match.groups()
    if parts:
        try:
            return PartialDate(datetime.date(*(int(part) for part in parts)), DatePrecision.DAY), []
        except ValueError:
            pass
    return None, [flag("date_unparseable", f"The {label} as published (“{text}”) is not a date we can read.")]


_SCIENTIFIC = re.compile(r"^\d+(?:[.,]\d+)?E\+?\d+$", re.IGNORECASE)


def normalise_lei(value: str | None) -> tuple[str, str, list[dict]]:
    """(valid LEI or "", the text as published when unusable, flags).

    Spaces and trailing punctuation are removed and the case raised; what still
    fails ISO 17442 is kept as published and flagged, never corrected by guess.
    """
    text = clean_text(value)
    if not text:
        return "", "", []
    candidate = re.sub(r"[\s.,;:]+$", "", text).replace(" ", "").upper()
    if stdnum_lei.is_valid(candidate):
        if candidate == text:
            return candidate, "", []
        return candidate, "", [flag("lei_normalised", f"The LEI was published as “{text}” and read as {candidate}.")]
    if _SCIENTIFIC.match(text):
        why = "a spreadsheet turned it into a number, so the original digits are lost"
    elif len(candidate) != 20:
        why = f"it has {len(candidate)} characters, not 20"
    else:
        why = "its check digits do not match"
    return "", text, [flag("lei_invalid", f"The LEI as published (“{text}”) fails the ISO 17442 check: {why}.")]


_SERVICE = re.compile(r"^\(?([a-jA-J])\s*[.)]\s*(.*)$")


def parse_services(value: str | None) -> tuple[list[str], list[dict]]:
    """MiCA service letters (a–j) from ``a. providing custody … | c. exchange …``, in order, without repeats."""
    codes, flags = [], []
    for item in split_list(value):
        match = _SERVICE.match(item)
        code = match.group(1).lower() if match else None
        if code is None:
            wording = item.casefold().rstrip(".")
            code = next((c for c, name in MICA_SERVICES.items() if name.casefold().startswith(wording)), None)
        if code is None:
            flags.append(flag("unknown_service", f"“{item}” is not one of the MiCA services (a) to (j)."))
        elif code not in codes:
            codes.append(code)
    return sorted(codes), flags


def parse_passports(value: str | None, known_codes) -> tuple[list[str], list[dict]]:
    """Host member states as EEA country codes; a non-EEA or unknown code is flagged, never dropped silently."""
    codes, flags = [], []
    for item in split_list(value):
        code = normalise_country(item)
        if code in EEA:
            if code not in codes:
                codes.append(code)
        elif code in known_codes:
            flags.append(
                flag(
                    "passport_outside_eea",
                    f"{item} is listed as a host member state but is not in the EEA; not recorded as a passport.",
                )
            )
        else:
            flags.append(flag("unknown_country", f"“{item}” is not a country code we know; not recorded."))
    return sorted(codes), flags


def replacement_flags(values: dict[str, str]) -> list[dict]:
    """Flag each value with a character lost in encoding (U+FFFD): the original letter cannot be recovered."""
    return [
        flag(
            "replacement_character",
            f"The {label} as published has a character lost in encoding (�): “{clean_text(text)}”.",
        )
        for label, text in values.items()
        if REPLACEMENT_CHARACTER in (text or "")
    ]


_AUTHORITY = re.compile(r"^(?P<name>.*?)\s*\((?P<abbr>[^()]+)\)$")


def parse_authority(value: str | None) -> tuple[str, str, str]:
    """(name, abbreviation, matching key) of a competent authority: ``Finansinspektionen `` = ``Finansinspektionen``."""
    text = clean_text(value)
    match = _AUTHORITY.match(text)
    name, abbreviation = (match.group("name"), match.group("abbr").strip()) if match else (text, "")
    return name, abbreviation, name.casefold()


def name_key(value: str | None) -> str:
    return clean_text(value).casefold()


_url_validator = URLValidator(schemes=["http", "https"])


def normalise_website(value: str | None) -> tuple[str, list[dict]]:
    """The first website listed, with ``https://`` assumed; an address that is not a URL is flagged."""
    items = [part for part in re.split(r"[|\s]+", (value or "").replace("\ufeff", "")) if part]
    text = clean_text(value)
    if not items:
        return "", []
    candidate = items[0]
    if "://" not in candidate:
        candidate = f"https://{candidate}"
    try:
        _url_validator(candidate)
    except ValidationError:
        return "", [flag("website_invalid", f"The website as published (“{text}”) is not a web address.")]
    return candidate, []


# ---------------------------------------------------------------------------
# Reading a file
# ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    name: str
    text: str
    sha256: str
    date: datetime.date
    rows: list[dict]  # raw cells by cleaned header, plus "_row" (1 = first data row)
    exact_text: bool = True  # False when the bytes were not UTF-8 (the archived text differs from the file)


class NotAnEsmaFile(ValueError):
    """The file lacks the columns of the ESMA file it was given as."""


def read_snapshot(data: bytes, name: str, date_column: str, required=()) -> Snapshot:
    """Decode the bytes (keeping the exact text, BOM included), parse the CSV and date the snapshot."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        text, exact = data.decode("utf-8"), True
    except UnicodeDecodeError:
        text, exact = data.decode("cp1252", errors="replace"), False
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    rows = []
    header = None
    for cells in reader:
        if header is None:
            header = [clean_text(cell) for cell in cells]
            continue
        if not any(clean_text(cell) for cell in cells):
            continue
        row = {column: (cells[index] if index < len(cells) else "") for index, column in enumerate(header)}
        row["_extra"] = cells[len(header) :]
        row["_row"] = len(rows) + 1
        rows.append(row)
    missing = [column for column in required if column not in (header or [])]
    if missing:
        raise NotAnEsmaFile(f"{Path(name).name} is not the expected ESMA file: it has no column {', '.join(missing)}.")
    match = re.search(r"(\d{4})(\d{2})(\d{2})", Path(name).name)
    snapshot_date = None
    if match:
        try:
            snapshot_date = datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            snapshot_date = None
    if snapshot_date is None:
        dates = [parse_date(row.get(date_column))[0] for row in rows]
        dates = [d.date for d in dates if d]
        snapshot_date = max(dates) if dates else timezone.localdate()
    return Snapshot(Path(name).name, text, digest, snapshot_date, rows, exact)


# ---------------------------------------------------------------------------
# Import machinery shared by both files
# ---------------------------------------------------------------------------


def _number(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


@dataclass
class Counts:
    """What an import did: rows by outcome, and records written by type (for the summary line)."""

    created: int = 0  # rows whose licence (or warning notice) was created
    updated: int = 0
    unchanged: int = 0
    not_listed: int = 0
    flagged: int = 0
    proposed: int = 0  # changes to published records waiting for a reviewer (pending revisions)
    matches: int = 0  # match proposals waiting for a reviewer's decision
    publish: bool = False
    lists_licences: bool = False  # a CASP file: licences missing from it are "no longer listed"
    created_by_type: Counter = field(default_factory=Counter)  # model -> records created
    updated_by_type: Counter = field(default_factory=Counter)  # model -> records changed directly
    rows: list = field(default_factory=list)  # (row, outcome, label, flags) for previews

    # The order the summary names record types in; citations and aliases are bookkeeping, not counted.
    TYPE_ORDER = (Entity, License, WarningNotice, Regulator, Source, Regime, LicenseType, Activity)

    def by_type(self, counter: Counter) -> str:
        """``145 entities, 146 licences, 1 source``, or ``nothing``."""
        parts = []
        for model in self.TYPE_ORDER:
            if counter[model]:
                names = str(model._meta.verbose_name), str(model._meta.verbose_name_plural)
                # The register writes "licence"; LicenseType's verbose name predates that.
                names = tuple(name.replace("license", "licence") for name in names)
                parts.append(_number(counter[model], *names))
        return ", ".join(parts) or "nothing"

    def summary(self) -> str:
        """One line: ``created 145 entities, 146 licences, 18 regulators, 1 source; …; all drafts``."""
        parts = [
            f"created {self.by_type(self.created_by_type)}",
            f"updated {self.by_type(self.updated_by_type)}",
            f"unchanged {_number(self.unchanged, 'row')}",
        ]
        if self.lists_licences:
            parts.append(f"no longer listed {_number(self.not_listed, 'licence')}")
        parts.append(f"flagged {_number(self.flagged, 'row')}")
        if self.matches:
            parts.append(f"{_number(self.matches, 'match proposal')} to decide")
        if self.publish:
            parts.append("all published")
        elif self.proposed:
            parts.append(
                f"new records are drafts, {_number(self.proposed, 'change')} to published records wait for review"
            )
        else:
            parts.append("all drafts")
        return "; ".join(parts)


class DryRunRollback(Exception):
    pass


def importer_user():
    """The system account imports are recorded under; it cannot log in or review."""
    user, created = get_user_model().objects.get_or_create(
        username=IMPORTER_USERNAME, defaults={"is_staff": False, "is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _unique_slug(base: str, taken: set, max_length: int) -> str:
    base = (slugify(base) or "record")[:max_length].strip("-")
    slug, n = base, 2
    while slug in taken:
        suffix = f"-{n}"
        slug = f"{base[: max_length - len(suffix)]}{suffix}"
        n += 1
    taken.add(slug)
    return slug


def _write_m2m_history(model, history_rows, field_names):
    """Many-to-many snapshots for bulk-written history rows (``bulk_history_create`` leaves them out).

    Read back from the through tables (one query per field): a snapshot row keeps the through row's id.
    """
    if not history_rows or not field_names:
        return
    for m2m_field, m2m_history_model in HistoricalRecords.m2m_models.items():
        if m2m_field.model is not model or m2m_field.name not in field_names:
            continue
        through = m2m_field.remote_field.through
        owner, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
        current = defaultdict(list)
        for row in through.objects.filter(**{f"{owner}_id__in": [r.id for r in history_rows]}):
            current[getattr(row, f"{owner}_id")].append(row)
        m2m_history_model.objects.bulk_create(
            [
                m2m_history_model(
                    history=row,
                    id=link.pk,
                    **{f"{owner}_id": row.id, f"{target}_id": getattr(link, f"{target}_id")},
                )
                for row in history_rows
                for link in current.get(row.id, [])
            ]
        )


def _set_m2m(model, field_name: str, values_by_pk: dict[int, list[int]]):
    """Replace the many-to-many sets of several records in two queries, without per-row signals."""
    if not values_by_pk:
        return
    m2m_field = model._meta.get_field(field_name)
    through = m2m_field.remote_field.through
    source, target = m2m_field.m2m_field_name(), m2m_field.m2m_reverse_field_name()
    through.objects.filter(**{f"{source}_id__in": list(values_by_pk)}).delete()
    through.objects.bulk_create(
        [
            through(**{f"{source}_id": pk, f"{target}_id": value})
            for pk, values in values_by_pk.items()
            for value in values
        ]
    )


def fast_bulk_update(model, objs, fields, batch_size=400):
    """``bulk_update`` in plain SQL: ``SET col = CASE id WHEN … THEN CAST(… AS type) END``.

    Django's ``bulk_update`` builds one resolved ``When`` expression per row and
    field, which takes seconds for a thousand citations; this writes the same
    statement directly (portable SQL: simple CASE and CAST work on SQLite and
    PostgreSQL).
    """
    from django.db import connections, router

    if not objs:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    quote = connection.ops.quote_name
    pk_column = quote(model._meta.pk.column)
    columns = [model._meta.get_field(name) for name in fields]
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            assignments, params = [], []
            for column in columns:
                cast = column.cast_db_type(connection)
                whens = " ".join([f"WHEN %s THEN CAST(%s AS {cast})"] * len(batch))
                assignments.append(f"{quote(column.column)} = CASE {pk_column} {whens} END")
                for obj in batch:
                    value = column.get_db_prep_save(getattr(obj, column.attname), connection)
                    params += [obj.pk, value]
            placeholders = ", ".join(["%s"] * len(batch))
            params += [obj.pk for obj in batch]
            cursor.execute(
                f"UPDATE {quote(model._meta.db_table)} SET {', '.join(assignments)} "  # noqa: S608 - names are quoted
                f"WHERE {pk_column} IN ({placeholders})",
                params,
            )


class Writer:
    """Collects creations and changes, then writes them in bulk with their history (counted by type).

    With ``publish`` (the operator's ``--publish``), every record it writes
    goes live through :func:`curation.review.publish_as_operator` as it is
    written: the review service sets the publication, the writer the rows.
    """

    def __init__(self, *, user, reason: str, publish: bool, now, counts: Counts):
        self.user, self.reason, self.publish, self.now = user, reason, publish, now
        self.counts = counts

    def prepare_new(self, obj):
        obj.last_edited_by = self.user
        obj.created_at = obj.updated_at = self.now
        obj.publication_status = Publication.DRAFT
        return obj

    def route(self, obj) -> str:
        """How a change to an existing record is written: "direct" or "propose" (four-eyes)."""
        if self.publish or obj.publication_status != Publication.PUBLISHED:
            return "direct"
        return "propose"

    def apply_direct(self, obj, fields: dict) -> list[str]:
        """Set the changed values; return the field names to save."""
        for attname, value in fields.items():
            setattr(obj, attname, value)
        obj.version = (obj.version or 0) + 1
        obj.updated_at = self.now
        obj.last_edited_by = self.user
        return [*fields, "version", "updated_at", "last_edited_by"]

    def _write(self, objs, write):
        """``write(objs)``; with ``publish``, through the review service, which puts them live as it is done."""
        if self.publish:
            review.publish_as_operator(objs, reason=self.reason, user=self.user, at=self.now, save=write)
        else:
            write(objs)

    def save(self, obj):
        """Save one record (the file's source, the regime) with its history row."""
        obj._change_reason, obj._history_user = self.reason, self.user
        self._write([obj], lambda objs: obj.save())

    def create(self, model, objs, m2m_of=None):
        """Insert new records, then their many-to-many sets (``m2m_of(obj)`` gives them), then history."""
        if not objs:
            return []
        self._write(objs, lambda records: self._insert(model, records, m2m_of))
        return objs

    def _insert(self, model, objs, m2m_of):
        created = model.objects.bulk_create(objs)
        self.counts.created_by_type[model] += len(created)
        sets = {}
        if m2m_of:
            for obj in created:
                for name, ids in m2m_of(obj).items():
                    sets.setdefault(name, {})[obj.pk] = ids
            for name, values in sets.items():
                _set_m2m(model, name, values)
        rows = model.history.bulk_history_create(
            created, default_user=self.user, default_change_reason=self.reason, default_date=self.now
        )
        _write_m2m_history(model, rows, set(sets))

    def update(self, model, objs, names, m2m_fields=()):
        """Save changed records (their many-to-many sets already written) with their history."""
        if not objs:
            return
        names = {*names, *(review.PUBLICATION_FIELDS if self.publish else ())}
        self._write(objs, lambda records: self._save_changes(model, records, sorted(names), m2m_fields))

    def _save_changes(self, model, objs, names, m2m_fields):
        fast_bulk_update(model, objs, names)
        self.counts.updated_by_type[model] += len(objs)
        rows = model.history.bulk_history_create(
            objs, update=True, default_user=self.user, default_change_reason=self.reason, default_date=self.now
        )
        _write_m2m_history(model, rows, set(m2m_fields))


def _pending_revisions(user, models):
    """{(content type id, object id): [changes]} of the importer's pending revisions."""
    types = ContentType.objects.get_for_models(*models)
    pending = defaultdict(list)
    for revision in Revision.objects.pending().filter(author=user, content_type__in=types.values()):
        pending[(revision.content_type_id, revision.object_id)].append(revision.changes)
    return pending, {model: types[model].pk for model in models}


def _json_changes(fields=None, m2m=None, inlines=None):
    return {
        "fields": {k: review.to_json(v) for k, v in (fields or {}).items()},
        "m2m": {k: sorted(v) for k, v in (m2m or {}).items()},
        "inlines": inlines or {},
    }


class BaseImporter:
    title = ""
    date_column = ""
    slug_prefix = ""
    required = ()

    def __init__(self, data: bytes, name: str, *, publish: bool = False, dry_run: bool = False, progress=None):
        self.snapshot = read_snapshot(data, name, self.date_column, self.required)
        self.publish, self.dry_run = publish, dry_run
        self.progress = progress or (lambda done, total, started: None)
        self.counts = Counts(publish=publish)
        day = self.snapshot.date.isoformat()
        self.reason = f"ESMA register snapshot {day}"
        if publish:
            self.reason += " (published directly: operator's --publish)"

    def run(self) -> Counts:
        try:
            with transaction.atomic():
                self._run()
                if self.dry_run:
                    raise DryRunRollback
        except DryRunRollback:
            pass
        return self.counts

    def _setup(self):
        self.now = timezone.now()
        self.user = importer_user()
        self.writer = Writer(user=self.user, reason=self.reason, publish=self.publish, now=self.now, counts=self.counts)
        self.jurisdictions = {j.code: j for j in Jurisdiction.objects.filter(parent__isnull=True)}
        self.source = self._source()

    def _source(self) -> Source:
        snap = self.snapshot
        source = Source.objects.filter(sha256=snap.sha256, kind=SourceKind.OFFICIAL_REGISTER).first()
        if source is None and not snap.exact_text:
            source = Source.objects.filter(notes__contains=f"SHA-256 of the file: {snap.sha256}").first()
        if source is not None:
            if self.publish and source.publication_status != Publication.PUBLISHED:
                self.writer.update(Source, [source], self.writer.apply_direct(source, {}))
            return source
        taken = set(Source.objects.filter(slug__startswith=self.slug_prefix).values_list("slug", flat=True))
        date_text = str(PartialDate(snap.date))
        notes = f"File {snap.name} as published by ESMA, imported {self.now:%Y-%m-%d}."
        if not snap.exact_text:
            notes += f" The file was not UTF-8; SHA-256 of the file: {snap.sha256}."
        source = self.writer.prepare_new(
            Source(
                slug=_unique_slug(f"{self.slug_prefix}{snap.date:%Y-%m-%d}", taken, 120),
                title=f"{self.title} (snapshot {date_text})",
                kind=SourceKind.OFFICIAL_REGISTER,
                publisher=PUBLISHER,
                published_on=snap.date,
                published_on_precision=DatePrecision.DAY,
                retrieved_on=self.now.date(),
                # The exact decoded text: Source.save() digests it, which equals the file's SHA-256.
                archived_text=snap.text,
                notes=notes,
            )
        )
        self.writer.save(source)
        self.counts.created_by_type[Source] += 1
        return source

    # -- regulators ---------------------------------------------------------

    def _regulators(self, authorities: dict[tuple[str, str], tuple[str, str]]):
        """{(home code, key): Regulator}, creating the missing ones (matched on normalised name or abbreviation)."""
        codes = {code for code, _ in authorities}
        found = {}
        existing = list(Regulator.objects.filter(jurisdiction__code__in=codes).select_related("jurisdiction"))
        for (code, key), (_name, abbreviation) in authorities.items():
            for regulator in existing:
                if regulator.jurisdiction.code != code:
                    continue
                same_name = parse_authority(regulator.name)[2] == key
                same_abbr = abbreviation and regulator.abbreviation.casefold() == abbreviation.casefold()
                if same_name or same_abbr:
                    found[(code, key)] = regulator
                    break
        taken = set(Regulator.objects.values_list("slug", flat=True))
        new = []
        for (code, key), (name, abbreviation) in authorities.items():
            if (code, key) in found or code not in self.jurisdictions:
                continue
            regulator = self.writer.prepare_new(
                Regulator(
                    slug=_unique_slug(f"{abbreviation or name}-{code}", taken, 100),
                    name=name,
                    abbreviation=abbreviation[:30],
                    jurisdiction=self.jurisdictions[code],
                )
            )
            found[(code, key)] = regulator
            new.append(regulator)
        self.writer.create(Regulator, new)
        if self.publish:
            drafts = {r.pk: r for r in found.values() if r.pk and r not in new and not r.is_published}
            names = set()
            for regulator in drafts.values():
                names.update(self.writer.apply_direct(regulator, {}))
            self.writer.update(Regulator, list(drafts.values()), names)
        return found

    # -- entities ----------------------------------------------------------

    def _match_entities(self, wanted: list[dict]):
        """Existing entities for each wanted one: by LEI, then by legal name and home state."""
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

    def _write_entities(self, wanted: list[dict]) -> dict[str, Entity]:
        """Create or update entities (address, flags, and blanks such as the LEI); returns {key: entity}."""
        matches = self._match_entities(wanted)
        taken = set(Entity.objects.values_list("slug", flat=True))
        result, new, direct, names = {}, [], [], set()
        proposals = []
        for w in wanted:
            entity = matches[w["key"]]
            if entity is None:
                entity = self.writer.prepare_new(
                    Entity(
                        slug=_unique_slug(w["name"], taken, 120),
                        name=w["name"],
                        kind=EntityKind.COMPANY,
                        jurisdiction=self.jurisdictions.get(w["jurisdiction"]),
                        lei=w["lei"],
                        lei_as_published=w["lei_as_published"],
                        website=w["website"],
                        address=w["address"],
                        quality_flags=w["flags"],
                    )
                )
                new.append(entity)
            else:
                changes = {}
                if w["address"] and entity.address != w["address"]:
                    changes["address"] = w["address"]
                if entity.quality_flags != w["flags"]:
                    changes["quality_flags"] = w["flags"]
                if w["lei"] and not entity.lei:
                    changes["lei"] = w["lei"]
                if entity.lei_as_published != w["lei_as_published"] and not (entity.lei and not w["lei"]):
                    changes["lei_as_published"] = w["lei_as_published"]
                if w["website"] and not entity.website:
                    changes["website"] = w["website"]
                jurisdiction = self.jurisdictions.get(w["jurisdiction"])
                if jurisdiction and not entity.jurisdiction_id:
                    changes["jurisdiction_id"] = jurisdiction.pk
                needs_publish = self.publish and not entity.is_published
                if changes or needs_publish:
                    if self.writer.route(entity) == "direct":
                        names.update(self.writer.apply_direct(entity, changes))
                        direct.append(entity)
                    else:
                        proposals.append((entity, changes))
            result[w["key"]] = entity
        self.writer.create(Entity, new)
        self.writer.update(Entity, direct, names)
        self._propose(Entity, proposals)
        self.changed_entities = {e.pk for e in direct} | {e.pk for e, _ in proposals}
        self._write_aliases(wanted, result)
        return result

    def _write_aliases(self, wanted, entities):
        """Trading names as aliases (added, never removed: a former trading name stays true of the past)."""
        # A published entity's names change only through review (or an operator's --publish).
        pks = {e.pk for e in entities.values() if self.publish or not e.is_published}
        existing = {(a.entity_id, name_key(a.name)) for a in EntityAlias.objects.filter(entity_id__in=pks)}
        new = []
        for w in wanted:
            entity = entities[w["key"]]
            if entity.pk not in pks:
                continue
            for alias in w["aliases"]:
                key = (entity.pk, name_key(alias))
                if key in existing or name_key(alias) == name_key(entity.name):
                    continue
                existing.add(key)
                new.append(EntityAlias(entity=entity, name=alias[:300], kind=EntityAlias.Kind.TRADING))
        if new:
            bulk_create_with_history(
                new, EntityAlias, default_user=self.user, default_change_reason=self.reason, default_date=self.now
            )

    def _propose(self, model, proposals, m2m_of=None, citations_of=None):
        """Pending revisions for changes to published records, skipping ones already proposed."""
        if not proposals:
            return
        pending, type_ids = _pending_revisions(self.user, [model])
        for obj, fields in proposals:
            changes = _json_changes(fields, (m2m_of or {}).get(obj.pk), (citations_of or {}).get(obj.pk))
            if not any(changes.values()):
                continue
            if changes in pending.get((type_ids[model], obj.pk), []):
                continue
            review.propose(
                obj,
                author=self.user,
                reason=self.reason,
                base_version=obj.version,
                fields=changes["fields"],
                m2m=changes["m2m"],
                inlines=changes["inlines"],
                summary=f"Changes in {self.source.title}.",
            )
            self.counts.proposed += 1

    def _write_citations(self, model, target_field: str, wanted: dict[int, dict[str, dict]], deferred=frozenset()):
        """Point each record's citations of this register at this snapshot.

        ``wanted`` maps a record's pk to ``{supports: {"states", "quote", "locator"}}``.
        Existing citations of earlier snapshots of the same register are updated in
        place (the history keeps the old ones); records in ``deferred`` get theirs
        through their pending revision instead. Returns {pk: inline changes} for those.
        """
        existing = defaultdict(dict)
        rows = model.objects.filter(
            **{f"{target_field}_id__in": list(wanted)},
            source__publisher=PUBLISHER,
            source__title__startswith=self.title,
        )
        for citation in rows:
            existing[getattr(citation, f"{target_field}_id")][citation.supports] = citation
        new, changed, inline = [], [], {}
        label = model._meta.label_lower
        for pk, facts in wanted.items():
            for supports, values in facts.items():
                states = values["states"] if len(values["states"]) <= 300 else values["states"][:299] + "…"
                values = {**values, "states": states, "locator": values["locator"][:200]}
                citation = existing[pk].get(supports)
                same = citation is not None and citation.source_id == self.source.pk
                if same and all(getattr(citation, k) == v for k, v in values.items()):
                    continue
                if pk in deferred:
                    ops = inline.setdefault(pk, {label: {"create": [], "update": {}}})[label]
                    if citation is None:
                        ops["create"].append({"source_id": self.source.pk, "supports": supports, **values})
                    else:
                        ops["update"][str(citation.pk)] = {"source_id": self.source.pk, **values}
                    continue
                if citation is None:
                    new.append(model(**{f"{target_field}_id": pk}, source=self.source, supports=supports, **values))
                else:
                    citation.source = self.source
                    for key, value in values.items():
                        setattr(citation, key, value)
                    changed.append(citation)
        history = {"default_user": self.user, "default_change_reason": self.reason, "default_date": self.now}
        if new:
            bulk_create_with_history(new, model, **history)
        if changed:
            fast_bulk_update(model, changed, ["source", "states", "quote", "locator"])
            model.history.bulk_history_create(changed, update=True, **history)
        return inline


# ---------------------------------------------------------------------------
# CASPs
# ---------------------------------------------------------------------------


def unnamed(row) -> str:
    """The legal name, else the commercial name; a row with neither is kept under a name saying so."""
    return (
        clean_text(row.get("ae_lei_name"))
        or clean_text(row.get("ae_commercial_name"))
        or f"[Unnamed in the ESMA register, row {row['_row']}]"
    )


def _cite(row, column, states=None):
    raw = row.get(column, "") or ""
    return {
        "states": clean_text(raw) if states is None else states,
        "quote": f"{column}: {raw.strip()}" if raw.strip() else "",
        "locator": f"row {row['_row']}",
    }


# ---------------------------------------------------------------------------
# Which source's value a licence shows: the most authoritative one's
# ---------------------------------------------------------------------------

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


class CaspImporter(BaseImporter):
    title = CASP_TITLE
    date_column = "ac_lastupdate"
    slug_prefix = "esma-mica-casps-"
    required = ("ae_competentAuthority", "ae_homeMemberState", "ae_lei_name", "ae_lei", "ac_serviceCode")

    def _reference_data(self):
        eu = self.jurisdictions.get("EU")
        regime = Regime.objects.filter(slug="mica").first()
        if regime is None:
            regime = self.writer.prepare_new(
                Regime(
                    slug="mica",
                    short_name="MiCA",
                    name="Markets in Crypto-Assets Regulation",
                    legal_reference="Regulation (EU) 2023/1114",
                    jurisdiction=eu,
                )
            )
            self.writer.save(regime)
            self.counts.created_by_type[Regime] += 1
        elif self.publish and not regime.is_published:
            self.writer.update(Regime, [regime], self.writer.apply_direct(regime, {}))
        self.license_type, created = LicenseType.objects.get_or_create(
            regime=regime,
            slug="casp-authorisation",
            defaults={"name": "Crypto-asset service provider (CASP) authorisation"},
        )
        self.counts.created_by_type[LicenseType] += created
        activities = {a.code: a for a in Activity.objects.filter(regime=regime, code__in=list(MICA_SERVICES))}
        missing = [
            Activity(slug=f"mica-service-{code}", name=name, regime=regime, code=code)
            for code, name in MICA_SERVICES.items()
            if code not in activities
        ]
        if missing:
            taken = set(Activity.objects.filter(slug__startswith="mica-service-").values_list("slug", flat=True))
            for activity in missing:
                activity.slug = _unique_slug(activity.slug, taken, 100)
            Activity.objects.bulk_create(missing)
            self.counts.created_by_type[Activity] += len(missing)
            activities = {a.code: a for a in Activity.objects.filter(regime=regime, code__in=list(MICA_SERVICES))}
        self.activities = activities

    def _parse_rows(self):
        known = set(self.jurisdictions)
        parsed = []
        for row in self.snapshot.rows:
            flags = []
            home = normalise_country(row.get("ae_homeMemberState"))
            if home not in known:
                flags.append(
                    flag(
                        "unknown_country",
                        f"Home member state “{clean_text(row.get('ae_homeMemberState'))}” is not a known country code.",
                    )
                )
            lei, lei_as_published, lei_flags = normalise_lei(row.get("ae_lei"))
            flags += lei_flags
            country = normalise_country(row.get("ae_lei_cou_code")) or home
            granted, f1 = parse_date(row.get("ac_authorisationNotificationDate"), "authorisation date")
            ended, f2 = parse_date(row.get("ac_authorisationEndDate"), "end date")
            services, f3 = parse_services(row.get("ac_serviceCode"))
            passports, f4 = parse_passports(row.get("ac_serviceCode_cou"), known)
            website, f5 = normalise_website(row.get("ae_website") or row.get("ae_website_platform"))
            text_flags = replacement_flags(
                {
                    "name": row.get("ae_lei_name"),
                    "commercial name": row.get("ae_commercial_name"),
                    "address": row.get("ae_address"),
                }
            )
            entity_flags = lei_flags + f5 + text_flags
            flags += f1 + f2 + f3 + f4 + f5 + text_flags
            if any(clean_text(cell) for cell in row["_extra"]):
                flags.append(
                    flag("extra_columns", "The row has more cells than the header; the extra ones were ignored.")
                )
            name = unnamed(row)
            authority = parse_authority(row.get("ae_competentAuthority"))
            entity_key = lei or f"{home}:{name_key(name)}"
            parsed.append(
                {
                    "row": row,
                    "flags": flags,
                    "home": home,
                    "authority": authority,
                    "entity": {
                        "key": entity_key,
                        "name": name[:300],
                        "home": home,
                        "jurisdiction": country if country in known else home,
                        "lei": lei,
                        "lei_as_published": lei_as_published[:100],
                        "website": website,
                        "address": clean_text(row.get("ae_address")),
                        "aliases": split_list(row.get("ae_commercial_name")),
                        "flags": entity_flags,
                    },
                    "granted": granted,
                    "ended": ended,
                    "services": services,
                    "passports": passports,
                }
            )
        # A firm listed more than once (one row per authorisation) gets one key per authorisation.
        by_entity = defaultdict(list)
        for item in parsed:
            by_entity[item["entity"]["key"]].append(item)
        keys = set()
        for entity_key, items in by_entity.items():
            for item in items:
                key = f"{KEY_PREFIX}{entity_key}"
                if len(items) > 1:
                    key += f"@{item['granted'].isoformat() if item['granted'] else 'undated'}"
                base, n = key, 2
                while key in keys:
                    key, n = f"{base}#{n}", n + 1
                keys.add(key)
                item["key"] = key[:200]
        return parsed

    def _run(self):
        self.counts.lists_licences = True
        self._setup()
        self._reference_data()
        parsed = self._parse_rows()
        total = len(parsed)
        authorities = {(p["home"], p["authority"][2]): p["authority"][:2] for p in parsed}
        regulators = self._regulators(authorities)
        wanted = list({p["entity"]["key"]: p["entity"] for p in parsed}.values())
        entities = self._write_entities(wanted)
        self._write_entity_citations(parsed, entities)

        existing = {
            lic.official_register_key: lic
            for lic in License.objects.filter(official_register_key__in=[p["key"] for p in parsed]).prefetch_related(
                "activities", "passported_to"
            )
        }
        # A fact another official register supports keeps its value; one resting on a less authoritative source
        # (an article) takes the register's, and that source's statement stays cited beside it.
        held = held_facts(list(existing.values()), SourceKind.OFFICIAL_REGISTER.authority, esma_casp_citations())
        taken = set(License.objects.values_list("slug", flat=True))
        new, direct, names, proposals = [], [], set(), []
        m2m_new, m2m_direct, m2m_proposed = {}, {}, {}
        outcome = {}
        started = time.monotonic()
        for done, p in enumerate(parsed, start=1):
            entity = entities[p["entity"]["key"]]
            regulator = regulators.get((p["home"], p["authority"][2]))
            jurisdiction = self.jurisdictions.get(p["home"])
            activity_ids = sorted(self.activities[c].pk for c in p["services"] if c in self.activities)
            passport_ids = sorted(self.jurisdictions[c].pk for c in p["passports"] if c in self.jurisdictions)
            values = {
                "holder_id": entity.pk,
                "regulator_id": regulator.pk if regulator else None,
                "jurisdiction_id": jurisdiction.pk if jurisdiction else None,
                "granted_on": p["granted"].date if p["granted"] else None,
                "granted_on_precision": p["granted"].precision if p["granted"] else "",
                "ended_on": p["ended"].date if p["ended"] else None,
                "ended_on_precision": p["ended"].precision if p["ended"] else "",
                "quality_flags": p["flags"],
                "not_listed_since": None,
            }
            license = existing.get(p["key"])
            if license is None:
                license = self.writer.prepare_new(
                    License(
                        slug=_unique_slug(f"{entity.slug}-mica-casp", taken, 150),
                        license_type=self.license_type,
                        status=LicenseStatus.ACTIVE,
                        official_register_key=p["key"],
                        **values,
                    )
                )
                new.append(license)
                m2m_new[p["key"]] = {"activities": activity_ids, "passported_to": passport_ids}
                outcome[p["key"]] = "created"
            else:
                guarded = held.get(license.pk, set())
                for fact, attnames in REGISTER_FACT_FIELDS.items():
                    if fact in guarded:
                        for attname in attnames:
                            values.pop(attname)
                if values.get("regulator_id") is None:
                    values.pop("regulator_id", None)
                values["quality_flags"] = [*p["flags"], *curator_flags(license.quality_flags)]
                changes = {k: v for k, v in values.items() if getattr(license, k) != v}
                current = {
                    "activities": sorted(a.pk for a in license.activities.all()),
                    "passported_to": sorted(j.pk for j in license.passported_to.all()),
                }
                target = {"activities": activity_ids, "passported_to": passport_ids}
                m2m_changes = {
                    name: ids for name, ids in target.items() if name not in guarded and current[name] != ids
                }
                needs_publish = self.publish and not license.is_published
                if not (changes or m2m_changes or needs_publish):
                    outcome[p["key"]] = "unchanged"
                elif self.writer.route(license) == "direct":
                    names.update(self.writer.apply_direct(license, changes))
                    direct.append(license)
                    m2m_direct[license.pk] = ({**current, **m2m_changes}, m2m_changes)
                    outcome[p["key"]] = "updated"
                else:
                    proposals.append((license, changes))
                    m2m_proposed[license.pk] = m2m_changes
                    outcome[p["key"]] = "updated"
            p["license"] = license
            self.progress(done, total, started)

        self.writer.create(License, new, m2m_of=lambda lic: m2m_new[lic.official_register_key])
        for name in ("activities", "passported_to"):
            _set_m2m(License, name, {pk: changed[name] for pk, (_, changed) in m2m_direct.items() if name in changed})
        self.writer.update(
            License,
            direct,
            names,
            m2m_fields=("activities", "passported_to"),
        )

        deferred = {lic.pk for lic, _ in proposals}
        wanted_citations = {}
        for p in parsed:
            row = p["row"]
            facts = {
                "": _cite(row, "ae_lei_name", states=""),
                "holder": _cite(row, "ae_lei_name"),
                "regulator": _cite(row, "ae_competentAuthority"),
                "granted_on": _cite(row, "ac_authorisationNotificationDate"),
                "activities": _cite(row, "ac_serviceCode"),
                "passported_to": _cite(row, "ac_serviceCode_cou"),
            }
            if clean_text(row.get("ac_authorisationEndDate")):
                facts["ended_on"] = _cite(row, "ac_authorisationEndDate")
            facts[""]["quote"] = f"Listed in {self.snapshot.name}, row {row['_row']}."
            wanted_citations[p["license"].pk] = facts
        inline = self._write_citations(LicenseCitation, "license", wanted_citations, deferred)
        self._propose(License, proposals, m2m_of=m2m_proposed, citations_of=inline)

        self._mark_not_listed({p["key"] for p in parsed})
        self._propose_matches(parsed, entities)

        for p in parsed:
            state = outcome[p["key"]]
            if state == "unchanged" and p["entity"]["key"] and entities[p["entity"]["key"]].pk in self.changed_entities:
                state = "updated"
            setattr(self.counts, state, getattr(self.counts, state) + 1)
            self.counts.flagged += bool(p["flags"])
            self.counts.rows.append((p["row"]["_row"], state, p["entity"]["name"], p["flags"]))

    def _write_entity_citations(self, parsed, entities):
        wanted = {}
        for p in parsed:
            entity = entities[p["entity"]["key"]]
            if entity.pk in wanted:
                continue
            row = p["row"]
            facts = {"name": _cite(row, "ae_lei_name"), "jurisdiction": _cite(row, "ae_lei_cou_code")}
            if clean_text(row.get("ae_lei")):
                facts["lei"] = _cite(row, "ae_lei")
            if not facts["jurisdiction"]["states"]:
                facts["jurisdiction"] = _cite(row, "ae_homeMemberState")
            wanted[entity.pk] = facts
        # Entity citations are bookkeeping of where the facts came from; written directly.
        self._write_citations(EntityCitation, "entity", wanted)

    def _is_latest_snapshot(self) -> bool:
        later = Source.objects.filter(
            publisher=PUBLISHER, title__startswith=CASP_TITLE, published_on__gt=self.snapshot.date
        )
        return not later.exists()

    def _mark_not_listed(self, keys):
        """Licences of earlier snapshots missing from this one: "no longer listed as of" its date, never deleted."""
        if not self._is_latest_snapshot():
            return
        gone = list(
            License.objects.filter(official_register_key__startswith=KEY_PREFIX, not_listed_since__isnull=True).exclude(
                official_register_key__in=keys
            )
        )
        direct, proposals, names = [], [], set()
        for license in gone:
            changes = {"not_listed_since": self.snapshot.date}
            if self.writer.route(license) == "direct":
                names.update(self.writer.apply_direct(license, changes))
                direct.append(license)
            else:
                proposals.append((license, changes))
        self.writer.update(License, direct, names)
        self._propose(License, proposals)
        self.counts.not_listed = len(gone)

    def _propose_matches(self, parsed, entities):
        """Propose (never apply) a link between an imported firm and a curated entity of the same name."""
        imported = {}
        for p in parsed:
            entity = entities[p["entity"]["key"]]
            names = {name_key(p["entity"]["name"]), *(name_key(a) for a in p["entity"]["aliases"])}
            imported.setdefault(entity.pk, (entity, set(), p))[1].update(names)
        all_names = set().union(*(names for _, names, _ in imported.values())) if imported else set()
        if not all_names:
            return
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
        matching = [pk for pk, names in names_of.items() if names & all_names]
        if not matching:
            return
        candidates = list(Entity.objects.filter(pk__in=matching))
        seen = set(
            MatchProposal.objects.filter(imported_entity__in=list(imported)).values_list(
                "imported_entity_id", "existing_entity_id"
            )
        )
        candidate_licenses = defaultdict(list)
        group_ids = {c.pk for c in candidates}
        for license in License.objects.filter(
            Q(holder__in=group_ids) | Q(holder__parent__in=group_ids),
            license_type=self.license_type,
            official_register_key="",
            superseded_by__isnull=True,
        ).select_related("holder"):
            candidate_licenses[license.holder_id].append(license)
            if license.holder.parent_id:
                candidate_licenses[license.holder.parent_id].append(license)
        new = []
        for entity, names, p in imported.values():
            for candidate in candidates:
                their_names = names_of[candidate.pk]
                common = names & their_names
                if not common or (entity.pk, candidate.pk) in seen or entity.parent_id == candidate.pk:
                    continue
                legal = name_key(p["entity"]["name"]) in their_names
                written = {name_key(n): n for n in [*p["entity"]["aliases"], p["entity"]["name"]]}
                home = self.jurisdictions.get(p["home"])
                same_home = [
                    lic for lic in candidate_licenses.get(candidate.pk, []) if home and lic.jurisdiction_id == home.pk
                ]
                reason = (
                    f"ESMA lists {p['entity']['name']} ({p['row'].get('ae_lei') or 'no LEI'}), "
                    f"{'legal' if legal else 'commercial'} name “{written[sorted(common)[0]]}”, which is the name of "
                    f"{candidate.name} in the register; the LEI does not confirm it."
                )
                if same_home:
                    reason += (
                        f" {candidate.name} already has a MiCA licence granted in {home.code}: {same_home[0].slug}."
                    )
                new.append(
                    MatchProposal(
                        imported_entity=entity,
                        existing_entity=candidate,
                        imported_license=p.get("license"),
                        existing_license=same_home[0] if same_home else None,
                        score=Decimal("0.800") if legal else Decimal("0.600"),
                        reason=reason,
                        source=self.source,
                        author=self.user,
                        created_at=self.now,
                    )
                )
                seen.add((entity.pk, candidate.pk))
        MatchProposal.objects.bulk_create(new)
        self.counts.matches += len(new)


# ---------------------------------------------------------------------------
# Non-compliant entities (warning list)
# ---------------------------------------------------------------------------


class NcaspImporter(BaseImporter):
    title = NCASP_TITLE
    date_column = "ae_lastupdate"
    slug_prefix = "esma-mica-ncasps-"
    required = ("ae_competentAuthority", "ae_homeMemberState", "ae_lei_name", "ae_decision_date")

    def _run(self):
        self._setup()
        known = set(self.jurisdictions)
        parsed = []
        for row in self.snapshot.rows:
            flags = []
            home = normalise_country(row.get("ae_homeMemberState"))
            lei, lei_as_published, lei_flags = normalise_lei(row.get("ae_lei"))
            decided, date_flags = parse_date(row.get("ae_decision_date"), "decision date")
            flags += lei_flags + date_flags
            flags += replacement_flags(
                {"name": row.get("ae_lei_name"), "commercial name": row.get("ae_commercial_name")}
            )
            if home not in known:
                flags.append(
                    flag(
                        "unknown_country",
                        f"Member state “{clean_text(row.get('ae_homeMemberState'))}” is not a country code we know.",
                    )
                )
            country = normalise_country(row.get("ae_lei_cou_code"))
            name = unnamed(row)
            parsed.append(
                {
                    "row": row,
                    "flags": flags,
                    "home": home,
                    "decided": decided,
                    "authority": parse_authority(row.get("ae_competentAuthority")),
                    "entity": {
                        "key": lei or f"{country}:{name_key(name)}",
                        "name": name[:300],
                        "home": country or home,
                        "jurisdiction": country if country in known else "",
                        "lei": lei,
                        "lei_as_published": lei_as_published[:100],
                        "website": "",
                        "address": "",
                        "aliases": split_list(row.get("ae_commercial_name")),
                        "flags": [f for f in flags if f["code"].startswith("lei")],
                    },
                }
            )
        authorities = {(p["home"], p["authority"][2]): p["authority"][:2] for p in parsed if p["home"] in known}
        regulators = self._regulators(authorities)
        wanted = list({p["entity"]["key"]: p["entity"] for p in parsed}.values())
        entities = self._write_entities(wanted)
        cited = {}
        for p in parsed:
            facts = {"name": _cite(p["row"], "ae_lei_name")}
            if clean_text(p["row"].get("ae_lei")):
                facts["lei"] = _cite(p["row"], "ae_lei")
            cited.setdefault(entities[p["entity"]["key"]].pk, facts)
        self._write_citations(EntityCitation, "entity", cited)
        existing = {
            (w.entity_id, w.jurisdiction_id, w.decided_on): w
            for w in WarningNotice.objects.filter(entity__in=[e.pk for e in entities.values()])
        }
        taken = set(WarningNotice.objects.values_list("slug", flat=True))
        new, direct, names, proposals = [], [], set(), []
        seen = {}
        started = time.monotonic()
        for done, p in enumerate(parsed, start=1):
            entity = entities[p["entity"]["key"]]
            jurisdiction = self.jurisdictions.get(p["home"])
            row = p["row"]
            if jurisdiction is None:
                self.counts.unchanged += 1
                self.counts.flagged += 1
                self.counts.rows.append((row["_row"], "unchanged", p["entity"]["name"], p["flags"]))
                continue
            regulator = regulators.get((p["home"], p["authority"][2]))
            reason = clean_text(row.get("ae_reason"))
            values = {
                "regulator_id": regulator.pk if regulator else None,
                "decided_on": p["decided"].date if p["decided"] else None,
                "decided_on_precision": p["decided"].precision if p["decided"] else "",
                # ESMA's Article 17 procedure concerns the national authority, not the firm (README of the data).
                "esma_article_17_case": clean_text(row.get("ae_infrigment"))[:300],
                # ESMA writes "None" where the authority gave no reason.
                "reason": "" if reason.casefold() == "none" else reason,
                "websites": "\n".join(split_list(row.get("ae_website"))),
                "notes": clean_text(row.get("ae_comments")),
                "source_id": self.source.pk,
                "locator": f"row {row['_row']}",
                "quality_flags": p["flags"],
            }
            key = (entity.pk, jurisdiction.pk, values["decided_on"])
            if key in seen:
                # The same decision listed twice: one notice, every website kept.
                notice = seen[key]
                notice.websites = "\n".join(
                    dict.fromkeys([*notice.websites.split("\n"), *values["websites"].split("\n")])
                )
                state = "unchanged"
            elif (notice := existing.get(key)) is None:
                notice = self.writer.prepare_new(
                    WarningNotice(
                        slug=_unique_slug(f"{entity.slug}-warning-{jurisdiction.code}", taken, 150),
                        entity=entity,
                        jurisdiction=jurisdiction,
                        **values,
                    )
                )
                new.append(notice)
                state = "created"
            else:
                changes = {k: v for k, v in values.items() if getattr(notice, k) != v}
                needs_publish = self.publish and not notice.is_published
                if not (changes or needs_publish):
                    state = "unchanged"
                elif self.writer.route(notice) == "direct":
                    names.update(self.writer.apply_direct(notice, changes))
                    direct.append(notice)
                    state = "updated"
                else:
                    proposals.append((notice, changes))
                    state = "updated"
            seen[key] = notice
            setattr(self.counts, state, getattr(self.counts, state) + 1)
            self.counts.flagged += bool(p["flags"])
            self.counts.rows.append((row["_row"], state, p["entity"]["name"], p["flags"]))
            self.progress(done, len(parsed), started)
        self.writer.create(WarningNotice, new)
        self.writer.update(WarningNotice, direct, names)
        self._propose(WarningNotice, proposals)


def import_file(kind: str, path_or_bytes, name: str | None = None, **options) -> Counts:
    """Import a CASP (``kind="casps"``) or non-compliant-entities (``"ncasps"``) file."""
    if isinstance(path_or_bytes, bytes | bytearray):
        data = bytes(path_or_bytes)
    else:
        data = Path(path_or_bytes).read_bytes()
        name = name or Path(path_or_bytes).name
    importer = {"casps": CaspImporter, "ncasps": NcaspImporter}[kind]
    return importer(data, name or "upload.csv", **options).run()


# ---------------------------------------------------------------------------
# Reconciliation: a reviewer accepts or rejects a proposed match
# ---------------------------------------------------------------------------


@dataclass
class Change:
    """One line of what accepting a match changes: the value now and after."""

    label: str
    now: str
    after: str


@dataclass
class TextToReview:
    """Free text on the kept licence written from less authoritative sources than the register."""

    field: str
    label: str
    text: str
    sources: str  # the sources it was written from, for the reviewer and the flag's message


@dataclass
class MatchPlan:
    """What :func:`accept_match` will do, computed once: shown on the proposal's page, then applied."""

    rows: list[Change] = field(default_factory=list)
    texts: list[TextToReview] = field(default_factory=list)
    entity: dict = field(default_factory=dict)  # attname -> value for the imported entity
    license: dict = field(default_factory=dict)  # attname -> value for the kept licence
    sets: dict = field(default_factory=dict)  # many-to-many name -> pks for the kept licence


def _shown(license, attnames) -> str:
    """A licence fact as the public page shows it."""
    attname = attnames[0]
    if attname.endswith("_on"):
        return str(PartialDate.from_columns(getattr(license, attname), getattr(license, attnames[1])) or "—")
    target = getattr(license, attname.removesuffix("_id"))
    return str(target) if target is not None else "—"


def _listed(objs) -> str:
    return ", ".join(str(obj) for obj in objs) or "—"


def preview_match(proposal: MatchProposal) -> MatchPlan:
    """Every change accepting ``proposal`` makes, field by field, and the free text it puts under review.

    The kept licence takes the register's value for each fact it states, unless a source at least
    as authoritative supports the current value (:func:`held_facts`, as every later snapshot does);
    a fact the register leaves blank keeps its value. The holder and regulator are taken only once
    published, so the licence stays public.
    """
    plan = MatchPlan()
    imported, existing = proposal.imported_entity, proposal.existing_entity
    if existing.kind == EntityKind.GROUP and imported.parent_id is None:
        plan.entity = {"parent_id": existing.pk, "kind": EntityKind.AFFILIATE}
        plan.rows.append(Change(f"Group of {imported}", "—", str(existing)))
    duplicate, kept = proposal.imported_license, proposal.existing_license
    if duplicate is None or kept is None or duplicate.pk == kept.pk:
        return plan
    held = held_facts([kept.pk], SourceKind.OFFICIAL_REGISTER.authority, esma_casp_citations()).get(kept.pk, set())
    labels = {"": "Granted in", **dict(LicenseFact.choices)}
    for fact, attnames in REGISTER_FACT_FIELDS.items():
        stated = getattr(duplicate, attnames[0])
        if fact in held or stated is None:
            continue
        target = getattr(duplicate, attnames[0].removesuffix("_id"), None)
        if attnames[0].endswith("_id") and not (target is not None and getattr(target, "is_published", True)):
            continue
        if all(getattr(kept, a) == getattr(duplicate, a) for a in attnames):
            continue
        plan.license.update({a: getattr(duplicate, a) for a in attnames})
        plan.rows.append(Change(labels[fact], _shown(kept, attnames), _shown(duplicate, attnames)))
    for name in REGISTER_FACT_SETS:
        now, after = list(getattr(kept, name).all()), list(getattr(duplicate, name).all())
        if name in held or not after or {o.pk for o in now} == {o.pk for o in after}:
            continue
        plan.sets[name] = [o.pk for o in after]
        plan.rows.append(Change(labels[name], _listed(now), _listed(after)))
    plan.rows.append(
        Change("Official-register key", kept.official_register_key or "—", duplicate.official_register_key or "—")
    )
    plan.rows.append(
        Change(f"Licence {duplicate.slug}", "its own record", "folded into this one; its address redirects")
    )
    if "" not in held:
        weaker = (
            Source.objects.filter(licensecitations__license=kept)
            .exclude(kind=SourceKind.OFFICIAL_REGISTER)
            .distinct()
            .order_by("title")
        )
        sources = "; ".join(f"{s.get_kind_display().lower()} “{s.title}”" for s in weaker) or "no cited source"
        for name in License.CURATED_TEXT_FIELDS:
            text = getattr(kept, name)
            if text.strip():
                label = str(License._meta.get_field(name).verbose_name)
                plan.texts.append(TextToReview(name, label, text, sources))
    return plan


def _check_decider(proposal, reviewer):
    if not review.can_review(reviewer):
        raise PermissionDenied("Only a reviewer can accept or reject a proposed match.")
    if proposal.status != MatchStatus.PENDING:
        raise ValidationError("This match has already been decided.")
    if proposal.author_id == reviewer.pk:
        raise PermissionDenied("You proposed this match: another reviewer must decide on it.")
    touched = [proposal.imported_entity, proposal.existing_license, proposal.imported_license]
    if any(obj is not None and obj.last_edited_by_id == reviewer.pk for obj in touched):
        raise PermissionDenied("You made the last edit to one of these records: another reviewer must decide.")


def decision_refusal(proposal, user) -> str:
    """Why ``user`` may not accept or reject ``proposal`` (the four-eyes rules), or "" when they may."""
    try:
        _check_decider(proposal, user)
    except (PermissionDenied, ValidationError) as exc:
        return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    return ""


def _save(obj, reason, user):
    obj._change_reason = reason
    obj._history_user = user
    obj.save()


def accept_match(proposal: MatchProposal, *, reviewer, note: str = "", texts: dict | None = None) -> MatchProposal:
    """Link an imported firm with the curated entity it matches, and fold the duplicate licence.

    * the imported entity becomes an affiliate of the existing group (when the
      existing entity is a group);
    * the imported licence's citations move to the existing licence, which
      takes over its official-register key, so later snapshots update it, and
      the register's values where they rest on less authoritative sources
      (:func:`preview_match` lists them); the other sources' citations stay, so
      the page shows where they disagree;
    * free text written from those weaker sources (the conditions) is replaced
      by ``texts[field]`` when the reviewer revised or cleared it; kept as is,
      it is flagged ``text_predates_official_source`` and withheld from the
      public page until a curator edits it;
    * the imported licence stays, unpublished, marked ``superseded_by`` the
      existing one: nothing is deleted, and its old address answers 301.

    The proposer (the importer) counts as the editor and the reviewer as the
    publisher, as in ``review.approve``.
    """
    texts = texts or {}
    unknown = set(texts) - set(License.CURATED_TEXT_FIELDS)
    if unknown:
        raise ValidationError(f"Only {', '.join(License.CURATED_TEXT_FIELDS)} can be revised here, not {unknown}.")
    _check_decider(proposal, reviewer)
    now = timezone.now()
    with transaction.atomic():
        # Decided once, on the records as they are now (not as the caller loaded them).
        proposal = MatchProposal.objects.select_for_update().get(pk=proposal.pk)
        _check_decider(proposal, reviewer)
        # History reasons hold 100 characters.
        reason = f"Match {proposal.pk} accepted: {proposal.imported_entity} is {proposal.existing_entity}"[:100]
        plan = preview_match(proposal)
        imported = proposal.imported_entity
        if plan.entity:
            for attname, value in plan.entity.items():
                setattr(imported, attname, value)
            imported.last_edited_by = proposal.author
            if imported.is_published:
                imported.published_by, imported.published_at = reviewer, now
            _save(imported, reason, reviewer)
        duplicate, kept = proposal.imported_license, proposal.existing_license
        if duplicate is not None and kept is not None and duplicate.pk != kept.pk:
            _fold(duplicate, kept, plan, texts, reason=reason, reviewer=reviewer, author=proposal.author, now=now)
        proposal.status = MatchStatus.ACCEPTED
        proposal.reviewer = reviewer
        proposal.decided_at = now
        proposal.review_note = note
        proposal.save()
    return proposal


def _fold(duplicate, kept, plan, texts, *, reason, reviewer, author, now):
    """Move the duplicate's citations and register key to ``kept``, apply ``plan`` and retire the duplicate."""
    taken = set(LicenseCitation.objects.filter(license=kept).values_list("source_id", "supports"))
    for citation in LicenseCitation.objects.filter(license=duplicate):
        if (citation.source_id, citation.supports) in taken:
            continue
        citation.license = kept
        _save(citation, reason, reviewer)
    key = duplicate.official_register_key
    duplicate.official_register_key = ""
    duplicate.superseded_by = kept
    duplicate.publication_status = Publication.DRAFT
    duplicate.published_by, duplicate.published_at = None, None
    duplicate.last_edited_by = reviewer
    _save(duplicate, reason, reviewer)
    kept.official_register_key = key
    kept.not_listed_since = duplicate.not_listed_since
    flags = [*kept.quality_flags, *(f for f in duplicate.quality_flags if f not in kept.quality_flags)]
    for attname, value in plan.license.items():
        setattr(kept, attname, value)
    for text in plan.texts:
        if text.field in texts:
            setattr(kept, text.field, texts[text.field])
            continue
        flag_ = {
            "code": TEXT_PREDATES_OFFICIAL_SOURCE,
            "field": text.field,
            "message": (
                f"The {text.label} were written from the {text.sources} before the official register was "
                "cited; they are withheld until a curator has checked them against it."
            ),
        }
        flags = [f for f in flags if not (f.get("code") == flag_["code"] and f.get("field") == text.field)]
        flags.append(flag_)
    kept.quality_flags = flags
    kept.last_edited_by = author
    if kept.is_published:
        kept.published_by, kept.published_at = reviewer, now
    # The sets first, so the history row the save writes holds them.
    for name, pks in plan.sets.items():
        getattr(kept, name).set(pks)
    _save(kept, reason, reviewer)


def reject_match(proposal: MatchProposal, *, reviewer, note: str) -> MatchProposal:
    """Record that the two are not the same; the pair is never proposed again."""
    _check_decider(proposal, reviewer)
    if not note:
        raise ValidationError("Say why they are not the same, for the next curator.")
    with transaction.atomic():
        proposal = MatchProposal.objects.select_for_update().get(pk=proposal.pk)
        _check_decider(proposal, reviewer)
        proposal.status = MatchStatus.REJECTED
        proposal.reviewer = reviewer
        proposal.decided_at = timezone.now()
        proposal.review_note = note
        proposal.save()
    return proposal
