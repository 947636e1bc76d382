"""Reading ESMA's files: one defect at a time (pure functions), then whole rows.

ESMA publishes the register as CSV files with real defects: a byte-order mark,
stray spaces, tabs and no-break spaces, ``|`` lists with and without spaces and
with trailing separators, ``EL`` for Greece, day/month/year dates, characters
lost in encoding (U+FFFD) and LEIs mangled by a spreadsheet. What can be read
without guessing is normalised; the rest is flagged (``flag``), never dropped.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from stdnum import lei as stdnum_lei

from registry.dates import DatePrecision, PartialDate

PUBLISHER = "European Securities and Markets Authority (ESMA)"
CASP_TITLE = "ESMA interim MiCA register: CASPs"
NCASP_TITLE = "ESMA interim MiCA register: non-compliant entities"
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
    # stdnum checks the MOD 97-10 digits of a string of any length: a ten-digit file number can pass them.
    if len(candidate) == 20 and stdnum_lei.is_valid(candidate):
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
    return Snapshot(Path(name).name, text, digest, _snapshot_date(name, rows, date_column), rows, exact)


def _snapshot_date(name: str, rows: list[dict], date_column: str) -> datetime.date:
    """The date in the file's name (``CASP20260123.csv``), else the latest update the rows give, else today."""
    match = re.search(r"(\d{4})(\d{2})(\d{2})", Path(name).name)
    if match:
        try:
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
    dates = [parse_date(row.get(date_column))[0] for row in rows]
    dates = [d.date for d in dates if d]
    return max(dates) if dates else timezone.localdate()


# ---------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------


def unnamed(row) -> str:
    """The legal name, else the commercial name; a row with neither is kept under a name saying so."""
    return (
        clean_text(row.get("ae_lei_name"))
        or clean_text(row.get("ae_commercial_name"))
        or f"[Unnamed in the ESMA register, row {row['_row']}]"
    )


def cite(row, column, states=None) -> dict:
    """What a citation of ``column`` in ``row`` records: what the file states, its cell as a quote, the row."""
    raw = row.get(column, "") or ""
    return {
        "states": clean_text(raw) if states is None else states,
        "quote": f"{column}: {raw.strip()}" if raw.strip() else "",
        "locator": f"row {row['_row']}",
    }


def _wanted_entity(row, key, home, jurisdiction, lei: tuple, flags, website="", address="") -> dict:
    """The entity a row names, as the importer matches and writes it; ``lei`` is :func:`normalise_lei`'s pair."""
    return {
        "key": key,
        "name": unnamed(row)[:300],
        "home": home,
        "jurisdiction": jurisdiction,
        "lei": lei[0],
        "lei_as_published": lei[1][:100],
        "website": website,
        "address": address,
        "aliases": split_list(row.get("ae_commercial_name")),
        "flags": flags,
    }


def parse_casp_rows(rows: list[dict], known) -> list[dict]:
    """Each row of a CASP file read: entity, authority, dates, services, passports, flags and licence ``key``.

    ``known``: the country codes of the jurisdictions in the database.
    """
    parsed = [_casp_row(row, known) for row in rows]
    _assign_licence_keys(parsed)
    return parsed


def _casp_row(row, known) -> dict:
    home = normalise_country(row.get("ae_homeMemberState"))
    flags = []
    if home not in known:
        stated = clean_text(row.get("ae_homeMemberState"))
        flags.append(flag("unknown_country", f"Home member state “{stated}” is not a known country code."))
    lei, lei_as_published, lei_flags = normalise_lei(row.get("ae_lei"))
    country = normalise_country(row.get("ae_lei_cou_code")) or home
    granted, granted_flags = parse_date(row.get("ac_authorisationNotificationDate"), "authorisation date")
    ended, ended_flags = parse_date(row.get("ac_authorisationEndDate"), "end date")
    services, service_flags = parse_services(row.get("ac_serviceCode"))
    passports, passport_flags = parse_passports(row.get("ac_serviceCode_cou"), known)
    website, website_flags = normalise_website(row.get("ae_website") or row.get("ae_website_platform"))
    names = {
        "name": row.get("ae_lei_name"),
        "commercial name": row.get("ae_commercial_name"),
        "address": row.get("ae_address"),
    }
    text_flags = replacement_flags(names)
    flags += lei_flags + granted_flags + ended_flags + service_flags + passport_flags + website_flags + text_flags
    if any(clean_text(cell) for cell in row["_extra"]):
        flags.append(flag("extra_columns", "The row has more cells than the header; the extra ones were ignored."))
    entity = _wanted_entity(
        row,
        lei or f"{home}:{name_key(unnamed(row))}",
        home,
        country if country in known else home,
        (lei, lei_as_published),
        lei_flags + website_flags + text_flags,
        website=website,
        address=clean_text(row.get("ae_address")),
    )
    return {
        "row": row,
        "flags": flags,
        "home": home,
        "authority": parse_authority(row.get("ae_competentAuthority")),
        "entity": entity,
        "granted": granted,
        "ended": ended,
        "services": services,
        "passports": passports,
    }


def _assign_licence_keys(parsed):
    """``official_register_key`` of each row's licence; a firm listed more than once (one row per authorisation)
    gets one key per authorisation."""
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


def parse_ncasp_rows(rows: list[dict], known) -> list[dict]:
    """Each row of a non-compliant-entities file read: entity, authority, decision date and flags."""
    parsed = []
    for row in rows:
        home = normalise_country(row.get("ae_homeMemberState"))
        lei, lei_as_published, lei_flags = normalise_lei(row.get("ae_lei"))
        decided, date_flags = parse_date(row.get("ae_decision_date"), "decision date")
        flags = lei_flags + date_flags
        flags += replacement_flags({"name": row.get("ae_lei_name"), "commercial name": row.get("ae_commercial_name")})
        if home not in known:
            stated = clean_text(row.get("ae_homeMemberState"))
            flags.append(flag("unknown_country", f"Member state “{stated}” is not a country code we know."))
        country = normalise_country(row.get("ae_lei_cou_code"))
        entity = _wanted_entity(
            row,
            lei or f"{country}:{name_key(unnamed(row))}",
            country or home,
            country if country in known else "",
            (lei, lei_as_published),
            [f for f in flags if f["code"].startswith("lei")],
        )
        authority = parse_authority(row.get("ae_competentAuthority"))
        parsed.append(
            {"row": row, "flags": flags, "home": home, "decided": decided, "authority": authority, "entity": entity}
        )
    return parsed
